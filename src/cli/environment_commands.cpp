#include "cli/environment_commands.hpp"

#include <cstdio>
#include <iostream>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "environment/environment_cache.hpp"
#include "spec/environment_spec.hpp"
#include "sweep/environment_assets.hpp"
#include "sweep/environment_prep.hpp"
#include "cli/remote_commands.hpp"

namespace overdrive {

namespace {

struct EnvironmentFlags {
  std::string file, name, version, ref;
  bool json = false;
  bool dry_run = false;
};

std::string Ref(const EnvironmentRecord& r) { return r.name + ":" + r.version; }

Result<EnvironmentSpec> SpecOf(const EnvironmentRecord& r) { return StoredEnvironmentSpec(r); }

// What `environment create` says about what it stored.
int SayCreated(const EnvironmentRecord& stored, bool existed, bool json) {
  auto spec = SpecOf(stored);
  if (!spec) return Fail(spec.error());
  if (json) {
    nlohmann::json j = EnvironmentJson(stored, *spec);
    j["created"] = !existed;
    PrintJson(j);
    return 0;
  }
  if (existed) {
    std::cout << "environment " << Ref(stored) << " already exists with this spec (created "
              << FormatTimestamp(stored.created_at) << ")\n";
    return 0;
  }
  std::cout << "created environment " << Ref(stored) << " (" << spec->Kind();
  if (spec->conda) {
    std::cout << "; " << spec->conda->pip.size() << " pip requirement"
              << (spec->conda->pip.size() == 1 ? "" : "s");
  }
  std::cout << ")\n"
            << "  overdrive environment show " << Ref(stored) << "\n"
            << "  in a job: environment: azureml:" << Ref(stored) << "\n";
  return 0;
}

int CmdCreate(const Globals& g, const EnvironmentFlags& f) {
  auto spec = ParseEnvironmentFile(f.file);
  if (!spec) return Fail(spec.error());
  for (const auto& note : spec->ignored) std::cerr << "overdrive: note: " << note << "\n";
  if (!ServerUrl(g).empty()) {
    // Checked here first (errors name the user's own file), then stored by the server.
    auto reply = RemoteCreateEnvironment(g, f.file, *spec, f.name, f.version);
    if (!reply) return Fail(reply.error());
    auto stored = EnvironmentFromJson(*reply);
    if (!stored) return Fail(stored.error());
    return SayCreated(*stored, !reply->value("created", true), f.json);
  }
  auto ws = OpenWorkspace(g, true);
  if (!ws) return Fail(ws.error());
  auto created = CreateEnvironmentAsset((*ws)->store(), std::move(*spec), f.name, f.version, f.file);
  if (!created) return Fail(created.error());
  return SayCreated(created->record, created->existed, f.json);
}

// Every version: the workspace's, or (--server) the server's.
Result<std::vector<EnvironmentRecord>> ListRecords(const Globals& g) {
  if (!ServerUrl(g).empty()) {
    OD_ASSIGN_OR_RETURN(auto reply, RemoteCall(g, "GET", "/api/v1/environments"));
    std::vector<EnvironmentRecord> out;
    for (const auto& e : reply.value("environments", nlohmann::json::array())) {
      OD_ASSIGN_OR_RETURN(EnvironmentRecord r, EnvironmentFromJson(e));
      out.push_back(std::move(r));
    }
    return out;
  }
  OD_ASSIGN_OR_RETURN(auto ws, OpenWorkspace(g, false));
  return ws->store().ListEnvironments();
}

int CmdList(const Globals& g, const EnvironmentFlags& f) {
  auto list = ListRecords(g);
  if (!list) return Fail(list.error());
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : *list) {
      auto spec = SpecOf(r);
      if (!spec) return Fail(spec.error());
      arr.push_back(EnvironmentJson(r, *spec));
    }
    PrintJson(arr);
    return 0;
  }
  if (list->empty()) {
    std::cout << "no environments yet: overdrive environment create -f env.yml\n";
    return 0;
  }
  Table t({"name", "version", "kind", "content hash", "created", "description"});
  for (const auto& r : *list) {
    auto spec = SpecOf(r);
    if (!spec) return Fail(spec.error());
    t.Add({r.name, r.version, spec->Kind(),
           r.content_hash.empty() ? "-" : r.content_hash.substr(0, 19),
           FormatTimestamp(r.created_at), r.description});
  }
  t.Print(std::cout);
  return 0;
}

