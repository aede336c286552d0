// SQLite-only behaviour: persistence, migrations, WAL sharing between processes, ingest speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "store/metadata_store.hpp"
#include "store_test_util.hpp"

namespace overdrive {
namespace {

using ::testing::HasSubstr;

// Runs one SQL statement through a separate raw connection and returns the first column.
std::string RawQuery(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(db_path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

RunRecord MakeRun(const std::string& id, std::int64_t exp) {
  RunRecord r;
  r.id = id;
  r.experiment_id = exp;
  r.created_at = 1;
  return r;
}

TEST(RunStatusTest, NamesRoundTripAndFinalStatesAreFinal) {
  for (RunStatus s : {RunStatus::kQueued, RunStatus::kStarting, RunStatus::kRunning,
                      RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kCanceled,
                      RunStatus::kEarlyTerminated, RunStatus::kTimedOut}) {
    EXPECT_EQ(ParseRunStatus(RunStatusName(s)), s);
  }
  EXPECT_STREQ(RunStatusName(RunStatus::kEarlyTerminated), "early_terminated");
  EXPECT_EQ(ParseRunStatus("Running"), std::nullopt);
  EXPECT_FALSE(IsFinal(RunStatus::kRunning));
  EXPECT_FALSE(IsFinal(RunStatus::kQueued));
  EXPECT_TRUE(IsFinal(RunStatus::kTimedOut));
  EXPECT_TRUE(IsFinal(RunStatus::kCanceled));
}

TEST(JobTypeTest, NamesRoundTripAndUnknownStoredTypesAreNeverDriven) {
  for (JobType t : {JobType::kCommand, JobType::kSweep, JobType::kTrial, JobType::kExternal}) {
    EXPECT_EQ(ParseJobType(JobTypeName(t)), t);
    EXPECT_EQ(ReadJobType(JobTypeName(t)), t);
  }
  EXPECT_STREQ(JobTypeName(JobType::kExternal), "external");
  EXPECT_EQ(ParseJobType("Sweep"), std::nullopt);
  EXPECT_EQ(ParseJobType(""), std::nullopt);
  EXPECT_EQ(ReadJobType("pipeline"), JobType::kExternal);
}

// The column keeps the names of today's workspaces; a value this version does not know (a newer
// version's kind, a hand-edited row) reads as external, so no controller drives it.
TEST(SqliteMetadataStoreTest, JobTypeIsStoredByNameAndAnUnknownOneReadsAsExternal) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  {
    auto store = OpenSqliteMetadataStore(path).value();
    auto exp = store->GetOrCreateExperiment("e").value();
    RunRecord sweep = MakeRun("s1", exp);
    sweep.job_type = JobType::kSweep;
    ASSERT_TRUE(store->CreateRun(sweep, {}, {}));
    ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {}, {}));
  }
  EXPECT_EQ(RawQuery(path, "SELECT job_type FROM runs WHERE id = 's1'"), "sweep");
  EXPECT_EQ(RawQuery(path, "SELECT job_type FROM runs WHERE id = 'r1'"), "command");
  RawQuery(path, "UPDATE runs SET job_type = 'pipeline' WHERE id = 'r1'");
  auto store = OpenSqliteMetadataStore(path).value();
  EXPECT_EQ(store->GetRun("s1")->job_type, JobType::kSweep);
  EXPECT_EQ(store->GetRun("r1")->job_type, JobType::kExternal);
}

// A compute type this version does not know (a newer version's, a hand-edited row) is an error
// that names the target and the type, never a target of another type.
TEST(SqliteMetadataStoreTest, AnUnknownStoredComputeTypeIsAnError) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  {
    auto store = OpenSqliteMetadataStore(path).value();
    ASSERT_TRUE(store->PutCompute({"gpu", ComputeType::kSlurm, "{}"}));
  }
  EXPECT_EQ(RawQuery(path, "SELECT type FROM computes WHERE name = 'gpu'"), "slurm");
  RawQuery(path, "UPDATE computes SET type = 'kubernetes' WHERE name = 'gpu'");
  auto store = OpenSqliteMetadataStore(path).value();
  auto got = store->GetCompute("gpu");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::kInvalidInput);
  EXPECT_THAT(got.error().message, HasSubstr("'kubernetes'"));
  EXPECT_FALSE(store->ListComputes().has_value());
}

