// Helpers for tests against a real PostgreSQL server: the one named by OVERDRIVE_TEST_PG_URL
// (`make test` starts scripts/postgres.sh and sets it). Each test works in a schema of its own,
// so tests of several processes share one database without seeing each other.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace overdrive::testing_util {

inline constexpr const char* kPostgresUrlEnv = "OVERDRIVE_TEST_PG_URL";

inline std::optional<std::string> PostgresTestUrl() {
  const char* url = std::getenv(kPostgresUrlEnv);
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

inline std::string PostgresSkipReason() {
  return std::string(kPostgresUrlEnv) +
         " is not set: start a server with scripts/postgres.sh start and export " +
         kPostgresUrlEnv + "=$(scripts/postgres.sh url) (make test does both)";
}

// Runs `sql` on a connection of its own; returns the first column of the first row ("" when
// there is none).
inline Result<std::string> PostgresQuery(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    return MakeError(ErrorCode::kStorage, "cannot connect: " + msg);
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);  // "drop cascades to ..."
  PGresult* r = PQexec(conn, sql.c_str());
  auto status = PQresultStatus(r);
  Result<std::string> out = std::string();
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    out = MakeError(ErrorCode::kStorage, sql + ": " + PQresultErrorMessage(r));
  } else if (status == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) {
    out = std::string(PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

// `url` with the connection's search_path set to `schema`.
inline std::string UrlWithSchema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-c%20search_path%3D" +
         schema;
}

// Schemas made by this process, dropped when it exits.
class ScratchSchemas {
 public:
  static ScratchSchemas& Get() {
    static ScratchSchemas instance;
    return instance;
  }
  ~ScratchSchemas() {
    for (const auto& [url, schema] : made_) {
      (void)PostgresQuery(url, "DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    }
  }
  void Add(const std::string& url, const std::string& schema) {
    std::lock_guard<std::mutex> lock(mu_);
    made_.emplace_back(url, schema);
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> made_;
};

// Creates an empty schema in the database at `url` and returns a URL that uses it.
inline Result<std::string> FreshPostgresSchema(const std::string& url) {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::string schema =
      "od_test_" + std::to_string(::getpid()) + "_" +
      std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count() %
                     1000000000) +
      "_" + std::to_string(counter++);
  auto made = PostgresQuery(url, "CREATE SCHEMA " + schema);
  if (!made) return std::unexpected(made.error());
  ScratchSchemas::Get().Add(url, schema);
  return UrlWithSchema(url, schema);
}

}  // namespace overdrive::testing_util
