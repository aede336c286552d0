// The sweep controller: a SweepCore (sweep_core.hpp) decides, the job shell (job_shell.hpp)
// performs. This file is what is sweep-specific in the I/O: how a trial's run record is made
// from the stored plan, how the trials are loaded back, and how the sweep's end is recorded
// (summary, the best model registered).
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "registry/model_registry.hpp"
#include "space/space_ops.hpp"
#include "sweep/controller.hpp"
#include "sweep/environment_prep.hpp"
#include "sweep/job_data.hpp"
#include "sweep/job_shell.hpp"
#include "sweep/submission.hpp"
#include "sweep/sweep_core.hpp"
#include "sweep/sweep_plan.hpp"
#include "sweep/sweep_state.hpp"

namespace overdrive {

namespace {

void CollectNames(const SearchSpace& space, std::vector<std::string>& out) {
  for (const auto& [name, d] : space.params) {
    out.push_back(name);
    for (const auto& sub : d.sub_spaces) CollectNames(sub, out);
  }
}

// The tag a replacement trial carries: the id of the lost trial it runs again. It is stored
// with the replacement's params in one CreateRun, so a resumed controller never replaces a lost
// trial twice.
constexpr const char* kReplacesTag = "overdrive.replaces";

std::string ReplacedId(const RunRecord& r) {
  try {
    auto tags = nlohmann::json::parse(r.tags_json);
    if (tags.is_object() && tags.contains(kReplacesTag) && tags[kReplacesTag].is_string()) {
      return tags[kReplacesTag];
    }
  } catch (const std::exception&) {
  }
  return "";
}

class SweepKind : public JobKind {
 public:
  SweepKind(Workspace& ws, const RunRecord& sweep, const SweepPlan& plan)
      : ws_(ws), sweep_(sweep), plan_(plan) {
    CollectNames(plan_.sweep.search_space, param_names_);
  }

  Result<std::vector<TrialInfo>> LoadChildren() override {
    OD_ASSIGN_OR_RETURN(auto trials, LoadTrials(ws_.store(), sweep_.id,
                                                plan_.sweep.objective.primary_metric,
                                                plan_.sweep.objective.goal));
    for (auto& t : trials) t.replaces = ReplacedId(t.run);
    return trials;
  }

  Result<NewChild> BuildChild(const JobAction& launch, const std::string& id,
                              const std::string& name, double created_at) override {
    NewChild child;
    RunRecord& tr = child.run;
    tr.id = id;
    tr.experiment_id = sweep_.experiment_id;
    tr.experiment_name = sweep_.experiment_name;
    tr.parent_id = sweep_.id;
    tr.job_type = JobType::kTrial;
    tr.display_name = name;
    if (!launch.replaces.empty()) tr.tags_json = nlohmann::json{{kReplacesTag, launch.replaces}}.dump();
    tr.status = RunStatus::kQueued;
    tr.compute = sweep_.compute;
    tr.snapshot_digest = sweep_.snapshot_digest;
    tr.run_dir = ws_.RunDir(tr.id).string();
    tr.created_at = created_at;
    LaunchConfig cfg = plan_.trial;
    SubstitutionContext ctx;
    ctx.inputs = plan_.inputs;
    for (const auto& [n, v] : DataInputValues(cfg, tr.run_dir)) ctx.inputs[n] = v;
    for (const auto& output : cfg.outputs) {
      ctx.outputs[output] = (std::filesystem::path(tr.run_dir) / "wd" / "outputs" / output).string();
    }
    for (const auto& p : param_names_) ctx.search_space[p] = "";
    for (const auto& [p, v] : launch.params) {
      ctx.search_space[p] = ParamToString(v);
      cfg.env["AZUREML_SWEEP_" + p] = ParamToString(v);
      child.params.push_back({p, ParamToJson(v).dump()});
    }
    tr.launch_json = cfg.ToJson();
    OD_ASSIGN_OR_RETURN(tr.command,
                        SubstituteCommand(plan_.command_template, ctx, plan_.command_pos));
    return child;
  }

