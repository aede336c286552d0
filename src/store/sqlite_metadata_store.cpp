// SqliteMetadataStore: the embedded default backend of MetadataStore.
//
// Concurrency: WAL lets readers (the CLI showing a job) run beside one writer; every write
// transaction starts with BEGIN IMMEDIATE so that two writers (two controllers) queue on the
// busy timeout instead of failing when a deferred read transaction tries to upgrade.
//
// NaN metric values: SQLite stores a NaN REAL as NULL. We keep that and read NULL back as NaN;
// MIN/MAX skip NULLs, so a diverged step does not hide the best value in summaries.
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {
namespace {

constexpr int kBusyTimeoutMs = 30000;
constexpr const char* kFinalStatusList =
    "('completed','failed','canceled','early_terminated','timed_out')";

// Ordered schema steps; step i moves the schema to version i + 1. Never edit a released step:
// append a new one.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      R"sql(
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL
);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  parent_id TEXT REFERENCES runs(id),
  job_type TEXT NOT NULL DEFAULT '',
  display_name TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  spec_yaml TEXT NOT NULL DEFAULT '',
  command TEXT NOT NULL DEFAULT '',
  compute TEXT NOT NULL DEFAULT 'local',
  snapshot_digest TEXT NOT NULL DEFAULT '',
  run_dir TEXT NOT NULL DEFAULT '',
  executor_handle TEXT NOT NULL DEFAULT '',
  launch_json TEXT NOT NULL DEFAULT '{}',
  exit_code INTEGER,
  created_at REAL NOT NULL,
  started_at REAL NOT NULL DEFAULT 0,
  ended_at REAL NOT NULL DEFAULT 0,
  controller_pid INTEGER NOT NULL DEFAULT 0,
  controller_started_at REAL NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_created ON runs(created_at);
CREATE INDEX runs_by_experiment ON runs(experiment_id, created_at);
CREATE INDEX runs_by_parent ON runs(parent_id, created_at);
CREATE INDEX runs_by_status ON runs(status, created_at);
CREATE TABLE params (
  run_id TEXT NOT NULL REFERENCES runs(id),
  name TEXT NOT NULL,
  value_json TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
-- No foreign key on metrics: Ingest checks the run once per batch, which keeps the per-point
-- cost to one index insert.
CREATE TABLE metrics (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  value REAL,
  timestamp REAL NOT NULL
);
CREATE INDEX metrics_by_run_name_step ON metrics(run_id, name, step);
CREATE TABLE cursors (
  run_id TEXT NOT NULL REFERENCES runs(id),
  source TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  PRIMARY KEY (run_id, source)
) WITHOUT ROWID;
CREATE TABLE artifacts (
  run_id TEXT NOT NULL REFERENCES runs(id),
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs(id),
  timestamp REAL NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, id);
CREATE TABLE computes (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  config_json TEXT NOT NULL DEFAULT '{}'
);
)sql",
      // 2: the model registry. Versions and their files are immutable; only aliases move.
      R"sql(
CREATE TABLE model_versions (
  model TEXT NOT NULL,
  version INTEGER NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id),
  path TEXT NOT NULL,
  tags_json TEXT NOT NULL DEFAULT '{}',
  lineage_json TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL,
  PRIMARY KEY (model, version)
) WITHOUT ROWID;
CREATE INDEX model_versions_by_run ON model_versions(run_id);
CREATE TABLE model_files (
  model TEXT NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (model, version, path),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
) WITHOUT ROWID;
CREATE TABLE model_aliases (
  model TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at REAL NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
) WITHOUT ROWID;
)sql",
      // 3: API tokens of a server (only hashes of their secrets).
      R"sql(
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  secret_hash TEXT NOT NULL UNIQUE,
  scope TEXT NOT NULL,
  experiment TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  expires_at REAL NOT NULL DEFAULT 0,
  revoked_at REAL NOT NULL DEFAULT 0
);
)sql",
      // 4: one summary row per series, kept in step by Ingest, so trial tables and run pages
      // read one row per trial instead of aggregating every point (NULL min/max: all NaN);
      // and per series its blocks of 64 steps, which long series are downsampled from.
      R"sql(
CREATE TABLE metric_series (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_step INTEGER NOT NULL,
  last_value REAL,
  min_value REAL,
  max_value REAL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
INSERT INTO metric_series(run_id, name, count, last_step, last_value, min_value, max_value)
SELECT m.run_id, m.name, COUNT(*), MAX(m.step),
  (SELECT l.value FROM metrics l WHERE l.run_id = m.run_id AND l.name = m.name
   ORDER BY l.step DESC, l.rowid DESC LIMIT 1),
  MIN(m.value), MAX(m.value)
FROM metrics m GROUP BY m.run_id, m.name;
ALTER TABLE runs ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;
CREATE TABLE metric_blocks (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  block INTEGER NOT NULL,
  step_first INTEGER NOT NULL,
  step_last INTEGER NOT NULL,
  count INTEGER NOT NULL,
  last_value REAL,
  min_value REAL,
  max_value REAL,
  PRIMARY KEY (run_id, name, block)
) WITHOUT ROWID;
WITH b AS (SELECT run_id, name, step >> 6 AS block, MIN(step) AS sf, MAX(step) AS sl,
             COUNT(*) AS c, MIN(value) AS mn, MAX(value) AS mx
           FROM metrics GROUP BY run_id, name, step >> 6)
INSERT INTO metric_blocks(run_id, name, block, step_first, step_last, count, last_value,
                          min_value, max_value)
SELECT b.run_id, b.name, b.block, b.sf, b.sl, b.c,
  (SELECT l.value FROM metrics l WHERE l.run_id = b.run_id AND l.name = b.name AND l.step = b.sl
   ORDER BY l.rowid DESC LIMIT 1),
  b.mn, b.mx
FROM b;
)sql",
      // 5: a lost run is a flag, no longer only a "lost: " prefix of its reason. Runs recorded
      // before keep their reason; the prefix tells which they are, this once.
      R"sql(
ALTER TABLE runs ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET lost = 1 WHERE status = 'failed' AND substr(status_reason, 1, 6) = 'lost: ';
)sql",
      // 6: environment assets: immutable name + version, the spec (with its conda file's text)
      // as JSON, and the content hash of a build once one is made. id orders "latest".
      R"sql(
CREATE TABLE environments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  content_hash TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL,
  UNIQUE (name, version)
);
)sql",
      // 7: secrets, sealed by the caller (the key never sits in the database).
      R"sql(
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  sealed TEXT NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);
)sql",
      // 8: data (issue 14): datastores (no credential in clear: those are secrets named in
      // spec_json), immutable data asset versions (rowid orders "latest"), and the inputs each
      // run read, found by asset for lineage.
      R"sql(
CREATE TABLE datastores (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  spec_json TEXT NOT NULL DEFAULT '{}',
  description TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);
CREATE TABLE data_assets (
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  type TEXT NOT NULL,
  path TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  spec_json TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE run_inputs (
  run_id TEXT NOT NULL REFERENCES runs(id),
  input_name TEXT NOT NULL,
  asset_name TEXT NOT NULL DEFAULT '',
  asset_version TEXT NOT NULL DEFAULT '',
  uri TEXT NOT NULL,
  created_at REAL NOT NULL,
  PRIMARY KEY (run_id, input_name)
);
CREATE INDEX run_inputs_by_asset ON run_inputs(asset_name, asset_version);
)sql",
  };
  return kMigrations;
}

// A prepared statement, owned by the statement cache of Db.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