TEST(SqliteMetadataStoreTest, ReopenKeepsData) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  {
    auto store = OpenSqliteMetadataStore(path).value();
    auto exp = store->GetOrCreateExperiment("e").value();
    ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {{"lr", "0.1"}}, {}));
    ASSERT_TRUE(store->Ingest({"r1", {{"loss", 0, 0.5, 1}}, {}, {{"stdout", 9}}}));
  }
  auto store = OpenSqliteMetadataStore(path).value();
  EXPECT_EQ(store->GetRun("r1")->experiment_name, "e");
  EXPECT_EQ(store->GetParams("r1")->size(), 1u);
  EXPECT_EQ(store->GetMetricHistory("r1", "loss")->size(), 1u);
  EXPECT_EQ(store->GetCursors("r1").value()["stdout"], 9);
}

TEST(SqliteMetadataStoreTest, MigrationsAreAppliedOnceAndWalIsOn) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(OpenSqliteMetadataStore(path).has_value());
  const std::string version = RawQuery(path, "PRAGMA user_version");
  EXPECT_NE(version, "0");
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM schema_migrations"), version);
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(DISTINCT version) FROM schema_migrations"), version);
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal");
}

// A workspace written before the series summaries existed (the schema version before) gets them from
// its points when it is opened by this version: trial tables show the same numbers as before.
TEST(SqliteMetadataStoreTest, UpgradeAddsSummariesOfExistingPoints) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  {
    auto store = OpenSqliteMetadataStore(path).value();
    auto exp = store->GetOrCreateExperiment("e").value();
    ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {}, {}));
    ASSERT_TRUE(store->Ingest({"r1", {{"loss", 0, 0.5, 1}, {"loss", 2, 0.25, 2}, {"loss", 1, 0.9, 3}},
                               {}, {}}));
  }
  // Back to version 3, as an older overdrive left it (steps 4 and 5 undone).
  const std::string latest = RawQuery(path, "PRAGMA user_version");
  const std::string before = "3";
  RawQuery(path, "DROP TABLE metric_series");
  RawQuery(path, "DROP TABLE metric_blocks");
  RawQuery(path, "ALTER TABLE runs DROP COLUMN activity");
  RawQuery(path, "ALTER TABLE runs DROP COLUMN lost");
  RawQuery(path, "DROP TABLE environments");  // later steps, applied again on open
  RawQuery(path, "DROP TABLE secrets");
  RawQuery(path, "DROP TABLE run_inputs");
  RawQuery(path, "DROP TABLE data_assets");
  RawQuery(path, "DROP TABLE datastores");
  RawQuery(path, "DELETE FROM schema_migrations WHERE version > " + before);
  RawQuery(path, "PRAGMA user_version = " + before);
  ASSERT_EQ(RawQuery(path, "PRAGMA user_version"), before);
  ASSERT_EQ(RawQuery(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'metric_series'"), "0");
  auto opened = OpenSqliteMetadataStore(path);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto store = std::move(*opened);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), latest);
  EXPECT_EQ(RawQuery(path, "SELECT block || ':' || step_first || '-' || step_last || ':' || count || "
                           "':' || last_value FROM metric_blocks"),
            "0:0-2:3:0.25")
      << "the points' 64-step block, from the points";
  auto sums = store->GetMetricSummaries("r1").value();
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0].count, 3);
  EXPECT_EQ(sums[0].last_step, 2);
  EXPECT_DOUBLE_EQ(sums[0].last_value, 0.25);
  EXPECT_DOUBLE_EQ(sums[0].min_value, 0.25);
  EXPECT_DOUBLE_EQ(sums[0].max_value, 0.9);
  // And it is kept up to date from there on.
  ASSERT_TRUE(store->Ingest({"r1", {{"loss", 5, 0.1, 4}}, {}, {}}));
  EXPECT_EQ(store->GetMetricSummaries("r1").value()[0].count, 4);
  EXPECT_DOUBLE_EQ(store->GetMetricSummaries("r1").value()[0].last_value, 0.1);
}

