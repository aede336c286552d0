// RunTracker: launches runs on an executor and keeps the metadata store in step with them —
// status transitions (written before they are acted on), metric ingestion from the run's files,
// outputs collected as artifacts when a run ends. Used by the command-job and sweep controllers.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "environment/environment_cache.hpp"
#include "executor/executor.hpp"
#include "metrics/collector.hpp"
#include "store/records.hpp"
#include "sweep/launch_config.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// Status reasons of runs the infrastructure lost (their supervising process vanished without an
// exit record) start with this, for people to read; what code decides on (a sweep replaces such
// trials instead of counting them) is the stored flag, RunRecord::lost (IsLost).
inline constexpr const char* kLostPrefix = "lost: ";

struct FinishedRun {
  std::string id;
  RunStatus status = RunStatus::kCompleted;
  std::string reason;
  std::optional<int> exit_code;
  double started_at = 0;
  double ended_at = 0;
};

class RunTracker {
 public:
  RunTracker(Workspace& ws, Executor& executor);
  ~RunTracker();

  // Prepares the run folder (unpacks the code snapshot, creates outputs/) and submits the run.
  // The run moves to `starting` in the store before the executor is asked. A run that cannot
  // be started (folder, snapshot, executor refusal) is recorded `failed` with the reason before
  // the error returns.
  // `placement`: what the job's environment adds (environment_prep.hpp).
  Result<void> Launch(const RunRecord& run, const RunPlacement& placement = {});
  // Takes over a run an earlier controller launched (status starting/running): re-attaches to
  // its process, or launches it if it never reached the executor.
  Result<void> Adopt(const RunRecord& run, const RunPlacement& placement = {});
  // Ingests new metric lines of every tracked run. Returns the new points per run id.
  Result<std::map<std::string, std::vector<MetricPoint>>> Collect();
  // Applies executor state changes to the store; returns the runs that reached a final status
  // (already ingested and recorded). The folder of a run that ended with its logs and outputs
  // kept is emptied at the next call, or when the tracker is destroyed (run_retention.hpp).
  Result<std::vector<FinishedRun>> Update();
  // Asks a run to stop; it will be recorded with `final_status` (canceled / early_terminated).
  Result<void> Stop(const std::string& run_id, RunStatus final_status, const std::string& reason);
  // Runs that reached `running` in Update() calls since the last TakeStarted().
  std::vector<std::string> TakeStarted() { return std::exchange(started_, {}); }
  void Wait(std::chrono::milliseconds max_wait) { executor_.Wait(max_wait); }
  int Active() const { return static_cast<int>(runs_.size()); }
  bool Tracks(const std::string& run_id) const { return runs_.count(run_id) > 0; }

 private:
  struct Tracked;
  Result<void> StartTracking(const RunRecord& run);
  // Launch's steps; `recorded` says whether a failure is already on the run.
  Result<void> Prepare(const RunRecord& run, const RunPlacement& placement, bool& recorded);
  Result<std::vector<MetricPoint>> CollectOne(Tracked& t, bool final_read);
  Result<FinishedRun> Finalize(Tracked& t, const ExecUpdate& u);
  // The final transition, which must be recorded even on a full disk (Workspace::ReleaseReserve).
  Result<void> WriteFinal(const std::string& run_id, RunStatus status, const RunUpdate& update);
  Result<StdoutCollector*> CollectorFor(const std::string& pattern);
  // Empties the folders of runs finalized since the last call (run_retention.hpp).
  void TidyFinished();

  Workspace& ws_;
  Executor& executor_;
  std::map<std::string, std::unique_ptr<Tracked>> runs_;
  std::map<std::string, std::unique_ptr<StdoutCollector>> collectors_;  // by pattern
  std::vector<std::string> started_;
  bool reserve_released_ = false;
  const bool keep_run_files_;                 // $OVERDRIVE_KEEP_RUN_FILES
  std::vector<std::filesystem::path> tidy_;   // finalized, folder not emptied yet
};

// The environment every run gets: OVERDRIVE_RUN_ID, OVERDRIVE_RUN_DIR, OVERDRIVE_METRICS_FILE,
// PYTHONUNBUFFERED=1 (so printed metrics arrive live) and the Python client on PYTHONPATH.
std::map<std::string, std::string> RunEnvironment(const RunRecord& run, const LaunchConfig& cfg);

}  // namespace overdrive
