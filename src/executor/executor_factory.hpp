// Which executor runs a job: the built-in "local", or a compute target added with
// `overdrive compute add` (type local: this machine; type slurm: a Slurm cluster). The caller
// looks the target up in its workspace; this picks and configures the executor for it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "executor/executor.hpp"

namespace overdrive {

// A compute target as the workspace stores it.
struct ExecutorTarget {
  std::string name;              // for messages; "local" = the built-in one
  std::string type = "local";    // the stored type name: "local" or "slurm"
  std::string config_json = "{}";
};

// `local` configures the local executor (used for "local" and for targets of type local). A
// target of an unknown type, or with unreadable settings, is kInvalidInput.
Result<std::unique_ptr<Executor>> MakeExecutor(const ExecutorTarget& target,
                                               const LocalExecutorOptions& local);

}  // namespace overdrive
