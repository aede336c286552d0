#include "sweep/sweep_core.hpp"

#include <algorithm>
#include <cmath>

#include "common/strings.hpp"
#include "common/value.hpp"
#include "termination/trend.hpp"

namespace overdrive {


JobAction JobAction::Launch(Assignment params, std::string replaces) {
  JobAction a;
  a.kind = Kind::kLaunch;
  a.params = std::move(params);
  a.replaces = std::move(replaces);
  return a;
}

JobAction JobAction::Stop(std::string child_id, RunStatus status, std::string reason) {
  JobAction a;
  a.kind = Kind::kStop;
  a.child_id = std::move(child_id);
  a.status = status;
  a.reason = std::move(reason);
  return a;
}

JobAction JobAction::Say(std::string text) {
  JobAction a;
  a.kind = Kind::kSay;
  a.text = std::move(text);
  return a;
}

JobAction JobAction::Warn(std::string text) {
  JobAction a = Say(std::move(text));
  a.kind = Kind::kWarn;
  return a;
}

JobAction JobAction::Finish(RunStatus status, std::string reason) {
  JobAction a;
  a.kind = Kind::kFinish;
  a.status = status;
  a.reason = std::move(reason);
  return a;
}

JobAction JobAction::Detach() {
  JobAction a;
  a.kind = Kind::kDetach;
  return a;
}

ChildCounts CountChildren(const std::vector<TrialInfo>& children) {
  ChildCounts c;
  for (const auto& t : children) {
    switch (t.run.status) {
      case RunStatus::kQueued:
      case RunStatus::kStarting: ++c.queued; break;
      case RunStatus::kRunning: ++c.running; break;
      case RunStatus::kCompleted: ++c.completed; break;
      case RunStatus::kEarlyTerminated: ++c.stopped; break;
      case RunStatus::kCanceled: ++c.canceled; break;
      default:
        if (IsLost(t.run)) ++c.lost;
        else ++c.failed;
    }
  }
  return c;
}

std::string FormatParams(const Assignment& a) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : a) parts.push_back(k + "=" + ParamToDisplay(v));
  return Join(parts, " ");
}

Result<std::unique_ptr<SweepCore>> SweepCore::Make(const SweepSpec& spec, std::uint64_t seed,
                                                   double started_at, std::string sweep_id) {
  std::unique_ptr<SweepCore> core(new SweepCore(spec, seed, started_at, std::move(sweep_id)));
  SamplerOptions so;
  so.type = spec.sampling.type;
  so.rule = spec.sampling.rule;
  so.budget = spec.limits.max_total_trials;
  OD_ASSIGN_OR_RETURN(core->sampler_, MakeSampler(so, spec.search_space));
  OD_ASSIGN_OR_RETURN(core->policy_, MakeTerminationPolicy(spec.early_termination, core->goal_));
  return core;
}

SweepCore::SweepCore(SweepSpec spec, std::uint64_t seed, double started_at, std::string sweep_id)
    : spec_(std::move(spec)), sweep_id_(std::move(sweep_id)), seed_(seed), started_at_(started_at) {
  goal_ = spec_.objective.goal;
  metric_ = spec_.objective.primary_metric;
  max_total_ = spec_.limits.max_total_trials;
  max_concurrent_ = spec_.limits.max_concurrent_trials > 0
                        ? std::min(spec_.limits.max_concurrent_trials, max_total_)
                        : max_total_;
}

std::string SweepCore::Label(const TrialInfo& t) const {
  return t.run.display_name + " (" + t.run.id + ")";
}

void SweepCore::Add(TrialInfo child) {
  size_t i = trials_.size();
  index_[child.run.id] = i;
  if (!child.replaces.empty()) replaced_.insert(child.replaces);
  child.best = BestOf(goal_, child.intervals);
  progress_.push_back({child.run.id, child.intervals, IsFinal(child.run.status)});
  trials_.push_back(std::move(child));
  changed_.push_back(i);
  open_.push_back(i);  // Settle() files it where it belongs
}

void SweepCore::Resume(std::vector<TrialInfo> children) {
  for (auto& c : children) Add(std::move(c));
  Settle();
}

void SweepCore::Created(TrialInfo child) { Add(std::move(child)); }

void SweepCore::Started(const std::string& child_id) {
  auto it = index_.find(child_id);
  if (it != index_.end() && !IsFinal(trials_[it->second].run.status)) {
    trials_[it->second].run.status = RunStatus::kRunning;
    changed_.push_back(it->second);
  }
}