// One use of a cached statement: binds, steps, and on destruction resets it for the next use.
class Query {
 public:
  Query(sqlite3_stmt* stmt, sqlite3* db, const std::string* path)
      : stmt_(stmt), db_(db), path_(path) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // Text is bound without a copy: the caller keeps it alive until the step.
  Query& Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    return *this;
  }
  Query& Bind(int i, const char* s) {
    sqlite3_bind_text(stmt_, i, s, -1, SQLITE_STATIC);
    return *this;
  }
  Query& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Query& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Query& Bind(int i, int v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Query& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // A metric value: NaN is stored as NULL (what SQLite would make of it anyway).
  Query& BindValue(int i, double v) { return std::isnan(v) ? BindNull(i) : Bind(i, v); }
  template <class T>
  Query& Bind(int i, const std::optional<T>& v) {
    if (v) return Bind(i, *v);
    return BindNull(i);
  }

  // True when a row is available, false when done.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    last_rc_ = sqlite3_extended_errcode(db_);
    return MakeError(ErrorCode::kStorage,
                     "sqlite database '" + *path_ + "': " + sqlite3_errmsg(db_) + " (in: " +
                         Trim(sqlite3_sql(stmt_)).substr(0, 60) + ")");
  }
  // Calls `row()` for every result row (the columns are read through this query).
  template <class F>
  Result<void> ForEachRow(F row) {
    while (true) {
      OD_ASSIGN_OR_RETURN(bool more, Step());
      if (!more) return {};
      row();
    }
  }
  // Steps a statement that returns no rows.
  Result<void> Run() {
    OD_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return {};
  }
  int last_rc() const { return last_rc_; }

  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const {
    if (IsNull(col)) return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(stmt_, col);
  }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  const std::string* path_;
  int last_rc_ = 0;
};

class SqliteMetadataStore;

// A write transaction; rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(SqliteMetadataStore* store) : store_(store) {}
  ~Transaction();
  Result<void> Begin();
  Result<void> Commit();

 private:
  SqliteMetadataStore* store_;
  bool open_ = false;
};

constexpr const char* kRunColumns =
    "r.id, r.experiment_id, e.name, r.parent_id, r.job_type, r.display_name, r.description, "
    "r.tags_json, r.status, r.status_reason, r.spec_yaml, r.command, r.compute, "
    "r.snapshot_digest, r.run_dir, r.executor_handle, r.exit_code, r.created_at, r.started_at, "
    "r.ended_at, r.controller_pid, r.controller_started_at, r.cancel_requested, r.launch_json, "
    "r.lost";

RunRecord ReadRun(const Query& q) {
  RunRecord r;
  r.id = q.Text(0);
  r.experiment_id = q.Int(1);
  r.experiment_name = q.Text(2);
  r.parent_id = q.Text(3);
  r.job_type = ReadJobType(q.Text(4));
  r.display_name = q.Text(5);
  r.description = q.Text(6);
  r.tags_json = q.Text(7);
  // An unknown status can only come from a newer binary's write; queued is the safe reading.
  r.status = ParseRunStatus(q.Text(8)).value_or(RunStatus::kQueued);
  r.status_reason = q.Text(9);
  r.spec_yaml = q.Text(10);
  r.command = q.Text(11);
  r.compute = q.Text(12);
  r.snapshot_digest = q.Text(13);
  r.run_dir = q.Text(14);
  r.executor_handle = q.Text(15);
  if (!q.IsNull(16)) r.exit_code = static_cast<int>(q.Int(16));
  r.created_at = q.Double(17);
  r.started_at = q.Double(18);
  r.ended_at = q.Double(19);
  r.controller_pid = static_cast<int>(q.Int(20));
  r.controller_started_at = q.Double(21);
  r.cancel_requested = q.Int(22) != 0;
  r.launch_json = q.Text(23);
  r.lost = q.Int(24) != 0;
  return r;
}

class SqliteMetadataStore final : public MetadataStore {
 public:
  SqliteMetadataStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteMetadataStore() override {
    cache_.clear();  // statements must be finalized before the connection closes
    sqlite3_close(db_);
  }

  std::unexpected<Error> Fail(const std::string& what) const {
    return MakeError(ErrorCode::kStorage,
                     "sqlite database '" + path_ + "': " + what + ": " + sqlite3_errmsg(db_));
  }

