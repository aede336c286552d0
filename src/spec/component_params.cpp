#include "spec/component_params.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "common/strings.hpp"

namespace overdrive {
namespace {

ParamBound AtLeast(double v) { return {v, true}; }
ParamBound Above(double v) { return {v, false}; }
ParamBound AtMost(double v) { return {v, true}; }

// Integers print as integers ("1000000000", not "1e+09").
std::string BoundText(double v, ParamType type) {
  if (type == ParamType::kInt && std::fabs(v) < 9e15)
    return std::to_string(static_cast<long long>(v));
  return FormatDouble(v);
}

std::string ValueText(const ParamValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return "'" + *s + "'";
  if (const auto* d = std::get_if<double>(&v)) return FormatDouble(*d);
  return ParamToString(v);
}

std::optional<double> AsNumber(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::nullopt;
}

// ---------- the declarations ----------

using SamplerParam = ParamDecl<SamplingSpec>;
using PolicyParam = ParamDecl<EarlyTerminationSpec>;

const SamplerParam kSeed{
    .name = "seed",
    .field = &SamplingSpec::seed,
    .help =
        "seed of the sampler's draws; without one, a seed is drawn at submit and stored "
        "with the sweep, so `job resume` continues the same sequence",
    .min = AtLeast(0)};

const SamplerParam kRule{.name = "rule",
                         .field = &SamplingSpec::rule,
                         .help =
                             "`random`: independent draws; `sobol`: a scrambled Sobol "
                             "sequence (covers the space more evenly)",
                         .choices = {"random", "sobol"}};

// Intervals (reports of the primary metric) are ints; a million is far beyond any real sweep.
constexpr double kMaxIntervals = 1000000;
constexpr double kMaxBudget = 1000000000;

const PolicyParam kEvaluationInterval{
    .name = "evaluation_interval",
    .field = &EarlyTerminationSpec::evaluation_interval,
    .help =
        "the policy acts at every k-th interval; 0 (the Azure SDK's default) means every "
        "interval",
    .min = AtLeast(0),
    .max = AtMost(kMaxIntervals)};

const PolicyParam kDelayEvaluation{.name = "delay_evaluation",
                                   .field = &EarlyTerminationSpec::delay_evaluation,
                                   .help = "the policy acts at no interval before this one",
                                   .min = AtLeast(0),
                                   .max = AtMost(kMaxIntervals)};

// Both slacks are optional fields: which one is given is bandit's joint check below.
const PolicyParam kSlackFactor{
    .name = "slack_factor",
    .field = &EarlyTerminationSpec::slack_factor,
    .help =
        "allowed distance from the best trial as a ratio: stop below best/(1+slack_factor) "
        "(maximize); give this or slack_amount",
    .min = Above(0)};
const PolicyParam kSlackAmount{
    .name = "slack_amount",
    .field = &EarlyTerminationSpec::slack_amount,
    .help =
        "allowed distance from the best trial as an absolute amount: stop below best - "
        "slack_amount (maximize); give this or slack_factor",
    .min = Above(0)};

const PolicyParam kTruncationPercentage{
    .name = "truncation_percentage",
    .field = &EarlyTerminationSpec::truncation_percentage,
    .help = "the worst this many percent of trials at an evaluated interval stop",
    .required = true,
    .min = AtLeast(1),
    .max = AtMost(99)};

const PolicyParam kMinResource{.name = "min_resource",
                               .field = &EarlyTerminationSpec::min_resource,
                               .help = "the first rung, in intervals",
                               .min = AtLeast(1),
                               .max = AtMost(kMaxBudget)};
const PolicyParam kMaxResource{
    .name = "max_resource",
    .field = &EarlyTerminationSpec::max_resource,
    .help =
        "a trial's full budget in intervals, no rung at or beyond it; 0 = unbounded "
        "(otherwise greater than min_resource)",
    .min = AtLeast(0),
    .max = AtMost(kMaxBudget)};

// The policy's rung arithmetic and Optuna's successive halving both need eta >= 2.
const PolicyParam kReductionFactor{
    .name = "reduction_factor",
    .field = &EarlyTerminationSpec::reduction_factor,
    .help = "eta: rungs at min_resource * eta^i; the top 1/eta at each rung continue",
    .min = AtLeast(2)};

const PolicyParam kBrackets{.name = "brackets",
                            .field = &EarlyTerminationSpec::brackets,
                            .help =
                                "successive-halving brackets; bracket s starts at "
                                "min_resource * eta^s (trials are spread by a hash of "
                                "their id)",
                            .min = AtLeast(1),
                            .max = AtMost(100)};

std::optional<ParamIssue> BanditSlack(const EarlyTerminationSpec& s) {
  if (s.slack_factor && s.slack_amount) {
    return ParamIssue{"slack_amount",
                      "bandit takes either 'slack_factor' or 'slack_amount', not both"};
  }
  if (!s.slack_factor && !s.slack_amount) {
    return ParamIssue{"", "bandit needs 'slack_factor' or 'slack_amount'"};
  }
  return std::nullopt;
}

// At max_resource == min_resource there is no rung below the budget: nothing would ever be
// decided, which is a mistake rather than a wish.
std::optional<ParamIssue> AshaBudget(const EarlyTerminationSpec& s) {
  if (s.max_resource != 0 && s.max_resource <= s.min_resource) {
    return ParamIssue{"max_resource", "'max_resource' (" + std::to_string(s.max_resource) +
                                          ") must be greater than 'min_resource' (" +
                                          std::to_string(s.min_resource) + "), or 0 for no limit"};
  }
  return std::nullopt;
}

}  // namespace

// ---------- ParamDecl ----------

template <class Spec>
ParamType ParamDecl<Spec>::type() const {
  return std::visit(
      [](auto member) {
        using T = std::remove_cvref_t<decltype(std::declval<Spec>().*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return ParamType::kChoice;
        } else if constexpr (std::is_same_v<T, double> ||
                             std::is_same_v<T, std::optional<double>>) {
          return ParamType::kNumber;
        } else {
          return ParamType::kInt;
        }
      },
      field);
}

template <class Spec>
std::optional<ParamValue> ParamDecl<Spec>::Get(const Spec& spec) const {
  return std::visit(
      [&](auto member) -> std::optional<ParamValue> {
        const auto& v = spec.*member;
        using T = std::remove_cvref_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int>) {
          return ParamValue(static_cast<std::int64_t>(v));
        } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
          return ParamValue(v);
        } else if constexpr (std::is_same_v<T, std::optional<double>>) {
          if (!v) return std::nullopt;
          return ParamValue(*v);
        } else {
          if (!v) return std::nullopt;
          return ParamValue(static_cast<std::int64_t>(*v));
        }
      },
      field);
}

