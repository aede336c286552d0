#include "sweep/controller.hpp"

#include <unistd.h>

#include <cstdio>
#include <ostream>

#include "common/clock.hpp"
#include "common/process.hpp"
#include "sweep/environment_prep.hpp"
#include "sweep/executor_factory.hpp"
#include "sweep/launch_config.hpp"
#include "sweep/log_tail.hpp"
#include "sweep/run_tracker.hpp"

namespace overdrive {

namespace fs = std::filesystem;

namespace {

Result<ControllerResult> DriveCommand(Workspace& ws, const RunRecord& run,
                                      const ControllerOptions& opts) {
  std::unique_ptr<Executor> owned;
  Executor* executor = opts.use_executor;
  if (!executor) {
    OD_ASSIGN_OR_RETURN(owned, MakeExecutor(ws, run.compute, opts.executor));
    executor = owned.get();
  }
  OD_ASSIGN_OR_RETURN(LaunchConfig cfg, LaunchConfig::FromJson(run.launch_json));
  auto env = PrepareEnvironment(ws, run, cfg, opts);
  if (!env) return FailPreparing(ws, run, env.error());
  RunTracker tracker(ws, *executor);
  bool fresh = run.status == RunStatus::kQueued;
  if (fresh) {
    OD_TRY(tracker.Launch(run, *env));
  } else {
    OD_TRY(tracker.Adopt(run, *env));
  }
  std::vector<LogTail> tails;
  if (opts.stream_logs) {
    tails.emplace_back(fs::path(run.run_dir) / "stdout.log", stdout, !fresh);
    tails.emplace_back(fs::path(run.run_dir) / "stderr.log", stderr, !fresh);
  }
  ControllerResult result;
  int interrupts_seen = 0;
  double next_collect = 0, next_cancel_check = 0;
  while (tracker.Active() > 0) {
    tracker.Wait(std::chrono::milliseconds(100));
    for (auto& t : tails) t.Pump();
    double now = MonotonicSeconds();
    if (now >= next_collect) {
      OD_TRY(tracker.Collect());
      next_collect = now + 0.25;
    }
    int interrupts = opts.interrupts ? opts.interrupts->load() : 0;
    if (interrupts >= 2) {
      result.detached = true;
      result.status = RunStatus::kRunning;
      return result;
    }
    if (interrupts > interrupts_seen) {
      interrupts_seen = interrupts;
      if (opts.out) {
        *opts.out << "\ncanceling run " << run.id
                  << " (press Ctrl-C again to leave it running and detach)" << std::endl;
      }
      OD_TRY(tracker.Stop(run.id, RunStatus::kCanceled, "interrupted (Ctrl-C)"));
    }
    if (now >= next_cancel_check) {
      next_cancel_check = now + 0.5;
      OD_ASSIGN_OR_RETURN(RunRecord current, ws.store().GetRun(run.id));
      if (current.cancel_requested && tracker.Tracks(run.id)) {
        OD_TRY(tracker.Stop(run.id, RunStatus::kCanceled, "canceled by user"));
      }
    }
    OD_ASSIGN_OR_RETURN(auto finished, tracker.Update());
    for (const auto& f : finished) {
      result.status = f.status;
      result.reason = f.reason;
    }
  }
  for (auto& t : tails) t.Pump();
  OD_ASSIGN_OR_RETURN(RunRecord final_run, ws.store().GetRun(run.id));
  result.status = final_run.status;
  result.reason = final_run.status_reason;
  return result;
}

}  // namespace

Result<ControllerResult> FailPreparing(Workspace& ws, const RunRecord& job, const Error& error) {
  // Nothing of the job ran: it ends failed with the build's reason, not after every run fails.
  RunUpdate u;
  u.status_reason = error.message;
  u.ended_at = WallSeconds();
  OD_TRY(ws.store().TransitionRun(job.id, RunStatus::kFailed, u));
  return ControllerResult{RunStatus::kFailed, error.message, false};
}

bool ControllerAlive(const RunRecord& run) {
  if (run.controller_pid <= 0 || run.controller_pid == ::getpid()) return false;
  return ProcessAlive(run.controller_pid, static_cast<std::int64_t>(run.controller_started_at));
}

bool ControllerGone(const RunRecord& run, double now) {
  if (IsFinal(run.status) || !run.parent_id.empty()) return false;
  // A run made through MLflow's runs/create has no controller: its client ends it.
  if (run.job_type == JobType::kExternal) return false;
  if (run.controller_pid > 0) return run.controller_pid != ::getpid() && !ControllerAlive(run);
  // No controller recorded: a queued job's may still be starting; anything further along had
  // one, which ended without finishing the job.
  return run.status != RunStatus::kQueued || now - run.created_at > kControllerStartGraceS;
}

Result<ControllerResult> DriveJob(Workspace& ws, const std::string& run_id,
                                  const ControllerOptions& options) {
  OD_ASSIGN_OR_RETURN(RunRecord run, ws.store().GetRun(run_id));
  if (IsFinal(run.status)) return ControllerResult{run.status, run.status_reason, false};
  if (ControllerAlive(run)) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "job " + run.id + " is already driven by a controller (pid " +
                         std::to_string(run.controller_pid) +
                         "); watch it with `overdrive job show " + run.id + "`");
  }
  int pid = ::getpid();
  OD_TRY(ws.store().SetController(run.id, pid, static_cast<double>(ProcessStartTime(pid))));
  Result<ControllerResult> result = run.job_type == JobType::kSweep
                                        ? DriveSweep(ws, run, options)
                                        : DriveCommand(ws, run, options);
  if (!result) {
    // A job still queued when its controller gave up was never started (no executor for its
    // compute, a plan it cannot run, no room to prepare it): nobody would ever start it, so
    // it ends failed with the reason. Started jobs stay as they are for `job resume`.
    auto current = ws.store().GetRun(run.id);
    if (current && current->status == RunStatus::kQueued) {
      RunUpdate u;
      u.status_reason = "cannot start: " + result.error().message;
      u.ended_at = WallSeconds();
      (void)ws.store().TransitionRun(run.id, RunStatus::kFailed, u);
    }
  }
  if (!result || !result->detached) (void)ws.store().SetController(run.id, 0, 0);
  return result;
}

}  // namespace overdrive
