#include "sweep/workspace.hpp"

#include <cstdlib>
#include <system_error>

namespace overdrive {

namespace fs = std::filesystem;

fs::path Workspace::DefaultRoot(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("OVERDRIVE_WORKSPACE"); env && *env) return env;
  return ".overdrive";
}

Result<std::unique_ptr<Workspace>> Workspace::Open(const fs::path& root, bool create) {
  std::error_code ec;
  if (!fs::exists(root / "overdrive.db", ec)) {
    if (!create) {
      return MakeError(ErrorCode::kNotFound,
                       "no workspace at " + root.string() +
                           " (submit a job first, or pass --workspace DIR / set OVERDRIVE_WORKSPACE)");
    }
    fs::create_directories(root / "runs", ec);
    if (ec) {
      return MakeError(ErrorCode::kIo,
                       "cannot create workspace folder " + root.string() + ": " + ec.message());
    }
  }
  auto ws = std::unique_ptr<Workspace>(new Workspace());
  ws->root_ = fs::absolute(root, ec).lexically_normal();
  fs::create_directories(ws->root_ / "runs", ec);
  OD_ASSIGN_OR_RETURN(ws->store_, OpenSqliteMetadataStore((ws->root_ / "overdrive.db").string()));
  OD_ASSIGN_OR_RETURN(ws->artifacts_, OpenLocalArtifactStore(ws->root_ / "artifacts"));
  return ws;
}

}  // namespace overdrive
