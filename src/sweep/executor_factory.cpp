#include "sweep/executor_factory.hpp"

#include "common/strings.hpp"
#include "executor/slurm_executor.hpp"

namespace overdrive {

Result<std::unique_ptr<Executor>> MakeExecutor(Workspace& ws, const std::string& compute,
                                               const LocalExecutorOptions& local) {
  std::string name = StartsWith(compute, "azureml:") ? compute.substr(8) : compute;
  if (name.empty() || name == "local") return MakeLocalExecutor(local);
  auto target = ws.store().GetCompute(name);
  if (!target) {
    if (target.error().code != ErrorCode::kNotFound) return std::unexpected(target.error());
    return MakeError(ErrorCode::kNotFound,
                     "compute '" + name + "' is not configured in this workspace; add it with "
                     "`overdrive compute add " + name + " --type local` (or --type slurm)");
  }
  switch (target->type) {
    case ComputeType::kLocal:
      return MakeLocalExecutor(local);
    case ComputeType::kSlurm: {
      OD_ASSIGN_OR_RETURN(SlurmOptions options, SlurmOptions::FromJson(name, target->config_json));
      return std::unique_ptr<Executor>(std::make_unique<SlurmExecutor>(std::move(options)));
    }
  }
  return MakeError(ErrorCode::kInternal, "compute '" + name + "' has no executor");
}

}  // namespace overdrive