// A workspace written before runs had a `lost` flag (schema version 4): its lost runs — failed,
// with a reason starting "lost: " — are flagged when this version opens it, and nothing else is.
TEST(SqliteMetadataStoreTest, UpgradeFlagsRunsLostBeforeTheFlagExisted) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  {
    auto store = OpenSqliteMetadataStore(path).value();
    auto exp = store->GetOrCreateExperiment("e").value();
    for (const char* id : {"lost", "failed", "running", "late"}) {
      ASSERT_TRUE(store->CreateRun(MakeRun(id, exp), {}, {}));
    }
    RunUpdate u;
    u.status_reason = "lost: no process record found when the controller resumed";
    ASSERT_TRUE(store->TransitionRun("lost", RunStatus::kFailed, u).value());
    u.status_reason = "exit code 1: lost: not really";
    ASSERT_TRUE(store->TransitionRun("failed", RunStatus::kFailed, u).value());
    u.status_reason = "lost: a reason on a run that is not failed";
    ASSERT_TRUE(store->TransitionRun("running", RunStatus::kRunning, u).value());
  }
  const std::string latest = RawQuery(path, "PRAGMA user_version");
  RawQuery(path, "ALTER TABLE runs DROP COLUMN lost");
  RawQuery(path, "DROP TABLE environments");  // later steps, applied again on open
  RawQuery(path, "DROP TABLE secrets");
  RawQuery(path, "DROP TABLE run_inputs");
  RawQuery(path, "DROP TABLE data_assets");
  RawQuery(path, "DROP TABLE datastores");
  RawQuery(path, "DELETE FROM schema_migrations WHERE version > 4");
  RawQuery(path, "PRAGMA user_version = 4");
  auto opened = OpenSqliteMetadataStore(path);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto store = std::move(*opened);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), latest);
  EXPECT_TRUE(store->GetRun("lost")->lost);
  EXPECT_EQ(store->GetRun("lost")->status_reason,
            "lost: no process record found when the controller resumed");
  EXPECT_FALSE(store->GetRun("failed")->lost);
  EXPECT_FALSE(store->GetRun("running")->lost);
  EXPECT_FALSE(store->GetRun("late")->lost);
  // New runs are written with the flag from there on.
  RunUpdate lost;
  lost.lost = true;
  ASSERT_TRUE(store->TransitionRun("late", RunStatus::kFailed, lost).value());
  EXPECT_TRUE(store->GetRun("late")->lost);
}

TEST(SqliteMetadataStoreTest, NewerSchemaIsAClearError) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  ASSERT_TRUE(OpenSqliteMetadataStore(path).has_value());
  RawQuery(path, "PRAGMA user_version = 999");
  auto res = OpenSqliteMetadataStore(path);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kStorage);
  EXPECT_THAT(res.error().message, HasSubstr(path));
  EXPECT_THAT(res.error().message, HasSubstr("999"));
  EXPECT_THAT(res.error().message, HasSubstr("upgrade"));
}

TEST(SqliteMetadataStoreTest, OpenFailureNamesThePath) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "missing-folder" / "ws.db").string();
  auto res = OpenSqliteMetadataStore(path);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kStorage);
  EXPECT_THAT(res.error().message, HasSubstr(path));
}

