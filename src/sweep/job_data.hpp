// A job's data (issue 14), in the job's flow: inputs and outputs resolved against the workspace
// at submit (an unknown asset or datastore is an error at its file:line:col, nothing stored),
// inputs staged on the node before a run starts, outputs delivered when it completes.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"
#include "spec/job_spec.hpp"
#include "sweep/launch_config.hpp"

namespace overdrive {

class Workspace;

// Fills cfg.data_inputs (inputs whose data is not a local path) and cfg.data_outputs (outputs
// with a `path` or a `name`). `ws` null (validation without a workspace): nothing to resolve.
Result<void> ResolveJobData(Workspace* ws, const CommandSpec& command, LaunchConfig& cfg);

// The ${{inputs.NAME}} values of cfg's data inputs for a run in `run_dir`: <run_dir>/inputs/NAME,
// or the storage URL for mode direct.
std::map<std::string, std::string> DataInputValues(const LaunchConfig& cfg,
                                                   const std::filesystem::path& run_dir);

// The lineage rows of a run that reads cfg's data inputs.
std::vector<RunInputRecord> RunInputsOf(const std::string& run_id, const LaunchConfig& cfg);

// Fetches cfg's data inputs through the node's data cache and links each as
// <run_dir>/inputs/NAME. `note` receives one line per input ("input 'train': 500.0 MB from
// datastore 'blob' in 4.1s" / "... from the cache"). The folders a container must see to follow
// the links are added to `mounts` (read-only).
Result<void> StageInputs(Workspace& ws, const LaunchConfig& cfg, const std::filesystem::path& run_dir,
                         const std::function<void(const std::string&)>& note,
                         std::vector<ContainerMount>* mounts);

// When a run completed: copies each data output to its datastore location and registers the
// named ones as data asset versions. Errors name the output.
Result<void> DeliverOutputs(Workspace& ws, const LaunchConfig& cfg, const std::string& run_id,
                            const std::filesystem::path& run_dir,
                            const std::function<void(const std::string&)>& note);

}  // namespace overdrive
