#include "sweep/job_shell.hpp"

#include <algorithm>
#include <ostream>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/strings.hpp"
#include "sweep/executor_factory.hpp"
#include "sweep/run_tracker.hpp"

namespace overdrive {

namespace {

class LineView : public JobView {
 public:
  explicit LineView(std::ostream& out) : out_(out) {}
  void Line(const std::string& text) override {
    out_ << text << "\n";
    out_.flush();
  }
  void Progress(const std::function<std::vector<std::string>()>& lines, bool last) override {
    double now = MonotonicSeconds();
    if (!last && now < next_) return;
    next_ = now + 10;
    out_ << Join(lines(), " | ") << "\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  double next_ = 0;
};

// A view that shows nothing (no `out`, no view: a server's background job).
class QuietView : public JobView {
 public:
  void Line(const std::string&) override {}
  void Progress(const std::function<std::vector<std::string>()>&, bool) override {}
};

class Shell {
 public:
  Shell(Workspace& ws, const RunRecord& job, JobCore& core, JobKind& kind,
        const ControllerOptions& opts, JobView& view,
        const RunPlacement& run_env)
      : ws_(ws), job_(job), core_(core), kind_(kind), opts_(opts), view_(view), run_env_(run_env) {}

  Result<ControllerResult> Run();

 private:
  // Performs `actions` in order; sets done_ on kFinish / kDetach.
  Result<void> Perform(std::vector<JobAction> actions);
  Result<void> Launch(const JobAction& a);
  Result<void> Stop(const JobAction& a);
  Result<TrialInfo> Reread(const std::string& id);

