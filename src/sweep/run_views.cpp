#include "sweep/run_views.hpp"

#include <charconv>

#include <algorithm>
#include <cmath>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/handle_info.hpp"
#include "sweep/environment_prep.hpp"
#include "sweep/run_retention.hpp"
#include "sweep/sweep_plan.hpp"

namespace overdrive {

double RunDuration(const RunRecord& run) {
  if (run.started_at <= 0) return 0;
  double end = run.ended_at > 0 ? run.ended_at : WallSeconds();
  return end - run.started_at;
}

namespace {
// The JSON value of a stored param. Most are a number or a plain string: those are read
// directly (a trials table of 10,000 trials reads 30,000 of them per refresh); anything else
// goes through the parser, and text that is not JSON stays text.
nlohmann::json ParamValueJson(const std::string& text) {
  if (!text.empty()) {
    const char* b = text.data();
    const char* e = b + text.size();
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"' &&
        text.find_first_of("\\\"", 1) == text.size() - 1) {
      return text.substr(1, text.size() - 2);
    }
    std::int64_t i = 0;
    if (auto [p, ec] = std::from_chars(b, e, i); ec == std::errc() && p == e) return i;
    double d = 0;
    if (std::isdigit(static_cast<unsigned char>(text.back())) &&
        (std::isdigit(static_cast<unsigned char>(text.front())) || text.front() == '-')) {
      if (auto [p, ec] = std::from_chars(b, e, d); ec == std::errc() && p == e) return d;
    }
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    return text;
  }
}
}  // namespace

nlohmann::json ParamsJson(const std::vector<Param>& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : params) j[p.name] = ParamValueJson(p.value_json);
  return j;
}

nlohmann::json JsonNumber(double v) {
  if (std::isnan(v) || std::isinf(v)) return FormatDouble(v);
  return v;
}

Result<SweepView> LoadSweepView(Workspace& ws, const RunRecord& sweep) {
  SweepView v;
  OD_ASSIGN_OR_RETURN(SweepPlan plan, SweepPlan::FromJson(sweep.launch_json));
  v.metric = plan.sweep.objective.primary_metric;
  v.goal = plan.sweep.objective.goal;
  v.max_total_trials = plan.sweep.limits.max_total_trials;
  v.sampling = plan.sweep.sampling.type + (plan.sweep.sampling.rule == "sobol" ? " (sobol)" : "");
  v.early_termination = plan.sweep.early_termination.type.empty() ? "none" : plan.sweep.early_termination.type;
  OD_ASSIGN_OR_RETURN(v.trials, LoadTrials(ws.store(), sweep.id, v.metric, v.goal));
  // Ranked by the primary metric (best first); trials without a value last, in creation order.
  std::stable_sort(v.trials.begin(), v.trials.end(), [&](const TrialInfo& a, const TrialInfo& b) {
    if (a.best && b.best) return IsBetter(v.goal, *a.best, *b.best);
    return a.best.has_value() && !b.best.has_value();
  });
  const TrialInfo* best = BestTrial(v.trials, v.goal);
  if (best) v.best_trial_id = best->run.id;
  v.cost = EstimateCost(v.trials);
  return v;
}

Result<nlohmann::json> SweepToJson(Workspace& ws, const RunRecord& sweep) {
  OD_ASSIGN_OR_RETURN(SweepView v, LoadSweepView(ws, sweep));
  nlohmann::json j;
  j["objective"] = {{"primary_metric", v.metric},
                    {"goal", v.goal == Goal::kMaximize ? "maximize" : "minimize"}};
  j["sampling"] = v.sampling;
  j["early_termination"] = v.early_termination;
  nlohmann::json trials = nlohmann::json::array();
  for (const auto& t : v.trials) {
    nlohmann::json tj;
    tj["id"] = t.run.id;
    tj["name"] = t.run.display_name;
    tj["status"] = RunStatusName(t.run.status);
    if (!t.run.status_reason.empty()) tj["status_reason"] = t.run.status_reason;
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, pv] : t.params) params[k] = ParamToJson(pv);
    tj["params"] = params;
    OD_ASSIGN_OR_RETURN(auto summaries, ws.store().GetMetricSummaries(t.run.id));
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& s : summaries) {
      double best = v.goal == Goal::kMaximize ? s.max_value : s.min_value;
      if (s.name != v.metric) best = s.last_value;
      metrics[s.name] = {{"last", JsonNumber(s.last_value)}, {"best", JsonNumber(best)},
                         {"min", JsonNumber(s.min_value)}, {"max", JsonNumber(s.max_value)},
                         {"count", s.count}};
    }
    tj["metrics"] = metrics;
    tj["intervals"] = t.intervals.size();
    tj["duration_s"] = RunDuration(t.run);
    tj["executor"] = DescribeRunExecutor(t.run);
    trials.push_back(tj);
  }
  j["trials"] = trials;
  j["best_trial"] = v.best_trial_id.empty() ? nlohmann::json() : nlohmann::json(v.best_trial_id);
  j["trial_seconds"] = v.cost.used_s;
  j["saved_trial_seconds"] = v.cost.saved_s;
  return j;
}

