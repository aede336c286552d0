// The parameters of the pluggable sweep components — samplers (`sampling_algorithm`) and
// early-termination policies (`early_termination`) — declared once. Each component is a type
// name, a line of help and a list of ParamDecl (name, C++ field, bounds, help) plus the checks
// that join two parameters (bandit's slack_factor vs slack_amount, asha's max_resource vs
// min_resource). That one declaration drives:
// - the job parser: which keys a component accepts (did-you-mean for the rest), how each value
//   is read and what its error says, at the offending key's file:line:col;
// - the factories (MakeSampler, MakeTerminationPolicy), which refuse exactly what the parser
//   refuses, so a job accepted at submit can always be started;
// - the sweep plan's JSON (what is stored with a sweep and read back by `job resume`);
// - the parameter reference in docs/sweep-parameters.md (RenderParamReference).
//
// A parameter's name, C++ type and default are its field in SamplingSpec / EarlyTerminationSpec
// (job_spec.hpp): the default is the field's initializer, read from a value-initialized struct,
// so it is written once. Bounds, help and which components take it are here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "common/value.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {

enum class ParamType { kInt, kNumber, kChoice };

struct ParamBound {
  double value = 0;
  bool inclusive = true;
};

// What is wrong with a component's parameters: the parameter to point at ("" = the component as
// a whole, e.g. a missing required parameter) and a message without a position.
struct ParamIssue {
  std::string param;
  std::string message;
};

template <class Spec>
struct ParamDecl {
  // The field of Spec that holds the value. int / double: always set (the initializer is the
  // default); optional: unset means "not given"; string: a choice.
  using Field = std::variant<int Spec::*, double Spec::*, std::optional<double> Spec::*,
                             std::optional<std::uint64_t> Spec::*, std::string Spec::*>;
  std::string name;
  Field field;
  std::string help;
  bool required = false;          // the file must give it (no usable default)
  std::optional<ParamBound> min;  // numeric parameters
  std::optional<ParamBound> max;
  std::vector<std::string> choices;  // kChoice parameters

  ParamType type() const;
  // The value in `spec`; nullopt for an optional field that is unset.
  std::optional<ParamValue> Get(const Spec& spec) const;
  // Stores `v` (already checked with Check) in `spec`.
  void Set(Spec& spec, const ParamValue& v) const;
  // The declared default (the field's initializer); nullopt when there is none.
  std::optional<ParamValue> Default() const { return Get(Spec{}); }
  // "'min_resource' must be between 1 and 1000000000, got 0", or nullopt when `v` is allowed.
  std::optional<std::string> Check(const ParamValue& v) const;
  // "between 1 and 99", "at least 0", "greater than 0", "one of random, sobol".
  std::string AllowedText() const;
};

// A check across parameters, with the rule it enforces in words (for the reference).
template <class Spec>
struct JointCheck {
  std::string help;
  std::optional<ParamIssue> (*check)(const Spec&);
};

template <class Spec>
struct ComponentDecl {
  std::string type;  // the name a job file gives: "bandit", "tpe"
  std::string help;
  std::vector<ParamDecl<Spec>> params;
  // Checks across parameters, run after each parameter passed its own bounds.
  std::vector<JointCheck<Spec>> joint_checks;

  const ParamDecl<Spec>* Find(std::string_view name) const;
  std::vector<std::string> ParamNames() const;
  // Every declared parameter's bounds (required ones must be set), then the joint checks.
  std::optional<ParamIssue> Validate(const Spec& spec) const;
  // {"type": ..., and each declared parameter that is set}.
  nlohmann::json ToJson(const Spec& spec) const;
  // Reads the declared parameters present in `j` into `spec` (others keep their defaults).
  // Throws on a value of the wrong JSON type (a corrupt record); bounds are not checked here,
  // so a stored plan can always be shown: the factories refuse it when it is driven.
  void FromJson(const nlohmann::json& j, Spec& spec) const;
};

using SamplerDecl = ComponentDecl<SamplingSpec>;
using PolicyDecl = ComponentDecl<EarlyTerminationSpec>;

// Every component, in the order help and error messages list them.
const std::vector<SamplerDecl>& SamplerDecls();
const std::vector<PolicyDecl>& PolicyDecls();
// nullptr for an unknown type.
const SamplerDecl* FindSamplerDecl(std::string_view type);
const PolicyDecl* FindPolicyDecl(std::string_view type);
std::vector<std::string> SamplerTypes();
std::vector<std::string> PolicyTypes();

// "unknown type 'bandti' (did you mean 'bandit'?); valid types: bandit, median_stopping, ..."
std::string UnknownComponentMessage(const std::string& type, const std::vector<std::string>& valid);

// The Markdown reference of every component's parameters (docs/sweep-parameters.md).
std::string RenderParamReference();

}  // namespace overdrive