// Two processes (think: two controllers) write short transactions into one workspace at once:
// WAL + busy timeout must make every one of them succeed, with no row lost.
TEST(SqliteMetadataStoreTest, TwoProcessesWriteConcurrentlyWithoutLosingRows) {
  testing_util::TempDir dir;
  const std::string path = (dir.path() / "ws.db").string();
  {
    auto store = OpenSqliteMetadataStore(path).value();
    auto exp = store->GetOrCreateExperiment("e").value();
    ASSERT_TRUE(store->CreateRun(MakeRun("shared", exp), {}, {}));
  }
  constexpr int kWrites = 2000;
  pid_t children[2];
  for (int c = 0; c < 2; ++c) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      {
        auto store = OpenSqliteMetadataStore(path);
        if (!store) {
          std::fprintf(stderr, "child %d: %s\n", c, store.error().message.c_str());
          ::_exit(2);
        }
        const std::string metric = "m" + std::to_string(c);
        for (int i = 0; i < kWrites && code == 0; ++i) {
          Result<void> res;
          if (i % 4 == 3) {
            res = (*store)->AddEvent("shared", {1.0 * i, "info", metric});
          } else {
            res = (*store)->Ingest(
                {"shared", {{metric, i, 1.0 * i, 1.0}}, {}, {{metric, i}}});
          }
          if (!res) {
            std::fprintf(stderr, "child %d write %d: %s\n", c, i, res.error().message.c_str());
            code = 3;
          }
        }
      }
      ::_exit(code);
    }
    children[c] = pid;
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto store = OpenSqliteMetadataStore(path).value();
  auto sums = store->GetMetricSummaries("shared").value();
  ASSERT_EQ(sums.size(), 2u);
  for (const auto& s : sums) EXPECT_EQ(s.count, kWrites * 3 / 4) << s.name;
  EXPECT_EQ(store->ListEvents("shared")->size(), static_cast<size_t>(kWrites / 2));
  auto cursors = store->GetCursors("shared").value();
  EXPECT_EQ(cursors["m0"], kWrites - 2);
  EXPECT_EQ(cursors["m1"], kWrites - 2);
}

// Prints the ingest rate for 1,000,000 points (10 batches); asserts only that all are stored.
TEST(SqliteMetadataStoreTest, IngestRateForAMillionPoints) {
  testing_util::TempDir dir;
  auto store = OpenSqliteMetadataStore((dir.path() / "ws.db").string()).value();
  auto exp = store->GetOrCreateExperiment("e").value();
  ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {}, {}));
  constexpr int kBatches = 10;
  constexpr int kPerBatch = 100000;
  std::vector<IngestBatch> batches(kBatches);
  for (int b = 0; b < kBatches; ++b) {
    batches[b].run_id = "r1";
    batches[b].cursors = {{"metrics.jsonl", b}};
    batches[b].points.reserve(kPerBatch);
    for (int i = 0; i < kPerBatch; ++i) {
      const std::int64_t step = static_cast<std::int64_t>(b) * kPerBatch / 4 + i / 4;
      batches[b].points.push_back({"metric" + std::to_string(i % 4), step, 0.001 * i, 1e9});
    }
  }
  auto start = std::chrono::steady_clock::now();
  for (const auto& batch : batches) ASSERT_TRUE(store->Ingest(batch));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ ingest   ] %d points in %.2f s: %.0f points/s (this build's flags apply)\n",
              kBatches * kPerBatch, secs, kBatches * kPerBatch / secs);
  auto sums = store->GetMetricSummaries("r1").value();
  ASSERT_EQ(sums.size(), 4u);
  std::int64_t total = 0;
  for (const auto& s : sums) total += s.count;
  EXPECT_EQ(total, kBatches * kPerBatch);
  EXPECT_EQ(sums[0].last_step, (kBatches * kPerBatch - 1) / 4);
}

}  // namespace
}  // namespace overdrive
