#include "termination/policy.hpp"

#include <cmath>
#include <cstdio>

#include "common/check.hpp"
#include "common/strings.hpp"
#include "spec/component_params.hpp"
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
  const PolicyDecl* decl = FindPolicyDecl(spec.type);
  if (!decl) return SpecError(spec, UnknownComponentMessage(spec.type, PolicyTypes()));
  // The same declaration the parser checked at submit: a plan it accepted is accepted here.
  if (auto issue = decl->Validate(spec)) {
    return SpecError(spec, "(" + spec.type + ") " + issue->message);
  }
  const Schedule schedule{spec.evaluation_interval == 0 ? 1 : spec.evaluation_interval,
                          spec.delay_evaluation};
  if (spec.type == "bandit") {
    return std::unique_ptr<TerminationPolicy>(
        new BanditPolicy(goal, schedule, spec.slack_factor, spec.slack_amount));
  }
  if (spec.type == "median_stopping") {
    return std::unique_ptr<TerminationPolicy>(new MedianStoppingPolicy(goal, schedule));
  }
  if (spec.type == "truncation_selection") {
    return std::unique_ptr<TerminationPolicy>(
        new TruncationSelectionPolicy(goal, schedule, spec.truncation_percentage));
  }
  OD_CHECK(spec.type == "asha", "a declared policy type has no constructor here");
  return std::unique_ptr<TerminationPolicy>(
      new AshaPolicy(goal, spec.delay_evaluation, spec.min_resource, spec.max_resource,
                     spec.reduction_factor, spec.brackets));
}

}  // namespace overdrive