template <class Spec>
void ParamDecl<Spec>::Set(Spec& spec, const ParamValue& value) const {
  std::visit(
      [&](auto member) {
        auto& v = spec.*member;
        using T = std::remove_cvref_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          v = std::get<std::string>(value);
        } else if constexpr (std::is_same_v<T, int>) {
          v = static_cast<int>(AsNumber(value).value_or(0));
        } else if constexpr (std::is_same_v<T, std::optional<std::uint64_t>>) {
          const auto* i = std::get_if<std::int64_t>(&value);
          v = static_cast<std::uint64_t>(i ? *i : 0);
        } else {
          v = AsNumber(value).value_or(0);
        }
      },
      field);
}

template <class Spec>
std::string ParamDecl<Spec>::AllowedText() const {
  const ParamType t = type();
  if (t == ParamType::kChoice) return "one of " + Join(choices, ", ");
  std::string text = t == ParamType::kInt ? "an integer" : "a number";
  if (min && max && min->inclusive && max->inclusive) {
    return "between " + BoundText(min->value, t) + " and " + BoundText(max->value, t);
  }
  std::string lower, upper;
  if (min) lower = (min->inclusive ? "at least " : "greater than ") + BoundText(min->value, t);
  if (max) upper = (max->inclusive ? "at most " : "less than ") + BoundText(max->value, t);
  if (!lower.empty() && !upper.empty()) return lower + " and " + upper;
  if (!lower.empty()) return lower;
  if (!upper.empty()) return upper;
  return text;
}

