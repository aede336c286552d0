// Typed job specifications parsed from Azure ML CLI v2 job YAML (type: command / type: sweep).
// Every field a user can get wrong keeps its source position, so later checks (a missing code
// folder, an unknown compute) can still report file:line:col.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/job_type.hpp"
#include "common/result.hpp"
#include "common/value.hpp"
#include "space/search_space.hpp"
#include "spec/data_spec.hpp"
#include "spec/environment_spec.hpp"
#include "spec/source_pos.hpp"

namespace overdrive {

struct InputSpec {
  enum class Kind { kLiteral, kUriFile, kUriFolder, kOther };
  Kind kind = Kind::kLiteral;
  ParamValue literal;                // kLiteral
  std::string type;                  // "uri_file", "mlflow_model", ...
  std::string path;                  // as written (local path relative to the YAML's folder)
  std::filesystem::path local_path;  // resolved absolute local path ("" when remote/azureml:)
  // Where the data is (data_spec.hpp): local, an asset, a datastore path, a URL. Resolved
  // against the workspace at submit; fetched onto the node before the run starts.
  DataLocation location;
  // ro_mount (default) | download | direct (the run gets the storage URL, not a local path).
  // Both others give a local path; remote data is read from the node-local cache.
  std::string mode = "ro_mount";
  SourcePos pos;
  bool remote() const { return kind != Kind::kLiteral && location.remote(); }
};

struct OutputSpec {
  std::string type = "uri_folder";
  // upload (default) | rw_mount: the run writes wd/outputs/<name>; when it completes, that is
  // copied to `path` when one is given (a datastore location), and registered as data asset
  // `asset_name` (version `asset_version`, "" = next) when `name` is given.
  std::string mode = "upload";
  std::optional<DataLocation> path;
  std::string asset_name, asset_version;
  SourcePos pos;
  SourcePos version_pos;  // the `version` value, for "that version exists"
};

// Resources: Azure's keys plus Overdrive's extensions cpus / gpus / memory_mb. With a
// `distribution`, cpus / gpus / memory are per process: a run of instance_count x
// process_count_per_instance processes takes that many times as much.
struct ResourcesSpec {
  int instance_count = 1;
  SourcePos instance_count_pos;
  std::string instance_type;
  std::string shm_size;
  double cpus = 1;              // extension: CPU slots a run takes on the local executor
  double gpus = 0;              // extension: whole GPUs, or a fraction below 1 that shares one
                                // GPU with other fractional runs (CUDA_VISIBLE_DEVICES)
  SourcePos gpus_pos;
  std::int64_t memory_mb = 0;   // extension: memory a run reserves; 0 = not accounted
};

// Parsed and checked: type is "" (none), "pytorch" or "mpi"; "tensorflow" is refused with its
// position, worker_count / parameter_server_count belong to it and are refused too.
struct DistributionSpec {
  std::string type;  // "" (none), "pytorch", "mpi"
  int process_count_per_instance = 1;
  int worker_count = 0;
  int parameter_server_count = 0;
  SourcePos pos;     // the `type` value
};

// The command part shared by command jobs and sweep trials.
struct CommandSpec {
  std::string command;            // with ${{...}} references still in it
  SourcePos command_pos;
  std::optional<std::filesystem::path> code;  // absolute, resolved against the YAML's folder
  SourcePos code_pos;
  std::string environment;        // as written, for display ("" when absent; "inline" or the
                                  // image for a mapping)
  // What `environment:` asks for (environment_spec.hpp): none, inline, an asset reference, or
  // the node's own Python chosen explicitly (`overdrive: {environment: host}`). Recorded by the
  // parser; resolving and building it is the environment part's.
  EnvironmentRef environment_ref;
  std::map<std::string, std::string> environment_variables;
  std::map<std::string, InputSpec> inputs;
  std::map<std::string, OutputSpec> outputs;
  ResourcesSpec resources;
  DistributionSpec distribution;
  std::optional<double> timeout_s;  // limits.timeout (command) / limits.trial_timeout (sweep)
};

// Overdrive's own extension block (top-level key `overdrive:`).
struct ExtensionSpec {
  bool stdout_metrics = true;
  // Katib's default metric pattern: name=value on stdout.
  std::string metrics_pattern = R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))";
  SourcePos metrics_pattern_pos;
  // `environment: host`: run in the node's own Python whatever the job's `environment:` says
  // (the behaviour before environments were honoured, now only by this explicit choice). "" or
  // "host"; the parser turns it into EnvironmentRef::Kind::kHost of the command / trial.
  std::string environment;
  SourcePos environment_pos;
};

enum class Goal { kMaximize, kMinimize };

