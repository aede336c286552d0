#include <algorithm>

#include "termination/policies.hpp"

namespace overdrive::termination_internal {

MedianStoppingPolicy::MedianStoppingPolicy(Goal goal, Schedule schedule)
    : goal_(goal), schedule_(schedule) {}

PolicyDecision MedianStoppingPolicy::Decide(const TrialProgress& trial,
                                            const std::vector<TrialProgress>& all) const {
  const int k = static_cast<int>(trial.values.size());
  if (!schedule_.Evaluates(k)) return {};
  const std::optional<double> mine = BestSoFar(goal_, trial.values, k);
  if (!mine) return {};
  std::vector<double> averages;
  for (const TrialProgress& other : all) {
    if (other.trial_id == trial.trial_id) continue;
    if (const std::optional<double> avg = RunningAverage(other.values, k)) averages.push_back(*avg);
  }
  if (static_cast<int>(averages.size()) < kMinOthers) return {};
  std::sort(averages.begin(), averages.end());
  const std::size_t n = averages.size();
  const double median =
      n % 2 == 1 ? averages[n / 2] : (averages[n / 2 - 1] + averages[n / 2]) / 2;
  if (!Better(goal_, median, *mine)) return {};
  return {Decision::kStop,
          "best " + Num(*mine) + (goal_ == Goal::kMaximize ? " < " : " > ") + "median " +
              Num(median) + " of " + std::to_string(n) + " other trials' running averages at interval " +
              std::to_string(k) + " (median_stopping, " + GoalWord(goal_) + ")"};
}

}  // namespace overdrive::termination_internal
