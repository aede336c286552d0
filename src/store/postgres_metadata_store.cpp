// PostgresMetadataStore: MetadataStore on a PostgreSQL server (libpq), for teams that share one
// tracking server among many machines. Same semantics as SqliteMetadataStore; where SQLite
// relies on its single writer lock, this file says what takes its place.
//
// - Every statement is prepared once per connection and sent with typed parameters: strings go
//   in binary form with their length (no quoting, no truncation), numbers as 8-byte binary, and
//   lists (metric points, params, files) as one binary array per column, so a batch of 10,000
//   points is one round trip and one INSERT ... SELECT FROM unnest(...).
// - Text columns compared or ordered on are COLLATE "C", so lists come back in byte order like
//   SQLite's, whatever the database's locale.
// - NaN metric values are stored as NULL (as in SQLite) and read back as NaN; +/-inf as they are.
// - Insertion order (tie-breaks of lists) comes from bigserial columns: runs.seq, events.id,
//   metrics.id (which also makes MAX(metrics.id) a cheap "something was written" stamp).
// - Model version numbers are max + 1 under a transaction-scoped advisory lock per model name:
//   READ COMMITTED alone would let two creators read the same max.
// - Migrations run in one transaction holding an advisory lock, so concurrent openers of a fresh
//   database apply each step once. The lock and the table live in the connection's current
//   schema, so schemas of one database (the tests use one per test) are independent stores.
#include <libpq-fe.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {
namespace {

// Type OIDs from PostgreSQL's pg_type.dat (stable across versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kTextArrayOid = 1009;
constexpr Oid kInt8ArrayOid = 1016;
constexpr Oid kFloat8ArrayOid = 1022;

constexpr const char* kFinalStatusList =
    "('completed','failed','canceled','early_terminated','timed_out')";
constexpr const char* kUniqueViolation = "23505";

// Ordered schema steps; step i moves the schema to version i + 1. Never edit a released step:
// append a new one.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      R"sql(
CREATE TABLE experiments (
  id BIGSERIAL PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE runs (
  id TEXT COLLATE "C" PRIMARY KEY,
  seq BIGSERIAL NOT NULL,
  experiment_id BIGINT NOT NULL REFERENCES experiments(id),
  parent_id TEXT COLLATE "C" REFERENCES runs(id),
  job_type TEXT NOT NULL DEFAULT '',
  display_name TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  status TEXT COLLATE "C" NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  spec_yaml TEXT NOT NULL DEFAULT '',
  command TEXT NOT NULL DEFAULT '',
  compute TEXT NOT NULL DEFAULT 'local',
  snapshot_digest TEXT NOT NULL DEFAULT '',
  run_dir TEXT NOT NULL DEFAULT '',
  executor_handle TEXT NOT NULL DEFAULT '',
  launch_json TEXT NOT NULL DEFAULT '{}',
  exit_code BIGINT,
  created_at DOUBLE PRECISION NOT NULL,
  started_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  ended_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  controller_pid BIGINT NOT NULL DEFAULT 0,
  controller_started_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  cancel_requested BOOLEAN NOT NULL DEFAULT false
);
-- Every list is newest first with seq as the tie-break, so each index ends in (created_at, seq)
-- and a page is read straight off the index.
CREATE INDEX runs_by_created ON runs(created_at, seq);
CREATE INDEX runs_by_experiment ON runs(experiment_id, created_at, seq);
CREATE INDEX runs_by_parent ON runs(parent_id, created_at, seq);
CREATE INDEX runs_by_status ON runs(status, created_at, seq);
CREATE TABLE params (
  run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
  name TEXT COLLATE "C" NOT NULL,
  value_json TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
);
-- No foreign key on metrics: Ingest checks the run once per batch. The index holds id (the
-- tie-break of equal steps) and value, so summaries and downsampling read only the index.
CREATE TABLE metrics (
  id BIGSERIAL PRIMARY KEY,
  run_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  step BIGINT NOT NULL,
  value DOUBLE PRECISION,
  timestamp DOUBLE PRECISION NOT NULL
);
CREATE INDEX metrics_by_run_name_step ON metrics(run_id, name, step, id) INCLUDE (value);
CREATE TABLE cursors (
  run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
  source TEXT COLLATE "C" NOT NULL,
  "offset" BIGINT NOT NULL,
  PRIMARY KEY (run_id, source)
);
CREATE TABLE artifacts (
  run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
  path TEXT COLLATE "C" NOT NULL,
  digest TEXT NOT NULL,
  size BIGINT NOT NULL,
  PRIMARY KEY (run_id, path)
);
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY,
  run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
  timestamp DOUBLE PRECISION NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, id);
CREATE TABLE computes (
  name TEXT COLLATE "C" PRIMARY KEY,
  type TEXT NOT NULL,
  config_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE model_versions (
  model TEXT COLLATE "C" NOT NULL,
  version BIGINT NOT NULL,
  run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
  path TEXT NOT NULL,
  tags_json TEXT NOT NULL DEFAULT '{}',
  lineage_json TEXT NOT NULL DEFAULT '{}',
  created_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (model, version)
);
CREATE INDEX model_versions_by_run ON model_versions(run_id);
CREATE TABLE model_files (
  model TEXT COLLATE "C" NOT NULL,
  version BIGINT NOT NULL,
  path TEXT COLLATE "C" NOT NULL,
  digest TEXT NOT NULL,
  size BIGINT NOT NULL,
  PRIMARY KEY (model, version, path),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);
CREATE TABLE model_aliases (
  model TEXT COLLATE "C" NOT NULL,
  alias TEXT COLLATE "C" NOT NULL,
  version BIGINT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);
CREATE TABLE api_tokens (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
  scope TEXT NOT NULL,
  experiment TEXT NOT NULL DEFAULT '',
  created_at DOUBLE PRECISION NOT NULL,
  expires_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  revoked_at DOUBLE PRECISION NOT NULL DEFAULT 0
);
)sql",
      // 2: one summary row per series, kept in step by Ingest, so trial tables and run pages
      // read one row per trial instead of aggregating every point (NULL min/max: all NaN);
      // and per series its blocks of 64 steps, which long series are downsampled from.
      R"sql(
CREATE TABLE metric_series (
  run_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  count BIGINT NOT NULL,
  last_step BIGINT NOT NULL,
  last_value DOUBLE PRECISION,
  min_value DOUBLE PRECISION,
  max_value DOUBLE PRECISION,
  PRIMARY KEY (run_id, name)
);
INSERT INTO metric_series(run_id, name, count, last_step, last_value, min_value, max_value)
SELECT m.run_id, m.name, COUNT(*), MAX(m.step),
  (SELECT l.value FROM metrics l WHERE l.run_id = m.run_id AND l.name = m.name
   ORDER BY l.step DESC, l.id DESC LIMIT 1),
  MIN(m.value), MAX(m.value)
FROM metrics m GROUP BY m.run_id, m.name;
ALTER TABLE runs ADD COLUMN activity BIGINT NOT NULL DEFAULT 0;
CREATE TABLE metric_blocks (
  run_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  block BIGINT NOT NULL,
  step_first BIGINT NOT NULL,
  step_last BIGINT NOT NULL,
  count BIGINT NOT NULL,
  last_value DOUBLE PRECISION,
  min_value DOUBLE PRECISION,
  max_value DOUBLE PRECISION,
  PRIMARY KEY (run_id, name, block)
);
WITH b AS (SELECT run_id, name, step >> 6 AS block, MIN(step) AS sf, MAX(step) AS sl,
             COUNT(*) AS c, MIN(value) AS mn, MAX(value) AS mx
           FROM metrics GROUP BY run_id, name, step >> 6)
INSERT INTO metric_blocks(run_id, name, block, step_first, step_last, count, last_value,
                          min_value, max_value)
SELECT b.run_id, b.name, b.block, b.sf, b.sl, b.c,
  (SELECT l.value FROM metrics l WHERE l.run_id = b.run_id AND l.name = b.name AND l.step = b.sl
   ORDER BY l.id DESC LIMIT 1),
  b.mn, b.mx
FROM b;
)sql",
      // 3: a lost run is a flag, no longer only a "lost: " prefix of its reason. Runs recorded
      // before keep their reason; the prefix tells which they are, this once.
      R"sql(
ALTER TABLE runs ADD COLUMN lost BOOLEAN NOT NULL DEFAULT false;
UPDATE runs SET lost = true WHERE status = 'failed' AND left(status_reason, 6) = 'lost: ';
)sql",
      // 4: environment assets: immutable name + version, the spec (with its conda file's text)
      // as JSON, and the content hash of a build once one is made. id orders "latest".
      R"sql(
CREATE TABLE environments (
  id BIGSERIAL PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL,
  version TEXT COLLATE "C" NOT NULL,
  spec_json TEXT NOT NULL,
  content_hash TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  created_at DOUBLE PRECISION NOT NULL,
  UNIQUE (name, version)
);
)sql",
      // 5: secrets, sealed by the caller (the key never sits in the database).
      R"sql(
CREATE TABLE secrets (
  name TEXT COLLATE "C" PRIMARY KEY,
  sealed TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
)sql",
      // 6: data (issue 14): datastores (no credential in clear: those are secrets named in
      // spec_json), immutable data asset versions (seq orders "latest"), and the inputs each
      // run read, found by asset for lineage (seq orders readers of equal times).
      R"sql(
CREATE TABLE datastores (
  name TEXT COLLATE "C" PRIMARY KEY,
  type TEXT NOT NULL,
  spec_json TEXT NOT NULL DEFAULT '{}',
  description TEXT NOT NULL DEFAULT '',
  created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE data_assets (
  name TEXT COLLATE "C" NOT NULL,
  version TEXT COLLATE "C" NOT NULL,
  seq BIGSERIAL NOT NULL,
  type TEXT NOT NULL,
  path TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  spec_json TEXT NOT NULL DEFAULT '{}',
  created_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE run_inputs (
  run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
  input_name TEXT COLLATE "C" NOT NULL,
  seq BIGSERIAL NOT NULL,
  asset_name TEXT COLLATE "C" NOT NULL DEFAULT '',
  asset_version TEXT COLLATE "C" NOT NULL DEFAULT '',
  uri TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (run_id, input_name)
);
CREATE INDEX run_inputs_by_asset ON run_inputs(asset_name, asset_version);
)sql",
  };
  return kMigrations;
}

// ---- Parameters ----

