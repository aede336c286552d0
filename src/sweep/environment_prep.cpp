#include "sweep/environment_prep.hpp"

#include <cstdlib>
#include <ostream>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "environment/environment_cache.hpp"

namespace overdrive {

namespace fs = std::filesystem;

namespace {

constexpr const char* kEnvironmentEvent = "environment";

// Azure's curated environments (AzureML-sklearn-1.5, ...) live in Azure's `azureml` registry.
bool IsCurated(const EnvironmentRef& ref) {
  return StartsWith(ref.name, "AzureML-") || ref.registry == "azureml";
}

// "preparing environment sklearn-env:3 — building, 12 s" (a wait for another build: no time).
std::string PreparingLine(const std::string& label, const std::string& what, double elapsed) {
  return "preparing environment " + label + " — " + what +
         (elapsed > 0 ? ", " + FormatDuration(elapsed) : std::string());
}

}  // namespace

Result<void> ResolveEnvironment(Workspace* ws, const CommandSpec& command, LaunchConfig& cfg) {
  const EnvironmentRef& ref = command.environment_ref;
  switch (ref.kind) {
    case EnvironmentRef::Kind::kNone:
    case EnvironmentRef::Kind::kHost:
      return {};
    case EnvironmentRef::Kind::kInline:
      if (!ref.inline_spec) return {};
      cfg.environment = ref.inline_spec;
      cfg.environment_label = !ref.inline_spec->name.empty() ? ref.inline_spec->name : "inline";
      return {};
    case EnvironmentRef::Kind::kAsset:
      break;
  }
  if (!ws) return {};  // a dry run without a workspace cannot look assets up
  const std::string wanted = ref.name + (ref.version.empty() ? "@latest" : ":" + ref.version);
  Result<EnvironmentRecord> record = ref.version.empty()
                                         ? ws->store().GetLatestEnvironment(ref.name)
                                         : ws->store().GetEnvironment(ref.name, ref.version);
  if (!record) {
    if (record.error().code != ErrorCode::kNotFound) return std::unexpected(record.error());
    if (IsCurated(ref)) {
      return std::unexpected(InputError(
          ref.pos, "environment '" + ref.text + "' is one of Azure ML's curated environments, "
                   "which cannot be built here: map it to a local environment with `overdrive "
                   "environment create -f env.yml --name " + ref.name +
                   "` (an environment YAML with the conda file or image to use; see the "
                   "README, Environments), or run on this machine's own Python by adding "
                   "`overdrive: {environment: host}` to the job"));
    }
    return std::unexpected(InputError(
        ref.pos, "environment '" + wanted + "' is not in this workspace; create it with "
                 "`overdrive environment create -f env.yml --name " + ref.name +
                 (ref.version.empty() ? "" : " --version " + ref.version) +
                 "` (`overdrive environment list` shows those there are)"));
  }
  auto spec = EnvironmentSpec::FromJson(record->spec_json);
  if (!spec) {
    return std::unexpected(
        InputError(ref.pos, "environment '" + wanted + "' is stored damaged: " +
                                spec.error().message));
  }
  spec->name = record->name;  // stored without them
  spec->version = record->version;
  // A build that fails names the job's `environment:` (the asset's own file may be long gone).
  for (SourcePos* p : {&spec->pos, &spec->image_pos, &spec->conda_file_pos, &spec->build_pos}) {
    *p = ref.pos;
  }
  cfg.environment_label = record->name + ":" + record->version;
  cfg.environment = std::move(*spec);
  return {};
}

Result<RunPlacement> PrepareEnvironment(Workspace& ws, const RunRecord& job,
                                        const LaunchConfig& cfg, const ControllerOptions& options) {
  if (!cfg.environment) return RunPlacement{};
  const std::string& label = cfg.environment_label;
  auto say = [&](const std::string& line) {
    if (options.view) {
      options.view->Line(line);
    } else if (options.out) {
      *options.out << line << std::endl;
    }
  };
  EnvironmentCache cache(ws.root() / "environments");
  EnvironmentBuildOptions build;
  build.progress = [&](const std::string& what, double elapsed) {
    say(PreparingLine(label, what, elapsed));
  };
  const double start = MonotonicSeconds();
  // The build log stays with the job that built it (or failed to).
  auto keep_log = [&](const fs::path& log) {
    std::error_code ec;
    if (!fs::exists(log, ec)) return;
    if (auto digest = ws.artifacts().PutFile(log)) {
      (void)ws.store().AddArtifacts(job.id, {{"logs/environment-build.log", *digest,
                                              static_cast<std::int64_t>(fs::file_size(log, ec))}});
    }
  };
  auto built = cache.Ensure(*cfg.environment, build);
  if (!built) {
    if (auto hash = cache.Hash(*cfg.environment)) keep_log(cache.root() / *hash / "build.log");
    Error e = built.error();
    e.message = "preparing environment " + label + " failed: " + e.message;
    return std::unexpected(e);
  }
  if (built->built_now) {
    say("environment " + label + " built in " + FormatDuration(MonotonicSeconds() - start) +
        " (" + built->kind + ", " + built->hash.substr(0, 12) + ")");
    keep_log(built->log);
  }
  nlohmann::json lineage = {{"label", label},
                            {"name", cfg.environment->name},
                            {"version", cfg.environment->version},
                            {"hash", built->hash},
                            {"kind", built->kind}};
  OD_TRY(ws.store().AddEvent(job.id, {WallSeconds(), kEnvironmentEvent, lineage.dump()}));
  const char* path = std::getenv("PATH");
  return built->Placement(path ? path : "/usr/local/bin:/usr/bin:/bin");
}

Result<std::optional<RunEnvironment>> EnvironmentOfRun(
    Workspace& ws, const RunRecord& run, const std::function<void(const std::string&)>& progress) {
  auto cfg = LaunchConfig::FromJson(run.launch_json);
  if (!cfg || !cfg->environment) return std::optional<RunEnvironment>{};  // a sweep, or none
  EnvironmentCache cache(ws.root() / "environments");
  EnvironmentBuildOptions build;
  build.progress = [&](const std::string& what, double elapsed) {
    if (progress) progress(PreparingLine(cfg->environment_label, what, elapsed));
  };
  auto built = cache.Ensure(*cfg->environment, build);
  if (!built) {
    Error e = built.error();
    e.message = "preparing environment " + cfg->environment_label + " of run " + run.id +
                " failed: " + e.message;
    return std::unexpected(e);
  }
  return std::optional<RunEnvironment>(RunEnvironment{cfg->environment_label, *built});
}

std::string EnvironmentLineage(Workspace& ws, const RunRecord& run) {
  for (const std::string& id : {run.id, run.parent_id}) {
    if (id.empty()) continue;
    auto events = ws.store().ListEvents(id);
    if (!events) continue;
    for (auto it = events->rbegin(); it != events->rend(); ++it) {
      if (it->kind == kEnvironmentEvent) return it->message;
    }
  }
  return "";
}

}  // namespace overdrive