nlohmann::json DescribeRunExecutor(const RunRecord& run) {
  nlohmann::json d = DescribeHandle(run.executor_handle, run.run_dir);
  if (!d.is_object() || d.value("type", "") != "local" || d.contains("process_group")) return d;
  nlohmann::json h = nlohmann::json::parse(run.executor_handle, nullptr, false);
  if (!h.is_object() || !h.contains(kHandleProcessGroupKey) ||
      !h[kHandleProcessGroupKey].is_number_integer()) {
    return d;
  }
  // As DescribeHandle says it while the folder has the shim's group record.
  d["process_group"] = h[kHandleProcessGroupKey];
  d["summary"] = "local process group " + h[kHandleProcessGroupKey].dump() + " (supervisor pid " +
                 d["pid"].dump() + ")";
  return d;
}

nlohmann::json RunSummaryJson(const RunRecord& run) {
  nlohmann::json j;
  j["id"] = run.id;
  j["type"] = JobTypeName(run.job_type);
  j["status"] = RunStatusName(run.status);
  if (!run.status_reason.empty()) j["status_reason"] = run.status_reason;
  j["experiment"] = run.experiment_name;
  j["display_name"] = run.display_name;
  if (!run.parent_id.empty()) j["parent_id"] = run.parent_id;
  j["created_at"] = run.created_at;
  j["started_at"] = run.started_at > 0 ? nlohmann::json(run.started_at) : nlohmann::json();
  j["ended_at"] = run.ended_at > 0 ? nlohmann::json(run.ended_at) : nlohmann::json();
  j["duration_s"] = RunDuration(run);
  j["exit_code"] = run.exit_code ? nlohmann::json(*run.exit_code) : nlohmann::json();
  j["command"] = run.command;
  j["compute"] = run.compute;
  j["run_dir"] = run.run_dir;
  try {
    j["tags"] = nlohmann::json::parse(run.tags_json);
  } catch (const std::exception&) {
    j["tags"] = nlohmann::json::object();
  }
  return j;
}

Result<std::vector<RunInputRecord>> DataInputsRead(Workspace& ws, const RunRecord& run) {
  OD_ASSIGN_OR_RETURN(auto own, ws.store().ListRunInputs(run.id));
  if (!own.empty() || run.parent_id.empty()) return own;
  // A trial reads what its sweep was given.
  auto parent = ws.store().ListRunInputs(run.parent_id);
  if (!parent) return own;
  return *parent;
}

Result<nlohmann::json> RunToJson(Workspace& ws, const RunRecord& run, bool details) {
  nlohmann::json j = RunSummaryJson(run);
  j["executor"] = DescribeRunExecutor(run);
  // The environment it ran in (label, name, version, content hash, kind); null = the node's.
  std::string lineage = EnvironmentLineage(ws, run);
  j["environment"] = lineage.empty() ? nlohmann::json() : nlohmann::json::parse(lineage, nullptr, false);
  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetParams(run.id));
  j["params"] = ParamsJson(params);
  OD_ASSIGN_OR_RETURN(auto inputs, DataInputsRead(ws, run));
  j["data_inputs"] = nlohmann::json::array();
  for (const auto& in : inputs) {
    nlohmann::json e = {{"input", in.input_name}, {"uri", in.uri}};
    if (!in.asset_name.empty()) {
      e["asset"] = in.asset_name;
      e["version"] = in.asset_version;
    }
    j["data_inputs"].push_back(e);
  }
  OD_ASSIGN_OR_RETURN(auto summaries, ws.store().GetMetricSummaries(run.id));
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& s : summaries) {
    metrics[s.name] = {{"last", JsonNumber(s.last_value)}, {"min", JsonNumber(s.min_value)},
                       {"max", JsonNumber(s.max_value)}, {"count", s.count},
                       {"last_step", s.last_step}};
  }
  j["metrics"] = metrics;
  if (details && run.job_type == JobType::kSweep) {
    OD_ASSIGN_OR_RETURN(nlohmann::json sweep, SweepToJson(ws, run));
    for (auto& [k, v] : sweep.items()) j[k] = v;
  }
  if (details) {
    OD_ASSIGN_OR_RETURN(auto artifacts, ws.store().ListArtifacts(run.id));
    nlohmann::json arts = nlohmann::json::array();
    for (const auto& a : artifacts) {
      arts.push_back({{"path", a.path}, {"size", a.size}, {"digest", a.digest}});
    }
    j["artifacts"] = arts;
    OD_ASSIGN_OR_RETURN(auto events, ws.store().ListEvents(run.id));
    nlohmann::json ev = nlohmann::json::array();
    for (const auto& e : events) {
      ev.push_back({{"timestamp", e.timestamp}, {"kind", e.kind}, {"message", e.message}});
    }
    j["events"] = ev;
  }
  return j;
}

}  // namespace overdrive
