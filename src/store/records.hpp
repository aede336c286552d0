// The records kept in a workspace. Names follow DESIGN.md: experiment, run, param, metric,
// artifact. All timestamps are wall-clock seconds since the Unix epoch (UTC).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/job_type.hpp"
#include "common/result.hpp"

namespace overdrive {

enum class RunStatus {
  kQueued,
  kStarting,
  kRunning,
  kCompleted,
  kFailed,
  kCanceled,
  kEarlyTerminated,
  kTimedOut,
};

const char* RunStatusName(RunStatus s);             // "queued", "early_terminated", ...
std::optional<RunStatus> ParseRunStatus(std::string_view name);
bool IsFinal(RunStatus s);                          // a final run never changes again

struct Experiment {
  std::int64_t id = 0;
  std::string name;
  double created_at = 0;
};

struct RunRecord {
  std::string id;
  std::int64_t experiment_id = 0;
  std::string experiment_name;     // filled on reads
  std::string parent_id;           // "" for top-level runs; the sweep run for trials
  JobType job_type = JobType::kCommand;  // stored and shown as JobTypeName
  std::string display_name;
  std::string description;
  std::string tags_json = "{}";    // {"k": "v"}
  RunStatus status = RunStatus::kQueued;
  std::string status_reason;       // why it failed / was stopped, one line
  std::string spec_yaml;           // the resolved job document
  std::string command;             // the command line as executed (after substitution)
  std::string compute = "local";
  std::string snapshot_digest;     // code snapshot in the artifact store ("" = no code)
  std::string run_dir;             // absolute path of the run folder
  std::string executor_handle;     // opaque JSON from the executor, for re-attach
  std::string launch_json = "{}";  // what the controller needs to (re)launch it: env, resources,
                                   // timeout, metric collection settings (written at submit)
  std::optional<int> exit_code;
  double created_at = 0;
  double started_at = 0;           // 0 = not yet
  double ended_at = 0;             // 0 = not yet
  int controller_pid = 0;          // the process driving this run (0 = none)
  double controller_started_at = 0;
  bool cancel_requested = false;
  // Ended because the infrastructure lost it, not because of what it ran: its supervisor
  // vanished without an exit record, or its Slurm job was preempted or its node failed. Such a
  // run is `failed` (status_reason says what happened, "lost: ..."); a sweep runs its params
  // again instead of counting it. Stored as a column (runs.lost); set with the final transition.
  bool lost = false;
};

// A run the infrastructure lost (RunRecord::lost): decided on the stored flag, never on the text
// of status_reason.
bool IsLost(const RunRecord& run);

struct Param {
  std::string name;
  std::string value_json;  // JSON value: 3, 0.01, "adam", true
};

struct MetricPoint {
  std::string name;
  std::int64_t step = 0;
  double value = 0;
  double timestamp = 0;
};

// Per metric name of one run: enough to rank runs and to continue auto-numbered steps.
struct MetricSummary {
  std::string name;
  std::int64_t count = 0;
  std::int64_t last_step = 0;
  double last_value = 0;
  double min_value = 0;
  double max_value = 0;
};

// The summaries of one batch of points, by name, in the batch's order: count, the highest step
// and its value (the later point on a tie), min and max ignoring NaN (NaN when all are NaN).
// The stores fold these into their stored per-series summaries at ingestion.
std::map<std::string, MetricSummary> SummarizePoints(const std::vector<MetricPoint>& points);

// What moves when a child run changes, for refreshing trial tables without reloading them:
// its status, cancel flag and activity (a counter every Ingest into the run bumps).
struct ChildState {
  std::string id;
  RunStatus status = RunStatus::kQueued;
  bool cancel_requested = false;
  std::int64_t activity = 0;
};

struct ArtifactRecord {
  std::string path;    // relative, '/'-separated: "outputs/model.pkl", "logs/stdout.log"
  std::string digest;  // sha256 hex of the content in the artifact store
  std::int64_t size = 0;
};

struct RunEvent {
  double timestamp = 0;
  std::string kind;     // "warning", "info", "summary", kStopEventKind
  std::string message;
};

// A stop the controller decided for a run (cancel, early termination, ...): stored as an event
// before the signal is sent, so that a controller resuming after a crash sends it again and
// records the run with the same status (early_terminated stays early_terminated).
struct StopIntent {
  RunStatus status = RunStatus::kCanceled;  // the final status the run is to be recorded with
  std::string reason;                       // its status_reason
};

// The one event kind of stop intents; the message is {"status": "<RunStatusName>", "reason": "..."}.
inline constexpr const char* kStopEventKind = "stop";

RunEvent EncodeStopIntent(const StopIntent& stop, double timestamp);
// The stop intent `e` records: kind kStopEventKind with its JSON message, or the kind
// "stop:<status>" with the reason as message that workspaces written before kept. Nothing for
// any other event, nor for one whose status is unknown or not final, or whose message is not
// that JSON.
std::optional<StopIntent> DecodeStopIntent(const RunEvent& e);
// Whether `e` is a stop intent of either form, readable or not: the controller's bookkeeping,
// left out of the events shown to people.
bool IsStopIntentEvent(const RunEvent& e);

// A named compute target configured in the workspace (`overdrive compute add`).
// Where a compute target runs jobs. Stored as TEXT (computes.type) by the names of
// ComputeTypeName; a stored name this version does not know is an error of the store's reads.
enum class ComputeType { kLocal, kSlurm };

const char* ComputeTypeName(ComputeType t);  // "local", "slurm"
std::optional<ComputeType> ParseComputeType(std::string_view name);

struct ComputeTarget {
  std::string name;
  ComputeType type = ComputeType::kLocal;
  std::string config_json = "{}";
};

// A stored row: an unknown type is an InvalidInput error that names the target and its type.
Result<ComputeTarget> ReadComputeTarget(std::string name, std::string_view type,
                                        std::string config_json);

// One version of a registered model: the files of a run's artifacts under `path`, frozen when it
// was registered (their digests keep them intact whatever happens to the run later), with the
// lineage of the run that produced them.
struct ModelVersion {
  std::string model;                  // the model's name
  std::int64_t version = 0;           // 1, 2, 3... per model, assigned by the store
  std::string run_id;                 // the run that produced the files
  std::string path;                   // the artifact prefix within that run: "outputs/model"
  std::string tags_json = "{}";       // {"k": "v"}
  std::string lineage_json = "{}";    // run, experiment, sweep, params, metrics, code, inputs
  std::vector<ArtifactRecord> files;  // paths relative to `path`, ordered by path
  std::vector<std::string> aliases;   // filled on reads, by name ("latest" is implicit, never here)
  double created_at = 0;
};

// One registered model, as listed.
struct ModelSummary {
  std::string name;
  std::int64_t versions = 0;          // how many versions
  std::int64_t latest_version = 0;    // the highest version number
  double created_at = 0;              // of version 1
  double updated_at = 0;              // of the latest version
};

// One version of an environment asset (`overdrive environment create`). Versions are immutable:
// spec_json never changes once stored. It is EnvironmentSpec::ToJson (with the conda file's
// text) of the spec with name and version left empty, which this record holds, so the same
// spec compares equal whatever version it got. content_hash is the identity of a build of it,
// "" until the environment part has hashed it (SetEnvironmentContentHash).
struct EnvironmentRecord {
  std::string name;
  std::string version;           // "1", "2", ... or any text the user chose
  std::string spec_json = "{}";
  std::string content_hash;      // "" = not hashed yet
  std::string description;
  std::string tags_json = "{}";
  double created_at = 0;
};

// A secret as the store keeps it: `sealed` is the value encrypted by the caller (secret_box.hpp);
// the store never sees it in clear.
struct SecretRecord {
  std::string name;
  std::string sealed;
  double created_at = 0;
  double updated_at = 0;
};

// A datastore (issue 14): where data lives. `spec_json` is the datastore's spec without any
// credential in clear (credentials are secrets, referenced by name inside spec_json).
struct DatastoreRecord {
  std::string name;
  std::string type;            // "azure_blob", "s3", "local"
  std::string spec_json = "{}";
  std::string description;
  double created_at = 0;
  double updated_at = 0;
};

// A data asset version (Azure's data YAML): `path` is where its bytes are, as a URI
// (azureml://datastores/NAME/paths/P, https://..., s3://..., wasbs://...). Versions are
// immutable, as environments' are: type, path and spec_json never change once stored.
struct DataAssetRecord {
  std::string name;
  std::string version;              // "1", "2", ... or any text the user chose
  std::string type = "uri_folder";  // uri_file | uri_folder | mltable
  std::string path;
  std::string description;
  std::string tags_json = "{}";
  std::string spec_json = "{}";     // digest, size, files, the original local path, ...
  double created_at = 0;
};

// One data input a run read (lineage): the asset version when it came from one ("" otherwise).
struct RunInputRecord {
  std::string run_id;
  std::string input_name;
  std::string asset_name;      // "" when the input was a plain URI
  std::string asset_version;
  std::string uri;             // the resolved location
  double created_at = 0;
};

// The version CreateEnvironment and CreateDataAsset give when none is asked for: 1 + the
// highest of `versions` that is all digits (at most 18), "1" when there is none.
std::string NextIntegerVersion(const std::vector<std::string>& versions);
// NextIntegerVersion by the name environments first gave it.
inline std::string NextEnvironmentVersion(const std::vector<std::string>& versions) {
  return NextIntegerVersion(versions);
}
// "environment 'n' version 'v' already exists with a different spec; ..." (kAlreadyExists).
Error EnvironmentVersionTaken(const std::string& name, const std::string& version);
// "data asset 'n' version 'v' already exists with a different path or content; ..."
// (kAlreadyExists).
Error DataAssetVersionTaken(const std::string& name, const std::string& version);

// An API token of a server (`overdrive token create`). Only the SHA-256 of its secret is kept;
// the secret is shown once, when the token is created.
struct ApiToken {
  std::string id;            // public handle: "tok_" + 12 hex chars, used to list and revoke
  std::string name;          // what it is for, free text
  std::string secret_hash;   // sha256 hex of the secret
  std::string scope;         // "read" | "write" | "admin"
  std::string experiment;    // "" = every experiment; else only this one is visible
  double created_at = 0;
  double expires_at = 0;     // 0 = never
  double revoked_at = 0;     // 0 = live
};

// One bucket of a downsampled metric series: the points with steps in [step_first, step_last].
// `value` is the bucket's last point (so the line ends where the series does); min and max keep
// spikes visible when 1,000,000 points are drawn as 1,000.
struct MetricBucket {
  std::int64_t step_first = 0;
  std::int64_t step_last = 0;
  double value = 0;
  double min_value = 0;
  double max_value = 0;
  std::int64_t count = 0;
};

// Series are also kept as blocks of 64 consecutive steps (block = step >> 6): the summary of
// the points of one block, so a 1,000,000-point series downsamples from ~15,600 rows, and a
// series of 64 x B points still has the B blocks that B buckets need.
inline constexpr int kMetricBlockShift = 6;
// GetMetricBuckets reads the blocks from this many points on (and 64 per asked bucket), the
// points below it.
inline constexpr std::int64_t kMetricBlocksMinPoints = 100'000;

struct MetricBlock {
  std::string name;
  std::int64_t block = 0;
  MetricBucket summary;  // step_first/step_last: the block's lowest and highest step seen
};
// One batch's blocks by (name, block), in the batch's order: like SummarizePoints per block.
std::map<std::pair<std::string, std::int64_t>, MetricBlock> SummarizeBlocks(
    const std::vector<MetricPoint>& points);
// At most `max_buckets` buckets from a series' blocks (in block order): block i of n goes to
// bucket i * max_buckets / n, so buckets are runs of whole blocks; a bucket's value is its last
// block's, min/max skip NaN.
std::vector<MetricBucket> MergeBlocks(const std::vector<MetricBucket>& blocks, int max_buckets);

// ResolveRunId's answer from the ids (sorted, at most 6) that start with `prefix`: the exact
// match, else the only one; kNotFound / kInvalidInput listing up to 5 ids otherwise.
Result<std::string> PickRunId(const std::string& prefix, std::vector<std::string> ids);

}  // namespace overdrive
