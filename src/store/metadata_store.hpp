// MetadataStore: experiments, runs, params, metrics, artifacts records, events, compute
// targets, registered models, environment assets, secrets, datastores, data assets and the
// data inputs of runs, and API tokens of one workspace.
//
// Contract (every backend passes tests/store/metadata_store_conformance.cpp):
// - Thread-compatible: one instance per thread. Several processes may open the same workspace
//   (SQLite: WAL + busy timeout); each write method is one short transaction.
// - A run in a final status (IsFinal) never changes again: TransitionRun refuses, and
//   IngestBatch into a final run is still accepted only for points read after the run ended
//   (the last lines of its files), which the controller ingests before finalising.
// - IngestBatch is atomic: the points, params and cursors of a batch are all stored or none are.
//   Collectors store their read offsets as cursors in the same batch, so re-reading a file after
//   a crash never duplicates a point (exactly-once ingestion).
// - Errors: kNotFound for unknown ids (every per-run read and write checks the run exists),
//   kAlreadyExists for duplicate run ids, kInvalidInput for empty names, kStorage for
//   database failures (message says what failed and the database path).
// - Metric values: NaN is stored as SQL NULL and read back as NaN; summaries' min/max skip NaN
//   (count includes it). +/-inf are stored as they are.
// - Lists are ordered: runs newest first (created_at), experiments/params/artifacts/computes/
//   datastores/run inputs by name, events and metric points in the order they were written
//   (points by step).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/records.hpp"

namespace overdrive {

struct RunFilter {
  std::optional<std::string> experiment;  // by name
  std::optional<std::string> parent_id;   // "" = top-level runs only
  std::optional<RunStatus> status;
  int limit = 0;                          // 0 = no limit; newest first
  int offset = 0;                         // skip this many (pagination)
  // Leave the large text fields (spec_yaml, launch_json, executor_handle) empty: for tables of
  // thousands of runs.
  bool light = false;
};

// Fields set together with a status change; unset fields are left as they are.
struct RunUpdate {
  std::optional<std::string> status_reason;
  std::optional<std::string> command;
  std::optional<std::string> executor_handle;
  std::optional<int> exit_code;
  std::optional<double> started_at;
  std::optional<double> ended_at;
  std::optional<bool> lost;  // RunRecord::lost; set with the final transition of a lost run
};

struct IngestBatch {
  std::string run_id;
  std::vector<MetricPoint> points;
  std::vector<Param> params;                          // upserted by name
  std::map<std::string, std::int64_t> cursors;        // source -> offset, upserted
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Experiments.
  virtual Result<std::int64_t> GetOrCreateExperiment(const std::string& name) = 0;
  virtual Result<std::vector<Experiment>> ListExperiments() = 0;
  // kNotFound for an unknown id.
  virtual Result<Experiment> GetExperiment(std::int64_t id) = 0;

