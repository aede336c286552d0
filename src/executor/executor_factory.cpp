#include "executor/executor_factory.hpp"

#include "executor/slurm_executor.hpp"

namespace overdrive {

Result<std::unique_ptr<Executor>> MakeExecutor(const ExecutorTarget& target,
                                               const LocalExecutorOptions& local) {
  if (target.type == "local") return MakeLocalExecutor(local);
  if (target.type == "slurm") {
    OD_ASSIGN_OR_RETURN(SlurmOptions options, SlurmOptions::FromJson(target.name, target.config_json));
    return std::unique_ptr<Executor>(std::make_unique<SlurmExecutor>(std::move(options)));
  }
  return MakeError(ErrorCode::kInvalidInput,
                   "compute '" + target.name + "' has type '" + target.type +
                       "', which no executor runs (local or slurm)");
}

}  // namespace overdrive
