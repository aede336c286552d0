// A sanity check on the objective's goal: a finished trial whose primary metric moved steadily
// against the goal (maximize a metric that fell like a loss, or the reverse) most likely has the
// goal the wrong way round. The controller prints the warning once per sweep.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spec/job_spec.hpp"

namespace overdrive {

// `values`: one finished trial's primary metric at intervals 1..n. Returns a one-line warning when
// n >= 5, at least 80% of the n-1 steps between consecutive finite values move against the goal,
// and the total change (last - first) is significant: at least 5% of max(|first|, |last|) and at
// least twice the median step size (so a noisy flat curve that happens to drift raises nothing).
// `metric_name` is only used in the message.
std::optional<std::string> TrendWarning(Goal goal, const std::vector<double>& values,
                                        std::string_view metric_name = "");

}  // namespace overdrive