void SweepCore::Settle() {
  size_t kept = 0;
  for (size_t i : open_) {
    const TrialInfo& t = trials_[i];
    if (!IsFinal(t.run.status)) {
      open_[kept++] = i;
      continue;
    }
    if (IsLost(t.run)) lost_.push_back(i);
    bool finished = t.run.status == RunStatus::kCompleted ||
                    t.run.status == RunStatus::kEarlyTerminated;
    if (finished) {
      any_succeeded_ = true;
    } else if (t.run.status == RunStatus::kFailed && !IsLost(t.run) && failures_ < 10) {
      ++failures_;
      // The same failure names each trial's own id or folder ("run 'ab12' asks for 4 GPUs"):
      // compared without it, so that alike failures are seen as one.
      std::string reason = t.run.status_reason;
      for (size_t at = 0;
           !t.run.id.empty() && (at = reason.find(t.run.id, at)) != std::string::npos;) {
        reason.replace(at, t.run.id.size(), "<trial>");
        at += 7;
      }
      failure_reasons_.insert(reason);
    }
    if (finished && t.best &&
        (!best_index_ || IsBetter(goal_, *t.best, *trials_[*best_index_].best))) {
      best_index_ = i;
    }
  }
  open_.resize(kept);
}

int SweepCore::Active() {
  Settle();
  return static_cast<int>(open_.size());
}

int SweepCore::Counted() {
  Settle();
  return static_cast<int>(trials_.size() - lost_.size());
}

const TrialInfo* SweepCore::Best() const {
  return best_index_ ? &trials_[*best_index_] : nullptr;
}

const std::vector<TrialObservation>& SweepCore::Observations() {
  observations_.resize(trials_.size());
  for (size_t i : changed_) observations_[i] = ToObservation(trials_[i], goal_);
  changed_.clear();
  return observations_;
}

std::optional<std::string> SweepCore::AllFailingReason() const {
  // Only until a trial succeeds: once one has, the sweep never gives up on failures.
  if (any_succeeded_) return std::nullopt;
  int needed = std::min(3, max_total_);
  if ((failures_ >= needed && failure_reasons_.size() == 1) || failures_ >= 10) {
    return "the first " + std::to_string(failures_) + " trials all failed (" +
           *failure_reasons_.begin() + "); fix the trial command, then submit the sweep again";
  }
  return std::nullopt;
}

std::vector<JobAction> SweepCore::BeginStop(RunStatus status, const std::string& reason) {
  stopping_job_ = true;
  final_status_ = status;
  final_reason_ = reason;
  std::vector<JobAction> out = {JobAction::Say("stopping sweep " + sweep_id_ + ": " + reason)};
  for (size_t i : open_) {
    const TrialInfo& t = trials_[i];
    if (IsFinal(t.run.status) || stopping_.count(t.run.id)) continue;
    stopping_.insert(t.run.id);
    out.push_back(JobAction::Stop(t.run.id, RunStatus::kCanceled, reason));
  }
  return out;
}

std::vector<JobAction> SweepCore::Step(const JobSignals& s) {
  std::vector<JobAction> out;
  if (finished_) return out;
  Settle();
  auto append = [&out](std::vector<JobAction> more) {
    for (auto& a : more) out.push_back(std::move(a));
  };
  if (s.interrupts >= 2) {
    out.push_back(JobAction::Detach());
    finished_ = true;
    return out;
  }
  if (!stopping_job_) {
    if (s.interrupts > interrupts_seen_) {
      append(BeginStop(RunStatus::kCanceled, "interrupted (Ctrl-C); press it again to detach"));
    } else if (s.now > started_at_ + spec_.limits.timeout_s) {
      append(BeginStop(RunStatus::kCanceled,
                       "sweep timeout of " + FormatDuration(spec_.limits.timeout_s) + " reached"));
    } else if (s.cancel_requested) {
      append(BeginStop(RunStatus::kCanceled, "canceled by user"));
    } else if (auto why = AllFailingReason()) {
      append(BeginStop(RunStatus::kFailed, *why));
    }
  }
  interrupts_seen_ = std::max(interrupts_seen_, s.interrupts);

  if (!stopping_job_ && !exhausted_) {
    int k = std::min(max_concurrent_ - Active(), max_total_ - Counted());
    // A lost trial (preempted, its node gone) runs again with the same params before anything
    // new is sampled: it did not fail, so its point of the search space is still owed.
    for (size_t lost : lost_) {
      if (k <= 0) break;
      const TrialInfo& t = trials_[lost];
      if (replaced_.count(t.run.id)) continue;
      out.push_back(JobAction::Say("trial " + t.run.display_name + " (" + t.run.id +
                                   ") was lost; running its params again"));
      out.push_back(JobAction::Launch(t.params, t.run.id));
      replaced_.insert(t.run.id);  // Created() records it again with the replacement
      --k;
    }
    if (k > 0) {
      auto suggestions = sampler_->Suggest(Observations(), k, seed_);
      if (suggestions.empty()) {
        exhausted_ = true;
        out.push_back(JobAction::Say("search space exhausted after " +
                                     std::to_string(trials_.size()) + " trials"));
      }
      for (auto& p : suggestions) out.push_back(JobAction::Launch(std::move(p)));
    }
  }
  bool launching = std::any_of(out.begin(), out.end(), [](const JobAction& a) {
    return a.kind == JobAction::Kind::kLaunch;
  });
  if (!launching && Active() == 0 && (stopping_job_ || exhausted_ || Counted() >= max_total_)) {
    if (!stopping_job_) {
      ChildCounts c = CountChildren(trials_);
      if (c.completed + c.stopped == 0) {
        final_status_ = RunStatus::kFailed;
        final_reason_ = "no trial completed";
      }
    }
    finished_ = true;
    out.push_back(JobAction::Finish(final_status_, final_reason_));
  }
  return out;
}

