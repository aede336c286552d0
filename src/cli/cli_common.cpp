#include "cli/cli_common.hpp"

#include <iostream>

namespace overdrive {

int Fail(const Error& e) {
  std::cerr << "overdrive: " << e.message << "\n";
  return e.code == ErrorCode::kInvalidInput ? kExitInvalidInput : kExitFailure;
}

Result<std::unique_ptr<Workspace>> OpenWorkspace(const Globals& g, bool create) {
  return Workspace::Open(Workspace::DefaultRoot(g.workspace), create);
}

Result<RunRecord> FindRun(Workspace& ws, const std::string& id_or_prefix) {
  OD_ASSIGN_OR_RETURN(std::string id, ws.store().ResolveRunId(id_or_prefix));
  return ws.store().GetRun(id);
}

}  // namespace overdrive
