#include <cmath>

#include "termination/policies.hpp"

namespace overdrive::termination_internal {

BanditPolicy::BanditPolicy(Goal goal, Schedule schedule, std::optional<double> slack_factor,
                           std::optional<double> slack_amount)
    : goal_(goal), schedule_(schedule), slack_factor_(slack_factor), slack_amount_(slack_amount) {}

PolicyDecision BanditPolicy::Decide(const TrialProgress& trial,
                                    const std::vector<TrialProgress>& all) const {
  const int k = static_cast<int>(trial.values.size());
  if (!schedule_.Evaluates(k)) return {};
  const std::optional<double> mine = BestSoFar(goal_, trial.values, k);
  if (!mine) return {};
  double best = *mine;
  for (const TrialProgress& other : all) {
    if (other.trial_id == trial.trial_id) continue;
    const std::optional<double> b = BestSoFar(goal_, other.values, k);
    if (b && Better(goal_, *b, best)) best = *b;
  }

  double cutoff = 0;
  std::string formula;
  const bool maximize = goal_ == Goal::kMaximize;
  if (slack_factor_) {
    const double f = *slack_factor_;
    // |best| keeps the cut-off on the worse side of best when the metric is negative.
    cutoff = maximize ? best - std::fabs(best) * f / (1 + f) : best + std::fabs(best) * f;
    if (best >= 0) {
      formula = Num(best) + (maximize ? "/(1+" : "*(1+") + Num(f) + ")";
    } else {
      formula = Num(best) + (maximize ? " - |best|*" + Num(f) + "/(1+" + Num(f) + ")"
                                      : " + |best|*" + Num(f));
    }
  } else {
    const double a = *slack_amount_;
    cutoff = maximize ? best - a : best + a;
    formula = Num(best) + (maximize ? " - " : " + ") + Num(a);
  }
  if (!Better(goal_, cutoff, *mine)) return {};
  return {Decision::kStop, "best " + Num(*mine) + (maximize ? " < " : " > ") + "cut-off " +
                               Num(cutoff) + " = " + formula + " at interval " +
                               std::to_string(k) + " (bandit, " + GoalWord(goal_) + ")"};
}

}  // namespace overdrive::termination_internal
