// The sweep controller: asks the sampler for trials, launches them up to the concurrency limit,
// feeds each reported interval of the primary metric to the termination policy, and ends the
// sweep at its limits. Every decision (a trial created with its params, a stop) is written to the
// store before it is acted on; on resume the state is rebuilt from the store alone.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/strings.hpp"
#include "registry/model_registry.hpp"
#include "sampler/sampler.hpp"
#include "space/space_ops.hpp"
#include "sweep/controller.hpp"
#include "sweep/executor_factory.hpp"
#include "sweep/run_tracker.hpp"
#include "sweep/submission.hpp"
#include "sweep/sweep_plan.hpp"
#include "sweep/sweep_state.hpp"
#include "termination/policy.hpp"
#include "termination/trend.hpp"

namespace overdrive {

namespace {

std::string FormatParams(const Assignment& a) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : a) parts.push_back(k + "=" + ParamToDisplay(v));
  return Join(parts, " ");
}

void CollectNames(const SearchSpace& space, std::vector<std::string>& out) {
  for (const auto& [name, d] : space.params) {
    out.push_back(name);
    for (const auto& sub : d.sub_spaces) CollectNames(sub, out);
  }
}

class SweepDriver {
 public:
  SweepDriver(Workspace& ws, const RunRecord& sweep, SweepPlan plan, const ControllerOptions& opts)
      : ws_(ws), sweep_(sweep), plan_(std::move(plan)), opts_(opts) {}

  Result<ControllerResult> Run();

 private:
  struct Counts {
    int running = 0, queued = 0, completed = 0, stopped = 0, failed = 0, canceled = 0, lost = 0;
  };
  // `replaces`: the id of a lost trial this one runs again with the same params ("" = none).
  Result<void> CreateAndLaunch(const Assignment& params, const std::string& replaces = "");
  // Lost trials (preempted, their node gone) that no later trial replaces yet, oldest first.
  std::vector<size_t> Unreplaced();
  const std::vector<TrialObservation>& Observations();
  Result<void> ApplyPolicy(const std::string& trial_id, size_t new_values);
  Result<void> StopAll(RunStatus status, const std::string& reason);
  Counts Count() const;
  int Active();
  int Counted();  // trials that count toward max_total_trials (lost ones are replaced)
  // A trial appended to trials_ (created or loaded), and the pass that moves trials that became
  // final out of open_: a loop pass then costs the active trials, not the whole sweep (scans of
  // 100,000 trials per pass made a sweep's cost per trial grow with its size).
  void Track(size_t i);
  void Settle();
  void Print(const std::string& line);
  void DrawView(bool force);
  std::string TrialLabel(const TrialInfo& t) const;
  std::optional<std::string> AllFailingReason() const;
  std::string RegisterBest(const TrialInfo& best);

  Workspace& ws_;
  RunRecord sweep_;
  SweepPlan plan_;
  const ControllerOptions& opts_;
  Goal goal_ = Goal::kMaximize;
  std::string metric_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<TerminationPolicy> policy_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<RunTracker> tracker_;
  std::vector<TrialInfo> trials_;
  // The policy's view of trials_ (same order), kept in step as values arrive so that a decision
  // does not copy every trial's series.
  std::vector<TrialProgress> progress_;
  std::map<std::string, size_t> index_;
  // The sampler's view of trials_ (Observations()), rebuilt only where a trial moved.
  struct ObservationKey {
    RunStatus status = RunStatus::kQueued;
    size_t intervals = 0;
    std::optional<double> best;
    double last = 0;
    bool operator==(const ObservationKey& o) const {
      auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
      return status == o.status && intervals == o.intervals && best.has_value() == o.best.has_value() &&
             (!best || same(*best, *o.best)) && same(last, o.last);
    }
  };
  std::vector<size_t> open_;          // trials not final when last looked at
  std::vector<size_t> lost_;          // final trials that were lost
  std::set<std::string> replaced_;    // ids of lost trials already run again
  std::optional<size_t> best_index_;  // the best finished trial so far
  std::vector<TrialObservation> observations_;
  std::vector<ObservationKey> observation_keys_;
  size_t observed_ = 0;
  std::vector<std::string> param_names_;
  double started_at_ = 0;
  double last_created_at_ = 0;
  int view_lines_ = 0;
  double next_view_ = 0;
  bool trend_warned_ = false;
};