template <class Spec>
std::optional<std::string> ParamDecl<Spec>::Check(const ParamValue& v) const {
  const std::string got = ", got " + ValueText(v);
  const ParamType t = type();
  if (t == ParamType::kChoice) {
    const auto* s = std::get_if<std::string>(&v);
    if (s && std::find(choices.begin(), choices.end(), *s) != choices.end()) return std::nullopt;
    return "'" + name + "' must be " + AllowedText() + got;
  }
  const std::optional<double> x = AsNumber(v);
  if (!x || !std::isfinite(*x) ||
      (t == ParamType::kInt && !std::holds_alternative<std::int64_t>(v))) {
    return "'" + name + "' must be " + (t == ParamType::kInt ? "an integer" : "a number") + got;
  }
  const bool below = min && (min->inclusive ? *x < min->value : *x <= min->value);
  const bool above = max && (max->inclusive ? *x > max->value : *x >= max->value);
  if (below || above) return "'" + name + "' must be " + AllowedText() + got;
  return std::nullopt;
}

// ---------- ComponentDecl ----------

template <class Spec>
const ParamDecl<Spec>* ComponentDecl<Spec>::Find(std::string_view name) const {
  for (const auto& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

template <class Spec>
std::vector<std::string> ComponentDecl<Spec>::ParamNames() const {
  std::vector<std::string> names;
  for (const auto& p : params) names.push_back(p.name);
  return names;
}

template <class Spec>
std::optional<ParamIssue> ComponentDecl<Spec>::Validate(const Spec& spec) const {
  for (const auto& p : params) {
    const std::optional<ParamValue> v = p.Get(spec);
    if (!v) continue;
    if (auto message = p.Check(*v)) {
      // A required parameter still at its (out of bounds) default was not given at all.
      if (p.required && p.Default() == v) {
        return ParamIssue{"", type + " needs '" + p.name + "' (" + p.AllowedText() + ")"};
      }
      return ParamIssue{p.name, *message};
    }
  }
  for (const auto& joint : joint_checks) {
    if (auto issue = joint.check(spec)) return issue;
  }
  return std::nullopt;
}

template <class Spec>
nlohmann::json ComponentDecl<Spec>::ToJson(const Spec& spec) const {
  nlohmann::json j = {{"type", type}};
  for (const auto& p : params) {
    if (auto v = p.Get(spec)) j[p.name] = ParamToJson(*v);
  }
  return j;
}

template <class Spec>
void ComponentDecl<Spec>::FromJson(const nlohmann::json& j, Spec& spec) const {
  for (const auto& p : params) {
    if (!j.contains(p.name) || j.at(p.name).is_null()) continue;
    const nlohmann::json& v = j.at(p.name);
    switch (p.type()) {
      case ParamType::kChoice:
        p.Set(spec, v.get<std::string>());
        break;
      case ParamType::kNumber:
        p.Set(spec, v.get<double>());
        break;
      case ParamType::kInt: {
        if (!v.is_number_integer()) {
          throw std::runtime_error("'" + p.name + "' is not an integer: " + v.dump());
        }
        const std::int64_t i = v.get<std::int64_t>();
        // Out of the field's range cannot have been written by us: corrupt.
        if (std::holds_alternative<int Spec::*>(p.field) &&
            (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max())) {
          throw std::runtime_error("'" + p.name + "' is out of range: " + v.dump());
        }
        p.Set(spec, i);
        break;
      }
    }
  }
}

template struct ParamDecl<SamplingSpec>;
template struct ParamDecl<EarlyTerminationSpec>;
template struct ComponentDecl<SamplingSpec>;
template struct ComponentDecl<EarlyTerminationSpec>;

// ---------- the components ----------

const std::vector<SamplerDecl>& SamplerDecls() {
  static const std::vector<SamplerDecl> decls = {
      {"random", "independent draws, or a scrambled Sobol sequence", {kSeed, kRule}, {}},
      {"grid", "the full cartesian product of choice parameters, each point once", {kSeed}, {}},
      {"bayesian",
       "Gaussian process with expected improvement (choice, uniform and quniform parameters)",
       {kSeed},
       {}},
      {"tpe", "extension: multivariate tree-structured Parzen estimator", {kSeed}, {}},
  };
  return decls;
}

const std::vector<PolicyDecl>& PolicyDecls() {
  static const std::vector<PolicyDecl> decls = {
      {"bandit",
       "stops a trial whose best so far is outside the slack of the best trial",
       {kEvaluationInterval, kDelayEvaluation, kSlackFactor, kSlackAmount},
       {{"give exactly one of slack_factor and slack_amount", &BanditSlack}}},
      {"median_stopping",
       "stops a trial whose best so far is worse than the median of the others' running "
       "averages",
       {kEvaluationInterval, kDelayEvaluation},
       {}},
      {"truncation_selection",
       "stops the worst truncation_percentage% of trials at each evaluated interval",
       {kEvaluationInterval, kDelayEvaluation, kTruncationPercentage},
       {}},
      // asha's rungs decide when it acts; evaluation_interval is accepted (files written for
      // the Azure policies carry it) and ignored.
      {"asha",
       "extension: asynchronous successive halving; the resource is the trial's interval count. "
       "Its rungs decide when it acts: evaluation_interval is accepted and ignored",
       {kEvaluationInterval, kDelayEvaluation, kMinResource, kMaxResource, kReductionFactor,
        kBrackets},
       {{"max_resource is 0 or greater than min_resource", &AshaBudget}}},
  };
  return decls;
}

namespace {

template <class Decl>
const Decl* FindIn(const std::vector<Decl>& decls, std::string_view type) {
  for (const auto& d : decls) {
    if (d.type == type) return &d;
  }
  return nullptr;
}

template <class Decl>
std::vector<std::string> TypesOf(const std::vector<Decl>& decls) {
  std::vector<std::string> types;
  for (const auto& d : decls) types.push_back(d.type);
  return types;
}

template <class Decl>
void RenderComponents(std::ostringstream& out, const std::vector<Decl>& decls) {
  for (const auto& d : decls) {
    std::string help = d.help;
    help[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(help[0])));
    out << "\n### `" << d.type << "`\n\n" << help << ".\n";
    for (const auto& joint : d.joint_checks) out << "\nAlso: " << joint.help << ".\n";
    if (d.params.empty()) continue;
    out << "\n| parameter | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
    for (const auto& p : d.params) {
      const ParamType t = p.type();
      std::string def = "none";
      if (p.required) {
        def = "required";
      } else if (auto v = p.Default()) {
        def = "`" + ParamToString(*v) + "`";
      }
      out << "| `" << p.name << "` | "
          << (t == ParamType::kChoice ? "choice"
              : t == ParamType::kInt  ? "integer"
                                      : "number")
          << " | " << def << " | " << p.AllowedText() << " | " << p.help << " |\n";
    }
  }
}

}  // namespace

const SamplerDecl* FindSamplerDecl(std::string_view type) { return FindIn(SamplerDecls(), type); }
const PolicyDecl* FindPolicyDecl(std::string_view type) { return FindIn(PolicyDecls(), type); }
std::vector<std::string> SamplerTypes() { return TypesOf(SamplerDecls()); }
std::vector<std::string> PolicyTypes() { return TypesOf(PolicyDecls()); }

std::string UnknownComponentMessage(const std::string& type,
                                    const std::vector<std::string>& valid) {
  return "unknown type '" + type + "'" + DidYouMeanSuffix(type, valid) +
         "; valid types: " + Join(valid, ", ");
}

std::string RenderParamReference() {
  std::ostringstream out;
  out << "# Sweep parameters\n\n"
         "Generated from the declarations in `src/spec/component_params.cpp` (the parser, the\n"
         "factories and the stored sweep plan all read them); "
         "`tests/spec/component_params_test.cpp`\n"
         "fails when this file is out of date. A value outside these bounds is refused at\n"
         "`overdrive job submit` (and `--dry-run`) with its `file:line:col`.\n"
         "\n## `sampling_algorithm`\n\n"
         "A name (`sampling_algorithm: tpe`) or a mapping with a `type` and the parameters "
         "below.\n";
  RenderComponents(out, SamplerDecls());
  out << "\n## `early_termination`\n\n"
         "A mapping with a `type` and the parameters below. An interval is one report of the "
         "primary metric.\n";
  RenderComponents(out, PolicyDecls());
  return out.str();
}

}  // namespace overdrive
