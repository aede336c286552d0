#include "termination/policy.hpp"

#include <cmath>
#include <cstdio>

#include "common/strings.hpp"
#include "termination/policies.hpp"

namespace overdrive {
namespace termination_internal {

bool Better(Goal goal, double a, double b) { return goal == Goal::kMaximize ? a > b : a < b; }

std::optional<double> BestSoFar(Goal goal, const std::vector<double>& values, int k) {
  if (k < 1 || static_cast<int>(values.size()) < k) return std::nullopt;
  std::optional<double> best;
  for (int i = 0; i < k; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) continue;
    if (!best || Better(goal, v, *best)) best = v;
  }
  return best;
}

std::optional<double> RunningAverage(const std::vector<double>& values, int k) {
  if (k < 1 || static_cast<int>(values.size()) < k) return std::nullopt;
  double sum = 0;
  int n = 0;
  for (int i = 0; i < k; ++i) {
    if (!std::isfinite(values[i])) continue;
    sum += values[i];
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

const char* GoalWord(Goal goal) { return goal == Goal::kMaximize ? "maximize" : "minimize"; }

std::uint64_t StableHash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace termination_internal

namespace {

using namespace termination_internal;

std::unexpected<Error> SpecError(const EarlyTerminationSpec& spec, const std::string& message) {
  // Formatted here rather than through SourcePos::ToString so this part links without spec's
  // sources; the shape is the same "file:line:col: message".
  std::string where;
  if (!spec.pos.file.empty()) {
    where = spec.pos.file;
    if (spec.pos.line > 0) {
      where += ":" + std::to_string(spec.pos.line) + ":" + std::to_string(spec.pos.column);
    }
    where += ": ";
  }
  return MakeError(ErrorCode::kInvalidInput, where + "early_termination: " + message);
}

}  // namespace

Result<std::unique_ptr<TerminationPolicy>> MakeTerminationPolicy(const EarlyTerminationSpec& spec,
                                                                 Goal goal) {
  if (spec.type.empty()) return std::unique_ptr<TerminationPolicy>();
  const std::vector<std::string> kTypes = {"bandit", "median_stopping", "truncation_selection",
                                           "asha"};
  if (spec.evaluation_interval < 0) {
    return SpecError(spec, "evaluation_interval must be >= 0 (0 means every interval), got " +
                               std::to_string(spec.evaluation_interval));
  }
  if (spec.delay_evaluation < 0) {
    return SpecError(spec, "delay_evaluation must be >= 0, got " +
                               std::to_string(spec.delay_evaluation));
  }
  Schedule schedule{spec.evaluation_interval == 0 ? 1 : spec.evaluation_interval,
                    spec.delay_evaluation};

  if (spec.type == "bandit") {
    if (spec.slack_factor.has_value() == spec.slack_amount.has_value()) {
      return SpecError(spec, "bandit needs exactly one of slack_factor (e.g. 0.1: within 10% of "
                             "the best trial) or slack_amount (an absolute distance)");
    }
    const double slack = spec.slack_factor ? *spec.slack_factor : *spec.slack_amount;
    if (!std::isfinite(slack) || slack < 0) {
      return SpecError(spec, std::string(spec.slack_factor ? "slack_factor" : "slack_amount") +
                                 " must be a number >= 0, got " + Num(slack));
    }
    return std::unique_ptr<TerminationPolicy>(
        new BanditPolicy(goal, schedule, spec.slack_factor, spec.slack_amount));
  }
  if (spec.type == "median_stopping") {
    return std::unique_ptr<TerminationPolicy>(new MedianStoppingPolicy(goal, schedule));
  }
  if (spec.type == "truncation_selection") {
    if (spec.truncation_percentage < 1 || spec.truncation_percentage > 99) {
      return SpecError(spec, "truncation_percentage must be between 1 and 99, got " +
                                 std::to_string(spec.truncation_percentage));
    }
    return std::unique_ptr<TerminationPolicy>(
        new TruncationSelectionPolicy(goal, schedule, spec.truncation_percentage));
  }
  if (spec.type == "asha") {
    if (!std::isfinite(spec.reduction_factor) || spec.reduction_factor < 2) {
      return SpecError(spec, "asha reduction_factor must be >= 2 (3 keeps the top third at each "
                             "rung), got " + Num(spec.reduction_factor));
    }
    if (spec.min_resource < 1) {
      return SpecError(spec, "asha min_resource must be >= 1 interval, got " +
                                 std::to_string(spec.min_resource));
    }
    if (spec.brackets < 1) {
      return SpecError(spec, "asha brackets must be >= 1, got " + std::to_string(spec.brackets));
    }
    if (spec.max_resource < 0 ||
        (spec.max_resource > 0 && spec.max_resource <= spec.min_resource)) {
      return SpecError(spec, "asha max_resource must be 0 (unbounded) or greater than "
                             "min_resource (" + std::to_string(spec.min_resource) + "), got " +
                                 std::to_string(spec.max_resource));
    }
    return std::unique_ptr<TerminationPolicy>(
        new AshaPolicy(goal, spec.delay_evaluation, spec.min_resource, spec.max_resource,
                       spec.reduction_factor, spec.brackets));
  }
  return SpecError(spec, "unknown type '" + spec.type + "'" + DidYouMeanSuffix(spec.type, kTypes) +
                             "; valid types: " + Join(kTypes, ", "));
}

}  // namespace overdrive
