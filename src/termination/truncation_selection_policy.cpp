#include "termination/policies.hpp"

namespace overdrive::termination_internal {

TruncationSelectionPolicy::TruncationSelectionPolicy(Goal goal, Schedule schedule,
                                                     int truncation_percentage)
    : goal_(goal), schedule_(schedule), percentage_(truncation_percentage) {}

PolicyDecision TruncationSelectionPolicy::Decide(const TrialProgress& trial,
                                                 const std::vector<TrialProgress>& all) const {
  const int k = static_cast<int>(trial.values.size());
  if (!schedule_.Evaluates(k)) return {};
  const std::optional<double> mine = BestSoFar(goal_, trial.values, k);
  if (!mine) return {};
  int n = 1;           // trials that reached k, the deciding one included
  int not_better = 0;  // others worse than or tied with it: places it holds above the bottom
  for (const TrialProgress& other : all) {
    if (other.trial_id == trial.trial_id) continue;
    const std::optional<double> b = BestSoFar(goal_, other.values, k);
    if (!b) continue;
    ++n;
    if (!Better(goal_, *b, *mine)) ++not_better;
  }
  if (n < kMinTrials) return {};
  const int cut = n * percentage_ / 100;
  // 0-based place from the worst end, ties counted in the trial's favour.
  const int place_from_worst = not_better;
  if (place_from_worst >= cut) return {};
  return {Decision::kStop, "best " + Num(*mine) + " ranks " + std::to_string(n - not_better) +
                               " of " + std::to_string(n) + " at interval " + std::to_string(k) +
                               ": in the worst " + std::to_string(cut) + " (" +
                               std::to_string(percentage_) + "%) (truncation_selection, " +
                               GoalWord(goal_) + ")"};
}

}  // namespace overdrive::termination_internal
