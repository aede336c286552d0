#include "cli/views.hpp"

#include <algorithm>
#include <cmath>

#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/handle_info.hpp"
#include "sweep/environment_prep.hpp"
#include "sweep/controller.hpp"
#include "sweep/sweep_plan.hpp"
#include "sweep/sweep_state.hpp"

namespace overdrive {

std::string StatusText(const RunRecord& run) {
  std::string s = RunStatusName(run.status);
  if (ControllerGone(run, WallSeconds())) {
    s += " (controller gone: overdrive job resume " + run.id + ")";
  }
  return s;
}

std::string TrialExecutorId(const nlohmann::json& described) {
  if (!described.is_object()) return "";
  if (described.contains("slurm_job_id")) return "slurm " + described["slurm_job_id"].dump();
  if (described.contains("process_group")) return "pgid " + described["process_group"].dump();
  if (described.contains("pid")) return "pid " + described["pid"].dump();
  return "";
}

Result<void> PrintRun(Workspace& ws, const RunRecord& run, std::ostream& out) {
  out << "run         " << run.id << "  (" << JobTypeName(run.job_type) << ")\n";
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
  if (auto h = DescribeRunExecutor(run); !h.is_null()) {
    out << "executor    " << h.value("summary", "") << "\n";
  }
  if (std::string env = EnvironmentLineage(ws, run); !env.empty()) {
    auto e = nlohmann::json::parse(env, nullptr, false);
    if (e.is_object()) {
      out << "environment " << e.value("label", "") << " (" << e.value("kind", "") << ", "
          << e.value("hash", "").substr(0, 12) << ")\n";
    }
  }
  out << "folder      " << run.run_dir << "\n";
  if (run.tags_json != "{}" && !run.tags_json.empty()) out << "tags        " << run.tags_json << "\n";

  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetParams(run.id));
  if (!params.empty()) {
    out << "\nparams\n";
    Table t({"name", "value"});
    for (const auto& p : params) t.Add({p.name, p.value_json});
    t.Print(out, "  ");
  }
  OD_ASSIGN_OR_RETURN(auto inputs, DataInputsRead(ws, run));
  if (!inputs.empty()) {
    out << "\ndata read\n";
    Table t({"input", "asset", "location"});
    for (const auto& in : inputs) {
      t.Add({in.input_name, in.asset_name.empty() ? "-" : in.asset_name + ":" + in.asset_version,
             in.uri});
    }
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
  header = false;
  for (const auto& e : events) {
    // What moving its data did (staging inputs, delivering outputs).
    if (e.kind != "info" || (e.message.rfind("input '", 0) != 0 && e.message.rfind("output '", 0) != 0)) continue;
    if (!header) out << "\ndata\n";
    header = true;
    out << "  " << e.message << "\n";
  }
  if (run.job_type == JobType::kSweep) {
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
    // Each trial's id at its executor, short: what scontrol/sacct or kill want.
    std::vector<std::string> where;
    bool any_where = false;
    for (const auto& tr : v.trials) {
      where.push_back(TrialExecutorId(DescribeRunExecutor(tr.run)));
      any_where = any_where || !where.back().empty();
    }
    if (any_where) header.push_back("executor");
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
      if (any_where) row.push_back(where[static_cast<size_t>(rank - 1)]);
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