// The version `ref` names: in the workspace, or (--server) on the server.
Result<EnvironmentRecord> ShowRecord(const Globals& g, const std::string& ref) {
  if (!ServerUrl(g).empty()) {
    OD_ASSIGN_OR_RETURN(EnvironmentRef parsed,
                        ParseEnvironmentName(ref, SourcePos{"environment show", 0, 0}));
    std::string path = "/api/v1/environments/" + UrlEncode(parsed.name);
    if (!parsed.version.empty()) path += "?version=" + UrlEncode(parsed.version);
    OD_ASSIGN_OR_RETURN(auto reply, RemoteCall(g, "GET", path));
    return EnvironmentFromJson(reply);
  }
  OD_ASSIGN_OR_RETURN(auto ws, OpenWorkspace(g, false));
  return LookupEnvironment(ws->store(), ref, "environment show");
}

int CmdShow(const Globals& g, const EnvironmentFlags& f) {
  auto r = ShowRecord(g, f.ref);
  if (!r) return Fail(r.error());
  auto spec = SpecOf(*r);
  if (!spec) return Fail(spec.error());
  if (f.json) {
    PrintJson(EnvironmentJson(*r, *spec));
    return 0;
  }
  std::cout << "environment " << Ref(*r) << "  (" << spec->Kind() << ")\n"
            << "  created       " << FormatTimestamp(r->created_at) << "\n"
            << "  content hash  " << (r->content_hash.empty() ? "not built yet" : r->content_hash)
            << "\n";
  if (!r->description.empty()) std::cout << "  description   " << r->description << "\n";
  for (const auto& [k, v] : spec->tags) std::cout << "  tag           " << k << "=" << v << "\n";
  if (!spec->image.empty()) std::cout << "  image         " << spec->image << "\n";
  if (spec->build_path) {
    std::cout << "  build         " << spec->build_path->string() << " ("
              << spec->dockerfile_path << ")\n";
  }
  if (spec->conda) {
    std::cout << "  conda file    "
              << (spec->conda_file ? spec->conda_file->string() : std::string("(inline)"))
              << " (its text as created is kept with this version)\n";
    if (spec->conda->python) {
      std::cout << "  python        "
                << (spec->conda->python->empty() ? "(any)" : *spec->conda->python) << "\n";
    }
    if (!spec->conda->pip.empty()) {
      std::cout << "  pip           " << Join(spec->conda->pip, ", ") << "\n";
    }
    if (!spec->conda->conda_dependencies.empty()) {
      std::cout << "  conda         " << Join(spec->conda->conda_dependencies, ", ") << "\n";
    }
  }
  if (spec->Kind() == "venv") {
    std::cout << "  interpreter   " << spec->python
              << (spec->system_site_packages ? " (sees the system's packages)" : "") << "\n";
  }
  return 0;
}

int CmdBuild(const Globals& g, const EnvironmentFlags& f) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto r = LookupEnvironment((*ws)->store(), f.ref, "environment build");
  if (!r) return Fail(r.error());
  auto spec = SpecOf(*r);
  if (!spec) return Fail(spec.error());
  EnvironmentCache cache((*ws)->root() / "environments");
  EnvironmentBuildOptions options;
  options.progress = [&](const std::string& what, double elapsed) {
    if (f.json) return;
    std::cerr << "environment " << Ref(*r) << " — " << what
              << (elapsed > 0 ? ", " + FormatDuration(elapsed) : std::string()) << "\n";
  };
  const double start = MonotonicSeconds();
  auto built = cache.Ensure(*spec, options);
  if (!built) return Fail(built.error());
  (void)(*ws)->store().SetEnvironmentContentHash(r->name, r->version, built->hash);
  if (f.json) {
    PrintJson({{"ref", Ref(*r)}, {"kind", built->kind}, {"hash", built->hash},
               {"path", built->venv.string()}, {"built_now", built->built_now}});
    return 0;
  }
  std::cout << "environment " << Ref(*r) << " "
            << (built->built_now ? "built in " + FormatDuration(MonotonicSeconds() - start)
                                 : std::string("already built"))
            << " (" << built->kind << ", " << built->hash.substr(0, 12) << "): "
            << built->venv.string() << "\n";
  return 0;
}