bool IsLost(const TrialInfo& t) {
  return t.run.status == RunStatus::kFailed && StartsWith(t.run.status_reason, kLostPrefix);
}

// The tag a replacement trial carries: the id of the lost trial it runs again. It is stored
// with the replacement's params in one CreateRun, so a resumed controller never replaces a lost
// trial twice.
constexpr const char* kReplacesTag = "overdrive.replaces";

std::string ReplacedId(const RunRecord& r) {
  try {
    auto tags = nlohmann::json::parse(r.tags_json);
    if (tags.is_object() && tags.contains(kReplacesTag) && tags[kReplacesTag].is_string()) {
      return tags[kReplacesTag];
    }
  } catch (const std::exception&) {
  }
  return "";
}

void SweepDriver::Track(size_t i) {
  const TrialInfo& t = trials_[i];
  if (!t.replaces.empty()) replaced_.insert(t.replaces);
  open_.push_back(i);  // Settle() files it where it belongs
}

void SweepDriver::Settle() {
  size_t kept = 0;
  for (size_t i : open_) {
    const TrialInfo& t = trials_[i];
    if (!IsFinal(t.run.status)) {
      open_[kept++] = i;
      continue;
    }
    if (IsLost(t)) lost_.push_back(i);
    bool finished = t.run.status == RunStatus::kCompleted ||
                    t.run.status == RunStatus::kEarlyTerminated;
    if (finished && t.best &&
        (!best_index_ || IsBetter(goal_, *t.best, *trials_[*best_index_].best))) {
      best_index_ = i;
    }
  }
  open_.resize(kept);
}

std::vector<size_t> SweepDriver::Unreplaced() {
  Settle();
  std::vector<size_t> out;
  for (size_t i : lost_) {
    if (!replaced_.count(trials_[i].run.id)) out.push_back(i);
  }
  return out;
}

const std::vector<TrialObservation>& SweepDriver::Observations() {
  // Rebuilt only for trials whose state, series length, best or last value moved since the
  // last call: copying every trial's params for each suggestion made a sweep's cost per trial
  // grow with its size.
  auto key_of = [](const TrialInfo& t) {
    ObservationKey k;
    k.status = t.run.status;
    k.intervals = t.intervals.size();
    k.best = t.best;
    k.last = t.intervals.empty() ? 0.0 : t.intervals.back();
    return k;
  };
  observations_.resize(trials_.size());
  observation_keys_.resize(trials_.size());
  for (size_t i = 0; i < trials_.size(); ++i) {
    ObservationKey k = key_of(trials_[i]);
    if (i < observed_ && k == observation_keys_[i]) continue;
    observations_[i] = ToObservation(trials_[i], goal_);
    observation_keys_[i] = k;
  }
  observed_ = trials_.size();
  return observations_;
}

int SweepDriver::Counted() {
  Settle();
  return static_cast<int>(trials_.size() - lost_.size());
}

int SweepDriver::Active() {
  Settle();
  return static_cast<int>(open_.size());
}

SweepDriver::Counts SweepDriver::Count() const {
  Counts c;
  for (const auto& t : trials_) {
    switch (t.run.status) {
      case RunStatus::kQueued:
      case RunStatus::kStarting: ++c.queued; break;
      case RunStatus::kRunning: ++c.running; break;
      case RunStatus::kCompleted: ++c.completed; break;
      case RunStatus::kEarlyTerminated: ++c.stopped; break;
      case RunStatus::kCanceled: ++c.canceled; break;
      default:
        if (IsLost(t)) ++c.lost;
        else ++c.failed;
    }
  }
  return c;
}

std::string SweepDriver::TrialLabel(const TrialInfo& t) const {
  return t.run.display_name + " (" + t.run.id + ")";
}