  // Runs. CreateRun stores the run, its params and its events in one transaction
  // (kAlreadyExists if the id is taken; kNotFound for an unknown experiment_id or parent_id).
  // With experiment_id 0 and experiment_name set, the experiment is found or created by name;
  // created_at 0 means now.
  virtual Result<void> CreateRun(const RunRecord& run, const std::vector<Param>& params,
                                 const std::vector<RunEvent>& events) = 0;
  virtual Result<RunRecord> GetRun(const std::string& id) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;
  // How many runs match `filter`, ignoring limit and offset.
  virtual Result<std::int64_t> CountRuns(const RunFilter& filter) = 0;
  // A string that changes whenever the run or one of its child runs changes status, is asked to
  // cancel or gets metric points or params through Ingest (not for other runs' points): live
  // views poll it cheaply and refetch only when it moved. kNotFound for an unknown run.
  virtual Result<std::string> ActivityStamp(const std::string& run_id) = 0;
  // Merges `tags` into the run's tags_json (a key set again takes the new value). Allowed on
  // final runs too (tags are annotations, not state).
  virtual Result<void> SetRunTags(const std::string& run_id,
                                  const std::map<std::string, std::string>& tags) = 0;
  // An exact id match first, else the one run whose id starts with `prefix`; kNotFound /
  // kInvalidInput (ambiguous: the message lists up to 5 matching ids) otherwise. With
  // `experiment` set, only that experiment's runs are seen: neither the answer nor the
  // message tells anything about runs of other experiments.
  virtual Result<std::string> ResolveRunId(const std::string& prefix,
                                           const std::string& experiment) = 0;
  Result<std::string> ResolveRunId(const std::string& prefix) { return ResolveRunId(prefix, ""); }
  // Compare-and-set on status: moves the run to `to` and applies `update` unless the run is
  // already final. Returns false (and changes nothing) when it was final.
  virtual Result<bool> TransitionRun(const std::string& id, RunStatus to,
                                     const RunUpdate& update) = 0;
  // Records which process drives the run (pid and its start time, to tell a live controller
  // from a reused pid). Both refuse a final run with kFailedPrecondition (message names its
  // status), so `job cancel` on a finished job can say so.
  virtual Result<void> SetController(const std::string& id, int pid, double started_at) = 0;
  virtual Result<void> RequestCancel(const std::string& id) = 0;

  // Params, metrics, cursors.
  virtual Result<std::vector<Param>> GetParams(const std::string& run_id) = 0;
  virtual Result<void> Ingest(const IngestBatch& batch) = 0;
  virtual Result<std::vector<MetricPoint>> GetMetricHistory(const std::string& run_id,
                                                            const std::string& name) = 0;
  // The series downsampled to at most `max_buckets` buckets of consecutive steps (ordered by
  // step; a series of at most max_buckets points comes back one point per bucket). Done in the
  // database, so a 1,000,000-point series is not shipped to the caller. max_buckets >= 1.
  // Buckets hold equal numbers of points, except for a long series (at least
  // kMetricBlocksMinPoints points and 64 per bucket): that one is read from its stored blocks of
  // 64 steps, and its buckets are runs of whole blocks (near-equal step ranges). Either way a
  // bucket's value is its last point (highest step; the latest written on a tie), min and max
  // are over its points (skipping NaN), and the buckets tile the series' steps.
  virtual Result<std::vector<MetricBucket>> GetMetricBuckets(const std::string& run_id,
                                                             const std::string& name,
                                                             int max_buckets) = 0;
  // For trial tables: the params of every child run of `parent_id` (by child id), and the
  // summary of metric `name` of every child that has that metric. kNotFound for an unknown parent.
  virtual Result<std::map<std::string, std::vector<Param>>> GetChildParams(
      const std::string& parent_id) = 0;
  virtual Result<std::map<std::string, MetricSummary>> GetChildMetricSummaries(
      const std::string& parent_id, const std::string& name) = 0;
  // The state of every child run of `parent_id` (any order): a view that kept the previous
  // states reloads only the children whose state moved. kNotFound for an unknown parent.
  virtual Result<std::vector<ChildState>> GetChildStates(const std::string& parent_id) = 0;
  // Per metric name, by name: count, the highest step and its value (the latest written on a
  // tie), min and max.
  virtual Result<std::vector<MetricSummary>> GetMetricSummaries(const std::string& run_id) = 0;
  virtual Result<std::map<std::string, std::int64_t>> GetCursors(const std::string& run_id) = 0;

  // Artifacts (upserted by path) and events.
  virtual Result<void> AddArtifacts(const std::string& run_id,
                                    const std::vector<ArtifactRecord>& artifacts) = 0;
  virtual Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id) = 0;
  virtual Result<void> AddEvent(const std::string& run_id, const RunEvent& event) = 0;
  virtual Result<std::vector<RunEvent>> ListEvents(const std::string& run_id) = 0;

  // Compute targets.
  virtual Result<void> PutCompute(const ComputeTarget& target) = 0;  // insert or replace
  virtual Result<ComputeTarget> GetCompute(const std::string& name) = 0;
  virtual Result<std::vector<ComputeTarget>> ListComputes() = 0;