struct ObjectiveSpec {
  std::string primary_metric;
  Goal goal = Goal::kMaximize;
};

// Sampler and policy parameters: each field's initializer is its declared default; bounds, help
// and which components take it are declared in spec/component_params.cpp, which the parser, the
// factories and the stored plan all follow.
struct SamplingSpec {
  std::string type = "random";  // SamplerTypes(): random | grid | bayesian | tpe (extension)
  std::string rule = "random";  // random | sobol (type random only)
  std::optional<std::uint64_t> seed;
  SourcePos pos;
};

struct EarlyTerminationSpec {
  std::string type;  // "" none, or one of PolicyTypes()
  int evaluation_interval = 1;  // 0 (the Azure SDK's default) means every interval
  int delay_evaluation = 0;
  std::optional<double> slack_factor;   // bandit
  std::optional<double> slack_amount;   // bandit
  int truncation_percentage = 0;        // truncation_selection; required (0 = not given)
  // asha (extension): resource = the trial's interval count.
  int min_resource = 1;
  int max_resource = 0;                 // 0 = unbounded
  double reduction_factor = 3;
  int brackets = 1;
  SourcePos pos;
};

struct SweepLimitsSpec {
  int max_total_trials = 1000;
  int max_concurrent_trials = 0;  // 0 = not given: same as max_total_trials
  double timeout_s = 5184000;
  std::optional<double> trial_timeout_s;
};

// Extension: register the best trial's model when the sweep ends.
struct RegisterBestModelSpec {
  std::string name;                   // model name: letters, digits, '-', '_', '.'
  std::string path = "outputs/model"; // artifact folder of the trial
  SourcePos pos;
};

struct SweepSpec {
  std::optional<RegisterBestModelSpec> register_best_model;
  SearchSpace search_space;
  std::map<std::string, SourcePos> param_pos;  // where each hyperparameter is defined
  SamplingSpec sampling;
  ObjectiveSpec objective;
  SweepLimitsSpec limits;
  EarlyTerminationSpec early_termination;
};

struct JobSpec {
  JobType type = JobType::kCommand;  // kCommand or kSweep (the parser makes no other)
  std::string name;
  std::string display_name;
  std::string experiment_name;  // default: the name of the folder holding the YAML
  std::string description;
  std::map<std::string, std::string> tags;
  std::string compute = "local";  // "local" or a name ("azureml:" prefix removed)
  SourcePos compute_pos;
  CommandSpec command;            // command job, or the sweep's trial template
  std::optional<SweepSpec> sweep; // type: sweep
  ExtensionSpec extensions;
  // Keys that name Azure-only things Overdrive does not act on: "file:line:col: 'identity' is
  // Azure-only and ignored here". Printed once at submit and kept in the run record.
  std::vector<std::string> ignored;
  std::filesystem::path source_file;  // absolute path of the YAML file
  std::string resolved_yaml;          // the document after --set overrides, for the run record
};

// Job files larger than this many MiB are refused before they are read ($OVERDRIVE_MAX_JOB_FILE_MB
// raises it); so is anything that is not a regular file (/dev/zero, a pipe).
inline constexpr std::int64_t kDefaultMaxJobFileMb = 4;
inline constexpr const char* kMaxJobFileMbEnv = "OVERDRIVE_MAX_JOB_FILE_MB";

// Parses and validates a job file. `overrides` are "path.to.key=value" strings from --set,
// applied before validation (the value is read as a YAML scalar or flow collection).
// Errors: kInvalidInput with "file:line:col: message" (YAML syntax, schema, unknown keys with a
// did-you-mean hint, bad values, NUL or invalid UTF-8 in any text, more than 200,000 values);
// kInvalidInput "file: message" for a file over the size limit or not a regular file;
// kNotFound when the file itself cannot be read.
Result<JobSpec> ParseJobFile(const std::filesystem::path& path,
                             const std::vector<std::string>& overrides = {});
// Same, from text; `file_name` is used in messages and `base_dir` resolves relative paths.
Result<JobSpec> ParseJobText(const std::string& text, const std::string& file_name,
                             const std::filesystem::path& base_dir,
                             const std::vector<std::string>& overrides = {});

// Replaces ${{inputs.x}}, ${{outputs.x}} and ${{search_space.x}} in a command. Values are
// shell-quoted. An unknown reference is an error naming it (with a did-you-mean hint).
struct SubstitutionContext {
  std::map<std::string, std::string> inputs;        // name -> value (literal or local path)
  std::map<std::string, std::string> outputs;       // name -> folder path
  std::map<std::string, std::string> search_space;  // name -> value
};
Result<std::string> SubstituteCommand(const std::string& command, const SubstitutionContext& ctx,
                                      const SourcePos& pos);

}  // namespace overdrive
