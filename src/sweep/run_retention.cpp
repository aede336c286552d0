#include "sweep/run_retention.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cstdlib>

#include "common/clock.hpp"
#include "sweep/controller.hpp"

namespace overdrive {

namespace fs = std::filesystem;

bool KeepRunFiles() {
  const char* v = std::getenv(kKeepRunFilesEnv);
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

namespace {
// What `p` takes on disk (its allocated blocks, as `du` counts them), not following links.
std::int64_t DiskBytes(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_blocks) * 512;
}
}  // namespace

std::int64_t FolderBytes(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return DiskBytes(dir);
  std::int64_t total = DiskBytes(dir);
  auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::end(it); it.increment(ec)) total += DiskBytes(it->path());
  return total;
}

std::int64_t TidyRunFolder(const fs::path& dir) {
  std::int64_t freed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::vector<fs::path> entries;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().filename() != kControllerLog) entries.push_back(it->path());
  }
  for (const auto& p : entries) {
    std::error_code fc;
    std::int64_t bytes = FolderBytes(p);
    fs::remove_all(p, fc);
    if (!fc) freed += bytes;
  }
  return freed;
}

Result<std::optional<ArtifactRecord>> FindStoredLog(Workspace& ws, const std::string& run_id,
                                                    const std::string& name) {
  OD_ASSIGN_OR_RETURN(auto artifacts, ws.store().ListArtifacts(run_id));
  for (auto& a : artifacts) {
    if (a.path == "logs/" + name) return std::optional<ArtifactRecord>(std::move(a));
  }
  return std::optional<ArtifactRecord>();
}

Result<PruneReport> PruneRunFolders(Workspace& ws, const PruneOptions& options) {
  RunFilter all;
  all.light = true;
  OD_ASSIGN_OR_RETURN(auto runs, ws.store().ListRuns(all));
  PruneReport report;
  const double now = WallSeconds();
  for (const auto& run : runs) {
    if (!IsFinal(run.status)) {
      ++report.skipped_not_ended;
      continue;
    }
    // Only the folder this workspace keeps for the run: never a path read from the store.
    fs::path dir = ws.RunDir(run.id);
    std::error_code ec;
    if (!fs::exists(dir, ec)) continue;
    if (ControllerAlive(run)) {
      ++report.skipped_controller_alive;
      continue;
    }
    if (options.older_than_s) {
      double ended = run.ended_at > 0 ? run.ended_at : run.created_at;
      if (now - ended < *options.older_than_s) {
        ++report.skipped_recent;
        continue;
      }
    }
    PrunedRun p;
    p.id = run.id;
    p.status = run.status;
    p.run_dir = dir.string();
    p.bytes = FolderBytes(dir);
    if (!options.dry_run) {
      fs::remove_all(dir, ec);
      if (ec) {
        return MakeError(ErrorCode::kIo, "cannot remove run folder " + dir.string() + ": " +
                                             ec.message() + " (" + std::to_string(report.runs.size()) +
                                             " run folders removed before it)");
      }
    }
    report.bytes += p.bytes;
    report.runs.push_back(std::move(p));
  }
  return report;
}

Result<double> ParseAge(const std::string& text) {
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidInput,
                     "'" + text + "' is not an age: write a number and a unit, e.g. 7d, 12h, 30m, "
                     "45s or 2w");
  };
  if (text.empty()) return bad();
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return bad();
  char* end = nullptr;
  std::string number = text.substr(0, i);
  double v = std::strtod(number.c_str(), &end);
  if (end == nullptr || *end != '\0' || !(v >= 0)) return bad();
  std::string unit = text.substr(i);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  } else if (unit == "w") {
    scale = 7 * 86400;
  } else {
    return bad();
  }
  return v * scale;
}

}  // namespace overdrive
