// LaunchConfig: everything a controller needs to start (or restart after a crash) one run,
// stored with the run record at submit so that a resumed controller never re-reads the job file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "data/data_catalog.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {

// A data input a run fetches before it starts (issue 14): resolved at submit, staged on the node
// as <run dir>/inputs/<name> (a link into the node's data cache, or to local data read in place).
struct DataInputConfig {
  std::string name;
  std::string mode = "ro_mount";  // ro_mount | download | direct (nothing staged)
  DataSource source;
};

// An output that leaves the run folder when the run completes: copied to `dest` and/or
// registered as data asset `asset_name`.
struct DataOutputConfig {
  std::string name;
  std::string type = "uri_folder";
  std::string mode = "upload";
  std::optional<DataSource> dest;  // none: the default datastore, azureml/<run id>/<name>
  std::string asset_name, asset_version;
};

struct LaunchConfig {
  std::map<std::string, std::string> env;  // environment_variables (+ AZUREML_SWEEP_* for trials)
  double cpus = 1;                          // per process when distributed
  double gpus = 0;
  std::int64_t memory_mb = 0;
  // `distribution`: "" (one process), "pytorch" or "mpi"; then instance_count x
  // process_count_per_instance processes.
  std::string distribution;
  int instance_count = 1;
  int process_count_per_instance = 1;
  std::optional<double> timeout_s;
  bool stdout_metrics = true;
  std::string metrics_pattern;
  std::vector<std::string> outputs;  // named outputs: folders wd/outputs/<name>
  // The environment runs use, resolved at submit (issue 13): none = the node's own. The label
  // says which it was ("sklearn-env:3", "inline") for lineage and messages.
  std::optional<EnvironmentSpec> environment;
  std::string environment_label;

  std::vector<DataInputConfig> data_inputs;
  std::vector<DataOutputConfig> data_outputs;

  std::string ToJson() const;
  static Result<LaunchConfig> FromJson(const std::string& text);
  // From a job's command part and extension block.
  static LaunchConfig FromSpec(const CommandSpec& command, const ExtensionSpec& ext);
};

}  // namespace overdrive
