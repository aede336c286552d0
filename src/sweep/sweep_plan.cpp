#include "sweep/sweep_plan.hpp"

#include <random>

#include <nlohmann/json.hpp>

#include "sampler/sampler.hpp"
#include "spec/component_params.hpp"
#include "sweep/submission.hpp"
#include "termination/policy.hpp"

namespace overdrive {

namespace {

DistributionType TypeFromName(const std::string& name) {
  for (auto t : {DistributionType::kChoice, DistributionType::kRandint, DistributionType::kUniform,
                 DistributionType::kLoguniform, DistributionType::kQuniform,
                 DistributionType::kQloguniform, DistributionType::kNormal,
                 DistributionType::kLognormal, DistributionType::kQnormal,
                 DistributionType::kQlognormal}) {
    if (name == DistributionTypeName(t)) return t;
  }
  throw std::runtime_error("unknown distribution type '" + name + "'");
}

nlohmann::json DistributionToJson(const Distribution& d) {
  nlohmann::json j;
  j["type"] = DistributionTypeName(d.type);
  switch (d.type) {
    case DistributionType::kChoice: {
      nlohmann::json values = nlohmann::json::array();
      for (const auto& v : d.values) values.push_back(ParamToJson(v));
      j["values"] = values;
      if (!d.sub_spaces.empty()) {
        nlohmann::json subs = nlohmann::json::array();
        for (const auto& s : d.sub_spaces) subs.push_back(SearchSpaceToJson(s));
        j["sub_spaces"] = subs;
      }
      break;
    }
    case DistributionType::kRandint: j["upper"] = d.upper; break;
    case DistributionType::kUniform:
    case DistributionType::kLoguniform:
      j["min_value"] = d.min_value;
      j["max_value"] = d.max_value;
      break;
    case DistributionType::kQuniform:
    case DistributionType::kQloguniform:
      j["min_value"] = d.min_value;
      j["max_value"] = d.max_value;
      j["q"] = d.q;
      break;
    case DistributionType::kNormal:
    case DistributionType::kLognormal:
      j["mu"] = d.mu;
      j["sigma"] = d.sigma;
      break;
    case DistributionType::kQnormal:
    case DistributionType::kQlognormal:
      j["mu"] = d.mu;
      j["sigma"] = d.sigma;
      j["q"] = d.q;
      break;
  }
  return j;
}

Distribution DistributionFromJson(const nlohmann::json& j) {
  Distribution d;
  d.type = TypeFromName(j.at("type").get<std::string>());
  if (j.contains("values")) {
    for (const auto& v : j["values"]) d.values.push_back(ParamFromJson(v));
  }
  if (j.contains("sub_spaces")) {
    for (const auto& s : j["sub_spaces"]) {
      auto sub = SearchSpaceFromJson(s);
      if (!sub) throw std::runtime_error(sub.error().message);
      d.sub_spaces.push_back(std::move(*sub));
    }
  }
  d.upper = j.value("upper", std::int64_t{0});
  d.min_value = j.value("min_value", 0.0);
  d.max_value = j.value("max_value", 1.0);
  d.mu = j.value("mu", 0.0);
  d.sigma = j.value("sigma", 1.0);
  d.q = j.value("q", 1.0);
  return d;
}

}  // namespace

nlohmann::json SearchSpaceToJson(const SearchSpace& space) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [name, d] : space.params) {
    nlohmann::json p = DistributionToJson(d);
    p["name"] = name;
    arr.push_back(p);
  }
  return arr;
}

Result<SearchSpace> SearchSpaceFromJson(const nlohmann::json& j) {
  try {
    SearchSpace s;
    for (const auto& p : j) s.params.emplace_back(p.at("name").get<std::string>(), DistributionFromJson(p));
    return s;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kStorage, std::string("corrupt search space record: ") + e.what());
  }
}