void AppendBigEndian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A one-dimensional array in PostgreSQL's binary format (array_recv): header, then per element
// its length (-1 for NULL) and bytes.
class BinaryArray {
 public:
  explicit BinaryArray(Oid element) : element_(element) {}
  void Add(const std::string& s) {
    AppendBigEndian(body_, static_cast<std::uint32_t>(s.size()), 4);
    body_ += s;
    ++n_;
  }
  void Add(std::int64_t v) {
    AppendBigEndian(body_, 8, 4);
    AppendBigEndian(body_, static_cast<std::uint64_t>(v), 8);
    ++n_;
  }
  void Add(double v) {
    AppendBigEndian(body_, 8, 4);
    AppendBigEndian(body_, std::bit_cast<std::uint64_t>(v), 8);
    ++n_;
  }
  void AddNull() {
    AppendBigEndian(body_, 0xffffffffu, 4);
    has_null_ = true;
    ++n_;
  }
  // A metric value: NaN is stored as NULL.
  void AddValue(double v) {
    if (std::isnan(v)) {
      AddNull();
    } else {
      Add(v);
    }
  }
  std::string Encode() const {
    std::string out;
    out.reserve(20 + body_.size());
    AppendBigEndian(out, 1, 4);  // dimensions
    AppendBigEndian(out, has_null_ ? 1 : 0, 4);
    AppendBigEndian(out, element_, 4);
    AppendBigEndian(out, static_cast<std::uint32_t>(n_), 4);
    AppendBigEndian(out, 1, 4);  // lower bound
    out += body_;
    return out;
  }

 private:
  Oid element_;
  std::string body_;
  std::int64_t n_ = 0;
  bool has_null_ = false;
};

// The typed parameters of one statement, all sent in binary form. Values are copied, so
// temporaries may be passed.
class Params {
 public:
  Params& Add(const std::string& s) { return Push(kTextOid, s); }
  Params& Add(const char* s) { return Push(kTextOid, s); }
  Params& Add(std::int64_t v) {
    std::string b;
    AppendBigEndian(b, static_cast<std::uint64_t>(v), 8);
    return Push(kInt8Oid, std::move(b));
  }
  Params& Add(int v) { return Add(static_cast<std::int64_t>(v)); }
  Params& Add(double v) {
    std::string b;
    AppendBigEndian(b, std::bit_cast<std::uint64_t>(v), 8);
    return Push(kFloat8Oid, std::move(b));
  }
  Params& Add(bool v) { return Push(kBoolOid, std::string(1, v ? '\1' : '\0')); }
  Params& Add(Oid array_type, const BinaryArray& a) { return Push(array_type, a.Encode()); }
  template <class T>
  Params& Add(const std::optional<T>& v) {
    if (v) return Add(*v);
    return AddNull(TypeOf<T>());
  }
  Params& AddNull(Oid type) {
    types_.push_back(type);
    values_.emplace_back();
    null_.push_back(true);
    return *this;
  }

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into the stored values; valid while this object lives unchanged.
  void Pointers(std::vector<const char*>& values, std::vector<int>& lengths,
                std::vector<int>& formats) const {
    for (size_t i = 0; i < values_.size(); ++i) {
      values.push_back(null_[i] ? nullptr : values_[i].data());
      lengths.push_back(static_cast<int>(values_[i].size()));
      formats.push_back(1);
    }
  }

 private:
  template <class T>
  static Oid TypeOf() {
    if constexpr (std::is_same_v<T, std::string>) return kTextOid;
    if constexpr (std::is_same_v<T, double>) return kFloat8Oid;
    if constexpr (std::is_same_v<T, bool>) return kBoolOid;
    return kInt8Oid;
  }
  Params& Push(Oid type, std::string value) {
    types_.push_back(type);
    values_.push_back(std::move(value));
    null_.push_back(false);
    return *this;
  }

  std::vector<Oid> types_;
  std::deque<std::string> values_;
  std::vector<bool> null_;
};

// ---- Results ----

// A query's rows, in text form.
class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r, &PQclear) {}
  int size() const { return PQntuples(r_.get()); }
  bool empty() const { return size() == 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }
  std::int64_t Int(int row, int col) const {
    return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
  }
  // NULL (how NaN is stored) reads as NaN; strtod reads "Infinity" and "-Infinity".
  double Double(int row, int col) const {
    if (IsNull(row, col)) return std::numeric_limits<double>::quiet_NaN();
    return std::strtod(PQgetvalue(r_.get(), row, col), nullptr);
  }
  bool Bool(int row, int col) const { return PQgetvalue(r_.get(), row, col)[0] == 't'; }
  // How many rows an INSERT/UPDATE/DELETE touched.
  std::int64_t Affected() const { return std::strtoll(PQcmdTuples(r_.get()), nullptr, 10); }
  PGresult* raw() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

// "host:port/db" of a connection, for messages (never the password).
std::string Describe(PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  std::string h = host != nullptr && *host != '\0' ? host : "localhost";
  std::string p = port != nullptr && *port != '\0' ? port : "5432";
  return h + ":" + p + "/" + (db != nullptr ? db : "");
}

// A failed statement's message and detail, without libpq's "ERROR:" and "LINE 1:" lines.
std::string ErrorText(const PGresult* r) {
  const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  if (primary == nullptr) return PQresultErrorMessage(r);
  std::string out = primary;
  if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) {
    out += std::string(" (") + detail + ")";
  }
  return out;
}

// libpq messages span lines ("...failed: Connection refused\n\tIs the server running..."); an
// error is one line.
std::string OneLine(const char* message) {
  std::string s = message != nullptr ? message : "";
  for (char& c : s) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  std::string out;
  for (char c : Trim(s)) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out.push_back(c);
  }
  return out;
}

constexpr const char* kRunColumns =
    "r.id, r.experiment_id, e.name, r.parent_id, r.job_type, r.display_name, r.description, "
    "r.tags_json, r.status, r.status_reason, r.spec_yaml, r.command, r.compute, "
    "r.snapshot_digest, r.run_dir, r.executor_handle, r.exit_code, r.created_at, r.started_at, "
    "r.ended_at, r.controller_pid, r.controller_started_at, r.cancel_requested, r.launch_json, "
    "r.lost";

RunRecord ReadRun(const Rows& q, int i) {
  RunRecord r;
  r.id = q.Text(i, 0);
  r.experiment_id = q.Int(i, 1);
  r.experiment_name = q.Text(i, 2);
  r.parent_id = q.Text(i, 3);
  r.job_type = ReadJobType(q.Text(i, 4));
  r.display_name = q.Text(i, 5);
  r.description = q.Text(i, 6);
  r.tags_json = q.Text(i, 7);
  // An unknown status can only come from a newer binary's write; queued is the safe reading.
  r.status = ParseRunStatus(q.Text(i, 8)).value_or(RunStatus::kQueued);
  r.status_reason = q.Text(i, 9);
  r.spec_yaml = q.Text(i, 10);
  r.command = q.Text(i, 11);
  r.compute = q.Text(i, 12);
  r.snapshot_digest = q.Text(i, 13);
  r.run_dir = q.Text(i, 14);
  r.executor_handle = q.Text(i, 15);
  if (!q.IsNull(i, 16)) r.exit_code = static_cast<int>(q.Int(i, 16));
  r.created_at = q.Double(i, 17);
  r.started_at = q.Double(i, 18);
  r.ended_at = q.Double(i, 19);
  r.controller_pid = static_cast<int>(q.Int(i, 20));
  r.controller_started_at = q.Double(i, 21);
  r.cancel_requested = q.Bool(i, 22);
  r.launch_json = q.Text(i, 23);
  r.lost = q.Bool(i, 24);
  return r;
}

MetricSummary ReadSummary(const Rows& q, int i, int first_col) {
  MetricSummary s;
  s.count = q.Int(i, first_col);
  s.last_step = q.Int(i, first_col + 1);
  s.min_value = q.Double(i, first_col + 2);
  s.max_value = q.Double(i, first_col + 3);
  s.last_value = q.Double(i, first_col + 4);
  return s;
}

// Per series, from metric_series: count, highest step, min, max and the value at the highest
// step (the latest written on a tie).
constexpr const char* kSummaryColumns = "s.count, s.last_step, s.min_value, s.max_value, s.last_value";

constexpr const char* kModelVersionColumns =
    "model, version, run_id, path, tags_json, lineage_json, created_at";

ModelVersion ReadModelVersion(const Rows& q, int i) {
  ModelVersion v;
  v.model = q.Text(i, 0);
  v.version = q.Int(i, 1);
  v.run_id = q.Text(i, 2);
  v.path = q.Text(i, 3);
  v.tags_json = q.Text(i, 4);
  v.lineage_json = q.Text(i, 5);
  v.created_at = q.Double(i, 6);
  return v;
}

constexpr const char* kTokenColumns =
    "id, name, secret_hash, scope, experiment, created_at, expires_at, revoked_at";

ApiToken ReadToken(const Rows& q, int i) {
  return ApiToken{q.Text(i, 0), q.Text(i, 1),   q.Text(i, 2),   q.Text(i, 3),
                  q.Text(i, 4), q.Double(i, 5), q.Double(i, 6), q.Double(i, 7)};
}

class PostgresMetadataStore;

// A transaction; rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(PostgresMetadataStore* store) : store_(store) {}
  ~Transaction();
  Result<void> Begin();
  Result<void> Commit();

 private:
  PostgresMetadataStore* store_;
  bool open_ = false;
};

class PostgresMetadataStore final : public MetadataStore {
 public:
  PostgresMetadataStore(PGconn* conn, std::string where) : conn_(conn), where_(std::move(where)) {}
  ~PostgresMetadataStore() override { PQfinish(conn_); }

  std::unexpected<Error> Fail(const std::string& what, const char* detail) const {
    return MakeError(ErrorCode::kStorage,
                     "postgresql database " + where_ + ": " + what + ": " + OneLine(detail));
  }

