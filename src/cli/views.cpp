#include "cli/views.hpp"

#include <algorithm>
#include <cmath>

#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "sweep/controller.hpp"
#include "sweep/sweep_plan.hpp"
#include "sweep/sweep_state.hpp"

namespace overdrive {

double RunDuration(const RunRecord& run) {
  if (run.started_at <= 0) return 0;
  double end = run.ended_at > 0 ? run.ended_at : WallSeconds();
  return end - run.started_at;
}

std::string StatusText(const RunRecord& run) {
  std::string s = RunStatusName(run.status);
  if (!IsFinal(run.status) && run.parent_id.empty() && run.controller_pid != 0 &&
      !ControllerAlive(run)) {
    s += " (controller gone: overdrive job resume " + run.id + ")";
  }
  return s;
}

namespace {

nlohmann::json ParamsJson(const std::vector<Param>& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : params) {
    try {
      j[p.name] = nlohmann::json::parse(p.value_json);
    } catch (const std::exception&) {
      j[p.name] = p.value_json;
    }
  }
  return j;
}

nlohmann::json Number(double v) {
  if (std::isnan(v) || std::isinf(v)) return FormatDouble(v);
  return v;
}

}  // namespace

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
      metrics[s.name] = {{"last", Number(s.last_value)}, {"best", Number(best)},
                         {"min", Number(s.min_value)}, {"max", Number(s.max_value)},
                         {"count", s.count}};
    }
    tj["metrics"] = metrics;
    tj["intervals"] = t.intervals.size();
    tj["duration_s"] = RunDuration(t.run);
    trials.push_back(tj);
  }
  j["trials"] = trials;
  j["best_trial"] = v.best_trial_id.empty() ? nlohmann::json() : nlohmann::json(v.best_trial_id);
  j["trial_seconds"] = v.cost.used_s;
  j["saved_trial_seconds"] = v.cost.saved_s;
  return j;
}

Result<nlohmann::json> RunToJson(Workspace& ws, const RunRecord& run, bool details) {
  nlohmann::json j;
  j["id"] = run.id;
  j["type"] = run.job_type;
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
  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetParams(run.id));
  j["params"] = ParamsJson(params);
  OD_ASSIGN_OR_RETURN(auto summaries, ws.store().GetMetricSummaries(run.id));
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& s : summaries) {
    metrics[s.name] = {{"last", Number(s.last_value)}, {"min", Number(s.min_value)},
                       {"max", Number(s.max_value)}, {"count", s.count},
                       {"last_step", s.last_step}};
  }
  j["metrics"] = metrics;
  if (details && run.job_type == "sweep") {
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

Result<void> PrintRun(Workspace& ws, const RunRecord& run, std::ostream& out) {
  out << "run         " << run.id << "  (" << run.job_type << ")\n";
  out << "status      " << StatusText(run);
  if (run.exit_code) out << "  exit code " << *run.exit_code;
  out << "\n";
  if (!run.status_reason.empty()) out << "reason      " << run.status_reason << "\n";
  if (!run.parent_id.empty()) out << "sweep       " << run.parent_id << "\n";
  out << "experiment  " << run.experiment_name << "\n";
  if (!run.display_name.empty()) out << "name        " << run.display_name << "\n";
  if (!run.description.empty()) out << "description " << run.description << "\n";
  out << "created     " << FormatTimestamp(run.created_at);
  if (run.started_at > 0) out << "   ran " << FormatDuration(RunDuration(run));
  out << "\n";
  out << "command     " << run.command << "\n";
  out << "compute     " << run.compute << "\n";
  out << "folder      " << run.run_dir << "\n";
  if (run.tags_json != "{}" && !run.tags_json.empty()) out << "tags        " << run.tags_json << "\n";

  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetParams(run.id));
  if (!params.empty()) {
    out << "\nparams\n";
    Table t({"name", "value"});
    for (const auto& p : params) t.Add({p.name, p.value_json});
    t.Print(out, "  ");
  }
  OD_ASSIGN_OR_RETURN(auto summaries, ws.store().GetMetricSummaries(run.id));
  if (!summaries.empty()) {
    out << "\nmetrics\n";
    Table t({"name", "last", "min", "max", "points", "last step"});
    for (const auto& s : summaries) {
      t.Add({s.name, FormatDouble(s.last_value), FormatDouble(s.min_value),
             FormatDouble(s.max_value), std::to_string(s.count), std::to_string(s.last_step)});
    }
    t.Print(out, "  ");
  }
  OD_ASSIGN_OR_RETURN(auto artifacts, ws.store().ListArtifacts(run.id));
  if (!artifacts.empty()) {
    out << "\nartifacts\n";
    Table t({"path", "size"});
    for (const auto& a : artifacts) t.Add({a.path, FormatBytes(static_cast<double>(a.size))});
    t.Print(out, "  ");
  }
  OD_ASSIGN_OR_RETURN(auto events, ws.store().ListEvents(run.id));
  bool header = false;
  for (const auto& e : events) {
    if (e.kind != "warning") continue;
    if (!header) out << "\nwarnings\n";
    header = true;
    out << "  " << e.message << "\n";
  }
  if (run.job_type == "sweep") {
    OD_ASSIGN_OR_RETURN(SweepView v, LoadSweepView(ws, run));
    out << "\nobjective   " << (v.goal == Goal::kMaximize ? "maximize " : "minimize ") << v.metric
        << "   sampling " << v.sampling << "   early termination " << v.early_termination << "\n";
    out << "trials      " << v.trials.size() << " of " << v.max_total_trials;
    if (!v.best_trial_id.empty()) out << "   best " << v.best_trial_id;
    out << "\ncost        " << FormatDuration(v.cost.used_s) << " of trial time";
    if (v.cost.stopped > 0) {
      out << ", ~" << FormatDuration(v.cost.saved_s) << " saved by stopping " << v.cost.stopped
          << " trials early";
    }
    out << "\n\ntrials (best " << v.metric << " first)\n";
    std::vector<std::string> header = {"#", "id", "status", v.metric, "intervals", "duration"};
    std::vector<std::string> names;
    for (const auto& t : v.trials)
      for (const auto& [k, pv] : t.params)
        if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
    for (const auto& n : names) header.push_back(n);
    Table t(header);
    int rank = 0;
    for (const auto& tr : v.trials) {
      std::vector<std::string> row = {std::to_string(++rank), tr.run.id + (tr.run.id == v.best_trial_id ? " *" : ""),
                                      RunStatusName(tr.run.status),
                                      tr.best ? FormatDouble(*tr.best) : "-",
                                      std::to_string(tr.intervals.size()),
                                      FormatDuration(RunDuration(tr.run))};
      for (const auto& n : names) {
        auto it = tr.params.find(n);
        row.push_back(it == tr.params.end() ? "" : ParamToDisplay(it->second));
      }
      t.Add(row);
    }
    t.Print(out, "  ");
  }
  out << "\nlogs: overdrive job logs " << run.id << "   metrics: overdrive runs metrics " << run.id
      << "\n";
  return {};
}

}  // namespace overdrive
