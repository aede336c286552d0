// Which executor runs a job: its `compute` names the built-in "local" or a target added with
// `overdrive compute add` (type local: this machine; type slurm: a Slurm cluster).
#pragma once

#include <memory>
#include <string>

#include "common/result.hpp"
#include "executor/executor.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// `local` configures the local executor (used for "local" and for targets of type local).
// An unknown name is kNotFound with the configured names; a target of an unknown type, or with
// unreadable settings, is kInvalidInput.
Result<std::unique_ptr<Executor>> MakeExecutor(Workspace& ws, const std::string& compute,
                                               const LocalExecutorOptions& local);

}  // namespace overdrive