  // Model registry. Names are not validated here (the registry does that); the store keeps
  // versions immutable: only aliases move.
  // CreateModelVersion stores `v` (its files and tags; `version`, `aliases` are ignored) as the
  // next version of `v.model` and returns it as stored. The number is max + 1, assigned in the
  // same transaction as the insert, so concurrent creators (threads or processes) never get the
  // same number. kInvalidInput for an empty model name, kNotFound for an unknown run.
  virtual Result<ModelVersion> CreateModelVersion(const ModelVersion& v) = 0;
  // kNotFound when the model or that version does not exist.
  virtual Result<ModelVersion> GetModelVersion(const std::string& model,
                                               std::int64_t version) = 0;
  // All versions of one model, oldest first; empty when the model does not exist.
  virtual Result<std::vector<ModelVersion>> ListModelVersions(const std::string& model) = 0;
  // Every model, by name.
  virtual Result<std::vector<ModelSummary>> ListModels() = 0;
  // Points `alias` of `model` at `version` (moving it if it pointed elsewhere): one version per
  // alias per model. kNotFound when the version does not exist; kInvalidInput for an empty alias.
  virtual Result<void> SetModelAlias(const std::string& model, const std::string& alias,
                                     std::int64_t version) = 0;
  // The version an alias points at; kNotFound when the model has no such alias.
  virtual Result<std::int64_t> ResolveModelAlias(const std::string& model,
                                                 const std::string& alias) = 0;

  // Environment assets (name + version). Names and versions are not validated here (the spec
  // part does that).
  // CreateEnvironment stores `e` and returns it as stored. An empty `e.version` is the next
  // integer version of the name (1 + the highest version that is all digits, 1 for a new name),
  // assigned in the same transaction as the insert. Versions are immutable: storing an existing
  // name + version again with the same spec_json returns the stored record (idempotent); with a
  // different spec_json it is kAlreadyExists ("environment 'n' version 'v' already exists with a
  // different spec; versions are immutable: create a new version"). kInvalidInput for an empty
  // name. created_at 0 = now.
  virtual Result<EnvironmentRecord> CreateEnvironment(const EnvironmentRecord& e) = 0;
  // kNotFound when the name or that version does not exist.
  virtual Result<EnvironmentRecord> GetEnvironment(const std::string& name,
                                                   const std::string& version) = 0;
  // The most recently created version of `name` (Azure's "latest": by creation, not by number;
  // ties by insertion order). kNotFound when the name has no version.
  virtual Result<EnvironmentRecord> GetLatestEnvironment(const std::string& name) = 0;
  // Every version of every environment, by name, then oldest first.
  virtual Result<std::vector<EnvironmentRecord>> ListEnvironments() = 0;
  // Records the content hash of a build of name + version (it may change when a build context
  // on disk changed). kNotFound when that version does not exist.
  virtual Result<void> SetEnvironmentContentHash(const std::string& name,
                                                 const std::string& version,
                                                 const std::string& content_hash) = 0;

  // Secrets (issue 14: credentials of datastores): sealed values by name. PutSecret stores or
  // replaces one (created_at kept, updated_at = now when 0). ListSecrets: names and times only
  // (`sealed` left empty), by name. DeleteSecret: whether there was one.
  virtual Result<void> PutSecret(const SecretRecord& s) = 0;
  virtual Result<SecretRecord> GetSecret(const std::string& name) = 0;  // kNotFound
  virtual Result<std::vector<SecretRecord>> ListSecrets() = 0;
  virtual Result<bool> DeleteSecret(const std::string& name) = 0;

  // Datastores (issue 14): where data lives, by name. PutDatastore stores or replaces one
  // (created_at kept on replace, 0 = now on create; updated_at = now when 0); kInvalidInput for
  // an empty name. ListDatastores: by name. DeleteDatastore: whether there was one.
  virtual Result<void> PutDatastore(const DatastoreRecord& d) = 0;
  virtual Result<DatastoreRecord> GetDatastore(const std::string& name) = 0;  // kNotFound
  virtual Result<std::vector<DatastoreRecord>> ListDatastores() = 0;
  virtual Result<bool> DeleteDatastore(const std::string& name) = 0;

