// The executor of a job's `compute`: the name is looked up in the workspace's compute targets
// ("local" is built in), then executor/executor_factory.hpp makes the executor for it.
#pragma once

#include <memory>
#include <string>

#include "common/result.hpp"
#include "executor/executor.hpp"
#include "executor/executor_factory.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// `local` configures the local executor (used for "local" and for targets of type local).
// An unknown name is kNotFound saying how to add it; a target with unreadable settings is
// kInvalidInput.
Result<std::unique_ptr<Executor>> MakeExecutor(Workspace& ws, const std::string& compute,
                                               const LocalExecutorOptions& local);

}  // namespace overdrive