  // Runs SQL without parameters (BEGIN, COMMIT, migrations); several statements allowed.
  Result<void> ExecScript(const char* sql) {
    OD_TRY(EnsureConnected());
    PGresult* r = PQexec(conn_, sql);
    Rows rows(r);
    auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      last_sqlstate_ = SqlState(r);
      return Fail(std::string("'") + Trim(sql).substr(0, 40) + "' failed", ErrorText(r).c_str());
    }
    return {};
  }

  // Runs one statement, prepared on first use (per distinct SQL text).
  Result<Rows> Exec(const std::string& sql, const Params& params = Params()) {
    OD_TRY(EnsureConnected());
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      std::string name = "od" + std::to_string(statements_.size() + 1);
      Rows prepared(PQprepare(conn_, name.c_str(), sql.c_str(), params.size(), params.types()));
      if (PQresultStatus(prepared.raw()) != PGRES_COMMAND_OK) {
        last_sqlstate_ = SqlState(prepared.raw());
        return Fail("cannot prepare '" + Trim(sql).substr(0, 60) + "'",
                    ErrorText(prepared.raw()).c_str());
      }
      it = statements_.emplace(sql, std::move(name)).first;
    }
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    params.Pointers(values, lengths, formats);
    PGresult* r = PQexecPrepared(conn_, it->second.c_str(), params.size(), values.data(),
                                 lengths.data(), formats.data(), 0);
    Rows rows(r);
    auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      last_sqlstate_ = SqlState(r);
      return Fail("'" + Trim(sql).substr(0, 60) + "' failed", ErrorText(r).c_str());
    }
    last_sqlstate_.clear();
    return rows;
  }

  const std::string& last_sqlstate() const { return last_sqlstate_; }
  bool in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

  Result<void> Setup() {
    // Shortest exact float text (PostgreSQL 12+), whatever the server's default says; JIT
    // compilation costs more than it saves on queries this size.
    OD_TRY(ExecScript("SET extra_float_digits = 3; SET jit = off"));
    return Migrate();
  }

  Result<void> Migrate() {
    const auto& steps = Migrations();
    Transaction tx(this);
    OD_TRY(tx.Begin());
    // One lock per schema: a second opener waits here, then sees the steps already applied.
    OD_TRY(
        Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || "
             "'/overdrive.schema_migrations'))"));
    OD_TRY(
        Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
             "applied_at DOUBLE PRECISION NOT NULL)"));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    std::int64_t version = rows.Int(0, 0);
    if (version > static_cast<std::int64_t>(steps.size())) {
      return MakeError(ErrorCode::kStorage,
                       "postgresql database " + where_ + " has schema version " +
                           std::to_string(version) + " but this overdrive knows only up to " +
                           std::to_string(steps.size()) + "; upgrade overdrive");
    }
    for (size_t i = static_cast<size_t>(version); i < steps.size(); ++i) {
      OD_TRY(ExecScript(steps[i]));
      OD_TRY(Exec("INSERT INTO schema_migrations(version, applied_at) VALUES ($1, $2)",
                  Params().Add(static_cast<std::int64_t>(i + 1)).Add(WallSeconds())));
    }
    return tx.Commit();
  }

  // kNotFound unless the run exists.
  Result<void> RequireRun(const std::string& id) {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT 1 FROM runs WHERE id = $1", Params().Add(id)));
    if (rows.empty()) return MakeError(ErrorCode::kNotFound, "run '" + id + "' does not exist");
    return {};
  }

  Result<std::optional<RunStatus>> StatusOf(const std::string& id) {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT status FROM runs WHERE id = $1", Params().Add(id)));
    if (rows.empty()) return std::optional<RunStatus>();
    return ParseRunStatus(rows.Text(0, 0));
  }

  // ---- Experiments ----
  Result<std::int64_t> GetOrCreateExperiment(const std::string& name) override {
    if (Trim(name).empty()) {
      return MakeError(ErrorCode::kInvalidInput, "experiment name must not be empty");
    }
    OD_ASSIGN_OR_RETURN(auto inserted,
                        Exec("INSERT INTO experiments(name, created_at) VALUES ($1, $2) "
                             "ON CONFLICT (name) DO NOTHING RETURNING id",
                             Params().Add(name).Add(WallSeconds())));
    if (!inserted.empty()) return inserted.Int(0, 0);
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec("SELECT id FROM experiments WHERE name = $1", Params().Add(name)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kStorage, "postgresql database " + where_ + ": experiment '" +
                                                name + "' vanished after insert");
    }
    return rows.Int(0, 0);
  }

  Result<Experiment> GetExperiment(std::int64_t id) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT id, name, created_at FROM experiments "
                                        "WHERE id = $1",
                                        Params().Add(id)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound,
                       "experiment id " + std::to_string(id) + " does not exist");
    }
    return Experiment{rows.Int(0, 0), rows.Text(0, 1), rows.Double(0, 2)};
  }

  Result<std::vector<Experiment>> ListExperiments() override {
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec("SELECT id, name, created_at FROM experiments ORDER BY name"));
    std::vector<Experiment> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(Experiment{rows.Int(i, 0), rows.Text(i, 1), rows.Double(i, 2)});
    }
    return out;
  }

  // ---- Runs ----
  Result<void> CreateRun(const RunRecord& input, const std::vector<Param>& params,
                         const std::vector<RunEvent>& events) override {
    if (input.id.empty()) return MakeError(ErrorCode::kInvalidInput, "run id must not be empty");
    RunRecord run = input;
    if (run.experiment_id == 0 && !run.experiment_name.empty()) {
      OD_ASSIGN_OR_RETURN(run.experiment_id, GetOrCreateExperiment(run.experiment_name));
    }
    Transaction tx(this);
    OD_TRY(tx.Begin());
    {
      OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT 1 FROM experiments WHERE id = $1",
                                          Params().Add(run.experiment_id)));
      if (rows.empty()) {
        return MakeError(ErrorCode::kNotFound, "experiment id " +
                                                   std::to_string(run.experiment_id) +
                                                   " does not exist (create it first)");
      }
    }
    {
      OD_ASSIGN_OR_RETURN(auto existing, StatusOf(run.id));
      if (existing) {
        return MakeError(ErrorCode::kAlreadyExists, "run '" + run.id + "' already exists");
      }
    }
    if (!run.parent_id.empty() && !RequireRun(run.parent_id)) {
      return MakeError(ErrorCode::kNotFound,
                       "parent run '" + run.parent_id + "' of run '" + run.id + "' does not exist");
    }
    Params p;
    p.Add(run.id).Add(run.experiment_id);
    if (run.parent_id.empty()) {
      p.AddNull(kTextOid);
    } else {
      p.Add(run.parent_id);
    }
    p.Add(JobTypeName(run.job_type))
        .Add(run.display_name)
        .Add(run.description)
        .Add(run.tags_json)
        .Add(RunStatusName(run.status))
        .Add(run.status_reason)
        .Add(run.spec_yaml)
        .Add(run.command)
        .Add(run.compute)
        .Add(run.snapshot_digest)
        .Add(run.run_dir)
        .Add(run.executor_handle)
        .Add(run.exit_code)
        .Add(run.created_at != 0 ? run.created_at : WallSeconds())
        .Add(run.started_at)
        .Add(run.ended_at)
        .Add(run.controller_pid)
        .Add(run.controller_started_at)
        .Add(run.cancel_requested)
        .Add(run.launch_json)
        .Add(run.lost);
    auto inserted = Exec(
        "INSERT INTO runs(id, experiment_id, parent_id, job_type, display_name, "
        "description, tags_json, status, status_reason, spec_yaml, command, compute, "
        "snapshot_digest, run_dir, executor_handle, exit_code, created_at, started_at, "
        "ended_at, controller_pid, controller_started_at, cancel_requested, launch_json, lost) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,"
        "$21,$22,$23,$24)",
        p);
    if (!inserted) {
      // Another process created the same id between our check and the insert.
      if (last_sqlstate_ == kUniqueViolation) {
        return MakeError(ErrorCode::kAlreadyExists, "run '" + run.id + "' already exists");
      }
      return std::unexpected(inserted.error());
    }
    OD_TRY(UpsertParams(run.id, params));
    OD_TRY(InsertEvents(run.id, events));
    return tx.Commit();
  }

  Result<RunRecord> GetRun(const std::string& id) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kRunColumns +
                                            " FROM runs r JOIN experiments e ON e.id = "
                                            "r.experiment_id WHERE r.id = $1",
                                        Params().Add(id)));
    if (rows.empty()) return MakeError(ErrorCode::kNotFound, "run '" + id + "' does not exist");
    return ReadRun(rows, 0);
  }

  // The FROM/WHERE of a RunFilter, appending its parameters to `p`; the SQL depends only on
  // which filters are set, so the few variants are prepared once each.
  static std::string RunFilterSql(const RunFilter& filter, Params& p) {
    std::string sql = " FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE true";
    auto next = [&] { return "$" + std::to_string(p.size()); };
    if (filter.experiment) {
      p.Add(*filter.experiment);
      sql += " AND e.name = " + next();
    }
    if (filter.parent_id) {
      if (filter.parent_id->empty()) {
        sql += " AND r.parent_id IS NULL";
      } else {
        p.Add(*filter.parent_id);
        sql += " AND r.parent_id = " + next();
      }
    }
    if (filter.status) {
      p.Add(RunStatusName(*filter.status));
      sql += " AND r.status = " + next();
    }
    return sql;
  }

  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override {
    std::string columns = kRunColumns;
    if (filter.light) {
      for (const char* big : {"r.spec_yaml", "r.executor_handle", "r.launch_json"}) {
        columns.replace(columns.find(big), std::string(big).size(), "''");
      }
    }
    Params p;
    std::string where = RunFilterSql(filter, p);  // before p.size() below
    std::string sql = "SELECT " + columns + where +
                      " ORDER BY r.created_at DESC, r.seq DESC LIMIT $" +
                      std::to_string(p.size() + 1) + " OFFSET $" + std::to_string(p.size() + 2);
    // LIMIT NULL is LIMIT ALL.
    p.Add(filter.limit > 0 ? std::optional<std::int64_t>(filter.limit) : std::nullopt);
    p.Add(static_cast<std::int64_t>(std::max(filter.offset, 0)));
    OD_ASSIGN_OR_RETURN(auto rows, Exec(sql, p));
    std::vector<RunRecord> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadRun(rows, i));
    return out;
  }

  Result<std::int64_t> CountRuns(const RunFilter& filter) override {
    Params p;
    std::string sql = "SELECT COUNT(*)" + RunFilterSql(filter, p);
    OD_ASSIGN_OR_RETURN(auto rows, Exec(sql, p));
    return rows.Int(0, 0);
  }

  Result<std::string> ActivityStamp(const std::string& run_id) override {
    // Statuses only move forward through this list, so the sum of their positions grows with
    // every transition; activity grows with every Ingest into the run or a child.
    OD_ASSIGN_OR_RETURN(
        auto rows,
        Exec("SELECT COUNT(*), COALESCE(SUM(strpos('queued starting running completed failed "
             "canceled early_terminated timed_out', status)), 0), "
             "COALESCE(SUM(cancel_requested::int), 0), COALESCE(SUM(activity), 0), "
             "bool_or(id = $1) "
             "FROM runs WHERE id = $1 OR parent_id = $1",
             Params().Add(run_id)));
    if (rows.IsNull(0, 4) || !rows.Bool(0, 4)) {
      return MakeError(ErrorCode::kNotFound, "run '" + run_id + "' does not exist");
    }
    return rows.Text(0, 0) + ":" + rows.Text(0, 1) + ":" + rows.Text(0, 2) + ":" + rows.Text(0, 3);
  }

  Result<void> SetRunTags(const std::string& run_id,
                          const std::map<std::string, std::string>& tags) override {
    Transaction tx(this);
    OD_TRY(tx.Begin());
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT tags_json FROM runs WHERE id = $1 FOR UPDATE",
                                        Params().Add(run_id)));
    if (rows.empty()) return MakeError(ErrorCode::kNotFound, "run '" + run_id + "' does not exist");
    nlohmann::json merged = nlohmann::json::parse(rows.Text(0, 0), nullptr, false);
    if (!merged.is_object()) merged = nlohmann::json::object();
    for (const auto& [k, v] : tags) {
      if (k.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "a tag of run '" + run_id + "' has an empty key");
      }
      merged[k] = v;
    }
    OD_TRY(Exec("UPDATE runs SET tags_json = $1 WHERE id = $2",
                Params().Add(merged.dump()).Add(run_id)));
    return tx.Commit();
  }

  Result<std::string> ResolveRunId(const std::string& prefix,
                                   const std::string& experiment) override {
    if (prefix.empty()) return MakeError(ErrorCode::kInvalidInput, "run id must not be empty");
    // LIKE 'prefix%' on a "C"-collated key is an index range scan.
    std::string pattern;
    for (char c : prefix) {
      if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
      pattern.push_back(c);
    }
    pattern.push_back('%');
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec("SELECT r.id FROM runs r JOIN experiments e ON e.id = "
                             "r.experiment_id WHERE r.id LIKE $1 AND ($2 = '' OR e.name = $2) "
                             "ORDER BY r.id LIMIT 6",
                             Params().Add(pattern).Add(experiment)));
    std::vector<std::string> ids;
    for (int i = 0; i < rows.size(); ++i) ids.push_back(rows.Text(i, 0));
    return PickRunId(prefix, std::move(ids));
  }

  Result<bool> TransitionRun(const std::string& id, RunStatus to, const RunUpdate& u) override {
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec(std::string("UPDATE runs SET status = $1, "
                                         "status_reason = COALESCE($2, status_reason), "
                                         "command = COALESCE($3, command), "
                                         "executor_handle = COALESCE($4, executor_handle), "
                                         "exit_code = COALESCE($5, exit_code), "
                                         "started_at = COALESCE($6, started_at), "
                                         "ended_at = COALESCE($7, ended_at), "
                                         "lost = COALESCE($8, lost) "
                                         "WHERE id = $9 AND status NOT IN ") +
                                 kFinalStatusList,
                             Params()
                                 .Add(RunStatusName(to))
                                 .Add(u.status_reason)
                                 .Add(u.command)
                                 .Add(u.executor_handle)
                                 .Add(u.exit_code)
                                 .Add(u.started_at)
                                 .Add(u.ended_at)
                                 .Add(u.lost)
                                 .Add(id)));
    if (rows.Affected() > 0) return true;
    OD_TRY(RequireRun(id));
    return false;
  }

  // Refuses (kFailedPrecondition) on a final run, which never changes again. `set_sql` uses
  // $2.. for `p`'s values; $1 is the id.
  Result<void> UpdateUnlessFinal(const std::string& id, const std::string& set_sql, Params p) {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("UPDATE runs SET " + set_sql +
                                            " WHERE id = $1 AND status NOT IN " + kFinalStatusList,
                                        p));
    if (rows.Affected() > 0) return {};
    OD_ASSIGN_OR_RETURN(auto status, StatusOf(id));
    if (!status) return MakeError(ErrorCode::kNotFound, "run '" + id + "' does not exist");
    return MakeError(ErrorCode::kFailedPrecondition,
                     "run '" + id + "' has already ended (" + RunStatusName(*status) + ")");
  }

  Result<void> SetController(const std::string& id, int pid, double started_at) override {
    return UpdateUnlessFinal(id, "controller_pid = $2, controller_started_at = $3",
                             Params().Add(id).Add(pid).Add(started_at));
  }

  Result<void> RequestCancel(const std::string& id) override {
    return UpdateUnlessFinal(id, "cancel_requested = true", Params().Add(id));
  }

  // ---- Params, metrics, cursors ----

  // Names and values as two arrays; a name given twice keeps its last value (one statement
  // cannot upsert the same row twice).
  static Result<std::pair<BinaryArray, BinaryArray>> ParamArrays(const std::string& run_id,
                                                                 const std::vector<Param>& params) {
    std::map<std::string, const std::string*> last;
    for (const auto& p : params) {
      if (p.name.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "a param of run '" + run_id + "' has an empty name");
      }
      last[p.name] = &p.value_json;
    }
    std::pair<BinaryArray, BinaryArray> out{BinaryArray(kTextOid), BinaryArray(kTextOid)};
    for (const auto& [name, value] : last) {
      out.first.Add(name);
      out.second.Add(*value);
    }
    return out;
  }

  Result<void> UpsertParams(const std::string& run_id, const std::vector<Param>& params) {
    if (params.empty()) return {};
    OD_ASSIGN_OR_RETURN(auto arrays, ParamArrays(run_id, params));
    OD_TRY(Exec(
        "INSERT INTO params(run_id, name, value_json) SELECT $1, t.n, t.v "
        "FROM unnest($2::text[], $3::text[]) AS t(n, v) "
        "ON CONFLICT (run_id, name) DO UPDATE SET value_json = excluded.value_json",
        Params().Add(run_id).Add(kTextArrayOid, arrays.first).Add(kTextArrayOid, arrays.second)));
    return {};
  }

  Result<std::vector<Param>> GetParams(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT name, value_json FROM params WHERE run_id = $1 "
                                        "ORDER BY name",
                                        Params().Add(run_id)));
    std::vector<Param> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(Param{rows.Text(i, 0), rows.Text(i, 1)});
    return out;
  }

  Result<void> Ingest(const IngestBatch& batch) override {
    BinaryArray names(kTextOid), steps(kInt8Oid), values(kFloat8Oid), times(kFloat8Oid);
    for (const auto& p : batch.points) {
      if (p.name.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "a metric point of run '" + batch.run_id + "' has an empty name");
      }
      names.Add(p.name);
      steps.Add(p.step);
      values.AddValue(p.value);
      times.Add(p.timestamp);
    }
    OD_ASSIGN_OR_RETURN(auto params, ParamArrays(batch.run_id, batch.params));
    BinaryArray sum_names(kTextOid), sum_counts(kInt8Oid), sum_steps(kInt8Oid),
        sum_last(kFloat8Oid), sum_min(kFloat8Oid), sum_max(kFloat8Oid);
    for (const auto& [name, sum] : SummarizePoints(batch.points)) {  // by name: one lock order
      sum_names.Add(name);
      sum_counts.Add(sum.count);
      sum_steps.Add(sum.last_step);
      sum_last.AddValue(sum.last_value);
      sum_min.AddValue(sum.min_value);
      sum_max.AddValue(sum.max_value);
    }
    BinaryArray blk_names(kTextOid), blk_ids(kInt8Oid), blk_first(kInt8Oid), blk_last(kInt8Oid),
        blk_counts(kInt8Oid), blk_value(kFloat8Oid), blk_min(kFloat8Oid), blk_max(kFloat8Oid);
    for (const auto& [key, block] : SummarizeBlocks(batch.points)) {  // by (name, block)
      const MetricBucket& b = block.summary;
      blk_names.Add(block.name);
      blk_ids.Add(block.block);
      blk_first.Add(b.step_first);
      blk_last.Add(b.step_last);
      blk_counts.Add(b.count);
      blk_value.AddValue(b.value);
      blk_min.AddValue(b.min_value);
      blk_max.AddValue(b.max_value);
    }
    BinaryArray sources(kTextOid), offsets(kInt8Oid);
    for (const auto& [source, offset] : batch.cursors) {
      sources.Add(source);
      offsets.Add(offset);
    }
    // One statement, so one round trip and atomic without BEGIN/COMMIT. Every insert reads the
    // run id from `r`: for an unknown run nothing is written and the count says so. Points go
    // in batch order (ORDER BY ordinality), so metrics.id breaks ties of equal steps as SQLite's
    // rowid does.
    OD_ASSIGN_OR_RETURN(
        auto rows,
        Exec("WITH r AS (SELECT id FROM runs WHERE id = $1), "
             "m AS (INSERT INTO metrics(run_id, name, step, value, timestamp) "
             "  SELECT r.id, t.n, t.s, t.v, t.ts FROM r, "
             "  unnest($2::text[], $3::int8[], $4::float8[], $5::float8[]) WITH ORDINALITY "
             "  AS t(n, s, v, ts, o) ORDER BY t.o), "
             "p AS (INSERT INTO params(run_id, name, value_json) "
             "  SELECT r.id, t.n, t.v FROM r, unnest($6::text[], $7::text[]) AS t(n, v) "
             "  ON CONFLICT (run_id, name) DO UPDATE SET value_json = excluded.value_json), "
             "c AS (INSERT INTO cursors(run_id, source, \"offset\") "
             "  SELECT r.id, t.s, t.o FROM r, unnest($8::text[], $9::int8[]) AS t(s, o) "
             "  ON CONFLICT (run_id, source) DO UPDATE SET \"offset\" = excluded.\"offset\"), "
             // The batch folded into the series summaries (SET reads the row as it was;
             // LEAST/GREATEST skip NULL, which stands for NaN).
             "s AS (INSERT INTO metric_series AS o(run_id, name, count, last_step, last_value, "
             "  min_value, max_value) SELECT r.id, t.n, t.c, t.ls, t.lv, t.mn, t.mx FROM r, "
             "  unnest($10::text[], $11::int8[], $12::int8[], $13::float8[], $14::float8[], "
             "  $15::float8[]) AS t(n, c, ls, lv, mn, mx) ORDER BY t.n "
             "  ON CONFLICT (run_id, name) DO UPDATE SET count = o.count + excluded.count, "
             "  last_value = CASE WHEN excluded.last_step >= o.last_step "
             "    THEN excluded.last_value ELSE o.last_value END, "
             "  last_step = GREATEST(o.last_step, excluded.last_step), "
             "  min_value = LEAST(o.min_value, excluded.min_value), "
             "  max_value = GREATEST(o.max_value, excluded.max_value)), "
             "b AS (INSERT INTO metric_blocks AS o(run_id, name, block, step_first, step_last, "
             "  count, last_value, min_value, max_value) "
             "  SELECT r.id, t.n, t.b, t.sf, t.sl, t.c, t.lv, t.mn, t.mx FROM r, "
             "  unnest($16::text[], $17::int8[], $18::int8[], $19::int8[], $20::int8[], "
             "  $21::float8[], $22::float8[], $23::float8[]) AS t(n, b, sf, sl, c, lv, mn, mx) "
             "  ORDER BY t.n, t.b "
             "  ON CONFLICT (run_id, name, block) DO UPDATE SET count = o.count + excluded.count, "
             "  step_first = LEAST(o.step_first, excluded.step_first), "
             "  last_value = CASE WHEN excluded.step_last >= o.step_last "
             "    THEN excluded.last_value ELSE o.last_value END, "
             "  step_last = GREATEST(o.step_last, excluded.step_last), "
             "  min_value = LEAST(o.min_value, excluded.min_value), "
             "  max_value = GREATEST(o.max_value, excluded.max_value)), "
             // Live views refresh what moved (ActivityStamp, GetChildStates).
             "a AS (UPDATE runs SET activity = activity + 1 WHERE id = $1 AND "
             "  (cardinality($2::text[]) > 0 OR cardinality($6::text[]) > 0)) "
             "SELECT COUNT(*) FROM r",
             Params()
                 .Add(batch.run_id)
                 .Add(kTextArrayOid, names)
                 .Add(kInt8ArrayOid, steps)
                 .Add(kFloat8ArrayOid, values)
                 .Add(kFloat8ArrayOid, times)
                 .Add(kTextArrayOid, params.first)
                 .Add(kTextArrayOid, params.second)
                 .Add(kTextArrayOid, sources)
                 .Add(kInt8ArrayOid, offsets)
                 .Add(kTextArrayOid, sum_names)
                 .Add(kInt8ArrayOid, sum_counts)
                 .Add(kInt8ArrayOid, sum_steps)
                 .Add(kFloat8ArrayOid, sum_last)
                 .Add(kFloat8ArrayOid, sum_min)
                 .Add(kFloat8ArrayOid, sum_max)
                 .Add(kTextArrayOid, blk_names)
                 .Add(kInt8ArrayOid, blk_ids)
                 .Add(kInt8ArrayOid, blk_first)
                 .Add(kInt8ArrayOid, blk_last)
                 .Add(kInt8ArrayOid, blk_counts)
                 .Add(kFloat8ArrayOid, blk_value)
                 .Add(kFloat8ArrayOid, blk_min)
                 .Add(kFloat8ArrayOid, blk_max)));
    if (rows.Int(0, 0) == 0) {
      return MakeError(ErrorCode::kNotFound, "run '" + batch.run_id + "' does not exist");
    }
    return {};
  }

  Result<std::vector<MetricPoint>> GetMetricHistory(const std::string& run_id,
                                                    const std::string& name) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT step, value, timestamp FROM metrics "
                                        "WHERE run_id = $1 AND name = $2 ORDER BY step, id",
                                        Params().Add(run_id).Add(name)));
    std::vector<MetricPoint> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(MetricPoint{name, rows.Int(i, 0), rows.Double(i, 1), rows.Double(i, 2)});
    }
    return out;
  }

  static std::vector<MetricBucket> ReadBuckets(const Rows& rows) {
    std::vector<MetricBucket> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(MetricBucket{rows.Int(i, 0), rows.Int(i, 1), rows.Double(i, 2),
                                 rows.Double(i, 3), rows.Double(i, 4), rows.Int(i, 5)});
    }
    return out;
  }

  // Point i (0-based, in step order) of n goes to bucket i * B / n: buckets hold equal numbers
  // of points and a short series keeps one point per bucket (SQLite's rule). Ranking every
  // point takes a window pass that cannot run in parallel, so the common case goes first:
  // steps lo, lo + stride, lo + 2 * stride, ... each once (auto-numbered steps, one point per
  // epoch). There the rank is (step - lo) / stride, buckets are ranges of steps, and one
  // parallel GROUP BY does it (about 3x faster on 1,000,000 points). Whether the series really
  // is like that shows in the result: the buckets' step ranges must tile [lo, hi] with exactly
  // one point per stride. If they do, every bucket holds the same points as under ranking, even
  // where a repeated step and a missing one cancel out inside a bucket; else the window pass
  // runs.
  Result<std::vector<MetricBucket>> GetMetricBuckets(const std::string& run_id,
                                                     const std::string& name,
                                                     int max_buckets) override {
    OD_TRY(RequireRun(run_id));
    if (max_buckets < 1) return MakeError(ErrorCode::kInvalidInput, "max_buckets must be >= 1");
    const auto b = static_cast<std::int64_t>(max_buckets);
    OD_ASSIGN_OR_RETURN(auto counted,
                        Exec("SELECT count FROM metric_series WHERE run_id = $1 AND name = $2",
                             Params().Add(run_id).Add(name)));
    const std::int64_t n_points = counted.size() > 0 ? counted.Int(0, 0) : 0;
    if (n_points >= kMetricBlocksMinPoints && n_points >= (b << kMetricBlockShift)) {
      // A long series: from its blocks of 64 steps, ~n / 64 rows instead of n.
      OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT step_first, step_last, last_value, min_value, "
                                          "max_value, count FROM metric_blocks WHERE run_id = $1 "
                                          "AND name = $2 ORDER BY block",
                                          Params().Add(run_id).Add(name)));
      return MergeBlocks(ReadBuckets(rows), max_buckets);
    }
    OD_ASSIGN_OR_RETURN(auto bounds,
                        Exec("SELECT (SELECT step FROM metrics WHERE run_id = $1 AND name = $2 "
                             "        ORDER BY step LIMIT 1), "
                             "       (SELECT step FROM metrics WHERE run_id = $1 AND name = $2 "
                             "        ORDER BY step OFFSET 1 LIMIT 1), "
                             "       (SELECT step FROM metrics WHERE run_id = $1 AND name = $2 "
                             "        ORDER BY step DESC LIMIT 1)",
                             Params().Add(run_id).Add(name)));
    if (bounds.IsNull(0, 0)) return std::vector<MetricBucket>();  // no such series
    const std::int64_t lo = bounds.Int(0, 0), hi = bounds.Int(0, 2);
    const std::int64_t stride = bounds.IsNull(0, 1) ? 1 : bounds.Int(0, 1) - lo;
    std::int64_t span = 0;
    // A stride of 0 is a repeated first step; a span this large cannot be one point per stride
    // (and (step - lo) / stride * B must not overflow).
    if (stride > 0 && !__builtin_sub_overflow(hi, lo, &span) && span / stride < (1LL << 40)) {
      const std::int64_t n = span / stride + 1;
      OD_ASSIGN_OR_RETURN(
          auto rows,
          Exec("WITH g AS (SELECT MIN(step) AS first, MAX(step) AS last, MIN(value) AS lo_v, "
               "  MAX(value) AS hi_v, COUNT(*) AS c, "
               "  COUNT(*) FILTER (WHERE (step - $3) % $4 <> 0) AS off_stride "
               "  FROM metrics WHERE run_id = $1 AND name = $2 "
               "  GROUP BY (step - $3) / $4 * $5 / $6) "
               "SELECT g.first, g.last, "
               "  (SELECT l.value FROM metrics l WHERE l.run_id = $1 AND l.name = $2 AND "
               "   l.step = g.last ORDER BY l.id DESC LIMIT 1), "
               "  g.lo_v, g.hi_v, g.c, g.off_stride FROM g ORDER BY g.first",
               Params().Add(run_id).Add(name).Add(lo).Add(stride).Add(b).Add(n)));
      bool tiles = rows.size() > 0 && rows.Int(0, 0) == lo && rows.Int(rows.size() - 1, 1) == hi;
      for (int i = 0; tiles && i < rows.size(); ++i) {
        const std::int64_t first = rows.Int(i, 0), last = rows.Int(i, 1);
        tiles = rows.Int(i, 6) == 0 && (last - first) / stride + 1 == rows.Int(i, 5) &&
                (i == 0 || first == rows.Int(i - 1, 1) + stride);
      }
      if (tiles) return ReadBuckets(rows);
    }
    // The general case. A bucket's value is its last point, the one whose successor starts
    // the next bucket; MIN/MAX skip NULL (NaN).
    OD_ASSIGN_OR_RETURN(
        auto rows,
        Exec("WITH s AS (SELECT m.step, m.value, "
             "  (SELECT COUNT(*) FROM metrics WHERE run_id = $1 AND name = $2) AS n, "
             "  row_number() OVER (ORDER BY m.step, m.id) - 1 AS i "
             "  FROM metrics m WHERE m.run_id = $1 AND m.name = $2) "
             "SELECT MIN(step), MAX(step), "
             "  MAX(CASE WHEN i = n - 1 OR (i + 1) * $3 / n <> i * $3 / n THEN value END), "
             "  MIN(value), MAX(value), COUNT(*) "
             "FROM s GROUP BY i * $3 / n ORDER BY i * $3 / n",
             Params().Add(run_id).Add(name).Add(b)));
    return ReadBuckets(rows);
  }

  Result<std::map<std::string, std::vector<Param>>> GetChildParams(
      const std::string& parent_id) override {
    OD_TRY(RequireRun(parent_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT p.run_id, p.name, p.value_json FROM runs r "
                                        "JOIN params p ON p.run_id = r.id "
                                        "WHERE r.parent_id = $1 ORDER BY p.run_id, p.name",
                                        Params().Add(parent_id)));
    std::map<std::string, std::vector<Param>> out;
    for (int i = 0; i < rows.size(); ++i) {
      out[rows.Text(i, 0)].push_back(Param{rows.Text(i, 1), rows.Text(i, 2)});
    }
    return out;
  }

  Result<std::map<std::string, MetricSummary>> GetChildMetricSummaries(
      const std::string& parent_id, const std::string& name) override {
    OD_TRY(RequireRun(parent_id));
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec(std::string("SELECT s.run_id, ") + kSummaryColumns +
                                 " FROM runs r JOIN metric_series s ON s.run_id = r.id AND "
                                 "s.name = $2 WHERE r.parent_id = $1",
                             Params().Add(parent_id).Add(name)));
    std::map<std::string, MetricSummary> out;
    for (int i = 0; i < rows.size(); ++i) {
      MetricSummary s = ReadSummary(rows, i, 1);
      s.name = name;
      out.emplace(rows.Text(i, 0), std::move(s));
    }
    return out;
  }

  Result<std::vector<ChildState>> GetChildStates(const std::string& parent_id) override {
    OD_TRY(RequireRun(parent_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT id, status, cancel_requested, activity FROM runs "
                                        "WHERE parent_id = $1",
                                        Params().Add(parent_id)));
    std::vector<ChildState> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(ChildState{rows.Text(i, 0),
                               ParseRunStatus(rows.Text(i, 1)).value_or(RunStatus::kQueued),
                               rows.Bool(i, 2), rows.Int(i, 3)});
    }
    return out;
  }

  Result<std::vector<MetricSummary>> GetMetricSummaries(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec(std::string("SELECT s.name, ") + kSummaryColumns +
                                 " FROM metric_series s WHERE s.run_id = $1 ORDER BY s.name",
                             Params().Add(run_id)));
    std::vector<MetricSummary> out;
    for (int i = 0; i < rows.size(); ++i) {
      MetricSummary s = ReadSummary(rows, i, 1);
      s.name = rows.Text(i, 0);
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::map<std::string, std::int64_t>> GetCursors(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT source, \"offset\" FROM cursors "
                                        "WHERE run_id = $1",
                                        Params().Add(run_id)));
    std::map<std::string, std::int64_t> out;
    for (int i = 0; i < rows.size(); ++i) out[rows.Text(i, 0)] = rows.Int(i, 1);
    return out;
  }

  // ---- Artifacts and events ----
  Result<void> AddArtifacts(const std::string& run_id,
                            const std::vector<ArtifactRecord>& artifacts) override {
    // A path given twice keeps its last record, as upserting one by one would.
    std::map<std::string, const ArtifactRecord*> last;
    bool empty_path = false;
    for (const auto& a : artifacts) {
      if (a.path.empty()) empty_path = true;
      last[a.path] = &a;
    }
    if (empty_path) {
      OD_TRY(RequireRun(run_id));
      return MakeError(ErrorCode::kInvalidInput,
                       "an artifact of run '" + run_id + "' has an empty path");
    }
    BinaryArray paths(kTextOid), digests(kTextOid), sizes(kInt8Oid);
    for (const auto& [path, a] : last) {
      paths.Add(path);
      digests.Add(a->digest);
      sizes.Add(a->size);
    }
    OD_ASSIGN_OR_RETURN(
        auto rows,
        Exec("WITH r AS (SELECT id FROM runs WHERE id = $1), "
             "a AS (INSERT INTO artifacts(run_id, path, digest, size) "
             "  SELECT r.id, t.p, t.d, t.s FROM r, unnest($2::text[], $3::text[], $4::int8[]) "
             "  AS t(p, d, s) ON CONFLICT (run_id, path) DO UPDATE SET "
             "  digest = excluded.digest, size = excluded.size) "
             "SELECT COUNT(*) FROM r",
             Params()
                 .Add(run_id)
                 .Add(kTextArrayOid, paths)
                 .Add(kTextArrayOid, digests)
                 .Add(kInt8ArrayOid, sizes)));
    if (rows.Int(0, 0) == 0) {
      return MakeError(ErrorCode::kNotFound, "run '" + run_id + "' does not exist");
    }
    return {};
  }

  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT path, digest, size FROM artifacts "
                                        "WHERE run_id = $1 ORDER BY path",
                                        Params().Add(run_id)));
    std::vector<ArtifactRecord> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(ArtifactRecord{rows.Text(i, 0), rows.Text(i, 1), rows.Int(i, 2)});
    }
    return out;
  }

  // Inserts `events` in order for a run known to exist.
  Result<void> InsertEvents(const std::string& run_id, const std::vector<RunEvent>& events) {
    if (events.empty()) return {};
    BinaryArray times(kFloat8Oid), kinds(kTextOid), messages(kTextOid);
    const double now = WallSeconds();
    for (const auto& e : events) {
      times.Add(e.timestamp != 0 ? e.timestamp : now);
      kinds.Add(e.kind);
      messages.Add(e.message);
    }
    OD_TRY(
        Exec("INSERT INTO events(run_id, timestamp, kind, message) "
             "SELECT $1, t.ts, t.k, t.m FROM unnest($2::float8[], $3::text[], $4::text[]) "
             "WITH ORDINALITY AS t(ts, k, m, o) ORDER BY t.o",
             Params()
                 .Add(run_id)
                 .Add(kFloat8ArrayOid, times)
                 .Add(kTextArrayOid, kinds)
                 .Add(kTextArrayOid, messages)));
    return {};
  }

  Result<void> AddEvent(const std::string& run_id, const RunEvent& e) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("INSERT INTO events(run_id, timestamp, kind, message) "
                                        "SELECT id, $2, $3, $4 FROM runs WHERE id = $1",
                                        Params()
                                            .Add(run_id)
                                            .Add(e.timestamp != 0 ? e.timestamp : WallSeconds())
                                            .Add(e.kind)
                                            .Add(e.message)));
    if (rows.Affected() == 0) {
      return MakeError(ErrorCode::kNotFound, "run '" + run_id + "' does not exist");
    }
    return {};
  }

  Result<std::vector<RunEvent>> ListEvents(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT timestamp, kind, message FROM events "
                                        "WHERE run_id = $1 ORDER BY id",
                                        Params().Add(run_id)));
    std::vector<RunEvent> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(RunEvent{rows.Double(i, 0), rows.Text(i, 1), rows.Text(i, 2)});
    }
    return out;
  }

  // ---- Computes ----
  Result<void> PutCompute(const ComputeTarget& t) override {
    if (t.name.empty()) return MakeError(ErrorCode::kInvalidInput, "compute name is empty");
    OD_TRY(
        Exec("INSERT INTO computes(name, type, config_json) VALUES ($1, $2, $3) "
             "ON CONFLICT (name) DO UPDATE SET type = excluded.type, "
             "config_json = excluded.config_json",
             Params().Add(t.name).Add(ComputeTypeName(t.type)).Add(t.config_json)));
    return {};
  }

  Result<ComputeTarget> GetCompute(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT name, type, config_json FROM computes "
                                        "WHERE name = $1",
                                        Params().Add(name)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound, "compute '" + name + "' does not exist");
    }
    return ReadComputeTarget(rows.Text(0, 0), rows.Text(0, 1), rows.Text(0, 2));
  }

  Result<std::vector<ComputeTarget>> ListComputes() override {
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec("SELECT name, type, config_json FROM computes ORDER BY name"));
    std::vector<ComputeTarget> out;
    for (int i = 0; i < rows.size(); ++i) {
      OD_ASSIGN_OR_RETURN(ComputeTarget t,
                          ReadComputeTarget(rows.Text(i, 0), rows.Text(i, 1), rows.Text(i, 2)));
      out.push_back(std::move(t));
    }
    return out;
  }

  // ---- Environments ----
  static constexpr const char* kEnvironmentColumns =
      "name, version, spec_json, content_hash, description, tags_json, created_at";

  static EnvironmentRecord ReadEnvironment(const Rows& q, int i) {
    return EnvironmentRecord{q.Text(i, 0), q.Text(i, 1), q.Text(i, 2), q.Text(i, 3),
                             q.Text(i, 4), q.Text(i, 5), q.Double(i, 6)};
  }

  Result<EnvironmentRecord> CreateEnvironment(const EnvironmentRecord& input) override {
    if (input.name.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "environment name must not be empty");
    }
    EnvironmentRecord e = input;
    if (e.created_at == 0) e.created_at = WallSeconds();
    Transaction tx(this);
    OD_TRY(tx.Begin());
    // Held until commit: a concurrent creator of the same name waits here, then sees this
    // version (READ COMMITTED alone would let two read the same highest number).
    OD_TRY(Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/environment/' || $1))",
                Params().Add(e.name)));
    if (e.version.empty()) {
      OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT version FROM environments WHERE name = $1",
                                          Params().Add(e.name)));
      std::vector<std::string> versions;
      for (int i = 0; i < rows.size(); ++i) versions.push_back(rows.Text(i, 0));
      e.version = NextEnvironmentVersion(versions);
    } else {
      OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kEnvironmentColumns +
                                              " FROM environments WHERE name = $1 AND "
                                              "version = $2",
                                          Params().Add(e.name).Add(e.version)));
      if (!rows.empty()) {
        EnvironmentRecord existing = ReadEnvironment(rows, 0);
        if (existing.spec_json != e.spec_json) {
          return std::unexpected(EnvironmentVersionTaken(e.name, e.version));
        }
        return existing;
      }
    }
    OD_TRY(Exec("INSERT INTO environments(name, version, spec_json, content_hash, description, "
                "tags_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                Params()
                    .Add(e.name)
                    .Add(e.version)
                    .Add(e.spec_json)
                    .Add(e.content_hash)
                    .Add(e.description)
                    .Add(e.tags_json)
                    .Add(e.created_at)));
    OD_TRY(tx.Commit());
    return e;
  }

  Result<EnvironmentRecord> GetEnvironment(const std::string& name,
                                           const std::string& version) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kEnvironmentColumns +
                                            " FROM environments WHERE name = $1 AND version = $2",
                                        Params().Add(name).Add(version)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound,
                       "environment '" + name + "' has no version '" + version + "'");
    }
    return ReadEnvironment(rows, 0);
  }

  Result<EnvironmentRecord> GetLatestEnvironment(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kEnvironmentColumns +
                                            " FROM environments WHERE name = $1 "
                                            "ORDER BY created_at DESC, id DESC LIMIT 1",
                                        Params().Add(name)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound, "environment '" + name + "' does not exist");
    }
    return ReadEnvironment(rows, 0);
  }

  Result<std::vector<EnvironmentRecord>> ListEnvironments() override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kEnvironmentColumns +
                                        " FROM environments ORDER BY name, created_at, id"));
    std::vector<EnvironmentRecord> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadEnvironment(rows, i));
    return out;
  }

  Result<void> SetEnvironmentContentHash(const std::string& name, const std::string& version,
                                         const std::string& content_hash) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("UPDATE environments SET content_hash = $1 "
                                        "WHERE name = $2 AND version = $3",
                                        Params().Add(content_hash).Add(name).Add(version)));
    if (rows.Affected() == 0) {
      return MakeError(ErrorCode::kNotFound,
                       "environment '" + name + "' has no version '" + version + "'");
    }
    return {};
  }

  // ---- Secrets ----
  Result<void> PutSecret(const SecretRecord& in) override {
    if (in.name.empty()) return MakeError(ErrorCode::kInvalidInput, "a secret needs a name");
    const double now = in.updated_at > 0 ? in.updated_at : WallSeconds();
    OD_TRY(Exec("INSERT INTO secrets(name, sealed, created_at, updated_at) VALUES ($1, $2, $3, "
                "$3) ON CONFLICT (name) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = "
                "EXCLUDED.updated_at",
                Params().Add(in.name).Add(in.sealed).Add(now)));
    return {};
  }

  Result<SecretRecord> GetSecret(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT name, sealed, created_at, updated_at FROM secrets "
                                        "WHERE name = $1",
                                        Params().Add(name)));
    if (rows.empty()) return MakeError(ErrorCode::kNotFound, "no secret named '" + name + "'");
    return SecretRecord{rows.Text(0, 0), rows.Text(0, 1), rows.Double(0, 2), rows.Double(0, 3)};
  }

  Result<std::vector<SecretRecord>> ListSecrets() override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT name, created_at, updated_at FROM secrets "
                                        "ORDER BY name"));
    std::vector<SecretRecord> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back({rows.Text(i, 0), "", rows.Double(i, 1), rows.Double(i, 2)});
    }
    return out;
  }

  Result<bool> DeleteSecret(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("DELETE FROM secrets WHERE name = $1", Params().Add(name)));
    return rows.Affected() > 0;
  }

  // ---- Datastores ----
  static constexpr const char* kDatastoreColumns =
      "name, type, spec_json, description, created_at, updated_at";

  static DatastoreRecord ReadDatastore(const Rows& q, int i) {
    return DatastoreRecord{q.Text(i, 0), q.Text(i, 1),   q.Text(i, 2),
                           q.Text(i, 3), q.Double(i, 4), q.Double(i, 5)};
  }

  Result<void> PutDatastore(const DatastoreRecord& in) override {
    if (in.name.empty()) return MakeError(ErrorCode::kInvalidInput, "a datastore needs a name");
    const double now = in.updated_at > 0 ? in.updated_at : WallSeconds();
    OD_TRY(Exec("INSERT INTO datastores(name, type, spec_json, description, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET "
                "type = EXCLUDED.type, spec_json = EXCLUDED.spec_json, description = "
                "EXCLUDED.description, updated_at = EXCLUDED.updated_at",
                Params()
                    .Add(in.name)
                    .Add(in.type)
                    .Add(in.spec_json)
                    .Add(in.description)
                    .Add(in.created_at > 0 ? in.created_at : now)
                    .Add(now)));
    return {};
  }

  Result<DatastoreRecord> GetDatastore(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kDatastoreColumns +
                                            " FROM datastores WHERE name = $1",
                                        Params().Add(name)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound, "datastore '" + name + "' does not exist");
    }
    return ReadDatastore(rows, 0);
  }

  Result<std::vector<DatastoreRecord>> ListDatastores() override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kDatastoreColumns +
                                        " FROM datastores ORDER BY name"));
    std::vector<DatastoreRecord> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadDatastore(rows, i));
    return out;
  }

  Result<bool> DeleteDatastore(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec("DELETE FROM datastores WHERE name = $1", Params().Add(name)));
    return rows.Affected() > 0;
  }

  // ---- Data assets ----
  static constexpr const char* kDataAssetColumns =
      "name, version, type, path, description, tags_json, spec_json, created_at";

  static DataAssetRecord ReadDataAsset(const Rows& q, int i) {
    return DataAssetRecord{q.Text(i, 0), q.Text(i, 1), q.Text(i, 2), q.Text(i, 3),
                           q.Text(i, 4), q.Text(i, 5), q.Text(i, 6), q.Double(i, 7)};
  }

  Result<DataAssetRecord> CreateDataAsset(const DataAssetRecord& input) override {
    if (input.name.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "data asset name must not be empty");
    }
    if (input.path.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "data asset '" + input.name + "' needs a path");
    }
    DataAssetRecord a = input;
    if (a.created_at == 0) a.created_at = WallSeconds();
    Transaction tx(this);
    OD_TRY(tx.Begin());
    // Held until commit: a concurrent creator of the same name waits here, then sees this
    // version (READ COMMITTED alone would let two read the same highest number).
    OD_TRY(Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/data_asset/' || $1))",
                Params().Add(a.name)));
    if (a.version.empty()) {
      OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT version FROM data_assets WHERE name = $1",
                                          Params().Add(a.name)));
      std::vector<std::string> versions;
      for (int i = 0; i < rows.size(); ++i) versions.push_back(rows.Text(i, 0));
      a.version = NextIntegerVersion(versions);
    } else {
      OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kDataAssetColumns +
                                              " FROM data_assets WHERE name = $1 AND "
                                              "version = $2",
                                          Params().Add(a.name).Add(a.version)));
      if (!rows.empty()) {
        DataAssetRecord existing = ReadDataAsset(rows, 0);
        if (existing.type != a.type || existing.path != a.path ||
            existing.spec_json != a.spec_json) {
          return std::unexpected(DataAssetVersionTaken(a.name, a.version));
        }
        return existing;
      }
    }
    OD_TRY(Exec("INSERT INTO data_assets(name, version, type, path, description, tags_json, "
                "spec_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                Params()
                    .Add(a.name)
                    .Add(a.version)
                    .Add(a.type)
                    .Add(a.path)
                    .Add(a.description)
                    .Add(a.tags_json)
                    .Add(a.spec_json)
                    .Add(a.created_at)));
    OD_TRY(tx.Commit());
    return a;
  }

  Result<DataAssetRecord> GetDataAsset(const std::string& name,
                                       const std::string& version) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kDataAssetColumns +
                                            " FROM data_assets WHERE name = $1 AND version = $2",
                                        Params().Add(name).Add(version)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound,
                       "data asset '" + name + "' has no version '" + version + "'");
    }
    return ReadDataAsset(rows, 0);
  }

  Result<DataAssetRecord> GetLatestDataAsset(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kDataAssetColumns +
                                            " FROM data_assets WHERE name = $1 "
                                            "ORDER BY created_at DESC, seq DESC LIMIT 1",
                                        Params().Add(name)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound, "data asset '" + name + "' does not exist");
    }
    return ReadDataAsset(rows, 0);
  }

  Result<std::vector<DataAssetRecord>> ListDataAssets() override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kDataAssetColumns +
                                        " FROM data_assets ORDER BY name, created_at, seq"));
    std::vector<DataAssetRecord> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadDataAsset(rows, i));
    return out;
  }

  // ---- Run inputs ----
  static constexpr const char* kRunInputColumns =
      "run_id, input_name, asset_name, asset_version, uri, created_at";

  static RunInputRecord ReadRunInput(const Rows& q, int i) {
    return RunInputRecord{q.Text(i, 0), q.Text(i, 1), q.Text(i, 2),
                          q.Text(i, 3), q.Text(i, 4), q.Double(i, 5)};
  }

  Result<void> AddRunInputs(const std::vector<RunInputRecord>& inputs) override {
    if (inputs.empty()) return {};
    const double now = WallSeconds();
    // One upsert per input (a run has a handful): an input given twice keeps its last record,
    // which one INSERT ... ON CONFLICT of both would refuse.
    Transaction tx(this);
    OD_TRY(tx.Begin());
    for (const auto& in : inputs) {
      OD_TRY(RequireRun(in.run_id));
      if (in.input_name.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "an input of run '" + in.run_id + "' has an empty name");
      }
      // The first created_at is kept: recording the same inputs again changes nothing.
      OD_TRY(Exec("INSERT INTO run_inputs(run_id, input_name, asset_name, asset_version, uri, "
                  "created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, input_name) "
                  "DO UPDATE SET asset_name = EXCLUDED.asset_name, asset_version = "
                  "EXCLUDED.asset_version, uri = EXCLUDED.uri",
                  Params()
                      .Add(in.run_id)
                      .Add(in.input_name)
                      .Add(in.asset_name)
                      .Add(in.asset_version)
                      .Add(in.uri)
                      .Add(in.created_at != 0 ? in.created_at : now)));
    }
    return tx.Commit();
  }

  Result<std::vector<RunInputRecord>> ListRunInputs(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kRunInputColumns +
                                            " FROM run_inputs WHERE run_id = $1 "
                                            "ORDER BY input_name",
                                        Params().Add(run_id)));
    std::vector<RunInputRecord> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadRunInput(rows, i));
    return out;
  }

  Result<std::vector<RunInputRecord>> ListDataAssetReaders(const std::string& name,
                                                           const std::string& version) override {
    if (name.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "data asset name must not be empty");
    }
    Params p;
    p.Add(name);
    if (!version.empty()) p.Add(version);
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kRunInputColumns +
                                            " FROM run_inputs WHERE asset_name = $1" +
                                            (version.empty() ? "" : " AND asset_version = $2") +
                                            " ORDER BY created_at, seq",
                                        p));
    std::vector<RunInputRecord> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadRunInput(rows, i));
    return out;
  }

  // ---- Model registry ----
  Result<ModelVersion> CreateModelVersion(const ModelVersion& input) override {
    if (input.model.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "model name must not be empty");
    }
    ModelVersion v = input;
    v.aliases.clear();
    if (v.created_at == 0) v.created_at = WallSeconds();
    std::sort(v.files.begin(), v.files.end(),
              [](const ArtifactRecord& a, const ArtifactRecord& b) { return a.path < b.path; });
    std::string twice;  // reported after the run check, as SQLite's primary key does
    for (size_t i = 0; i < v.files.size(); ++i) {
      if (v.files[i].path.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "a file of model '" + v.model + "' has an empty path");
      }
      if (i > 0 && v.files[i].path == v.files[i - 1].path) twice = v.files[i].path;
    }
    Transaction tx(this);
    OD_TRY(tx.Begin());
    // Held until commit: a concurrent creator of the same model waits here, then reads the
    // max including this version.
    OD_TRY(Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/model/' || $1))",
                Params().Add(v.model)));
    OD_TRY(RequireRun(v.run_id));
    if (!twice.empty()) {
      return MakeError(ErrorCode::kInvalidInput,
                       "file '" + twice + "' is listed twice in model '" + v.model + "'");
    }
    {
      OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT COALESCE(MAX(version), 0) + 1 FROM "
                                          "model_versions WHERE model = $1",
                                          Params().Add(v.model)));
      v.version = rows.Int(0, 0);
    }
    OD_TRY(
        Exec("INSERT INTO model_versions(model, version, run_id, path, tags_json, "
             "lineage_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
             Params()
                 .Add(v.model)
                 .Add(v.version)
                 .Add(v.run_id)
                 .Add(v.path)
                 .Add(v.tags_json)
                 .Add(v.lineage_json)
                 .Add(v.created_at)));
    if (!v.files.empty()) {
      BinaryArray paths(kTextOid), digests(kTextOid), sizes(kInt8Oid);
      for (const auto& f : v.files) {
        paths.Add(f.path);
        digests.Add(f.digest);
        sizes.Add(f.size);
      }
      OD_TRY(
          Exec("INSERT INTO model_files(model, version, path, digest, size) "
               "SELECT $1, $2, t.p, t.d, t.s FROM unnest($3::text[], $4::text[], "
               "$5::int8[]) AS t(p, d, s)",
               Params()
                   .Add(v.model)
                   .Add(v.version)
                   .Add(kTextArrayOid, paths)
                   .Add(kTextArrayOid, digests)
                   .Add(kInt8ArrayOid, sizes)));
    }
    OD_TRY(tx.Commit());
    return v;
  }

  // Files and aliases of `versions` (all of one model), in two queries.
  Result<void> FillModelVersions(const std::string& model, std::vector<ModelVersion>& versions,
                                 std::optional<std::int64_t> only) {
    if (versions.empty()) return {};
    std::map<std::int64_t, ModelVersion*> by_version;
    for (auto& v : versions) by_version[v.version] = &v;
    // NULL $2 = every version.
    Params p = Params().Add(model).Add(only);
    OD_ASSIGN_OR_RETURN(auto files, Exec("SELECT version, path, digest, size FROM model_files "
                                         "WHERE model = $1 AND ($2::int8 IS NULL OR "
                                         "version = $2) ORDER BY version, path",
                                         p));
    for (int i = 0; i < files.size(); ++i) {
      auto it = by_version.find(files.Int(i, 0));
      if (it == by_version.end()) continue;
      it->second->files.push_back(
          ArtifactRecord{files.Text(i, 1), files.Text(i, 2), files.Int(i, 3)});
    }
    OD_ASSIGN_OR_RETURN(auto aliases, Exec("SELECT version, alias FROM model_aliases "
                                           "WHERE model = $1 AND ($2::int8 IS NULL OR "
                                           "version = $2) ORDER BY version, alias",
                                           p));
    for (int i = 0; i < aliases.size(); ++i) {
      auto it = by_version.find(aliases.Int(i, 0));
      if (it == by_version.end()) continue;
      it->second->aliases.push_back(aliases.Text(i, 1));
    }
    return {};
  }

  Result<ModelVersion> GetModelVersion(const std::string& model, std::int64_t version) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kModelVersionColumns +
                                            " FROM model_versions WHERE model = $1 AND "
                                            "version = $2",
                                        Params().Add(model).Add(version)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound,
                       "model '" + model + "' has no version " + std::to_string(version));
    }
    std::vector<ModelVersion> one{ReadModelVersion(rows, 0)};
    OD_TRY(FillModelVersions(model, one, version));
    return std::move(one.front());
  }

  Result<std::vector<ModelVersion>> ListModelVersions(const std::string& model) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kModelVersionColumns +
                                            " FROM model_versions WHERE model = $1 "
                                            "ORDER BY version",
                                        Params().Add(model)));
    std::vector<ModelVersion> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadModelVersion(rows, i));
    OD_TRY(FillModelVersions(model, out, std::nullopt));
    return out;
  }

  Result<std::vector<ModelSummary>> ListModels() override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT model, COUNT(*), MAX(version), MIN(created_at), "
                                        "MAX(created_at) FROM model_versions GROUP BY model "
                                        "ORDER BY model"));
    std::vector<ModelSummary> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back(ModelSummary{rows.Text(i, 0), rows.Int(i, 1), rows.Int(i, 2), rows.Double(i, 3),
                                 rows.Double(i, 4)});
    }
    return out;
  }

  Result<void> SetModelAlias(const std::string& model, const std::string& alias,
                             std::int64_t version) override {
    if (alias.empty()) return MakeError(ErrorCode::kInvalidInput, "alias must not be empty");
    // One statement: the upsert happens only if the version exists (versions are never
    // deleted, and the foreign key guards the rest).
    OD_ASSIGN_OR_RETURN(
        auto rows, Exec("INSERT INTO model_aliases(model, alias, version, updated_at) "
                        "SELECT model, $2, version, $4 FROM model_versions WHERE model = $1 AND "
                        "version = $3 ON CONFLICT (model, alias) DO UPDATE SET "
                        "version = excluded.version, updated_at = excluded.updated_at",
                        Params().Add(model).Add(alias).Add(version).Add(WallSeconds())));
    if (rows.Affected() == 0) {
      return MakeError(ErrorCode::kNotFound,
                       "model '" + model + "' has no version " + std::to_string(version));
    }
    return {};
  }

  Result<std::int64_t> ResolveModelAlias(const std::string& model,
                                         const std::string& alias) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec("SELECT version FROM model_aliases WHERE model = $1 "
                                        "AND alias = $2",
                                        Params().Add(model).Add(alias)));
    if (rows.empty()) {
      return MakeError(ErrorCode::kNotFound, "model '" + model + "' has no alias '" + alias + "'");
    }
    return rows.Int(0, 0);
  }

  // ---- API tokens ----
  Result<void> CreateToken(const ApiToken& t) override {
    if (t.id.empty() || t.secret_hash.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "a token needs an id and a secret hash");
    }
    auto r = Exec(std::string("INSERT INTO api_tokens(") + kTokenColumns +
                      ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  Params()
                      .Add(t.id)
                      .Add(t.name)
                      .Add(t.secret_hash)
                      .Add(t.scope)
                      .Add(t.experiment)
                      .Add(t.created_at != 0 ? t.created_at : WallSeconds())
                      .Add(t.expires_at)
                      .Add(t.revoked_at));
    if (!r) {
      if (last_sqlstate_ == kUniqueViolation) {
        return MakeError(ErrorCode::kAlreadyExists, "token '" + t.id + "' already exists");
      }
      return std::unexpected(r.error());
    }
    return {};
  }

  Result<ApiToken> FindToken(const std::string& secret_hash) override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kTokenColumns +
                                            " FROM api_tokens WHERE secret_hash = $1",
                                        Params().Add(secret_hash)));
    if (rows.empty()) return MakeError(ErrorCode::kNotFound, "no such token");
    return ReadToken(rows, 0);
  }

  Result<std::vector<ApiToken>> ListTokens() override {
    OD_ASSIGN_OR_RETURN(auto rows, Exec(std::string("SELECT ") + kTokenColumns +
                                        " FROM api_tokens ORDER BY created_at, id"));
    std::vector<ApiToken> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(ReadToken(rows, i));
    return out;
  }

  Result<void> RevokeToken(const std::string& id) override {
    // The CASE keeps the first revocation time; the row is found (and counted) either way.
    OD_ASSIGN_OR_RETURN(auto rows,
                        Exec("UPDATE api_tokens SET revoked_at = CASE WHEN revoked_at = 0 "
                             "THEN $2 ELSE revoked_at END WHERE id = $1",
                             Params().Add(id).Add(WallSeconds())));
    if (rows.Affected() == 0) {
      return MakeError(ErrorCode::kNotFound, "no token with id '" + id + "'");
    }
    return {};
  }

 private:
  static std::string SqlState(const PGresult* r) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s != nullptr ? s : "";
  }

  // A dropped connection (server restart, idle timeout) is re-opened once, outside
  // transactions; its prepared statements are gone with it.
  Result<void> EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    if (in_transaction()) {
      return Fail("connection lost inside a transaction", PQerrorMessage(conn_));
    }
    PQreset(conn_);
    statements_.clear();
    if (PQstatus(conn_) != CONNECTION_OK) {
      return Fail("connection lost and reconnecting failed", PQerrorMessage(conn_));
    }
    PGresult* r = PQexec(conn_, "SET extra_float_digits = 3; SET jit = off");
    PQclear(r);
    return {};
  }

  PGconn* conn_;
  std::string where_;                                        // host:port/db
  std::unordered_map<std::string, std::string> statements_;  // SQL -> prepared name
  std::string last_sqlstate_;
};

