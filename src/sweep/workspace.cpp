#include "sweep/workspace.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
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
  WorkspaceLocation location;
  location.root = root;
  return Open(location);
}

Result<std::unique_ptr<Workspace>> Workspace::Open(const WorkspaceLocation& location) {
  std::error_code ec;
  auto ws = std::unique_ptr<Workspace>(new Workspace());
  ws->root_ = fs::absolute(location.root, ec).lexically_normal();
  fs::create_directories(ws->root_ / "runs", ec);
  if (ec) {
    return MakeError(ErrorCode::kIo, "cannot create workspace folder " + ws->root_.string() +
                                         ": " + ec.message());
  }
  ws->location_ = location;
  ws->location_.root = ws->root_;
  if (ws->location_.artifacts.empty()) ws->location_.artifacts = ws->root_ / "artifacts";
  if (location.db_url.empty()) {
    OD_ASSIGN_OR_RETURN(ws->store_,
                        OpenSqliteMetadataStore((ws->root_ / "overdrive.db").string()));
  } else {
    OD_ASSIGN_OR_RETURN(ws->store_, OpenPostgresMetadataStore(location.db_url));
  }
  OD_ASSIGN_OR_RETURN(ws->artifacts_, OpenLocalArtifactStore(ws->location_.artifacts));
  ws->reserve_ = location.db_url.empty();
  ws->KeepReserve();
  return ws;
}

void Workspace::KeepReserve() {
  if (!reserve_) return;
  const fs::path path = ReservePath();
  std::error_code ec;
  if (fs::file_size(path, ec) == static_cast<std::uintmax_t>(kReserveBytes) && !ec) return;
  // Allocated, not sparse: the blocks must be there to give back. A disk without room keeps no
  // reserve (and a partial one is removed) rather than failing the command that opened it.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  int rc = ::posix_fallocate(fd, 0, kReserveBytes);
  ::close(fd);
  if (rc != 0) fs::remove(path, ec);
}

bool Workspace::ReleaseReserve() {
  if (!reserve_) return false;
  std::error_code ec;
  return fs::remove(ReservePath(), ec);
}

}  // namespace overdrive
