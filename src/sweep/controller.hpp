// The controller: drives one top-level job (a command job, or a sweep and its trials) to its end.
// It is a loop over durable state: every decision is written to the store before it is acted
// on, so DriveJob on a job whose controller died (kill -9, a closed laptop) carries on from the
// store — re-attaching to processes that are still running, ingesting what they wrote meanwhile —
// without losing or repeating a run.
#pragma once

#include <atomic>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"
#include "store/records.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// Where a controller tells the user how a job with children (a sweep) goes. Views do the
// drawing; the controller only says what to show.
class JobView {
 public:
  virtual ~JobView() = default;
  // A line of its own: a trial ended, a decision, a warning.
  virtual void Line(const std::string& text) = 0;
  // Where the job stands, offered every loop pass: a view redraws at its own pace and only
  // then calls `lines` (a few lines; making them costs a pass over the children). `last`: the
  // final call, always shown.
  virtual void Progress(const std::function<std::vector<std::string>()>& lines, bool last) = 0;
};

struct ControllerOptions {
  bool stream_logs = false;  // copy a command job's stdout/stderr to ours as they grow
  std::ostream* out = nullptr;  // progress; nullptr = quiet
  JobView* view = nullptr;   // a sweep's progress; nullptr = plain lines on `out`
  const std::atomic<int>* interrupts = nullptr;  // Ctrl-C count: 1 = cancel, 2 = detach
  LocalExecutorOptions executor;
  // Runs the job's runs on this executor instead of the one its compute names (tests: a fake).
  Executor* use_executor = nullptr;
};

struct ControllerResult {
  RunStatus status = RunStatus::kQueued;
  std::string reason;
  bool detached = false;  // the user left the job running (second Ctrl-C)
};

Result<ControllerResult> DriveJob(Workspace& ws, const std::string& run_id,
                                  const ControllerOptions& options);

// Whether a live controller other than this process drives the run.
bool ControllerAlive(const RunRecord& run);

// How long a queued job may wait for its controller to start (`job submit --detach` records the
// job, then starts it) before it counts as having none.
inline constexpr double kControllerStartGraceS = 60;

// Whether a top-level job that has not ended is driven by no one: its recorded controller died
// (killed, or ended on an error such as a full disk, which clears the record), or it was never
// started. `job resume` picks it up. Trials are driven by their sweep: never "gone" themselves.
bool ControllerGone(const RunRecord& run, double now);

// Ends `job` failed because its environment could not be prepared (nothing of it ran).
Result<ControllerResult> FailPreparing(Workspace& ws, const RunRecord& job, const Error& error);

// Sweep jobs (sweep_controller.cpp).
Result<ControllerResult> DriveSweep(Workspace& ws, const RunRecord& sweep,
                                    const ControllerOptions& options);

}  // namespace overdrive