  Result<void> Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      return MakeError(ErrorCode::kStorage, "sqlite database '" + path_ + "': " + msg);
    }
    return {};
  }

  // Returns the cached prepared statement for `sql`, preparing it on first use.
  Result<sqlite3_stmt*> Prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second->get();
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return Fail("cannot prepare statement");
    }
    cache_.emplace(sql, std::make_unique<Statement>(stmt));
    return stmt;
  }

  Query MakeQuery(sqlite3_stmt* stmt) { return Query(stmt, db_, &path_); }

  Result<void> Migrate() {
    OD_TRY(Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at REAL NOT NULL)"));
    const auto& steps = Migrations();
    OD_ASSIGN_OR_RETURN(std::int64_t current, UserVersion());
    if (current == static_cast<std::int64_t>(steps.size())) return {};  // the common case
    for (size_t i = 0; i < steps.size(); ++i) {
      Transaction tx(this);
      OD_TRY(tx.Begin());
      // Re-read inside the write lock: another process may have just applied this step.
      OD_ASSIGN_OR_RETURN(std::int64_t version, UserVersion());
      if (version > static_cast<std::int64_t>(steps.size())) {
        return MakeError(ErrorCode::kStorage,
                         "sqlite database '" + path_ + "' has schema version " +
                             std::to_string(version) + " but this overdrive knows only up to " +
                             std::to_string(steps.size()) + "; upgrade overdrive");
      }
      if (version > static_cast<std::int64_t>(i)) continue;  // rolled back by tx, harmless
      OD_TRY(Exec(steps[i]));
      std::string set_version = "PRAGMA user_version = " + std::to_string(i + 1);
      OD_TRY(Exec(set_version.c_str()));
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("INSERT INTO schema_migrations VALUES (?, ?)"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, static_cast<std::int64_t>(i + 1)).Bind(2, WallSeconds()).Run());
      OD_TRY(tx.Commit());
    }
    return {};
  }

  Result<std::int64_t> UserVersion() {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("PRAGMA user_version"));
    auto q = MakeQuery(stmt);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    return row ? q.Int(0) : 0;
  }

  // kNotFound unless the run exists.
  Result<void> RequireRun(const std::string& id) {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT 1 FROM runs WHERE id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, id);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "run '" + id + "' does not exist");
    return {};
  }

  Result<std::optional<RunStatus>> StatusOf(const std::string& id) {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT status FROM runs WHERE id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, id);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<RunStatus>();
    return ParseRunStatus(q.Text(0));
  }

  // ---- Experiments ----
  Result<std::int64_t> GetOrCreateExperiment(const std::string& name) override {
    if (Trim(name).empty()) {
      return MakeError(ErrorCode::kInvalidInput, "experiment name must not be empty");
    }
    {
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("INSERT INTO experiments(name, created_at) VALUES (?, ?) "
                                  "ON CONFLICT(name) DO NOTHING"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, name).Bind(2, WallSeconds()).Run());
    }
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT id FROM experiments WHERE name = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Fail("experiment '" + name + "' vanished after insert");
    return q.Int(0);
  }

  Result<Experiment> GetExperiment(std::int64_t id) override {
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT id, name, created_at FROM experiments WHERE id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, id);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      return MakeError(ErrorCode::kNotFound, "experiment id " + std::to_string(id) + " does not exist");
    }
    return Experiment{q.Int(0), q.Text(1), q.Double(2)};
  }

  Result<std::vector<Experiment>> ListExperiments() override {
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT id, name, created_at FROM experiments ORDER BY name"));
    auto q = MakeQuery(stmt);
    std::vector<Experiment> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(Experiment{q.Int(0), q.Text(1), q.Double(2)});
    }));
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
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT 1 FROM experiments WHERE id = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, run.experiment_id);
      OD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) {
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
    if (!run.parent_id.empty()) {
      auto parent = RequireRun(run.parent_id);
      if (!parent) {
        return MakeError(ErrorCode::kNotFound,
                         "parent run '" + run.parent_id + "' of run '" + run.id +
                             "' does not exist");
      }
    }
    {
      OD_ASSIGN_OR_RETURN(
          auto stmt,
          Prepare("INSERT INTO runs(id, experiment_id, parent_id, job_type, display_name, "
                  "description, tags_json, status, status_reason, spec_yaml, command, compute, "
                  "snapshot_digest, run_dir, executor_handle, exit_code, created_at, started_at, "
                  "ended_at, controller_pid, controller_started_at, cancel_requested, "
                  "launch_json, lost) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
      auto q = MakeQuery(stmt);
      q.Bind(1, run.id).Bind(2, run.experiment_id);
      if (run.parent_id.empty()) {
        q.BindNull(3);
      } else {
        q.Bind(3, run.parent_id);
      }
      q.Bind(4, JobTypeName(run.job_type))
          .Bind(5, run.display_name)
          .Bind(6, run.description)
          .Bind(7, run.tags_json)
          .Bind(8, RunStatusName(run.status))
          .Bind(9, run.status_reason)
          .Bind(10, run.spec_yaml)
          .Bind(11, run.command)
          .Bind(12, run.compute)
          .Bind(13, run.snapshot_digest)
          .Bind(14, run.run_dir)
          .Bind(15, run.executor_handle)
          .Bind(16, run.exit_code)
          .Bind(17, run.created_at != 0 ? run.created_at : WallSeconds())
          .Bind(18, run.started_at)
          .Bind(19, run.ended_at)
          .Bind(20, run.controller_pid)
          .Bind(21, run.controller_started_at)
          .Bind(22, run.cancel_requested ? 1 : 0)
          .Bind(23, run.launch_json)
          .Bind(24, run.lost ? 1 : 0);
      OD_TRY(q.Run());
    }
    OD_TRY(UpsertParams(run.id, params));
    for (const auto& e : events) OD_TRY(InsertEvent(run.id, e));
    return tx.Commit();
  }

  Result<RunRecord> GetRun(const std::string& id) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kRunColumns +
                                           " FROM runs r JOIN experiments e ON e.id = "
                                           "r.experiment_id WHERE r.id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, id);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "run '" + id + "' does not exist");
    return ReadRun(q);
  }

  // The WHERE clause of a RunFilter (parameters ?1..?3); the SQL depends only on which filters
  // are set, so the few variants are cached as prepared statements.
  static std::string RunFilterSql(const RunFilter& filter) {
    std::string sql = " FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE 1";
    if (filter.experiment) sql += " AND e.name = ?1";
    if (filter.parent_id) sql += filter.parent_id->empty() ? " AND r.parent_id IS NULL"
                                                          : " AND r.parent_id = ?2";
    if (filter.status) sql += " AND r.status = ?3";
    return sql;
  }
  static void BindRunFilter(Query& q, const RunFilter& filter) {
    if (filter.experiment) q.Bind(1, *filter.experiment);
    if (filter.parent_id && !filter.parent_id->empty()) q.Bind(2, *filter.parent_id);
    if (filter.status) q.Bind(3, RunStatusName(*filter.status));
  }

  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override {
    std::string columns = kRunColumns;
    if (filter.light) {
      for (const char* big : {"r.spec_yaml", "r.executor_handle", "r.launch_json"}) {
        columns.replace(columns.find(big), std::string(big).size(), "''");
      }
    }
    std::string sql = "SELECT " + columns + RunFilterSql(filter) +
                      " ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?4 OFFSET ?5";
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(sql));
    auto q = MakeQuery(stmt);
    BindRunFilter(q, filter);
    q.Bind(4, filter.limit > 0 ? static_cast<std::int64_t>(filter.limit) : std::int64_t{-1});
    q.Bind(5, static_cast<std::int64_t>(std::max(filter.offset, 0)));
    std::vector<RunRecord> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(ReadRun(q));
    }));
    return out;
  }

  Result<std::int64_t> CountRuns(const RunFilter& filter) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT COUNT(*)" + RunFilterSql(filter)));
    auto q = MakeQuery(stmt);
    BindRunFilter(q, filter);
    OD_TRY(q.Step());
    return q.Int(0);
  }

  Result<std::string> ActivityStamp(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    // Statuses only move forward through this list, so the sum of their positions grows with
    // every transition; MAX(rowid) of metrics is one index seek and grows with every point.
    OD_ASSIGN_OR_RETURN(
        auto stmt,
        Prepare("SELECT COUNT(*), TOTAL(instr('queued starting running completed failed "
                "canceled early_terminated timed_out', status)), TOTAL(cancel_requested), "
                "TOTAL(activity) FROM runs WHERE id = ?1 OR parent_id = ?1"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    OD_TRY(q.Step());
    return std::to_string(q.Int(0)) + ":" + FormatDouble(q.Double(1)) + ":" +
           FormatDouble(q.Double(2)) + ":" + std::to_string(q.Int(3));
  }

  Result<void> SetRunTags(const std::string& run_id,
                          const std::map<std::string, std::string>& tags) override {
    Transaction tx(this);
    OD_TRY(tx.Begin());
    std::string current;
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT tags_json FROM runs WHERE id = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, run_id);
      OD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return MakeError(ErrorCode::kNotFound, "run '" + run_id + "' does not exist");
      current = q.Text(0);
    }
    nlohmann::json merged = nlohmann::json::parse(current, nullptr, false);
    if (!merged.is_object()) merged = nlohmann::json::object();
    for (const auto& [k, v] : tags) {
      if (k.empty()) {
        return MakeError(ErrorCode::kInvalidInput, "a tag of run '" + run_id + "' has an empty key");
      }
      merged[k] = v;
    }
    std::string text = merged.dump();
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("UPDATE runs SET tags_json = ? WHERE id = ?"));
    auto q = MakeQuery(stmt);
    OD_TRY(q.Bind(1, text).Bind(2, run_id).Run());
    return tx.Commit();
  }

  Result<std::string> ResolveRunId(const std::string& prefix,
                                   const std::string& experiment) override {
    if (prefix.empty()) return MakeError(ErrorCode::kInvalidInput, "run id must not be empty");
    // A range scan on the primary key: ids in [prefix, prefix with its last byte + 1).
    std::string upper = prefix;
    if (static_cast<unsigned char>(upper.back()) == 0xff) {
      upper += '\xff';
    } else {
      upper.back() = static_cast<char>(upper.back() + 1);
    }
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT r.id FROM runs r JOIN experiments e ON e.id = "
                                "r.experiment_id WHERE r.id >= ? AND r.id < ? AND (? = '' OR "
                                "e.name = ?) ORDER BY r.id LIMIT 6"));
    auto q = MakeQuery(stmt);
    q.Bind(1, prefix).Bind(2, upper).Bind(3, experiment).Bind(4, experiment);
    std::vector<std::string> ids;
    OD_TRY(q.ForEachRow([&] {
      std::string id = q.Text(0);
      if (StartsWith(id, prefix)) ids.push_back(std::move(id));
    }));
    return PickRunId(prefix, std::move(ids));
  }

  Result<bool> TransitionRun(const std::string& id, RunStatus to,
                             const RunUpdate& u) override {
    OD_ASSIGN_OR_RETURN(
        auto stmt,
        Prepare(std::string("UPDATE runs SET status = ?, "
                            "status_reason = COALESCE(?, status_reason), "
                            "command = COALESCE(?, command), "
                            "executor_handle = COALESCE(?, executor_handle), "
                            "exit_code = COALESCE(?, exit_code), "
                            "started_at = COALESCE(?, started_at), "
                            "ended_at = COALESCE(?, ended_at), "
                            "lost = COALESCE(?, lost) "
                            "WHERE id = ? AND status NOT IN ") +
                kFinalStatusList));
    {
      auto q = MakeQuery(stmt);
      q.Bind(1, RunStatusName(to))
          .Bind(2, u.status_reason)
          .Bind(3, u.command)
          .Bind(4, u.executor_handle)
          .Bind(5, u.exit_code)
          .Bind(6, u.started_at)
          .Bind(7, u.ended_at)
          .Bind(8, u.lost ? std::optional<int>(*u.lost ? 1 : 0) : std::nullopt)
          .Bind(9, id);
      OD_TRY(q.Run());
    }
    if (sqlite3_changes(db_) > 0) return true;
    OD_TRY(RequireRun(id));
    return false;
  }

  // Refuses (kFailedPrecondition) on a final run, which never changes again.
  Result<void> UpdateUnlessFinal(const std::string& id, const std::string& set_sql,
                                 auto&& bind) {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("UPDATE runs SET " + set_sql +
                                           " WHERE id = ? AND status NOT IN " +
                                           kFinalStatusList));
    int id_index = 0;
    {
      auto q = MakeQuery(stmt);
      id_index = bind(q);
      q.Bind(id_index, id);
      OD_TRY(q.Run());
    }
    if (sqlite3_changes(db_) > 0) return {};
    OD_ASSIGN_OR_RETURN(auto status, StatusOf(id));
    if (!status) return MakeError(ErrorCode::kNotFound, "run '" + id + "' does not exist");
    return MakeError(ErrorCode::kFailedPrecondition,
                     "run '" + id + "' has already ended (" + RunStatusName(*status) + ")");
  }

  Result<void> SetController(const std::string& id, int pid, double started_at) override {
    return UpdateUnlessFinal(id, "controller_pid = ?, controller_started_at = ?",
                             [&](Query& q) {
                               q.Bind(1, pid).Bind(2, started_at);
                               return 3;
                             });
  }

  Result<void> RequestCancel(const std::string& id) override {
    return UpdateUnlessFinal(id, "cancel_requested = 1", [](Query&) { return 1; });
  }

  // ---- Params, metrics, cursors ----
  Result<void> UpsertParams(const std::string& run_id, const std::vector<Param>& params) {
    if (params.empty()) return {};
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("INSERT INTO params(run_id, name, value_json) VALUES (?, ?, ?) "
                                "ON CONFLICT(run_id, name) DO UPDATE SET "
                                "value_json = excluded.value_json"));
    for (const auto& p : params) {
      if (p.name.empty()) {
        return MakeError(ErrorCode::kInvalidInput, "a param of run '" + run_id +
                                                       "' has an empty name");
      }
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, run_id).Bind(2, p.name).Bind(3, p.value_json).Run());
    }
    return {};
  }

  Result<std::vector<Param>> GetParams(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(
        auto stmt, Prepare("SELECT name, value_json FROM params WHERE run_id = ? ORDER BY name"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    std::vector<Param> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(Param{q.Text(0), q.Text(1)});
    }));
    return out;
  }

  Result<void> Ingest(const IngestBatch& batch) override {
    for (const auto& p : batch.points) {
      if (p.name.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "a metric point of run '" + batch.run_id + "' has an empty name");
      }
    }
    Transaction tx(this);
    OD_TRY(tx.Begin());
    OD_TRY(RequireRun(batch.run_id));
    if (!batch.points.empty()) {
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("INSERT INTO metrics(run_id, name, step, value, timestamp) "
                                  "VALUES (?, ?, ?, ?, ?)"));
      for (const auto& p : batch.points) {
        auto q = MakeQuery(stmt);
        q.Bind(1, batch.run_id).Bind(2, p.name).Bind(3, p.step).BindValue(4, p.value);
        q.Bind(5, p.timestamp);
        OD_TRY(q.Run());
      }
      // Fold the batch into the series summaries (SET reads the row as it was before).
      OD_ASSIGN_OR_RETURN(
          auto upsert,
          Prepare("INSERT INTO metric_series(run_id, name, count, last_step, last_value, "
                  "min_value, max_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                  "ON CONFLICT(run_id, name) DO UPDATE SET count = count + excluded.count, "
                  "last_value = CASE WHEN excluded.last_step >= last_step "
                  "  THEN excluded.last_value ELSE last_value END, "
                  "last_step = MAX(last_step, excluded.last_step), "
                  "min_value = MIN(COALESCE(min_value, excluded.min_value), "
                  "  COALESCE(excluded.min_value, min_value)), "
                  "max_value = MAX(COALESCE(max_value, excluded.max_value), "
                  "  COALESCE(excluded.max_value, max_value))"));
      for (const auto& [name, sum] : SummarizePoints(batch.points)) {
        auto q = MakeQuery(upsert);
        q.Bind(1, batch.run_id).Bind(2, name).Bind(3, sum.count).Bind(4, sum.last_step);
        q.BindValue(5, sum.last_value).BindValue(6, sum.min_value).BindValue(7, sum.max_value);
        OD_TRY(q.Run());
      }
      OD_ASSIGN_OR_RETURN(
          auto blocks,
          Prepare("INSERT INTO metric_blocks(run_id, name, block, step_first, step_last, count, "
                  "last_value, min_value, max_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                  "ON CONFLICT(run_id, name, block) DO UPDATE SET count = count + excluded.count, "
                  "step_first = MIN(step_first, excluded.step_first), "
                  "last_value = CASE WHEN excluded.step_last >= step_last "
                  "  THEN excluded.last_value ELSE last_value END, "
                  "step_last = MAX(step_last, excluded.step_last), "
                  "min_value = MIN(COALESCE(min_value, excluded.min_value), "
                  "  COALESCE(excluded.min_value, min_value)), "
                  "max_value = MAX(COALESCE(max_value, excluded.max_value), "
                  "  COALESCE(excluded.max_value, max_value))"));
      for (const auto& [key, block] : SummarizeBlocks(batch.points)) {
        const MetricBucket& b = block.summary;
        auto q = MakeQuery(blocks);
        q.Bind(1, batch.run_id).Bind(2, block.name).Bind(3, block.block).Bind(4, b.step_first);
        q.Bind(5, b.step_last).Bind(6, b.count);
        q.BindValue(7, b.value).BindValue(8, b.min_value).BindValue(9, b.max_value);
        OD_TRY(q.Run());
      }
    }
    OD_TRY(UpsertParams(batch.run_id, batch.params));
    if (!batch.points.empty() || !batch.params.empty()) {
      OD_ASSIGN_OR_RETURN(auto bump,
                          Prepare("UPDATE runs SET activity = activity + 1 WHERE id = ?"));
      auto q = MakeQuery(bump);
      OD_TRY(q.Bind(1, batch.run_id).Run());
    }
    if (!batch.cursors.empty()) {
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("INSERT INTO cursors(run_id, source, \"offset\") VALUES "
                                  "(?, ?, ?) ON CONFLICT(run_id, source) DO UPDATE SET "
                                  "\"offset\" = excluded.\"offset\""));
      for (const auto& [source, offset] : batch.cursors) {
        auto q = MakeQuery(stmt);
        OD_TRY(q.Bind(1, batch.run_id).Bind(2, source).Bind(3, offset).Run());
      }
    }
    return tx.Commit();
  }

  Result<std::vector<MetricPoint>> GetMetricHistory(const std::string& run_id,
                                                    const std::string& name) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT step, value, timestamp FROM metrics WHERE run_id = ? "
                                "AND name = ? ORDER BY step, rowid"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id).Bind(2, name);
    std::vector<MetricPoint> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(MetricPoint{name, q.Int(0), q.Double(1), q.Double(2)});
    }));
    return out;
  }

  Result<std::vector<MetricBucket>> GetMetricBuckets(const std::string& run_id,
                                                     const std::string& name,
                                                     int max_buckets) override {
    OD_TRY(RequireRun(run_id));
    if (max_buckets < 1) return MakeError(ErrorCode::kInvalidInput, "max_buckets must be >= 1");
    std::int64_t n = 0;
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT COALESCE((SELECT count FROM metric_series "
                                             "WHERE run_id = ? AND name = ?), 0)"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, run_id).Bind(2, name).Step());
      n = q.Int(0);
    }
    if (n >= kMetricBlocksMinPoints && n >= (std::int64_t{max_buckets} << kMetricBlockShift)) {
      // A long series: from its blocks of 64 steps, ~n / 64 rows instead of n.
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT step_first, step_last, last_value, "
                                             "min_value, max_value, count FROM metric_blocks "
                                             "WHERE run_id = ? AND name = ? ORDER BY block"));
      auto q = MakeQuery(stmt);
      q.Bind(1, run_id).Bind(2, name);
      std::vector<MetricBucket> blocks;
      OD_TRY(q.ForEachRow([&] {
        blocks.push_back(MetricBucket{q.Int(0), q.Int(1), q.Double(2), q.Double(3), q.Double(4),
                                      q.Int(5)});
      }));
      return MergeBlocks(blocks, max_buckets);
    }
    // One pass in step order; point i goes to bucket i * max_buckets / n, so buckets hold
    // equal numbers of points and a short series keeps one point per bucket.
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT step, value FROM metrics WHERE run_id = ? AND name = ? "
                                "ORDER BY step, rowid"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id).Bind(2, name);
    std::vector<MetricBucket> out;
    out.reserve(static_cast<size_t>(std::min<std::int64_t>(n, max_buckets)));
    std::int64_t i = 0, current = -1;
    OD_TRY(q.ForEachRow([&] {
      std::int64_t b = n > 0 ? i * max_buckets / n : 0;
      std::int64_t step = q.Int(0);
      double v = q.Double(1);
      if (b != current) {
        current = b;
        out.push_back(MetricBucket{step, step, v, v, v, 0});
      }
      MetricBucket& m = out.back();
      m.step_last = step;
      m.value = v;
      // NaN never wins a comparison, so min/max skip it unless the bucket holds only NaNs.
      if (v < m.min_value || std::isnan(m.min_value)) m.min_value = v;
      if (v > m.max_value || std::isnan(m.max_value)) m.max_value = v;
      ++m.count;
      ++i;
    }));
    return out;
  }

  Result<std::map<std::string, std::vector<Param>>> GetChildParams(
      const std::string& parent_id) override {
    OD_TRY(RequireRun(parent_id));
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT p.run_id, p.name, p.value_json FROM runs r "
                                "JOIN params p ON p.run_id = r.id WHERE r.parent_id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, parent_id);
    std::map<std::string, std::vector<Param>> out;
    OD_TRY(q.ForEachRow([&] {
      out[q.Text(0)].push_back(Param{q.Text(1), q.Text(2)});
    }));
    return out;
  }

  Result<std::map<std::string, MetricSummary>> GetChildMetricSummaries(
      const std::string& parent_id, const std::string& name) override {
    OD_TRY(RequireRun(parent_id));
    OD_ASSIGN_OR_RETURN(
        auto stmt,
        Prepare("SELECT s.run_id, s.count, s.last_step, s.min_value, s.max_value, s.last_value "
                "FROM runs r JOIN metric_series s ON s.run_id = r.id AND s.name = ?2 "
                "WHERE r.parent_id = ?1"));
    auto q = MakeQuery(stmt);
    q.Bind(1, parent_id).Bind(2, name);
    std::map<std::string, MetricSummary> out;
    OD_TRY(q.ForEachRow([&] {
      MetricSummary s;
      s.name = name;
      s.count = q.Int(1);
      s.last_step = q.Int(2);
      s.min_value = q.Double(3);
      s.max_value = q.Double(4);
      s.last_value = q.Double(5);
      out.emplace(q.Text(0), std::move(s));
    }));
    return out;
  }

  Result<std::vector<ChildState>> GetChildStates(const std::string& parent_id) override {
    OD_TRY(RequireRun(parent_id));
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT id, status, cancel_requested, activity "
                                           "FROM runs WHERE parent_id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, parent_id);
    std::vector<ChildState> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(ChildState{q.Text(0), ParseRunStatus(q.Text(1)).value_or(RunStatus::kQueued),
                               q.Int(2) != 0, q.Int(3)});
    }));
    return out;
  }

  Result<std::vector<MetricSummary>> GetMetricSummaries(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(
        auto stmt,
        Prepare("SELECT name, count, last_step, min_value, max_value, last_value "
                "FROM metric_series WHERE run_id = ? ORDER BY name"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    std::vector<MetricSummary> out;
    OD_TRY(q.ForEachRow([&] {
      MetricSummary s;
      s.name = q.Text(0);
      s.count = q.Int(1);
      s.last_step = q.Int(2);
      s.min_value = q.Double(3);
      s.max_value = q.Double(4);
      s.last_value = q.Double(5);
      out.push_back(std::move(s));
    }));
    return out;
  }

  Result<std::map<std::string, std::int64_t>> GetCursors(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT source, \"offset\" FROM cursors WHERE run_id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    std::map<std::string, std::int64_t> out;
    OD_TRY(q.ForEachRow([&] {
      out[q.Text(0)] = q.Int(1);
    }));
    return out;
  }

  // ---- Artifacts and events ----
  Result<void> AddArtifacts(const std::string& run_id,
                            const std::vector<ArtifactRecord>& artifacts) override {
    Transaction tx(this);
    OD_TRY(tx.Begin());
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("INSERT INTO artifacts(run_id, path, digest, size) VALUES "
                                "(?, ?, ?, ?) ON CONFLICT(run_id, path) DO UPDATE SET "
                                "digest = excluded.digest, size = excluded.size"));
    for (const auto& a : artifacts) {
      if (a.path.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "an artifact of run '" + run_id + "' has an empty path");
      }
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, run_id).Bind(2, a.path).Bind(3, a.digest).Bind(4, a.size).Run());
    }
    return tx.Commit();
  }

  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT path, digest, size FROM artifacts WHERE "
                                           "run_id = ? ORDER BY path"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    std::vector<ArtifactRecord> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(ArtifactRecord{q.Text(0), q.Text(1), q.Int(2)});
    }));
    return out;
  }

  Result<void> InsertEvent(const std::string& run_id, const RunEvent& e) {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("INSERT INTO events(run_id, timestamp, kind, "
                                           "message) VALUES (?, ?, ?, ?)"));
    auto q = MakeQuery(stmt);
    return q.Bind(1, run_id)
        .Bind(2, e.timestamp != 0 ? e.timestamp : WallSeconds())
        .Bind(3, e.kind)
        .Bind(4, e.message)
        .Run();
  }

  Result<void> AddEvent(const std::string& run_id, const RunEvent& event) override {
    Transaction tx(this);
    OD_TRY(tx.Begin());
    OD_TRY(RequireRun(run_id));
    OD_TRY(InsertEvent(run_id, event));
    return tx.Commit();
  }

  Result<std::vector<RunEvent>> ListEvents(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT timestamp, kind, message FROM events "
                                           "WHERE run_id = ? ORDER BY id"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    std::vector<RunEvent> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(RunEvent{q.Double(0), q.Text(1), q.Text(2)});
    }));
    return out;
  }

  // ---- Computes ----
  Result<void> PutCompute(const ComputeTarget& t) override {
    if (t.name.empty()) return MakeError(ErrorCode::kInvalidInput, "compute name is empty");
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("INSERT INTO computes(name, type, config_json) VALUES (?, ?, ?) "
                                "ON CONFLICT(name) DO UPDATE SET type = excluded.type, "
                                "config_json = excluded.config_json"));
    auto q = MakeQuery(stmt);
    return q.Bind(1, t.name).Bind(2, ComputeTypeName(t.type)).Bind(3, t.config_json).Run();
  }

  Result<ComputeTarget> GetCompute(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT name, type, config_json FROM computes WHERE name = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "compute '" + name + "' does not exist");
    return ReadComputeTarget(q.Text(0), q.Text(1), q.Text(2));
  }

  Result<std::vector<ComputeTarget>> ListComputes() override {
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT name, type, config_json FROM computes ORDER BY name"));
    auto q = MakeQuery(stmt);
    std::vector<ComputeTarget> out;
    Result<void> bad;
    OD_TRY(q.ForEachRow([&] {
      auto t = ReadComputeTarget(q.Text(0), q.Text(1), q.Text(2));
      if (t) {
        out.push_back(std::move(*t));
      } else if (bad) {
        bad = std::unexpected(t.error());  // the first unknown type
      }
    }));
    OD_TRY(bad);
    return out;
  }

  // ---- Environments ----
  static constexpr const char* kEnvironmentColumns =
      "name, version, spec_json, content_hash, description, tags_json, created_at";

  static EnvironmentRecord ReadEnvironment(const Query& q) {
    return EnvironmentRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                             q.Text(4), q.Text(5), q.Double(6)};
  }

  Result<std::optional<EnvironmentRecord>> FindEnvironment(const std::string& name,
                                                           const std::string& version) {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kEnvironmentColumns +
                                           " FROM environments WHERE name = ? AND version = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name).Bind(2, version);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<EnvironmentRecord>();
    return std::optional<EnvironmentRecord>(ReadEnvironment(q));
  }

  Result<EnvironmentRecord> CreateEnvironment(const EnvironmentRecord& input) override {
    if (input.name.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "environment name must not be empty");
    }
    EnvironmentRecord e = input;
    if (e.created_at == 0) e.created_at = WallSeconds();
    // BEGIN IMMEDIATE: a concurrent creator waits, then sees this version.
    Transaction tx(this);
    OD_TRY(tx.Begin());
    if (e.version.empty()) {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT version FROM environments WHERE name = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, e.name);
      std::vector<std::string> versions;
      OD_TRY(q.ForEachRow([&] { versions.push_back(q.Text(0)); }));
      e.version = NextEnvironmentVersion(versions);
    } else {
      OD_ASSIGN_OR_RETURN(auto existing, FindEnvironment(e.name, e.version));
      if (existing) {
        if (existing->spec_json != e.spec_json) {
          return std::unexpected(EnvironmentVersionTaken(e.name, e.version));
        }
        return *existing;
      }
    }
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("INSERT INTO environments(name, version, spec_json, content_hash, "
                                "description, tags_json, created_at) VALUES (?,?,?,?,?,?,?)"));
    auto q = MakeQuery(stmt);
    OD_TRY(q.Bind(1, e.name)
               .Bind(2, e.version)
               .Bind(3, e.spec_json)
               .Bind(4, e.content_hash)
               .Bind(5, e.description)
               .Bind(6, e.tags_json)
               .Bind(7, e.created_at)
               .Run());
    OD_TRY(tx.Commit());
    return e;
  }

  Result<EnvironmentRecord> GetEnvironment(const std::string& name,
                                           const std::string& version) override {
    OD_ASSIGN_OR_RETURN(auto found, FindEnvironment(name, version));
    if (!found) {
      return MakeError(ErrorCode::kNotFound,
                       "environment '" + name + "' has no version '" + version + "'");
    }
    return *found;
  }

  Result<EnvironmentRecord> GetLatestEnvironment(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kEnvironmentColumns +
                                           " FROM environments WHERE name = ? "
                                           "ORDER BY created_at DESC, id DESC LIMIT 1"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "environment '" + name + "' does not exist");
    return ReadEnvironment(q);
  }

  Result<std::vector<EnvironmentRecord>> ListEnvironments() override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kEnvironmentColumns +
                                           " FROM environments ORDER BY name, created_at, id"));
    auto q = MakeQuery(stmt);
    std::vector<EnvironmentRecord> out;
    OD_TRY(q.ForEachRow([&] { out.push_back(ReadEnvironment(q)); }));
    return out;
  }

  Result<void> SetEnvironmentContentHash(const std::string& name, const std::string& version,
                                         const std::string& content_hash) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("UPDATE environments SET content_hash = ? "
                                           "WHERE name = ? AND version = ?"));
    auto q = MakeQuery(stmt);
    OD_TRY(q.Bind(1, content_hash).Bind(2, name).Bind(3, version).Run());
    if (sqlite3_changes(db_) == 0) {
      return MakeError(ErrorCode::kNotFound,
                       "environment '" + name + "' has no version '" + version + "'");
    }
    return {};
  }

  // ---- Secrets ----
  Result<void> PutSecret(const SecretRecord& in) override {
    if (in.name.empty()) return MakeError(ErrorCode::kInvalidInput, "a secret needs a name");
    const double now = in.updated_at > 0 ? in.updated_at : WallSeconds();
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("INSERT INTO secrets(name, sealed, created_at, "
                                           "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO "
                                           "UPDATE SET sealed = excluded.sealed, updated_at = "
                                           "excluded.updated_at"));
    auto q = MakeQuery(stmt);
    return q.Bind(1, in.name).Bind(2, in.sealed).Bind(3, now).Bind(4, now).Run();
  }

  Result<SecretRecord> GetSecret(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT name, sealed, created_at, updated_at FROM "
                                           "secrets WHERE name = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "no secret named '" + name + "'");
    return SecretRecord{q.Text(0), q.Text(1), q.Double(2), q.Double(3)};
  }

  Result<std::vector<SecretRecord>> ListSecrets() override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT name, created_at, updated_at FROM secrets "
                                           "ORDER BY name"));
    auto q = MakeQuery(stmt);
    std::vector<SecretRecord> out;
    OD_TRY(q.ForEachRow([&] { out.push_back({q.Text(0), "", q.Double(1), q.Double(2)}); }));
    return out;
  }

  Result<bool> DeleteSecret(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("DELETE FROM secrets WHERE name = ?"));
    auto q = MakeQuery(stmt);
    OD_TRY(q.Bind(1, name).Run());
    return sqlite3_changes(db_) > 0;
  }

  // ---- Datastores ----
  static constexpr const char* kDatastoreColumns =
      "name, type, spec_json, description, created_at, updated_at";

  static DatastoreRecord ReadDatastore(const Query& q) {
    return DatastoreRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Double(4), q.Double(5)};
  }

  Result<void> PutDatastore(const DatastoreRecord& in) override {
    if (in.name.empty()) return MakeError(ErrorCode::kInvalidInput, "a datastore needs a name");
    const double now = in.updated_at > 0 ? in.updated_at : WallSeconds();
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("INSERT INTO datastores(name, type, spec_json, description, "
                                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                                "ON CONFLICT(name) DO UPDATE SET type = excluded.type, "
                                "spec_json = excluded.spec_json, description = "
                                "excluded.description, updated_at = excluded.updated_at"));
    auto q = MakeQuery(stmt);
    return q.Bind(1, in.name)
        .Bind(2, in.type)
        .Bind(3, in.spec_json)
        .Bind(4, in.description)
        .Bind(5, in.created_at > 0 ? in.created_at : now)
        .Bind(6, now)
        .Run();
  }

  Result<DatastoreRecord> GetDatastore(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kDatastoreColumns +
                                           " FROM datastores WHERE name = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "datastore '" + name + "' does not exist");
    return ReadDatastore(q);
  }

  Result<std::vector<DatastoreRecord>> ListDatastores() override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kDatastoreColumns +
                                           " FROM datastores ORDER BY name"));
    auto q = MakeQuery(stmt);
    std::vector<DatastoreRecord> out;
    OD_TRY(q.ForEachRow([&] { out.push_back(ReadDatastore(q)); }));
    return out;
  }

  Result<bool> DeleteDatastore(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("DELETE FROM datastores WHERE name = ?"));
    auto q = MakeQuery(stmt);
    OD_TRY(q.Bind(1, name).Run());
    return sqlite3_changes(db_) > 0;
  }

  // ---- Data assets ----
  static constexpr const char* kDataAssetColumns =
      "name, version, type, path, description, tags_json, spec_json, created_at";

  static DataAssetRecord ReadDataAsset(const Query& q) {
    return DataAssetRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                           q.Text(4), q.Text(5), q.Text(6), q.Double(7)};
  }

  Result<std::optional<DataAssetRecord>> FindDataAsset(const std::string& name,
                                                       const std::string& version) {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kDataAssetColumns +
                                           " FROM data_assets WHERE name = ? AND version = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name).Bind(2, version);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<DataAssetRecord>();
    return std::optional<DataAssetRecord>(ReadDataAsset(q));
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
    // BEGIN IMMEDIATE: a concurrent creator waits, then sees this version.
    Transaction tx(this);
    OD_TRY(tx.Begin());
    if (a.version.empty()) {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT version FROM data_assets WHERE name = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, a.name);
      std::vector<std::string> versions;
      OD_TRY(q.ForEachRow([&] { versions.push_back(q.Text(0)); }));
      a.version = NextIntegerVersion(versions);
    } else {
      OD_ASSIGN_OR_RETURN(auto existing, FindDataAsset(a.name, a.version));
      if (existing) {
        if (existing->type != a.type || existing->path != a.path ||
            existing->spec_json != a.spec_json) {
          return std::unexpected(DataAssetVersionTaken(a.name, a.version));
        }
        return *existing;
      }
    }
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("INSERT INTO data_assets(name, version, type, path, description, "
                                "tags_json, spec_json, created_at) VALUES (?,?,?,?,?,?,?,?)"));
    auto q = MakeQuery(stmt);
    OD_TRY(q.Bind(1, a.name)
               .Bind(2, a.version)
               .Bind(3, a.type)
               .Bind(4, a.path)
               .Bind(5, a.description)
               .Bind(6, a.tags_json)
               .Bind(7, a.spec_json)
               .Bind(8, a.created_at)
               .Run());
    OD_TRY(tx.Commit());
    return a;
  }

  Result<DataAssetRecord> GetDataAsset(const std::string& name,
                                       const std::string& version) override {
    OD_ASSIGN_OR_RETURN(auto found, FindDataAsset(name, version));
    if (!found) {
      return MakeError(ErrorCode::kNotFound,
                       "data asset '" + name + "' has no version '" + version + "'");
    }
    return *found;
  }

  Result<DataAssetRecord> GetLatestDataAsset(const std::string& name) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kDataAssetColumns +
                                           " FROM data_assets WHERE name = ? "
                                           "ORDER BY created_at DESC, rowid DESC LIMIT 1"));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "data asset '" + name + "' does not exist");
    return ReadDataAsset(q);
  }

  Result<std::vector<DataAssetRecord>> ListDataAssets() override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kDataAssetColumns +
                                           " FROM data_assets ORDER BY name, created_at, rowid"));
    auto q = MakeQuery(stmt);
    std::vector<DataAssetRecord> out;
    OD_TRY(q.ForEachRow([&] { out.push_back(ReadDataAsset(q)); }));
    return out;
  }

  // ---- Run inputs ----
  static constexpr const char* kRunInputColumns =
      "run_id, input_name, asset_name, asset_version, uri, created_at";

  static RunInputRecord ReadRunInput(const Query& q) {
    return RunInputRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Double(5)};
  }

  Result<void> AddRunInputs(const std::vector<RunInputRecord>& inputs) override {
    if (inputs.empty()) return {};
    const double now = WallSeconds();
    Transaction tx(this);
    OD_TRY(tx.Begin());
    for (const auto& in : inputs) {
      OD_TRY(RequireRun(in.run_id));  // one index lookup; a run has a handful of inputs
      if (in.input_name.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "an input of run '" + in.run_id + "' has an empty name");
      }
      // The first created_at is kept: recording the same inputs again changes nothing.
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("INSERT INTO run_inputs(run_id, input_name, asset_name, "
                                  "asset_version, uri, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                                  "ON CONFLICT(run_id, input_name) DO UPDATE SET asset_name = "
                                  "excluded.asset_name, asset_version = excluded.asset_version, "
                                  "uri = excluded.uri"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, in.run_id)
                 .Bind(2, in.input_name)
                 .Bind(3, in.asset_name)
                 .Bind(4, in.asset_version)
                 .Bind(5, in.uri)
                 .Bind(6, in.created_at != 0 ? in.created_at : now)
                 .Run());
    }
    return tx.Commit();
  }

  Result<std::vector<RunInputRecord>> ListRunInputs(const std::string& run_id) override {
    OD_TRY(RequireRun(run_id));
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kRunInputColumns +
                                           " FROM run_inputs WHERE run_id = ? "
                                           "ORDER BY input_name"));
    auto q = MakeQuery(stmt);
    q.Bind(1, run_id);
    std::vector<RunInputRecord> out;
    OD_TRY(q.ForEachRow([&] { out.push_back(ReadRunInput(q)); }));
    return out;
  }

  Result<std::vector<RunInputRecord>> ListDataAssetReaders(const std::string& name,
                                                           const std::string& version) override {
    if (name.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "data asset name must not be empty");
    }
    // Two statements rather than "? = '' OR ...": each uses run_inputs_by_asset.
    const std::string sql =
        std::string("SELECT ") + kRunInputColumns + " FROM run_inputs WHERE asset_name = ?1" +
        (version.empty() ? "" : " AND asset_version = ?2") + " ORDER BY created_at, rowid";
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(sql));
    auto q = MakeQuery(stmt);
    q.Bind(1, name);
    if (!version.empty()) q.Bind(2, version);
    std::vector<RunInputRecord> out;
    OD_TRY(q.ForEachRow([&] { out.push_back(ReadRunInput(q)); }));
    return out;
  }

  // ---- Model registry ----
  Result<ModelVersion> CreateModelVersion(const ModelVersion& input) override {
    if (input.model.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "model name must not be empty");
    }
    for (const auto& f : input.files) {
      if (f.path.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "a file of model '" + input.model + "' has an empty path");
      }
    }
    ModelVersion v = input;
    v.aliases.clear();
    if (v.created_at == 0) v.created_at = WallSeconds();
    // BEGIN IMMEDIATE takes the write lock before reading the highest number, so a concurrent
    // creator waits and then sees this version.
    Transaction tx(this);
    OD_TRY(tx.Begin());
    OD_TRY(RequireRun(v.run_id));
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM "
                                             "model_versions WHERE model = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, v.model);
      OD_ASSIGN_OR_RETURN(bool row, q.Step());
      v.version = row ? q.Int(0) : 1;
    }
    {
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("INSERT INTO model_versions(model, version, run_id, path, "
                                  "tags_json, lineage_json, created_at) VALUES (?,?,?,?,?,?,?)"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, v.model)
                 .Bind(2, v.version)
                 .Bind(3, v.run_id)
                 .Bind(4, v.path)
                 .Bind(5, v.tags_json)
                 .Bind(6, v.lineage_json)
                 .Bind(7, v.created_at)
                 .Run());
    }
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("INSERT INTO model_files(model, version, path, "
                                           "digest, size) VALUES (?,?,?,?,?)"));
    for (const auto& f : v.files) {
      auto q = MakeQuery(stmt);
      auto ok = q.Bind(1, v.model).Bind(2, v.version).Bind(3, f.path).Bind(4, f.digest)
                    .Bind(5, f.size).Run();
      if (!ok) {
        if (q.last_rc() == SQLITE_CONSTRAINT_PRIMARYKEY) {
          return MakeError(ErrorCode::kInvalidInput,
                           "file '" + f.path + "' is listed twice in model '" + v.model + "'");
        }
        return std::unexpected(ok.error());
      }
    }
    OD_TRY(tx.Commit());
    std::sort(v.files.begin(), v.files.end(),
              [](const ArtifactRecord& a, const ArtifactRecord& b) { return a.path < b.path; });
    return v;
  }

  // Files and aliases of a version read from its row.
  Result<void> FillModelVersion(ModelVersion& v) {
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT path, digest, size FROM model_files WHERE "
                                             "model = ? AND version = ? ORDER BY path"));
      auto q = MakeQuery(stmt);
      q.Bind(1, v.model).Bind(2, v.version);
      OD_TRY(q.ForEachRow([&] {
        v.files.push_back(ArtifactRecord{q.Text(0), q.Text(1), q.Int(2)});
      }));
    }
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT alias FROM model_aliases WHERE model = ? AND "
                                           "version = ? ORDER BY alias"));
    auto q = MakeQuery(stmt);
    q.Bind(1, v.model).Bind(2, v.version);
    OD_TRY(q.ForEachRow([&] {
      v.aliases.push_back(q.Text(0));
    }));
    return {};
  }

  static constexpr const char* kModelVersionColumns =
      "model, version, run_id, path, tags_json, lineage_json, created_at";

  static ModelVersion ReadModelVersion(const Query& q) {
    ModelVersion v;
    v.model = q.Text(0);
    v.version = q.Int(1);
    v.run_id = q.Text(2);
    v.path = q.Text(3);
    v.tags_json = q.Text(4);
    v.lineage_json = q.Text(5);
    v.created_at = q.Double(6);
    return v;
  }

  Result<ModelVersion> GetModelVersion(const std::string& model,
                                       std::int64_t version) override {
    ModelVersion v;
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kModelVersionColumns +
                                             " FROM model_versions WHERE model = ? AND "
                                             "version = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, model).Bind(2, version);
      OD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) {
        return MakeError(ErrorCode::kNotFound, "model '" + model + "' has no version " +
                                                   std::to_string(version));
      }
      v = ReadModelVersion(q);
    }
    OD_TRY(FillModelVersion(v));
    return v;
  }

  Result<std::vector<ModelVersion>> ListModelVersions(const std::string& model) override {
    std::vector<ModelVersion> out;
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kModelVersionColumns +
                                             " FROM model_versions WHERE model = ? ORDER BY "
                                             "version"));
      auto q = MakeQuery(stmt);
      q.Bind(1, model);
      OD_TRY(q.ForEachRow([&] {
        out.push_back(ReadModelVersion(q));
      }));
    }
    for (auto& v : out) OD_TRY(FillModelVersion(v));
    return out;
  }

  Result<std::vector<ModelSummary>> ListModels() override {
    OD_ASSIGN_OR_RETURN(auto stmt,
                        Prepare("SELECT model, COUNT(*), MAX(version), MIN(created_at), "
                                "MAX(created_at) FROM model_versions GROUP BY model "
                                "ORDER BY model"));
    auto q = MakeQuery(stmt);
    std::vector<ModelSummary> out;
    OD_TRY(q.ForEachRow([&] {
      out.push_back(ModelSummary{q.Text(0), q.Int(1), q.Int(2), q.Double(3), q.Double(4)});
    }));
    return out;
  }

  Result<void> SetModelAlias(const std::string& model, const std::string& alias,
                             std::int64_t version) override {
    if (alias.empty()) return MakeError(ErrorCode::kInvalidInput, "alias must not be empty");
    Transaction tx(this);
    OD_TRY(tx.Begin());
    {
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("SELECT 1 FROM model_versions WHERE model = ? AND version = ?"));
      auto q = MakeQuery(stmt);
      q.Bind(1, model).Bind(2, version);
      OD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) {
        return MakeError(ErrorCode::kNotFound, "model '" + model + "' has no version " +
                                                   std::to_string(version));
      }
    }
    {
      OD_ASSIGN_OR_RETURN(auto stmt,
                          Prepare("INSERT INTO model_aliases(model, alias, version, updated_at) "
                                  "VALUES (?, ?, ?, ?) ON CONFLICT(model, alias) DO UPDATE SET "
                                  "version = excluded.version, updated_at = excluded.updated_at"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, model).Bind(2, alias).Bind(3, version).Bind(4, WallSeconds()).Run());
    }
    return tx.Commit();
  }

  Result<std::int64_t> ResolveModelAlias(const std::string& model,
                                         const std::string& alias) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT version FROM model_aliases WHERE model = ? "
                                           "AND alias = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, model).Bind(2, alias);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      return MakeError(ErrorCode::kNotFound,
                       "model '" + model + "' has no alias '" + alias + "'");
    }
    return q.Int(0);
  }

  // ---- API tokens ----
  static constexpr const char* kTokenColumns =
      "id, name, secret_hash, scope, experiment, created_at, expires_at, revoked_at";
  static ApiToken ReadToken(const Query& q) {
    return ApiToken{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                    q.Text(4), q.Double(5), q.Double(6), q.Double(7)};
  }

  Result<void> CreateToken(const ApiToken& t) override {
    if (t.id.empty() || t.secret_hash.empty()) {
      return MakeError(ErrorCode::kInvalidInput, "a token needs an id and a secret hash");
    }
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("INSERT INTO api_tokens(") + kTokenColumns +
                                           ") VALUES (?,?,?,?,?,?,?,?)"));
    auto q = MakeQuery(stmt);
    q.Bind(1, t.id).Bind(2, t.name).Bind(3, t.secret_hash).Bind(4, t.scope).Bind(5, t.experiment);
    q.Bind(6, t.created_at != 0 ? t.created_at : WallSeconds()).Bind(7, t.expires_at);
    q.Bind(8, t.revoked_at);
    auto r = q.Run();
    if (!r && (q.last_rc() == SQLITE_CONSTRAINT_PRIMARYKEY || q.last_rc() == SQLITE_CONSTRAINT_UNIQUE)) {
      return MakeError(ErrorCode::kAlreadyExists, "token '" + t.id + "' already exists");
    }
    return r;
  }

  Result<ApiToken> FindToken(const std::string& secret_hash) override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kTokenColumns +
                                           " FROM api_tokens WHERE secret_hash = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, secret_hash);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "no such token");
    return ReadToken(q);
  }

  Result<std::vector<ApiToken>> ListTokens() override {
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare(std::string("SELECT ") + kTokenColumns +
                                           " FROM api_tokens ORDER BY created_at, id"));
    auto q = MakeQuery(stmt);
    std::vector<ApiToken> out;
    OD_TRY(q.ForEachRow([&] { out.push_back(ReadToken(q)); }));
    return out;
  }

  Result<void> RevokeToken(const std::string& id) override {
    {
      OD_ASSIGN_OR_RETURN(auto stmt, Prepare("UPDATE api_tokens SET revoked_at = ? "
                                             "WHERE id = ? AND revoked_at = 0"));
      auto q = MakeQuery(stmt);
      OD_TRY(q.Bind(1, WallSeconds()).Bind(2, id).Run());
    }
    if (sqlite3_changes(db_) > 0) return {};
    OD_ASSIGN_OR_RETURN(auto stmt, Prepare("SELECT 1 FROM api_tokens WHERE id = ?"));
    auto q = MakeQuery(stmt);
    q.Bind(1, id);
    OD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "no token with id '" + id + "'");
    return {};
  }

 private:
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

Transaction::~Transaction() {
  if (open_) (void)store_->Exec("ROLLBACK");
}

Result<void> Transaction::Begin() {
  OD_TRY(store_->Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return {};
}

Result<void> Transaction::Commit() {
  OD_TRY(store_->Exec("COMMIT"));
  open_ = false;
  return {};
}

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& db_path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return MakeError(ErrorCode::kStorage, "cannot open sqlite database '" + db_path +
                                              "': " + msg + " (does its folder exist?)");
  }
  auto store = std::make_unique<SqliteMetadataStore>(db, db_path);
  // The busy timeout goes first: switching to WAL itself needs a lock another process may hold.
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  OD_TRY(store->Exec("PRAGMA journal_mode = WAL"));
  OD_TRY(store->Exec("PRAGMA synchronous = NORMAL"));
  OD_TRY(store->Exec("PRAGMA foreign_keys = ON"));
  // Large ingest batches touch many index pages; the 2 MiB default cache makes them spill.
  // This is an upper bound, allocated only as pages are used.
  OD_TRY(store->Exec("PRAGMA cache_size = -65536"));
  OD_TRY(store->Migrate());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace overdrive
