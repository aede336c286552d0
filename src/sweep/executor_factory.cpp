#include "sweep/executor_factory.hpp"

#include "common/strings.hpp"

namespace overdrive {

Result<std::unique_ptr<Executor>> MakeExecutor(Workspace& ws, const std::string& compute,
                                               const LocalExecutorOptions& local) {
  std::string name = StartsWith(compute, "azureml:") ? compute.substr(8) : compute;
  if (name.empty() || name == "local") return MakeExecutor(ExecutorTarget{"local"}, local);
  auto target = ws.store().GetCompute(name);
  if (!target) {
    if (target.error().code != ErrorCode::kNotFound) return std::unexpected(target.error());
    return MakeError(ErrorCode::kNotFound,
                     "compute '" + name + "' is not configured in this workspace; add it with "
                     "`overdrive compute add " + name + " --type local` (or --type slurm)");
  }
  return MakeExecutor(
      ExecutorTarget{name, ComputeTypeName(target->type), target->config_json}, local);
}

}  // namespace overdrive
