#include "cli/cli_common.hpp"

#include <cstdlib>
#include <iostream>

namespace overdrive {

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& j, int indent) { std::cout << DumpJson(j, indent) << "\n"; }

int Fail(const Error& e) {
  std::cerr << "overdrive: " << e.message << "\n";
  return e.code == ErrorCode::kInvalidInput || e.code == ErrorCode::kTooLarge ? kExitInvalidInput
                                                                               : kExitFailure;
}

Result<std::unique_ptr<Workspace>> OpenWorkspace(const Globals& g, bool create) {
  if (!g.server.empty()) {
    // Said on the command line: doing it on a local workspace instead would mislead.
    return MakeError(ErrorCode::kInvalidInput,
                     "--server " + g.server + " applies to job submit/list/show/logs/cancel/export, "
                     "runs metrics, model list/show, environment create/list/show, secret "
                     "set/list/delete and token create/list/revoke; this command "
                     "works on a workspace (--workspace DIR or --db URL) on the machine that "
                     "holds it");
  }
  std::string db = g.db;
  if (db.empty()) {
    if (const char* env = std::getenv("OVERDRIVE_DB"); env && *env) db = env;
  }
  if (db.empty()) return Workspace::Open(Workspace::DefaultRoot(g.workspace), create);
  if (!IsPostgresUrl(db)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "--db '" + db + "' is not a postgresql:// URL (SQLite lives in the workspace "
                     "folder: use --workspace)");
  }
  WorkspaceLocation loc;
  loc.root = Workspace::DefaultRoot(g.workspace);
  loc.db_url = db;
  return Workspace::Open(loc);
}

int ExitCodeFor(RunStatus status, std::optional<int> exit_code) {
  switch (status) {
    case RunStatus::kCompleted: return 0;
    case RunStatus::kTimedOut: return 124;
    case RunStatus::kCanceled: return 130;
    case RunStatus::kFailed:
      if (exit_code && *exit_code > 0 && *exit_code < 126) return *exit_code;
      return kExitFailure;
    default: return kExitFailure;
  }
}

Result<RunRecord> FindRun(Workspace& ws, const std::string& id_or_prefix) {
  OD_ASSIGN_OR_RETURN(std::string id, ws.store().ResolveRunId(id_or_prefix));
  return ws.store().GetRun(id);
}

}  // namespace overdrive
