// LaunchConfig: everything a controller needs to start (or restart after a crash) one run,
// stored with the run record at submit so that a resumed controller never re-reads the job file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {

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

  std::string ToJson() const;
  static Result<LaunchConfig> FromJson(const std::string& text);
  // From a job's command part and extension block.
  static LaunchConfig FromSpec(const CommandSpec& command, const ExtensionSpec& ext);
};

}  // namespace overdrive
