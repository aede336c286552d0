#include "termination/trend.hpp"

#include <algorithm>
#include <cmath>

#include "termination/policies.hpp"

namespace overdrive {

namespace {
constexpr int kMinValues = 5;
constexpr double kMinAgainstFraction = 0.8;
constexpr double kMinRelativeChange = 0.05;
constexpr double kMinChangeInSteps = 2.0;
}  // namespace

std::optional<std::string> TrendWarning(Goal goal, const std::vector<double>& values,
                                        std::string_view metric_name) {
  std::vector<double> v;
  for (double x : values) {
    if (std::isfinite(x)) v.push_back(x);
  }
  if (static_cast<int>(v.size()) < kMinValues) return std::nullopt;
  const int steps = static_cast<int>(v.size()) - 1;
  int falls = 0, rises = 0;
  std::vector<double> step_sizes;
  for (int i = 0; i < steps; ++i) {
    const double d = v[i + 1] - v[i];
    if (d < 0) ++falls;
    if (d > 0) ++rises;
    step_sizes.push_back(std::fabs(d));
  }
  const bool maximize = goal == Goal::kMaximize;
  const int against = maximize ? falls : rises;
  if (against < kMinAgainstFraction * steps) return std::nullopt;
  const double change = v.back() - v.front();
  if (maximize ? change >= 0 : change <= 0) return std::nullopt;
  const double scale = std::max(std::fabs(v.front()), std::fabs(v.back()));
  if (std::fabs(change) < kMinRelativeChange * scale) return std::nullopt;
  std::nth_element(step_sizes.begin(), step_sizes.begin() + steps / 2, step_sizes.end());
  const double median_step = step_sizes[steps / 2];
  if (std::fabs(change) < kMinChangeInSteps * median_step) return std::nullopt;

  using termination_internal::Num;
  const std::string name = metric_name.empty() ? "the primary metric"
                                               : "'" + std::string(metric_name) + "'";
  return "objective says " + std::string(maximize ? "maximize " : "minimize ") + name + " but it " +
         (maximize ? "fell" : "rose") + " in " + std::to_string(against) + " of " +
         std::to_string(steps) + " intervals (" + Num(v.front()) + " -> " + Num(v.back()) +
         "): is the goal right?";
}

}  // namespace overdrive
