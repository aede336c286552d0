// What stays in a run folder (runs/<id>/) once the run has ended, and the retention command that
// removes the rest (`overdrive workspace prune`).
//
// A run's logs and outputs/ are copied into the artifact store when it ends (RunTracker::Finalize)
// and its end is recorded in the metadata store; from then on nothing reads its folder (`job logs`,
// the REST logs route and `job show` read the stores). So once both are durable the tracker empties
// the folder (TidyRunFolder), keeping only the log of a detached controller, which is still being
// written; the folder of a finished trial is an empty directory. Runs that end in a way that keeps
// their folder for a look: the lost (the folder is what explains the loss) and those whose end
// could not be fully recorded (a step of Finalize failed). `workspace prune` removes what is left
// of ended runs, whole folders included, and never touches a run that has not ended.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/records.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// Set to 1 (or any value but 0 and empty), ended runs keep their whole folder (wd/, logs, the
// executor's records) for debugging; `workspace prune` still removes them when asked.
inline constexpr const char* kKeepRunFilesEnv = "OVERDRIVE_KEEP_RUN_FILES";
bool KeepRunFiles();

// The detached controller's log, which stays until the run folder is pruned (`job logs` of a
// sweep shows it).
inline constexpr const char* kControllerLog = "controller.log";

// The key of a final run's stored executor handle that keeps its process group (what
// DescribeHandle reads from the run folder's records while it runs): set by the final transition
// when the folder is emptied, read back by DescribeRunExecutor (run_views.hpp).
inline constexpr const char* kHandleProcessGroupKey = "process_group";

// Removes everything in `dir` but the controller's log. Returns the bytes freed (FolderBytes of
// what it removed); a missing folder frees nothing. Errors are skipped: what could not be removed stays.
std::int64_t TidyRunFolder(const std::filesystem::path& dir);

// What `dir` and everything under it take on disk (allocated blocks, as `du` counts them; links
// not followed; 0 when missing).
std::int64_t FolderBytes(const std::filesystem::path& dir);

// The copy of a run's log `name` ("stdout.log", "stderr.log", "rank-1.stdout.log") that its end
// kept in the artifact store (artifact "logs/<name>"), or nothing.
Result<std::optional<ArtifactRecord>> FindStoredLog(Workspace& ws, const std::string& run_id,
                                                    const std::string& name);

struct PruneOptions {
  std::optional<double> older_than_s;  // only runs that ended at least this long ago
  bool dry_run = false;                // list, remove nothing
};

struct PrunedRun {
  std::string id;
  RunStatus status = RunStatus::kCompleted;
  std::string run_dir;
  std::int64_t bytes = 0;  // freed on disk, the folder included (or, in a dry run, would be)
};

struct PruneReport {
  std::vector<PrunedRun> runs;           // folders removed (or that would be)
  std::int64_t bytes = 0;                // their total
  int skipped_not_ended = 0;             // runs that have not ended: never touched
  int skipped_controller_alive = 0;      // ended, but their controller is still finishing
  int skipped_recent = 0;                // ended less than older_than_s ago
};

// Removes the run folders of ended runs (final status, and no live controller still finishing
// them), whole, with what TidyRunFolder keeps. Runs that have not ended are never touched.
Result<PruneReport> PruneRunFolders(Workspace& ws, const PruneOptions& options);

// "7d", "12h", "30m", "45s", "2w" (or a plain number of seconds) as seconds; kInvalidInput else.
Result<double> ParseAge(const std::string& text);

}  // namespace overdrive
