#include "sweep/submission.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/input_limits.hpp"
#include "common/strings.hpp"
#include "sweep/environment_prep.hpp"
#include "sweep/job_data.hpp"
#include "sweep/launch_config.hpp"
#include "sweep/sweep_plan.hpp"

namespace overdrive {

namespace fs = std::filesystem;

namespace {

const std::set<std::string>& ShellBuiltins() {
  static const std::set<std::string> k = {
      ".", ":", "[", "alias", "bg", "break", "case", "cd", "command", "continue", "echo",
      "eval", "exec", "exit", "export", "false", "fg", "for", "getopts", "hash", "if", "jobs",
      "kill", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times",
      "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
      "{", "(", "!", "time", "source"};
  return k;
}

bool IsExecutable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

std::string CommandProgram(const std::string& command) {
  std::string cmd = Trim(command);
  // Skip leading VAR=value assignments.
  while (true) {
    size_t end = cmd.find_first_of(" \t\n");
    std::string word = cmd.substr(0, end);
    size_t eq = word.find('=');
    if (eq != std::string::npos && eq > 0 && word.find_first_of("'\"$`") == std::string::npos &&
        end != std::string::npos) {
      cmd = Trim(cmd.substr(end));
      continue;
    }
    if (word.empty() || word.find_first_of("'\"$`\\*?;&|<>(){}") != std::string::npos) return "";
    return word;
  }
}

// Checks of `resources` and `distribution` that depend on where the job runs.
Result<void> ValidateForTarget(const JobSpec& spec, ComputeType target_type) {
  const CommandSpec& c = spec.command;
  const bool slurm = target_type == ComputeType::kSlurm;
  if (slurm && c.resources.gpus > 0 && c.resources.gpus != std::floor(c.resources.gpus)) {
    return std::unexpected(InputError(
        c.resources.gpus_pos,
        "gpus: " + FormatDouble(c.resources.gpus) + " shares a GPU, which compute '" +
            spec.compute + "' (Slurm) cannot do: Slurm hands out whole GPUs; ask for a whole "
            "number, or run the job on local compute"));
  }
  if (!slurm && c.distribution.type == "mpi") {
    std::string path = c.environment_variables.count("PATH")
                           ? c.environment_variables.at("PATH")
                           : (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    bool found = false;
    for (const auto& dir : Split(path, ':')) {
      if (!dir.empty() && IsExecutable(fs::path(dir) / "mpirun")) found = true;
    }
    if (!found) {
      return std::unexpected(InputError(
          c.distribution.pos, "distribution type mpi runs its processes with mpirun, which is "
                              "not in PATH on this machine; install Open MPI (Debian: "
                              "openmpi-bin), or use type: pytorch to start the processes "
                              "without MPI"));
    }
  }
  return {};
}

Result<void> ValidateForWorkspace(Workspace* ws, const JobSpec& spec) {
  ComputeType target_type = ComputeType::kLocal;
  if (spec.compute != "local") {
    std::vector<std::string> names;
    if (ws) {
      auto target = ws->store().GetCompute(spec.compute);
      if (target) {
        target_type = target->type;
      } else if (target.error().code == ErrorCode::kInvalidInput) {
        // A type this version does not know (ReadComputeTarget names it).
        const std::string remap = "; map it to this machine with `overdrive compute add " +
                                  spec.compute + " --type local`";
        return std::unexpected(InputError(spec.compute_pos, target.error().message + remap));
      } else if (target.error().code != ErrorCode::kNotFound) {
        return std::unexpected(target.error());
      } else {
        auto all = ws->store().ListComputes();
        if (all) for (const auto& c : *all) names.push_back(c.name);
        names.push_back("local");
        return std::unexpected(InputError(
            spec.compute_pos, "unknown compute '" + spec.compute + "'" +
                                  DidYouMeanSuffix(spec.compute, names) +
                                  "; configured: " + Join(names, ", ") +
                                  ". Map it to this machine with `overdrive compute add " +
                                  spec.compute + " --type local`"));
      }
    } else {
      return std::unexpected(InputError(
          spec.compute_pos, "unknown compute '" + spec.compute +
                                "' (no workspace yet); map it with `overdrive compute add " +
                                spec.compute + " --type local`"));
    }
  }

  OD_TRY(ValidateForTarget(spec, target_type));

  // The environment: an asset that does not exist, or a curated Azure name, is refused now.
  LaunchConfig resolved;
  OD_TRY(ResolveEnvironment(ws, spec.command, resolved));
  std::string program = CommandProgram(spec.command.command);
  if (program.empty() || ShellBuiltins().count(program)) return {};
  // A program the environment installs (a venv's console script) is on no PATH yet.
  if (spec.command.environment_ref.kind != EnvironmentRef::Kind::kNone &&
      spec.command.environment_ref.kind != EnvironmentRef::Kind::kHost &&
      program.find('/') == std::string::npos) {
    return {};
  }
  bool found = false;
  if (program.find('/') != std::string::npos) {
    fs::path p = program;
    if (p.is_relative()) {
      fs::path base = spec.command.code ? *spec.command.code : spec.source_file.parent_path();
      p = base / p;
    }
    found = IsExecutable(p) || fs::exists(p);  // a script run by its shebang needs +x, checked at run
  } else {
    std::string path = spec.command.environment_variables.count("PATH")
                           ? spec.command.environment_variables.at("PATH")
                           : (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    for (const auto& dir : Split(path, ':')) {
      if (!dir.empty() && IsExecutable(fs::path(dir) / program)) {
        found = true;
        break;
      }
    }
  }
  if (!found) {
    std::string where = program.find('/') != std::string::npos
                            ? " (relative paths are resolved in the code folder)"
                            : " in PATH";
    return std::unexpected(
        InputError(spec.command.command_pos, "command '" + program + "' not found" + where));
  }
  return {};
}

SubstitutionContext MakeSubstitutionContext(const CommandSpec& command, const fs::path& run_dir) {
  SubstitutionContext ctx;
  for (const auto& [name, in] : command.inputs) {
    if (in.kind == InputSpec::Kind::kLiteral) {
      ctx.inputs[name] = ParamToString(in.literal);
    } else if (!in.local_path.empty()) {
      ctx.inputs[name] = in.local_path.string();
    } else {
      ctx.inputs[name] = in.path;
    }
  }
  for (const auto& [name, out] : command.outputs) {
    ctx.outputs[name] = (run_dir / "wd" / "outputs" / name).string();
  }
  return ctx;
}

Result<SubmittedJob> SubmitJob(Workspace& ws, const JobSpec& spec) {
  OD_TRY(ValidateForWorkspace(&ws, spec));
  SubmittedJob out;
  RunRecord& run = out.run;
  run.id = NewRunId();
  run.job_type = spec.type;
  run.display_name = spec.display_name.empty() ? spec.name : spec.display_name;
  run.description = spec.description;
  run.tags_json = nlohmann::json(spec.tags).dump();
  run.status = RunStatus::kQueued;
  run.spec_yaml = spec.resolved_yaml;
  run.compute = spec.compute;
  run.run_dir = ws.RunDir(run.id).string();
  run.created_at = WallSeconds();
  std::vector<RunInputRecord> data_inputs;  // lineage: the data the job reads
  if (spec.type == JobType::kSweep) {
    SweepPlan plan = SweepPlan::FromSpec(spec);
    OD_TRY(ResolveEnvironment(&ws, spec.command, plan.trial));
    OD_TRY(ResolveJobData(&ws, spec.command, plan.trial));
    data_inputs = RunInputsOf(run.id, plan.trial);
    // Each trial links its data inputs in its own folder (sweep_controller); direct ones are
    // the same URL for all.
    for (const auto& [name, value] : DataInputValues(plan.trial, "")) plan.inputs[name] = value;
    run.launch_json = plan.ToJson();
    run.command = spec.command.command;  // the trial template; trials substitute their own
  } else {
    LaunchConfig cfg = LaunchConfig::FromSpec(spec.command, spec.extensions);
    OD_TRY(ResolveEnvironment(&ws, spec.command, cfg));
    OD_TRY(ResolveJobData(&ws, spec.command, cfg));
    run.launch_json = cfg.ToJson();
    data_inputs = RunInputsOf(run.id, cfg);
    SubstitutionContext ctx = MakeSubstitutionContext(spec.command, run.run_dir);
    for (const auto& [name, value] : DataInputValues(cfg, run.run_dir)) ctx.inputs[name] = value;
    OD_ASSIGN_OR_RETURN(run.command,
                        SubstituteCommand(spec.command.command, ctx, spec.command.command_pos));
  }

  if (spec.command.code) {
    SnapshotLimits limits;
    OD_ASSIGN_OR_RETURN(std::int64_t max_mb,
                        EnvLimit(kMaxSnapshotMbEnv, limits.max_bytes >> 20));
    OD_ASSIGN_OR_RETURN(limits.max_entries, EnvLimit(kMaxSnapshotFilesEnv, limits.max_entries));
    limits.max_bytes = max_mb << 20;
    const std::string advice =
        "; point 'code:' at your project's folder, leave files out with an .amlignore, or raise "
        "the limit with ";
    limits.raise_bytes_hint = advice + kMaxSnapshotMbEnv + "=N";
    limits.raise_entries_hint = advice + kMaxSnapshotFilesEnv + "=N";
    auto snap = SnapshotFolder(ws.artifacts(), *spec.command.code, {ws.root()}, limits);
    if (!snap) {
      // Whatever stopped it (a limit, an unreadable file), say which part of the job it was.
      Error e = snap.error();
      e.message = spec.command.code_pos.ToString() + ": code snapshot: " + e.message;
      return std::unexpected(e);
    }
    run.snapshot_digest = snap->digest;
    out.snapshot_files = snap->files;
    out.snapshot_bytes = snap->bytes;
  }

  std::string experiment = spec.experiment_name.empty() ? "default" : spec.experiment_name;
  OD_ASSIGN_OR_RETURN(run.experiment_id, ws.store().GetOrCreateExperiment(experiment));
  run.experiment_name = experiment;

  std::vector<Param> params;
  for (const auto& [name, in] : spec.command.inputs) {
    nlohmann::json v = in.kind == InputSpec::Kind::kLiteral
                           ? ParamToJson(in.literal)
                           : nlohmann::json(in.local_path.empty() ? in.path
                                                                  : in.local_path.string());
    params.push_back({name, v.dump()});
  }
  std::vector<RunEvent> events;
  double now = WallSeconds();
  for (const auto& w : spec.ignored) {
    events.push_back({now, "warning", w});
    out.warnings.push_back(w);
  }
  OD_TRY(ws.store().CreateRun(run, params, events));
  OD_TRY(ws.store().AddRunInputs(data_inputs));
  return out;
}

}  // namespace overdrive