std::string SweepPlan::ToJson() const {
  nlohmann::json j;
  const SweepSpec& s = sweep;
  j["search_space"] = SearchSpaceToJson(s.search_space);
  // Each component's parameters as its declaration lists them (spec/component_params.cpp).
  const SamplerDecl* sampler = FindSamplerDecl(s.sampling.type);
  j["sampling"] = sampler ? sampler->ToJson(s.sampling)
                          : nlohmann::json{{"type", s.sampling.type}, {"rule", s.sampling.rule}};
  j["objective"] = {{"primary_metric", s.objective.primary_metric},
                    {"goal", s.objective.goal == Goal::kMaximize ? "maximize" : "minimize"}};
  j["limits"] = {{"max_total_trials", s.limits.max_total_trials},
                 {"max_concurrent_trials", s.limits.max_concurrent_trials},
                 {"timeout_s", s.limits.timeout_s}};
  if (s.limits.trial_timeout_s) j["limits"]["trial_timeout_s"] = *s.limits.trial_timeout_s;
  const auto& et = s.early_termination;
  const PolicyDecl* policy = FindPolicyDecl(et.type);
  j["early_termination"] = policy ? policy->ToJson(et) : nlohmann::json{{"type", et.type}};
  if (s.register_best_model) {
    j["register_best_model"] = {{"name", s.register_best_model->name},
                                {"path", s.register_best_model->path}};
  }
  j["command_template"] = command_template;
  j["command_pos"] = {command_pos.file, command_pos.line, command_pos.column};
  j["inputs"] = inputs;
  j["seed"] = seed;
  j["trial"] = nlohmann::json::parse(trial.ToJson());
  return j.dump();
}

Result<SweepPlan> SweepPlan::FromJson(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    SweepPlan p;
    OD_ASSIGN_OR_RETURN(p.sweep.search_space, SearchSpaceFromJson(j.at("search_space")));
    const auto& sampling = j.at("sampling");
    p.sweep.sampling.type = sampling.value("type", "random");
    // An unknown type is kept as it is: the controller refuses it and ends the sweep failed.
    if (const SamplerDecl* d = FindSamplerDecl(p.sweep.sampling.type)) d->FromJson(sampling, p.sweep.sampling);
    p.sweep.objective.primary_metric = j["objective"].at("primary_metric").get<std::string>();
    p.sweep.objective.goal =
        j["objective"].value("goal", "maximize") == "minimize" ? Goal::kMinimize : Goal::kMaximize;
    const auto& l = j.at("limits");
    p.sweep.limits.max_total_trials = l.value("max_total_trials", 1000);
    p.sweep.limits.max_concurrent_trials = l.value("max_concurrent_trials", 0);
    p.sweep.limits.timeout_s = l.value("timeout_s", 5184000.0);
    if (l.contains("trial_timeout_s")) p.sweep.limits.trial_timeout_s = l["trial_timeout_s"].get<double>();
    const auto& e = j.at("early_termination");
    auto& et = p.sweep.early_termination;
    et.type = e.value("type", "");
    // Plans stored before the declarations held every field; only the type's own are read.
    if (const PolicyDecl* d = FindPolicyDecl(et.type)) d->FromJson(e, et);
    if (j.contains("register_best_model")) {
      RegisterBestModelSpec reg;
      reg.name = j["register_best_model"].at("name").get<std::string>();
      reg.path = j["register_best_model"].value("path", "outputs/model");
      p.sweep.register_best_model = std::move(reg);
    }
    p.command_template = j.at("command_template").get<std::string>();
    const auto& pos = j.at("command_pos");
    p.command_pos = {pos[0].get<std::string>(), pos[1].get<int>(), pos[2].get<int>()};
    p.inputs = j.value("inputs", std::map<std::string, std::string>{});
    p.seed = j.value("seed", std::uint64_t{0});
    OD_ASSIGN_OR_RETURN(p.trial, LaunchConfig::FromJson(j.at("trial").dump()));
    return p;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kStorage, std::string("corrupt sweep record: ") + e.what());
  }
}

Result<void> SweepPlan::CheckStartable() const {
  SamplerOptions options;
  options.type = sweep.sampling.type;
  options.rule = sweep.sampling.rule;
  options.budget = sweep.limits.max_total_trials;
  OD_TRY(MakeSampler(options, sweep.search_space));
  OD_TRY(MakeTerminationPolicy(sweep.early_termination, sweep.objective.goal));
  return {};
}

SweepPlan SweepPlan::FromSpec(const JobSpec& spec) {
  SweepPlan p;
  p.sweep = *spec.sweep;
  p.command_template = spec.command.command;
  p.command_pos = spec.command.command_pos;
  p.inputs = MakeSubstitutionContext(spec.command, "").inputs;
  if (spec.sweep->sampling.seed) {
    p.seed = *spec.sweep->sampling.seed;
  } else {
    std::random_device rd;
    p.seed = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  }
  p.trial = LaunchConfig::FromSpec(spec.command, spec.extensions);
  return p;
}

}  // namespace overdrive