void SweepDriver::Print(const std::string& line) {
  if (!opts_.out) return;
  if (opts_.live_view && view_lines_ > 0) {
    *opts_.out << "\033[" << view_lines_ << "A";
    for (int i = 0; i < view_lines_; ++i) *opts_.out << "\033[2K\n";
    *opts_.out << "\033[" << view_lines_ << "A";
    view_lines_ = 0;
  }
  *opts_.out << line << "\n";
  opts_.out->flush();
  if (opts_.live_view) next_view_ = 0;  // redraw the live view below the new line
}

void SweepDriver::DrawView(bool force) {
  if (!opts_.out) return;
  double now = MonotonicSeconds();
  if (!force && now < next_view_) return;
  Counts c = Count();
  int total = plan_.sweep.limits.max_total_trials;
  int finished = c.completed + c.stopped + c.failed + c.canceled;
  double elapsed = WallSeconds() - started_at_;
  std::ostringstream l1, l2;
  l1 << "sweep " << sweep_.id << "  " << finished << "/" << total << " trials done: " << c.running
     << " running, " << c.queued << " queued, " << c.completed << " completed, " << c.stopped
     << " stopped early, " << c.failed << " failed";
  const TrialInfo* best = BestTrial(trials_, goal_);
  if (best) {
    l2 << "best " << metric_ << "=" << FormatDouble(*best->best) << " " << TrialLabel(*best) << ": "
       << FormatParams(best->params);
  } else {
    l2 << "best " << metric_ << ": none yet";
  }
  std::string l3 = "elapsed " + FormatDuration(elapsed);
  if (finished > 0 && finished < total) {
    l3 += ", about " + FormatDuration(elapsed / finished * (total - finished)) + " to go";
  }
  if (opts_.live_view) {
    // Each line must fit the terminal: a wrapped line would break the redraw in place.
    winsize ws{};
    size_t width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 100;
    if (view_lines_ > 0) *opts_.out << "\033[" << view_lines_ << "A";
    for (std::string line : {l1.str(), l2.str(), l3}) {
      if (line.size() >= width) line = line.substr(0, width - 4) + "...";
      *opts_.out << "\033[2K" << line << "\n";
    }
    view_lines_ = 3;
    next_view_ = now + 0.5;
  } else {
    *opts_.out << l1.str() << " | " << l2.str() << " | " << l3 << "\n";
    next_view_ = now + 10;
  }
  opts_.out->flush();
}

Result<void> SweepDriver::CreateAndLaunch(const Assignment& params, const std::string& replaces) {
  RunRecord tr;
  tr.id = NewRunId();
  tr.experiment_id = sweep_.experiment_id;
  tr.experiment_name = sweep_.experiment_name;
  tr.parent_id = sweep_.id;
  tr.job_type = JobType::kTrial;
  tr.display_name = "trial " + std::to_string(trials_.size() + 1);
  if (!replaces.empty()) tr.tags_json = nlohmann::json{{kReplacesTag, replaces}}.dump();
  tr.status = RunStatus::kQueued;
  tr.compute = sweep_.compute;
  tr.snapshot_digest = sweep_.snapshot_digest;
  tr.run_dir = ws_.RunDir(tr.id).string();
  // Creation order is trial order: keep timestamps strictly increasing.
  tr.created_at = std::max(WallSeconds(), last_created_at_ + 1e-6);
  last_created_at_ = tr.created_at;
  LaunchConfig cfg = plan_.trial;
  SubstitutionContext ctx;
  ctx.inputs = plan_.inputs;
  for (const auto& name : cfg.outputs) {
    ctx.outputs[name] = (std::filesystem::path(tr.run_dir) / "wd" / "outputs" / name).string();
  }
  for (const auto& name : param_names_) ctx.search_space[name] = "";
  std::vector<Param> stored;
  for (const auto& [name, v] : params) {
    ctx.search_space[name] = ParamToString(v);
    cfg.env["AZUREML_SWEEP_" + name] = ParamToString(v);
    stored.push_back({name, ParamToJson(v).dump()});
  }
  tr.launch_json = cfg.ToJson();
  OD_ASSIGN_OR_RETURN(tr.command,
                      SubstituteCommand(plan_.command_template, ctx, plan_.command_pos));
  OD_TRY(ws_.store().CreateRun(tr, stored, {}));
  TrialInfo info;
  info.run = tr;
  info.params = params;
  info.replaces = replaces;
  index_[tr.id] = trials_.size();
  trials_.push_back(std::move(info));
  Track(trials_.size() - 1);
  progress_.push_back({tr.id, {}, false});
  auto launched = tracker_->Launch(tr);
  if (!launched) {
    // The tracker recorded the failure on the trial; keep the sweep going.
    auto rec = ws_.store().GetRun(tr.id);
    if (rec) trials_.back().run = *rec;
    progress_.back().finished = IsFinal(trials_.back().run.status);
    Print("trial " + tr.id + " could not start: " + launched.error().message);
  }
  return {};
}

