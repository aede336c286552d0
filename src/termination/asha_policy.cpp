#include <cmath>

#include "termination/policies.hpp"

namespace overdrive::termination_internal {

AshaPolicy::AshaPolicy(Goal goal, int delay_evaluation, int min_resource, int max_resource,
                       double reduction_factor, int brackets)
    : goal_(goal),
      delay_evaluation_(delay_evaluation),
      min_resource_(min_resource),
      max_resource_(max_resource),
      eta_(reduction_factor),
      brackets_(brackets) {}

int AshaPolicy::BracketOf(std::string_view trial_id) const {
  return static_cast<int>(StableHash(trial_id) % static_cast<std::uint64_t>(brackets_));
}

bool AshaPolicy::IsRung(int bracket, int k) const {
  if (k < 1 || k < delay_evaluation_) return false;
  if (max_resource_ > 0 && k >= max_resource_) return false;
  // Rungs grow by eta >= 2 per step, so at most ~31 steps before passing any int k.
  for (int i = bracket;; ++i) {
    const double rung = std::floor(min_resource_ * std::pow(eta_, i));
    if (rung > k) return false;
    if (rung == k) return true;
  }
}

PolicyDecision AshaPolicy::Decide(const TrialProgress& trial,
                                  const std::vector<TrialProgress>& all) const {
  const int k = static_cast<int>(trial.values.size());
  const int bracket = BracketOf(trial.trial_id);
  if (!IsRung(bracket, k)) return {};
  const double mine = trial.values[k - 1];
  if (!std::isfinite(mine)) return {};
  int n = 1;
  int better = 0;
  for (const TrialProgress& other : all) {
    if (other.trial_id == trial.trial_id) continue;
    if (static_cast<int>(other.values.size()) < k || BracketOf(other.trial_id) != bracket) continue;
    const double v = other.values[k - 1];
    if (!std::isfinite(v)) continue;
    ++n;
    if (Better(goal_, v, mine)) ++better;
  }
  if (n < eta_) return {};
  const int keep = static_cast<int>(std::floor(n / eta_));
  if (better < keep) return {};
  return {Decision::kStop, "value " + Num(mine) + " at rung " + std::to_string(k) + " ranks " +
                               std::to_string(better + 1) + " of " + std::to_string(n) +
                               "; only the top " + std::to_string(keep) + " (1/" + Num(eta_) +
                               ") continue (asha, bracket " + std::to_string(bracket) + ", " +
                               GoalWord(goal_) + ")"};
}

}  // namespace overdrive::termination_internal