  // Data assets (name + version), kept as environments are. Names, types and paths are not
  // validated here (the data part does that).
  // CreateDataAsset stores `a` and returns it as stored. An empty `a.version` is the next
  // integer version of the name (NextIntegerVersion), assigned in the same transaction as the
  // insert. Versions are immutable: storing an existing name + version again with the same type,
  // path and spec_json returns the stored record (idempotent); with any of them different it is
  // kAlreadyExists ("data asset 'n' version 'v' already exists with a different path or content;
  // versions are immutable: create a new version"). kInvalidInput for an empty name or path.
  // created_at 0 = now.
  virtual Result<DataAssetRecord> CreateDataAsset(const DataAssetRecord& a) = 0;
  // kNotFound when the name or that version does not exist.
  virtual Result<DataAssetRecord> GetDataAsset(const std::string& name,
                                               const std::string& version) = 0;
  // The most recently created version of `name` (by creation, not by number; ties by insertion
  // order). kNotFound when the name has no version.
  virtual Result<DataAssetRecord> GetLatestDataAsset(const std::string& name) = 0;
  // Every version of every data asset, by name, then oldest first.
  virtual Result<std::vector<DataAssetRecord>> ListDataAssets() = 0;

  // The data inputs runs read (lineage). AddRunInputs stores `inputs` in one transaction, all
  // or none: a (run_id, input_name) stored again is replaced (its first created_at kept), so
  // recording a run's inputs twice is harmless. created_at 0 = now. kNotFound when a run does
  // not exist, kInvalidInput for an empty input_name. An empty list is a no-op.
  virtual Result<void> AddRunInputs(const std::vector<RunInputRecord>& inputs) = 0;
  // The inputs of one run, by input_name. kNotFound for an unknown run.
  virtual Result<std::vector<RunInputRecord>> ListRunInputs(const std::string& run_id) = 0;
  // The run inputs that read `version` of data asset `name` (every version of it when `version`
  // is ""), oldest first (ties by insertion order); empty when none did. kInvalidInput for an
  // empty name (plain-URI inputs are no asset's readers).
  virtual Result<std::vector<RunInputRecord>> ListDataAssetReaders(const std::string& name,
                                                                   const std::string& version) = 0;

  // API tokens of a server. CreateToken: kAlreadyExists for a taken id or secret hash.
  virtual Result<void> CreateToken(const ApiToken& token) = 0;
  // The token whose secret hashes to `secret_hash`, revoked or expired ones included (the caller
  // decides and says why); kNotFound when none.
  virtual Result<ApiToken> FindToken(const std::string& secret_hash) = 0;
  virtual Result<std::vector<ApiToken>> ListTokens() = 0;  // oldest first
  // Sets revoked_at (once; revoking again keeps the first time). kNotFound for an unknown id.
  virtual Result<void> RevokeToken(const std::string& id) = 0;
};

// Opens (creating and migrating as needed) the SQLite store at `db_path`; its folder must exist.
// WAL, synchronous=NORMAL, 30 s busy timeout. A database migrated by a newer overdrive (schema
// version above what this binary knows) is refused with kStorage.
Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& db_path);

// Opens (creating the schema and migrating as needed) the PostgreSQL store at `url`
// ("postgresql://user@host:port/db" or any libpq connection string). Schema versions are kept
// in a schema_migrations table; migrations run under an advisory lock, so several processes
// opening a fresh database at once apply each step once.
Result<std::unique_ptr<MetadataStore>> OpenPostgresMetadataStore(const std::string& url);

// "postgresql://..." / "postgres://..." -> PostgreSQL; anything else is a SQLite file path.
bool IsPostgresUrl(const std::string& location);

}  // namespace overdrive