Transaction::~Transaction() {
  if (open_) (void)store_->ExecScript("ROLLBACK");
}

Result<void> Transaction::Begin() {
  OD_TRY(store_->ExecScript("BEGIN"));
  open_ = true;
  return {};
}

Result<void> Transaction::Commit() {
  open_ = false;
  return store_->ExecScript("COMMIT");
}

}  // namespace

bool IsPostgresUrl(const std::string& location) {
  return StartsWith(location, "postgresql://") || StartsWith(location, "postgres://");
}

Result<std::unique_ptr<MetadataStore>> OpenPostgresMetadataStore(const std::string& url) {
  // Defaults first: the URL's own settings (later in the list) override them.
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                        nullptr};
  const char* values[] = {"10", "overdrive", "UTF8", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return MakeError(ErrorCode::kStorage, "cannot connect to postgresql: out of memory");
  }
  const std::string where = Describe(conn);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    std::string hint;
    if (msg.find("Connection refused") != std::string::npos ||
        msg.find("No such file or directory") != std::string::npos) {
      hint =
          "; is the server running? Start it (for a local test server: "
          "scripts/postgres.sh start) or fix the URL";
    }
    return MakeError(ErrorCode::kStorage,
                     "cannot connect to postgresql database " + where + ": " + msg + hint);
  }
  // Shortest exact float text, unnest of several arrays, INCLUDE indexes.
  if (PQserverVersion(conn) < 120000) {
    const int version = PQserverVersion(conn);
    PQfinish(conn);
    return MakeError(ErrorCode::kStorage, "postgresql database " + where + " runs PostgreSQL " +
                                              std::to_string(version / 10000) +
                                              "; overdrive needs PostgreSQL 12 or newer");
  }
  // Notices ("relation ... already exists, skipping") are not errors; libpq would print them.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  auto store = std::make_unique<PostgresMetadataStore>(conn, where);
  OD_TRY(store->Setup());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace overdrive