  Workspace& ws_;
  RunRecord job_;
  JobCore& core_;
  JobKind& kind_;
  const ControllerOptions& opts_;
  JobView& view_;
  const RunPlacement& run_env_;
  std::unique_ptr<Executor> owned_executor_;
  std::unique_ptr<RunTracker> tracker_;
  double last_created_at_ = 0;
  bool cancel_requested_ = false;
  bool done_ = false;
  bool detached_ = false;
};

Result<TrialInfo> Shell::Reread(const std::string& id) {
  TrialInfo child;
  OD_ASSIGN_OR_RETURN(child.run, ws_.store().GetRun(id));
  // Points written just before the end were ingested by the tracker's final read.
  OD_ASSIGN_OR_RETURN(auto history, ws_.store().GetMetricHistory(id, core_.PrimaryMetric()));
  for (const auto& p : history) child.intervals.push_back(p.value);
  return child;
}

Result<void> Shell::Launch(const JobAction& a) {
  const size_t ordinal = core_.Children().size() + 1;
  // Creation order is child order: keep timestamps strictly increasing.
  double created_at = std::max(WallSeconds(), last_created_at_ + 1e-6);
  last_created_at_ = created_at;
  OD_ASSIGN_OR_RETURN(NewChild child,
                      kind_.BuildChild(a, NewRunId(), core_.ChildName(ordinal), created_at));
  OD_TRY(ws_.store().CreateRun(child.run, child.params, {}));
  TrialInfo info;
  info.run = child.run;
  info.params = a.params;
  info.replaces = a.replaces;
  auto launched = tracker_->Launch(child.run, run_env_);
  if (!launched) {
    // The tracker recorded the failure on the child; the job goes on.
    if (auto rec = ws_.store().GetRun(child.run.id)) info.run = *rec;
    view_.Line(core_.ChildName(ordinal) + " (" + child.run.id +
               ") could not start: " + launched.error().message);
  }
  core_.Created(std::move(info));
  return {};
}

Result<void> Shell::Stop(const JobAction& a) {
  if (tracker_->Tracks(a.child_id)) return tracker_->Stop(a.child_id, a.status, a.reason);
  // Not running anywhere (never reached the executor): it ends here.
  RunUpdate u;
  u.status_reason = a.reason;
  u.ended_at = WallSeconds();
  OD_TRY(ws_.store().TransitionRun(a.child_id, a.status, u));
  OD_ASSIGN_OR_RETURN(TrialInfo child, Reread(a.child_id));
  return Perform(core_.Ended(std::move(child)));
}

Result<void> Shell::Perform(std::vector<JobAction> actions) {
  for (const auto& a : actions) {
    if (done_) break;
    switch (a.kind) {
      case JobAction::Kind::kLaunch: OD_TRY(Launch(a)); break;
      case JobAction::Kind::kStop: OD_TRY(Stop(a)); break;
      case JobAction::Kind::kSay: view_.Line(a.text); break;
      case JobAction::Kind::kWarn:
        view_.Line("warning: " + a.text);
        (void)ws_.store().AddEvent(job_.id, {WallSeconds(), "warning", a.text});
        break;
      case JobAction::Kind::kFinish:
        view_.Progress([this] { return core_.ProgressLines(WallSeconds()); }, true);
        OD_TRY(kind_.Finish(a, core_, view_));
        done_ = true;
        break;
      case JobAction::Kind::kDetach:
        detached_ = true;
        done_ = true;
        break;
    }
  }
  return {};
}

Result<ControllerResult> Shell::Run() {
  Executor* executor = opts_.use_executor;
  if (!executor) {
    OD_ASSIGN_OR_RETURN(owned_executor_, MakeExecutor(ws_, job_.compute, opts_.executor));
    executor = owned_executor_.get();
  }
  tracker_ = std::make_unique<RunTracker>(ws_, *executor);
  if (job_.status != RunStatus::kRunning) {
    RunUpdate u;
    u.started_at = job_.started_at > 0 ? job_.started_at : WallSeconds();
    OD_TRY(ws_.store().TransitionRun(job_.id, RunStatus::kRunning, u));
  }

  // Children an earlier controller left: re-attach to those still running, launch those
  // created but never launched, then give the core the whole recorded state.
  OD_ASSIGN_OR_RETURN(auto children, kind_.LoadChildren());
  int adopted = 0;
  for (auto& c : children) {
    last_created_at_ = std::max(last_created_at_, c.run.created_at);
    if (IsFinal(c.run.status)) continue;
    auto r = c.run.status == RunStatus::kQueued ? tracker_->Launch(c.run, run_env_)
                                                : tracker_->Adopt(c.run, run_env_);
    if (!r) view_.Line(c.run.display_name + " (" + c.run.id + "): " + r.error().message);
    ++adopted;
    if (auto rec = ws_.store().GetRun(c.run.id)) c.run = *rec;
  }
  const size_t found = children.size();
  core_.Resume(std::move(children));
  if (found > 0) {
    view_.Line(std::string(JobTypeName(job_.job_type)) + " " + job_.id + ": " +
               std::to_string(found) + " " + core_.ChildNoun() + "s found, " + std::to_string(adopted) +
               " still active; carrying on");
  }

  double next_collect = 0, next_cancel_check = 0;
  while (true) {
    double now = MonotonicSeconds();
    if (!cancel_requested_ && now >= next_cancel_check) {
      next_cancel_check = now + 0.5;
      OD_ASSIGN_OR_RETURN(RunRecord current, ws_.store().GetRun(job_.id));
      cancel_requested_ = current.cancel_requested;
    }
    JobSignals s;
    s.now = WallSeconds();
    s.interrupts = opts_.interrupts ? opts_.interrupts->load() : 0;
    s.cancel_requested = cancel_requested_;
    OD_TRY(Perform(core_.Step(s)));
    if (done_) break;

    tracker_->Wait(std::chrono::milliseconds(100));
    now = MonotonicSeconds();
    if (now >= next_collect) {
      next_collect = now + 0.2;
      OD_ASSIGN_OR_RETURN(auto points, tracker_->Collect());
      for (const auto& [id, pts] : points) OD_TRY(Perform(core_.Reported(id, pts)));
    }
    OD_ASSIGN_OR_RETURN(auto finished, tracker_->Update());
    for (const auto& id : tracker_->TakeStarted()) core_.Started(id);
    for (const auto& f : finished) {
      OD_ASSIGN_OR_RETURN(TrialInfo child, Reread(f.id));
      OD_TRY(Perform(core_.Ended(std::move(child))));
    }
    view_.Progress([this] { return core_.ProgressLines(WallSeconds()); }, false);
  }
  ControllerResult result;
  if (detached_) {
    result.detached = true;
    result.status = RunStatus::kRunning;
    return result;
  }
  OD_ASSIGN_OR_RETURN(RunRecord final_job, ws_.store().GetRun(job_.id));
  result.status = final_job.status;
  result.reason = final_job.status_reason;
  return result;
}

}  // namespace

std::unique_ptr<JobView> MakeLineView(std::ostream& out) { return std::make_unique<LineView>(out); }

Result<ControllerResult> RunJobShell(Workspace& ws, const RunRecord& job, JobCore& core,
                                     JobKind& kind, const ControllerOptions& options,
                                     const RunPlacement& run_env) {
  std::unique_ptr<JobView> own;
  JobView* view = options.view;
  if (!view) {
    own = options.out ? MakeLineView(*options.out) : std::make_unique<QuietView>();
    view = own.get();
  }
  Shell shell(ws, job, core, kind, options, *view, run_env);
  return shell.Run();
}

}  // namespace overdrive