std::vector<JobAction> SweepCore::ApplyPolicy(size_t self, size_t new_values) {
  if (!policy_ || stopping_job_) return {};
  const TrialInfo& t = trials_[self];
  if (IsFinal(t.run.status) || stopping_.count(t.run.id)) return {};
  // Decide at each new interval in order, as if each report had been seen on its own: the
  // trial's series is cut back to interval k for the decision, then restored.
  std::vector<double> full = progress_[self].values;
  size_t total = full.size();
  std::vector<JobAction> out;
  for (size_t k = total - new_values + 1; k <= total; ++k) {
    progress_[self].values.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(k));
    PolicyDecision d = policy_->Decide(progress_[self], progress_);
    if (d.decision == Decision::kStop) {
      stopping_.insert(t.run.id);
      out.push_back(JobAction::Stop(t.run.id, RunStatus::kEarlyTerminated, d.reason));
      break;
    }
  }
  progress_[self].values = std::move(full);
  return out;
}

std::vector<JobAction> SweepCore::Reported(const std::string& child_id,
                                           const std::vector<MetricPoint>& points) {
  auto it = index_.find(child_id);
  if (it == index_.end()) return {};
  TrialInfo& t = trials_[it->second];
  size_t added = 0;
  for (const auto& p : points) {
    if (p.name != metric_) continue;
    t.intervals.push_back(p.value);
    progress_[it->second].values.push_back(p.value);
    ++added;
  }
  if (added == 0) return {};
  t.best = BestOf(goal_, t.intervals);
  changed_.push_back(it->second);
  return ApplyPolicy(it->second, added);
}

std::vector<JobAction> SweepCore::Ended(TrialInfo child) {
  auto it = index_.find(child.run.id);
  if (it == index_.end()) return {};
  size_t i = it->second;
  TrialInfo& t = trials_[i];
  t.run = std::move(child.run);
  t.intervals = std::move(child.intervals);
  t.best = BestOf(goal_, t.intervals);
  changed_.push_back(i);
  progress_[i] = {t.run.id, t.intervals, IsFinal(t.run.status)};
  stopping_.erase(t.run.id);
  Settle();
  std::vector<JobAction> out;
  std::string line = Label(t) + " " + RunStatusName(t.run.status);
  if (t.best) line += "  " + metric_ + "=" + FormatDouble(*t.best);
  line += "  " + FormatParams(t.params);
  if (t.run.status != RunStatus::kCompleted && !t.run.status_reason.empty()) {
    line += "  (" + t.run.status_reason + ")";
  }
  if (best_index_ && *best_index_ == i) line += "  <- best so far";
  out.push_back(JobAction::Say(line));
  if (!trend_warned_ && t.run.status == RunStatus::kCompleted) {
    if (auto w = TrendWarning(goal_, t.intervals)) {
      trend_warned_ = true;
      out.push_back(JobAction::Warn(*w));
    }
  }
  return out;
}

std::vector<std::string> SweepCore::ProgressLines(double now) const {
  ChildCounts c = CountChildren(trials_);
  int finished = c.Finished();
  std::string l1 = "sweep " + sweep_id_ + "  " + std::to_string(finished) + "/" +
                   std::to_string(max_total_) + " trials done: " + std::to_string(c.running) +
                   " running, " + std::to_string(c.queued) + " queued, " +
                   std::to_string(c.completed) + " completed, " + std::to_string(c.stopped) +
                   " stopped early, " + std::to_string(c.failed) + " failed";
  std::string l2;
  if (const TrialInfo* best = Best()) {
    l2 = "best " + metric_ + "=" + FormatDouble(*best->best) + " " + Label(*best) + ": " +
         FormatParams(best->params);
  } else {
    l2 = "best " + metric_ + ": none yet";
  }
  double elapsed = now - started_at_;
  std::string l3 = "elapsed " + FormatDuration(elapsed);
  if (finished > 0 && finished < max_total_) {
    l3 += ", about " + FormatDuration(elapsed / finished * (max_total_ - finished)) + " to go";
  }
  return {l1, l2, l3};
}

}  // namespace overdrive
