// A job's environment (issue 13) from submit to its first run: resolved against the workspace's
// environment assets when the job is submitted (stored in its LaunchConfig, so a resumed
// controller never resolves again), built or found in the environment cache before the first
// run starts, and recorded on the job (an "environment" event: label, name, version, content
// hash, kind; the build log as the job's artifact logs/environment-build.log).
#pragma once

#include <iosfwd>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "environment/environment_cache.hpp"
#include "spec/job_spec.hpp"
#include "store/records.hpp"
#include "sweep/controller.hpp"
#include "sweep/launch_config.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// Sets cfg.environment / environment_label from command.environment_ref. An asset reference
// needs `ws` (null: a dry run without a workspace, where only inline environments are
// checked). Errors are kInvalidInput at the `environment:` position: an unknown environment or
// version says how to create it; one of Azure's curated environments (AzureML-*, or the
// `azureml` registry) says how to map it to a local one, or to choose the node's own Python.
Result<void> ResolveEnvironment(Workspace* ws, const CommandSpec& command, LaunchConfig& cfg);

// The environment of `cfg` built (or found) for `job`: what each of its runs gets (variables on
// top of its own, the container it runs in; nothing when the job has no environment). Says
// what it does on `view` / `out`.
Result<RunPlacement> PrepareEnvironment(Workspace& ws, const RunRecord& job,
                                        const LaunchConfig& cfg, const ControllerOptions& options);

// The environment `run` ran in (its launch config's), built again or found in the cache — what
// `overdrive serve` runs a model's scoring script in. nullopt when the run had none (the node's
// own Python). `progress` hears a build's progress lines.
struct RunEnvironment {
  std::string label;  // "sklearn-env:3", "inline"
  BuiltEnvironment built;
};
Result<std::optional<RunEnvironment>> EnvironmentOfRun(
    Workspace& ws, const RunRecord& run, const std::function<void(const std::string&)>& progress);

// What the "environment" event of a run (or its parent sweep) says, as JSON text; "" if none.
std::string EnvironmentLineage(Workspace& ws, const RunRecord& run);

}  // namespace overdrive