Result<void> SweepDriver::ApplyPolicy(const std::string& trial_id, size_t new_values) {
  if (!policy_) return {};
  size_t self = index_[trial_id];
  if (IsFinal(trials_[self].run.status)) return {};
  // Decide at each new interval in order, as if each report had been seen on its own: the
  // trial's series is cut back to interval k for the decision, then restored.
  std::vector<double> full = progress_[self].values;
  size_t total = full.size();
  for (size_t k = total - new_values + 1; k <= total; ++k) {
    progress_[self].values.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(k));
    PolicyDecision d = policy_->Decide(progress_[self], progress_);
    if (d.decision == Decision::kStop) {
      progress_[self].values = std::move(full);
      return tracker_->Stop(trial_id, RunStatus::kEarlyTerminated, d.reason);
    }
  }
  progress_[self].values = std::move(full);
  return {};
}

Result<void> SweepDriver::StopAll(RunStatus status, const std::string& reason) {
  for (size_t i = 0; i < trials_.size(); ++i) {
    TrialInfo& t = trials_[i];
    if (IsFinal(t.run.status)) continue;
    if (tracker_->Tracks(t.run.id)) {
      OD_TRY(tracker_->Stop(t.run.id, status, reason));
    } else {
      RunUpdate u;
      u.status_reason = reason;
      u.ended_at = WallSeconds();
      OD_TRY(ws_.store().TransitionRun(t.run.id, status, u));
      t.run.status = status;
      progress_[i].finished = true;
    }
  }
  return {};
}

// Registers the best trial's model (extension register_best_model). Idempotent: a resumed
// controller that already registered this trial's model does not add a second version.
// Returns "NAME:VERSION", or "" when it could not (the sweep still completes; the reason is
// printed and kept as a warning on the sweep).
std::string SweepDriver::RegisterBest(const TrialInfo& best) {
  const RegisterBestModelSpec& reg = *plan_.sweep.register_best_model;
  ModelRegistry registry(ws_.store(), ws_.artifacts());
  auto existing = registry.ListVersions(reg.name);
  if (existing) {
    for (const auto& v : *existing) {
      if (v.run_id == best.run.id && v.path == reg.path) {
        return reg.name + ":" + std::to_string(v.version);
      }
    }
  }
  std::map<std::string, std::string> tags = {{"sweep", sweep_.id},
                                             {metric_, FormatDouble(*best.best)}};
  auto version = registry.Register(reg.name, best.run.id, reg.path, tags);
  if (!version) {
    std::string w = "could not register the best trial's model: " + version.error().message;
    Print("warning: " + w);
    (void)ws_.store().AddEvent(sweep_.id, {WallSeconds(), "warning", w});
    return "";
  }
  std::string ref = reg.name + ":" + std::to_string(version->version);
  Print("registered model " + ref + " from " + TrialLabel(best));
  return ref;
}