  Result<void> Finish(const JobAction& finish, const JobCore& core, JobView& view) override {
    const auto& trials = core.Children();
    const auto& sweep_core = static_cast<const SweepCore&>(core);
    const TrialInfo* best = sweep_core.Best();
    ChildCounts c = CountChildren(trials);
    SweepCost cost = EstimateCost(trials);
    const std::string& metric = plan_.sweep.objective.primary_metric;
    nlohmann::json summary = {{"trials", trials.size()},      {"completed", c.completed},
                              {"early_terminated", c.stopped}, {"failed", c.failed},
                              {"canceled", c.canceled},       {"trial_seconds", cost.used_s},
                              {"saved_trial_seconds", cost.saved_s}};
    if (best) {
      summary["best_trial"] = best->run.id;
      summary["best_value"] = *best->best;
    }
    if (best && finish.status == RunStatus::kCompleted && plan_.sweep.register_best_model) {
      summary["registered_model"] = RegisterBest(*best, view);
    }
    OD_TRY(ws_.store().AddEvent(sweep_.id, {WallSeconds(), "summary", summary.dump()}));
    RunUpdate u;
    u.status_reason = finish.reason;
    u.ended_at = WallSeconds();
    OD_TRY(ws_.store().TransitionRun(sweep_.id, finish.status, u));

    OD_ASSIGN_OR_RETURN(RunRecord ended, ws_.store().GetRun(sweep_.id));
    std::string msg = "sweep " + sweep_.id + " " + RunStatusName(finish.status) + ": " +
                      std::to_string(trials.size()) + " trials (" + std::to_string(c.completed) +
                      " completed, " + std::to_string(c.stopped) + " stopped early, " +
                      std::to_string(c.failed) + " failed, " + std::to_string(c.canceled) +
                      " canceled" +
                      (c.lost > 0 ? ", " + std::to_string(c.lost) + " lost and replaced"
                                  : std::string()) +
                      ") in " + FormatDuration(ended.ended_at - ended.started_at);
    view.Line(msg);
    if (best) {
      view.Line("best trial " + best->run.id + " " + metric + "=" + FormatDouble(*best->best) +
                "  " + FormatParams(best->params));
    }
    double total = cost.used_s + cost.saved_s;
    std::string cost_line = "cost: " + FormatDuration(cost.used_s) + " of trial time";
    if (cost.stopped > 0 && total > 0) {
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * cost.saved_s / total);
      cost_line += "; early termination stopped " + std::to_string(cost.stopped) +
                   " trials and saved ~" + FormatDuration(cost.saved_s) + " (" + pct + ")";
    }
    view.Line(cost_line);
    return {};
  }

 private:
  // Registers the best trial's model (extension register_best_model). Idempotent: a resumed
  // controller that already registered this trial's model does not add a second version.
  // Returns "NAME:VERSION", or "" when it could not (the sweep still completes; the reason is
  // shown and kept as a warning on the sweep).
  std::string RegisterBest(const TrialInfo& best, JobView& view) {
    const RegisterBestModelSpec& reg = *plan_.sweep.register_best_model;
    ModelRegistry registry(ws_.store(), ws_.artifacts());
    if (auto existing = registry.ListVersions(reg.name)) {
      for (const auto& v : *existing) {
        if (v.run_id == best.run.id && v.path == reg.path) {
          return reg.name + ":" + std::to_string(v.version);
        }
      }
    }
    std::map<std::string, std::string> tags = {
        {"sweep", sweep_.id}, {plan_.sweep.objective.primary_metric, FormatDouble(*best.best)}};
    // The model keeps the environment it was trained in (label and content hash).
    if (std::string env = EnvironmentLineage(ws_, sweep_); !env.empty()) tags["environment"] = env;
    auto version = registry.Register(reg.name, best.run.id, reg.path, tags);
    if (!version) {
      std::string w = "could not register the best trial's model: " + version.error().message;
      view.Line("warning: " + w);
      (void)ws_.store().AddEvent(sweep_.id, {WallSeconds(), "warning", w});
      return "";
    }
    std::string ref = reg.name + ":" + std::to_string(version->version);
    view.Line("registered model " + ref + " from " + best.run.display_name + " (" + best.run.id +
              ")");
    return ref;
  }

  Workspace& ws_;
  const RunRecord& sweep_;
  const SweepPlan& plan_;
  std::vector<std::string> param_names_;
};

}  // namespace

Result<ControllerResult> DriveSweep(Workspace& ws, const RunRecord& sweep,
                                    const ControllerOptions& options) {
  Result<SweepPlan> plan = SweepPlan::FromJson(sweep.launch_json);
  Result<void> startable =
      plan ? plan->CheckStartable() : Result<void>(std::unexpected(plan.error()));
  if (!startable) {
    // A stored plan this controller can never start (stored by an older version whose parser
    // let it through, or damaged): left queued it would wait forever, so it ends failed.
    const std::string reason = "cannot start the sweep: " + startable.error().message;
    RunUpdate u;
    u.status_reason = reason;
    u.ended_at = WallSeconds();
    OD_TRY(ws.store().TransitionRun(sweep.id, RunStatus::kFailed, u));
    if (options.out) *options.out << "sweep " << sweep.id << " failed: " << reason << std::endl;
    return ControllerResult{RunStatus::kFailed, reason, false};
  }
  double started_at = sweep.started_at > 0 ? sweep.started_at : WallSeconds();
  OD_ASSIGN_OR_RETURN(auto core, SweepCore::Make(plan->sweep, plan->seed, started_at, sweep.id));
  RunRecord job = sweep;
  job.started_at = started_at;
  // Built once, before the first trial: every trial runs in it.
  auto env = PrepareEnvironment(ws, job, plan->trial, options);
  if (!env) return FailPreparing(ws, job, env.error());
  SweepKind kind(ws, job, *plan);
  return RunJobShell(ws, job, *core, kind, options, *env);
}

}  // namespace overdrive