std::string Bytes(std::uint64_t b) {
  char text[32];
  if (b >= (1ull << 30)) std::snprintf(text, sizeof text, "%.1f GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(text, sizeof text, "%.1f MiB", b / double(1ull << 20));
  else std::snprintf(text, sizeof text, "%.1f KiB", b / 1024.0);
  return text;
}

int CmdPrune(const Globals& g, const EnvironmentFlags& f) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  MetadataStore& store = (*ws)->store();
  EnvironmentCache cache((*ws)->root() / "environments");
  // Kept: the builds of stored environment versions, and those of jobs that have not ended.
  std::set<std::string> keep;
  auto assets = store.ListEnvironments();
  if (!assets) return Fail(assets.error());
  for (const auto& a : *assets) {
    if (!a.content_hash.empty()) keep.insert(a.content_hash);
    if (auto spec = SpecOf(a)) {
      if (auto h = cache.Hash(*spec)) keep.insert(*h);
    }
  }
  for (RunStatus s : {RunStatus::kQueued, RunStatus::kStarting, RunStatus::kRunning}) {
    RunFilter filter;
    filter.status = s;
    filter.light = true;
    auto runs = store.ListRuns(filter);
    if (!runs) return Fail(runs.error());
    for (const auto& run : *runs) {
      auto e = nlohmann::json::parse(EnvironmentLineage(**ws, run), nullptr, false);
      if (e.is_object()) keep.insert(e.value("hash", ""));
    }
  }
  auto removed = cache.Prune(keep, f.dry_run);
  if (!removed) return Fail(removed.error());
  std::uint64_t total = 0;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : *removed) {
    total += c.bytes;
    out.push_back({{"hash", c.hash}, {"kind", c.kind}, {"bytes", c.bytes}, {"ready", c.ready}});
  }
  if (f.json) {
    PrintJson({{"removed", out}, {"bytes", total}, {"dry_run", f.dry_run}});
    return 0;
  }
  for (const auto& c : *removed) {
    std::cout << (f.dry_run ? "would remove " : "removed ") << c.hash.substr(0, 12) << "  "
              << (c.ready ? c.kind : std::string("unfinished build")) << "  " << Bytes(c.bytes)
              << "\n";
  }
  std::cout << (f.dry_run ? "would free " : "freed ") << Bytes(total) << " ("
            << removed->size() << " cached build" << (removed->size() == 1 ? "" : "s") << "; "
            << keep.size() << " in use kept)\n";
  return 0;
}

}  // namespace

CLI::App* AddEnvironmentCommands(CLI::App& app, const Globals& g, int& code) {
  auto f = std::make_shared<EnvironmentFlags>();
  auto* env = app.add_subcommand(
      "environment",
      "environment assets (Azure ML environment YAML): named, immutable versions, written "
      "azureml:NAME:VERSION or azureml:NAME@latest");
  env->require_subcommand(1);
  env->fallthrough();

  auto* create = env->add_subcommand(
      "create",
      "store an environment YAML (image, conda_file, build) as a new version; versions are "
      "immutable: the conda file's text is kept with the version, and the same NAME:VERSION "
      "with a different spec is refused");
  create->add_option("--file,-f", f->file, "the environment YAML file")->required();
  create->add_option("--name,-n", f->name, "name (default: 'name' in the file)");
  create->add_option("--version", f->version,
                     "version (default: 'version' in the file, else the next number: 1, 2, ...)");
  create->add_flag("--json", f->json, "print JSON for scripts");
  create->callback([f, &g, &code] { code = CmdCreate(g, *f); });

  auto* list = env->add_subcommand("list", "every version of every environment");
  list->add_flag("--json", f->json, "print JSON for scripts");
  list->callback([f, &g, &code] { code = CmdList(g, *f); });

  auto* show = env->add_subcommand(
      "show", "an environment version: its spec, kind (venv, image, build) and content hash");
  show->add_option("ref", f->ref,
                   "NAME (the latest created), NAME:VERSION or NAME@latest (azureml: prefix "
                   "allowed)")
      ->required();
  show->add_flag("--json", f->json, "print JSON for scripts");
  show->callback([f, &g, &code] { code = CmdShow(g, *f); });

  auto* build = env->add_subcommand(
      "build",
      "build an environment version now, ahead of the jobs that use it (once per content hash: "
      "a build already in the cache is reused)");
  build->add_option("ref", f->ref, "NAME, NAME:VERSION or NAME@latest")->required();
  build->add_flag("--json", f->json, "print JSON for scripts");
  build->callback([f, &g, &code] { code = CmdBuild(g, *f); });

  auto* prune = env->add_subcommand(
      "prune",
      "remove cached builds that no environment version and no unfinished job uses, and "
      "unfinished builds nobody is building; says how much it freed");
  prune->add_flag("--dry-run", f->dry_run, "list what would be removed; remove nothing");
  prune->add_flag("--json", f->json, "print JSON for scripts");
  prune->callback([f, &g, &code] { code = CmdPrune(g, *f); });
  return env;
}

}  // namespace overdrive