std::optional<std::string> SweepDriver::AllFailingReason() const {
  int failed = 0;
  std::set<std::string> reasons;
  for (const auto& t : trials_) {
    if (!IsFinal(t.run.status)) continue;
    if (t.run.status == RunStatus::kCompleted || t.run.status == RunStatus::kEarlyTerminated) {
      return std::nullopt;
    }
    if (t.run.status == RunStatus::kFailed && !IsLost(t)) {
      ++failed;
      reasons.insert(t.run.status_reason);
    }
  }
  int needed = std::min(3, plan_.sweep.limits.max_total_trials);
  if ((failed >= needed && reasons.size() == 1) || failed >= 10) {
    return "the first " + std::to_string(failed) + " trials all failed (" + *reasons.begin() +
           "); fix the trial command, then submit the sweep again";
  }
  return std::nullopt;
}

Result<ControllerResult> SweepDriver::Run() {
  const SweepSpec& spec = plan_.sweep;
  goal_ = spec.objective.goal;
  metric_ = spec.objective.primary_metric;
  CollectNames(spec.search_space, param_names_);
  SamplerOptions so;
  so.type = spec.sampling.type;
  so.rule = spec.sampling.rule;
  so.budget = spec.limits.max_total_trials;
  OD_ASSIGN_OR_RETURN(sampler_, MakeSampler(so, spec.search_space));
  OD_ASSIGN_OR_RETURN(policy_, MakeTerminationPolicy(spec.early_termination, goal_));
  // The sweep's trials run on the sweep's compute.
  OD_ASSIGN_OR_RETURN(executor_, MakeExecutor(ws_, sweep_.compute, opts_.executor));
  tracker_ = std::make_unique<RunTracker>(ws_, *executor_);

  started_at_ = sweep_.started_at > 0 ? sweep_.started_at : WallSeconds();
  if (sweep_.status != RunStatus::kRunning) {
    RunUpdate u;
    u.started_at = started_at_;
    OD_TRY(ws_.store().TransitionRun(sweep_.id, RunStatus::kRunning, u));
  }
  OD_ASSIGN_OR_RETURN(trials_, LoadTrials(ws_.store(), sweep_.id, metric_, goal_));
  for (size_t i = 0; i < trials_.size(); ++i) {
    index_[trials_[i].run.id] = i;
    trials_[i].replaces = ReplacedId(trials_[i].run);
    Track(i);
    last_created_at_ = std::max(last_created_at_, trials_[i].run.created_at);
  }
  int adopted = 0;
  for (auto& t : trials_) {
    if (IsFinal(t.run.status)) continue;
    auto r = t.run.status == RunStatus::kQueued ? tracker_->Launch(t.run) : tracker_->Adopt(t.run);
    if (!r) Print("trial " + t.run.id + ": " + r.error().message);
    ++adopted;
    auto rec = ws_.store().GetRun(t.run.id);
    if (rec) t.run = *rec;
  }
  for (const auto& t : trials_) progress_.push_back({t.run.id, t.intervals, IsFinal(t.run.status)});
  if (!trials_.empty()) {
    Print("sweep " + sweep_.id + ": " + std::to_string(trials_.size()) + " trials found, " +
          std::to_string(adopted) + " still active; carrying on");
  }

  const int max_total = spec.limits.max_total_trials;
  const int max_concurrent = spec.limits.max_concurrent_trials > 0
                                 ? std::min(spec.limits.max_concurrent_trials, max_total)
                                 : max_total;
  const double deadline = started_at_ + spec.limits.timeout_s;
  bool exhausted = false, stopping = false, detached = false;
  RunStatus final_status = RunStatus::kCompleted;
  std::string final_reason;
  int interrupts_seen = 0;
  double next_collect = 0, next_cancel_check = 0;

  auto begin_stop = [&](RunStatus status, const std::string& reason) -> Result<void> {
    stopping = true;
    final_status = status;
    final_reason = reason;
    Print("stopping sweep " + sweep_.id + ": " + reason);
    return StopAll(RunStatus::kCanceled, reason);
  };

  while (true) {
    double now = MonotonicSeconds();
    if (!stopping) {
      int interrupts = opts_.interrupts ? opts_.interrupts->load() : 0;
      if (interrupts >= 2) {
        detached = true;
        break;
      }
      if (interrupts > interrupts_seen) {
        interrupts_seen = interrupts;
        OD_TRY(begin_stop(RunStatus::kCanceled, "interrupted (Ctrl-C); press it again to detach"));
      } else if (WallSeconds() > deadline) {
        OD_TRY(begin_stop(RunStatus::kCanceled,
                          "sweep timeout of " + FormatDuration(spec.limits.timeout_s) + " reached"));
      } else if (now >= next_cancel_check) {
        next_cancel_check = now + 0.5;
        OD_ASSIGN_OR_RETURN(RunRecord current, ws_.store().GetRun(sweep_.id));
        if (current.cancel_requested) OD_TRY(begin_stop(RunStatus::kCanceled, "canceled by user"));
      }
      if (!stopping) {
        if (auto why = AllFailingReason()) OD_TRY(begin_stop(RunStatus::kFailed, *why));
      }
    } else if (opts_.interrupts && opts_.interrupts->load() >= 2) {
      detached = true;
      break;
    }

    if (!stopping && !exhausted) {
      int free_slots = max_concurrent - Active();
      int remaining = max_total - Counted();
      int k = std::min(free_slots, remaining);
      // A lost trial (preempted, its node gone) runs again with the same params before anything
      // new is sampled: it did not fail, so its point of the search space is still owed.
      for (size_t lost : Unreplaced()) {
        if (k <= 0) break;
        Assignment params = trials_[lost].params;
        std::string id = trials_[lost].run.id;
        Print("trial " + trials_[lost].run.display_name + " (" + id +
              ") was lost; running its params again");
        OD_TRY(CreateAndLaunch(params, id));
        --k;
      }
      if (k > 0) {
        auto suggestions = sampler_->Suggest(Observations(), k, plan_.seed);
        if (suggestions.empty()) {
          exhausted = true;
          Print("search space exhausted after " + std::to_string(trials_.size()) + " trials");
        }
        for (const auto& s : suggestions) OD_TRY(CreateAndLaunch(s));
      }
    }
    if (Active() == 0 &&
        (stopping || exhausted || Counted() >= max_total)) {
      break;
    }

    tracker_->Wait(std::chrono::milliseconds(100));
    now = MonotonicSeconds();
    if (now >= next_collect) {
      next_collect = now + 0.2;
      OD_ASSIGN_OR_RETURN(auto points, tracker_->Collect());
      for (const auto& [id, pts] : points) {
        auto it = index_.find(id);
        if (it == index_.end()) continue;
        TrialInfo& t = trials_[it->second];
        size_t added = 0;
        for (const auto& p : pts) {
          if (p.name != metric_) continue;
          t.intervals.push_back(p.value);
          progress_[it->second].values.push_back(p.value);
          ++added;
        }
        if (added == 0) continue;
        t.best = BestOf(goal_, t.intervals);
        if (!stopping) OD_TRY(ApplyPolicy(id, added));
      }
    }
    OD_ASSIGN_OR_RETURN(auto finished, tracker_->Update());
    for (const auto& id : tracker_->TakeStarted()) {
      auto it = index_.find(id);
      if (it != index_.end() && !IsFinal(trials_[it->second].run.status)) {
        trials_[it->second].run.status = RunStatus::kRunning;
      }
    }
    for (const auto& f : finished) {
      auto it = index_.find(f.id);
      if (it == index_.end()) continue;
      TrialInfo& t = trials_[it->second];
      OD_ASSIGN_OR_RETURN(t.run, ws_.store().GetRun(f.id));
      // Points written just before the end were ingested by the tracker's final read.
      OD_ASSIGN_OR_RETURN(auto history, ws_.store().GetMetricHistory(f.id, metric_));
      t.intervals.clear();
      for (const auto& p : history) t.intervals.push_back(p.value);
      progress_[it->second] = {t.run.id, t.intervals, IsFinal(t.run.status)};
      t.best = BestOf(goal_, t.intervals);
      std::string line = TrialLabel(t) + " " + RunStatusName(t.run.status);
      if (t.best) line += "  " + metric_ + "=" + FormatDouble(*t.best);
      line += "  " + FormatParams(t.params);
      if (t.run.status != RunStatus::kCompleted && !t.run.status_reason.empty()) {
        line += "  (" + t.run.status_reason + ")";
      }
      Settle();
      if (best_index_ && &trials_[*best_index_] == &t) line += "  <- best so far";
      Print(line);
      if (!trend_warned_ && t.run.status == RunStatus::kCompleted) {
        if (auto w = TrendWarning(goal_, t.intervals)) {
          trend_warned_ = true;
          Print("warning: " + *w);
          (void)ws_.store().AddEvent(sweep_.id, {WallSeconds(), "warning", *w});
        }
      }
    }
    DrawView(false);
  }

  ControllerResult result;
  if (detached) {
    result.detached = true;
    result.status = RunStatus::kRunning;
    return result;
  }
  DrawView(true);
  view_lines_ = 0;
  const TrialInfo* best = BestTrial(trials_, goal_);
  Counts c = Count();
  if (!stopping) {
    if (c.completed + c.stopped == 0) {
      final_status = RunStatus::kFailed;
      final_reason = "no trial completed";
    }
  }
  SweepCost cost = EstimateCost(trials_);
  nlohmann::json summary = {{"trials", trials_.size()},   {"completed", c.completed},
                            {"early_terminated", c.stopped}, {"failed", c.failed},
                            {"canceled", c.canceled},       {"trial_seconds", cost.used_s},
                            {"saved_trial_seconds", cost.saved_s}};
  if (best) {
    summary["best_trial"] = best->run.id;
    summary["best_value"] = *best->best;
  }
  if (best && final_status == RunStatus::kCompleted && spec.register_best_model) {
    summary["registered_model"] = RegisterBest(*best);
  }
  OD_TRY(ws_.store().AddEvent(sweep_.id, {WallSeconds(), "summary", summary.dump()}));
  RunUpdate u;
  u.status_reason = final_reason;
  u.ended_at = WallSeconds();
  OD_TRY(ws_.store().TransitionRun(sweep_.id, final_status, u));

  std::ostringstream msg;
  msg << "sweep " << sweep_.id << " " << RunStatusName(final_status) << ": " << trials_.size()
      << " trials (" << c.completed << " completed, " << c.stopped << " stopped early, "
      << c.failed << " failed, " << c.canceled << " canceled"
      << (c.lost > 0 ? ", " + std::to_string(c.lost) + " lost and replaced" : std::string())
      << ") in "
      << FormatDuration(WallSeconds() - started_at_);
  Print(msg.str());
  if (best) {
    Print("best trial " + best->run.id + " " + metric_ + "=" + FormatDouble(*best->best) + "  " +
          FormatParams(best->params));
  }
  double total = cost.used_s + cost.saved_s;
  std::string cost_line = "cost: " + FormatDuration(cost.used_s) + " of trial time";
  if (cost.stopped > 0 && total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * cost.saved_s / total);
    cost_line += "; early termination stopped " + std::to_string(cost.stopped) +
                 " trials and saved ~" + FormatDuration(cost.saved_s) + " (" + pct + ")";
  }
  Print(cost_line);
  result.status = final_status;
  result.reason = final_reason;
  return result;
}

}  // namespace

Result<ControllerResult> DriveSweep(Workspace& ws, const RunRecord& sweep,
                                    const ControllerOptions& options) {
  Result<SweepPlan> plan = SweepPlan::FromJson(sweep.launch_json);
  Result<void> startable =
      plan ? plan->CheckStartable() : Result<void>(std::unexpected(plan.error()));
  if (!startable) {
    // A stored plan this controller can never start (stored by an older version whose parser
    // let it through, or damaged): left queued it would wait forever, so it ends failed.
    const std::string reason = "cannot start the sweep: " + startable.error().message;
    RunUpdate u;
    u.status_reason = reason;
    u.ended_at = WallSeconds();
    OD_TRY(ws.store().TransitionRun(sweep.id, RunStatus::kFailed, u));
    if (options.out) *options.out << "sweep " << sweep.id << " failed: " << reason << std::endl;
    return ControllerResult{RunStatus::kFailed, reason, false};
  }
  SweepDriver driver(ws, sweep, std::move(*plan), options);
  return driver.Run();
}

}  // namespace overdrive
