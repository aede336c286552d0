#include "sweep/sweep_state.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"

namespace overdrive {

bool IsBetter(Goal goal, double a, double b) {
  return goal == Goal::kMaximize ? a > b : a < b;
}

std::optional<double> BestOf(Goal goal, const std::vector<double>& values) {
  std::optional<double> best;
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (!best || IsBetter(goal, v, *best)) best = v;
  }
  return best;
}

Result<std::vector<TrialInfo>> LoadTrials(MetadataStore& store, const std::string& sweep_id,
                                          const std::string& primary_metric, Goal goal) {
  RunFilter f;
  f.parent_id = sweep_id;
  OD_ASSIGN_OR_RETURN(auto runs, store.ListRuns(f));
  std::reverse(runs.begin(), runs.end());  // oldest first: creation order is trial order
  std::stable_sort(runs.begin(), runs.end(),
                   [](const RunRecord& a, const RunRecord& b) { return a.created_at < b.created_at; });
  std::vector<TrialInfo> out;
  out.reserve(runs.size());
  for (auto& r : runs) {
    TrialInfo t;
    OD_ASSIGN_OR_RETURN(auto params, store.GetParams(r.id));
    for (const auto& p : params) {
      try {
        t.params[p.name] = ParamFromJson(nlohmann::json::parse(p.value_json));
      } catch (const std::exception&) {
        t.params[p.name] = p.value_json;
      }
    }
    OD_ASSIGN_OR_RETURN(auto history, store.GetMetricHistory(r.id, primary_metric));
    for (const auto& p : history) t.intervals.push_back(p.value);
    t.best = BestOf(goal, t.intervals);
    t.run = std::move(r);
    out.push_back(std::move(t));
  }
  return out;
}

TrialObservation ToObservation(const TrialInfo& t, Goal goal) {
  double sign = goal == Goal::kMaximize ? -1.0 : 1.0;
  TrialObservation o;
  o.params = t.params;
  o.intervals = static_cast<int>(t.intervals.size());
  switch (t.run.status) {
    case RunStatus::kCompleted:
      o.state = t.best ? TrialState::kCompleted : TrialState::kFailed;
      if (t.best) o.value = sign * *t.best;
      break;
    case RunStatus::kEarlyTerminated:
      o.state = TrialState::kPruned;
      if (!t.intervals.empty() && !std::isnan(t.intervals.back())) o.value = sign * t.intervals.back();
      break;
    case RunStatus::kFailed:
    case RunStatus::kCanceled:
    case RunStatus::kTimedOut:
      // A timed-out trial that reported values still tells something about its region.
      if (t.best && t.run.status == RunStatus::kTimedOut) {
        o.state = TrialState::kPruned;
        o.value = sign * t.intervals.back();
      } else {
        o.state = TrialState::kFailed;
      }
      break;
    default:
      o.state = TrialState::kPending;
  }
  return o;
}

std::vector<TrialObservation> ToObservations(const std::vector<TrialInfo>& trials, Goal goal) {
  std::vector<TrialObservation> obs;
  obs.reserve(trials.size());
  for (const auto& t : trials) obs.push_back(ToObservation(t, goal));
  return obs;
}

const TrialInfo* BestTrial(const std::vector<TrialInfo>& trials, Goal goal) {
  const TrialInfo* best = nullptr;
  for (const auto& t : trials) {
    if (t.run.status != RunStatus::kCompleted && t.run.status != RunStatus::kEarlyTerminated) continue;
    if (!t.best) continue;
    if (!best || IsBetter(goal, *t.best, *best->best)) best = &t;
  }
  return best;
}

SweepCost EstimateCost(const std::vector<TrialInfo>& trials) {
  SweepCost c;
  auto used_s = [](const TrialInfo& t) {
    double end = t.run.ended_at > 0 ? t.run.ended_at : WallSeconds();
    return std::max(0.0, end - t.run.started_at);
  };
  // What a trial run to its end took: the basis of every estimate. Interval counts alone are
  // not: a trial logging 200,000 points would make a stopped trial "save" hours.
  size_t full = 0;
  double longest_full_s = 0;
  for (const auto& t : trials) {
    if (t.run.status != RunStatus::kCompleted || t.run.started_at <= 0) continue;
    full = std::max(full, t.intervals.size());
    longest_full_s = std::max(longest_full_s, used_s(t));
  }
  for (const auto& t : trials) {
    if (t.run.started_at <= 0) continue;
    const double used = used_s(t);
    c.used_s += used;
    if (t.run.status != RunStatus::kEarlyTerminated) continue;
    ++c.stopped;
    if (t.intervals.empty() || full <= t.intervals.size()) continue;
    // The intervals it did not run at its own pace, but never more than the longest completed
    // trial ran beyond this one: no trial has been seen to take longer.
    const double per_interval = used / static_cast<double>(t.intervals.size());
    const double by_pace = per_interval * static_cast<double>(full - t.intervals.size());
    c.saved_s += std::clamp(by_pace, 0.0, std::max(0.0, longest_full_s - used));
  }
  return c;
}

}  // namespace overdrive
