#include "cli/model_commands.hpp"

#include <algorithm>
#include <iostream>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/remote_commands.hpp"
#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "registry/model_registry.hpp"

namespace overdrive {

namespace fs = std::filesystem;

namespace {

// The flag values of the group; owned by the callbacks, so they live as long as the app.
struct ModelFlags {
  std::string name, run, path = kDefaultModelPath, ref, to, alias;
  std::vector<std::string> tags;
  std::int64_t version = 0;
  bool json = false, force = false;
};

std::int64_t TotalSize(const ModelVersion& v) {
  std::int64_t total = 0;
  for (const auto& f : v.files) total += f.size;
  return total;
}

nlohmann::json ParseOr(const std::string& text, nlohmann::json fallback) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

nlohmann::json VersionToJson(const ModelVersion& v) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : v.files) {
    files.push_back({{"path", f.path}, {"digest", f.digest}, {"size", f.size}});
  }
  return {{"name", v.model},
          {"version", v.version},
          {"ref", v.model + ":" + std::to_string(v.version)},
          {"run_id", v.run_id},
          {"path", v.path},
          {"tags", ParseOr(v.tags_json, nlohmann::json::object())},
          {"aliases", v.aliases},
          {"created_at", v.created_at},
          {"size", TotalSize(v)},
          {"content_digest", ModelContentDigest(v)},
          {"files", files},
          {"lineage", ParseOr(v.lineage_json, nlohmann::json::object())}};
}

std::string JsonScalarText(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_float()) return FormatDouble(j.get<double>());
  return DumpJson(j, -1);
}

Result<std::map<std::string, std::string>> ParseTags(const std::vector<std::string>& raw) {
  std::map<std::string, std::string> tags;
  for (const auto& t : raw) {
    size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeError(ErrorCode::kInvalidInput,
                       "tag '" + t + "' is not key=value (e.g. --tag stage=dev)");
    }
    tags[t.substr(0, eq)] = t.substr(eq + 1);
  }
  return tags;
}

int CmdRegister(const Globals& g, const ModelFlags& f) {
  auto tags = ParseTags(f.tags);
  if (!tags) return Fail(tags.error());
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  ModelRegistry registry((*ws)->store(), (*ws)->artifacts());
  auto v = registry.Register(f.name, f.run, f.path, *tags);
  if (!v) return Fail(v.error());
  if (f.json) {
    PrintJson(VersionToJson(*v));
    return 0;
  }
  std::cout << "registered " << v->model << ":" << v->version << " (" << v->files.size()
            << (v->files.size() == 1 ? " file, " : " files, ")
            << FormatBytes(static_cast<double>(TotalSize(*v))) << ") from run " << v->run_id << " "
            << v->path << "\n"
            << "  overdrive model show " << v->model << ":" << v->version << "\n"
            << "  overdrive model alias " << v->model << " " << v->version << " production\n";
  return 0;
}

// One row of `model list`: a model, its aliases (alias -> version) and its latest version's run.
struct ModelListing {
  ModelSummary summary;
  std::map<std::string, std::int64_t> aliases;
  std::string latest_run_id;
};

Result<std::vector<ModelListing>> LocalModelListings(const Globals& g) {
  OD_ASSIGN_OR_RETURN(auto ws, OpenWorkspace(g, false));
  ModelRegistry registry(ws->store(), ws->artifacts());
  OD_ASSIGN_OR_RETURN(auto models, registry.ListModels());
  std::vector<ModelListing> out;
  for (const auto& m : models) {
    OD_ASSIGN_OR_RETURN(auto versions, registry.ListVersions(m.name));
    ModelListing l{m, {}, versions.empty() ? "" : versions.back().run_id};
    for (const auto& v : versions)
      for (const auto& a : v.aliases) l.aliases[a] = v.version;
    out.push_back(std::move(l));
  }
  return out;
}

// The same rows from a server (GET /api/v1/models).
Result<std::vector<ModelListing>> RemoteModelListings(const Globals& g) {
  OD_ASSIGN_OR_RETURN(auto reply, RemoteCall(g, "GET", "/api/v1/models"));
  std::vector<ModelListing> out;
  for (const auto& m : reply.value("models", nlohmann::json::array())) {
    ModelListing l;
    l.summary.name = m.value("name", "");
    l.summary.versions = m.value("versions", std::int64_t{0});
    l.summary.latest_version = m.value("latest_version", std::int64_t{0});
    l.summary.created_at = m.value("created_at", 0.0);
    l.summary.updated_at = m.value("updated_at", 0.0);
    l.latest_run_id = m.value("latest_run_id", "");
    const nlohmann::json aliases = m.value("aliases", nlohmann::json::object());
    for (const auto& [alias, version] : aliases.items()) {
      if (version.is_number_integer()) l.aliases[alias] = version.get<std::int64_t>();
    }
    out.push_back(std::move(l));
  }
  return out;
}

int CmdList(const Globals& g, const ModelFlags& f) {
  auto models = ServerUrl(g).empty() ? LocalModelListings(g) : RemoteModelListings(g);
  if (!models) return Fail(models.error());
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& [m, aliases, latest_run] : *models) {
      arr.push_back({{"name", m.name},
                     {"versions", m.versions},
                     {"latest_version", m.latest_version},
                     {"aliases", aliases},
                     {"latest_run_id", latest_run},
                     {"created_at", m.created_at},
                     {"updated_at", m.updated_at}});
    }
    PrintJson(arr);
    return 0;
  }
  if (models->empty()) {
    std::cout << "no models yet: overdrive model register NAME --run RUN [--path outputs/model]\n";
    return 0;
  }
  Table t({"name", "versions", "latest", "aliases", "latest run", "updated"});
  for (const auto& [m, aliases, latest_run] : *models) {
    std::vector<std::string> shown;  // "production:2"
    for (const auto& [a, v] : aliases) shown.push_back(a + ":" + std::to_string(v));
    t.Add({m.name, std::to_string(m.versions), std::to_string(m.latest_version),
           shown.empty() ? "-" : Join(shown, ", "), latest_run, FormatTimestamp(m.updated_at)});
  }
  t.Print(std::cout);
  return 0;
}

// The version `ref` names among a server's versions of the model (GET /api/v1/models/NAME).
Result<std::pair<ModelVersion, std::vector<ModelVersion>>> RemoteResolve(const Globals& g,
                                                                         const std::string& text) {
  OD_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(text));
  OD_ASSIGN_OR_RETURN(auto reply, RemoteCall(g, "GET", "/api/v1/models/" + ref.name));
  std::vector<ModelVersion> versions;
  for (const auto& j : reply.value("versions", nlohmann::json::array())) {
    ModelVersion v;
    v.model = ref.name;
    v.version = j.value("version", std::int64_t{0});
    v.run_id = j.value("run_id", "");
    v.path = j.value("path", "");
    v.created_at = j.value("created_at", 0.0);
    v.tags_json = j.value("tags", nlohmann::json::object()).dump();
    v.lineage_json = j.value("lineage", nlohmann::json::object()).dump();
    v.aliases = j.value("aliases", std::vector<std::string>());
    for (const auto& file : j.value("files", nlohmann::json::array())) {
      v.files.push_back({file.value("path", ""), file.value("digest", ""),
                         file.value("size", std::int64_t{0})});
    }
    versions.push_back(std::move(v));
  }
  if (versions.empty()) return MakeError(ErrorCode::kNotFound, "no model named '" + ref.name + "'");
  const ModelVersion* found = &versions.back();  // "latest"
  if (ref.version || (ref.alias && *ref.alias != kLatestAlias)) {
    found = nullptr;
    for (const auto& v : versions) {
      bool aliased = ref.alias && std::find(v.aliases.begin(), v.aliases.end(), *ref.alias) !=
                                      v.aliases.end();
      if ((ref.version && v.version == *ref.version) || aliased) found = &v;
    }
    if (!found) {
      return MakeError(ErrorCode::kNotFound, "model " + ref.ToString() + " does not exist on " +
                                                 ServerUrl(g) + " (overdrive model show " +
                                                 ref.name + " lists its versions)");
    }
  }
  ModelVersion v = *found;
  return std::pair{std::move(v), std::move(versions)};
}

int CmdShow(const Globals& g, const ModelFlags& f) {
  std::optional<ModelVersion> v;
  std::optional<std::vector<ModelVersion>> versions;
  if (!ServerUrl(g).empty()) {
    auto found = RemoteResolve(g, f.ref);
    if (!found) return Fail(found.error());
    v = std::move(found->first);
    versions = std::move(found->second);
  } else {
    auto ws = OpenWorkspace(g, false);
    if (!ws) return Fail(ws.error());
    ModelRegistry registry((*ws)->store(), (*ws)->artifacts());
    auto resolved = registry.Resolve(f.ref);
    if (!resolved) return Fail(resolved.error());
    auto listed = registry.ListVersions(resolved->model);
    if (!listed) return Fail(listed.error());
    v = std::move(*resolved);
    versions = std::move(*listed);
  }
  if (f.json) {
    nlohmann::json j = VersionToJson(*v);
    j["latest_version"] = versions->back().version;
    PrintJson(j);
    return 0;
  }
  const nlohmann::json lineage = ParseOr(v->lineage_json, nlohmann::json::object());
  auto field = [&](const char* key) {
    return lineage.contains(key) && !lineage[key].is_null() ? JsonScalarText(lineage[key])
                                                            : std::string();
  };
  std::ostream& out = std::cout;
  out << "model       " << v->model << ":" << v->version;
  if (v->version == versions->back().version) out << "  (latest)";
  out << "\n";
  if (!v->aliases.empty()) out << "aliases     " << Join(v->aliases, ", ") << "\n";
  out << "created     " << FormatTimestamp(v->created_at) << "\n";
  if (v->tags_json != "{}" && !v->tags_json.empty()) out << "tags        " << v->tags_json << "\n";
  out << "\nlineage\n";
  out << "  run         " << v->run_id << "  (" << field("job_type") << ", " << field("status")
      << ")\n";
  out << "  experiment  " << field("experiment") << "\n";
  if (!field("sweep_id").empty()) out << "  sweep       " << field("sweep_id") << "\n";
  out << "  from        " << v->path << "\n";
  if (!field("command").empty()) out << "  command     " << field("command") << "\n";
  out << "  code        "
      << (field("code_snapshot").empty() ? "(no code snapshot)" : field("code_snapshot")) << "\n";
  if (lineage.contains("inputs") && lineage["inputs"].is_object() && !lineage["inputs"].empty()) {
    out << "\ninputs\n";
    Table t({"name", "value"});
    for (const auto& [k, val] : lineage["inputs"].items()) t.Add({k, JsonScalarText(val)});
    t.Print(out, "  ");
  }
  if (lineage.contains("params") && lineage["params"].is_object() && !lineage["params"].empty()) {
    out << "\nparams\n";
    Table t({"name", "value"});
    for (const auto& [k, val] : lineage["params"].items()) t.Add({k, JsonScalarText(val)});
    t.Print(out, "  ");
  }
  if (lineage.contains("metrics") && lineage["metrics"].is_object() &&
      !lineage["metrics"].empty()) {
    out << "\nmetrics\n";
    Table t({"name", "last", "min", "max", "points"});
    for (const auto& [k, m] : lineage["metrics"].items()) {
      t.Add({k, JsonScalarText(m.value("last", nlohmann::json())),
             JsonScalarText(m.value("min", nlohmann::json())),
             JsonScalarText(m.value("max", nlohmann::json())),
             JsonScalarText(m.value("count", nlohmann::json()))});
    }
    t.Print(out, "  ");
  }
  out << "\nfiles (" << FormatBytes(static_cast<double>(TotalSize(*v))) << ")\n";
  Table t({"path", "size", "digest"});
  for (const auto& file : v->files) {
    t.Add({file.path, FormatBytes(static_cast<double>(file.size)), file.digest.substr(0, 12)});
  }
  t.Print(out, "  ");
  std::vector<std::string> numbers;
  for (const auto& other : *versions) numbers.push_back(std::to_string(other.version));
  out << "\nversions    " << Join(numbers, ", ") << "\n";
  out << "download:   overdrive model download " << v->model << ":" << v->version << "\n";
  return 0;
}

int CmdDownload(const Globals& g, const ModelFlags& f) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  ModelRegistry registry((*ws)->store(), (*ws)->artifacts());
  auto v = registry.Resolve(f.ref);
  if (!v) return Fail(v.error());
  fs::path dir = f.to.empty() ? fs::path(DefaultDownloadDir(*v)) : fs::path(f.to);
  auto written = registry.Download(*v, dir, f.force);
  if (!written) return Fail(written.error());
  std::cout << "downloaded " << v->model << ":" << v->version << " (" << written->size()
            << (written->size() == 1 ? " file, " : " files, ")
            << FormatBytes(static_cast<double>(TotalSize(*v))) << ") to " << dir.string() << "\n";
  return 0;
}

int CmdAlias(const Globals& g, const ModelFlags& f) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  ModelRegistry registry((*ws)->store(), (*ws)->artifacts());
  // Where the alias pointed before, to say that it moved.
  std::optional<std::int64_t> before;
  if (ValidateModelName(f.alias, "alias") && f.alias != kLatestAlias) {
    ModelRef ref{f.name, std::nullopt, f.alias};
    if (auto old = registry.Resolve(ref)) before = old->version;
  }
  auto v = registry.SetAlias(f.name, f.version, f.alias);
  if (!v) return Fail(v.error());
  std::cout << f.name << "@" << f.alias << " -> version " << v->version;
  if (before && *before != v->version) std::cout << " (moved from version " << *before << ")";
  std::cout << "\n";
  return 0;
}

}  // namespace

void AddModelCommands(CLI::App& app, const Globals& g, int& code) {
  auto f = std::make_shared<ModelFlags>();
  auto* model = app.add_subcommand(
      "model", "the model registry: named, versioned models made from a run's outputs");
  model->require_subcommand(1);
  model->fallthrough();

  auto* reg = model->add_subcommand(
      "register",
      "register a finished run's artifacts under --path as the next version of model NAME");
  reg->add_option("name", f->name, "model name (letters, digits, - _ .)")->required();
  reg->add_option("--run,-r", f->run, "run id (a unique prefix is enough)")->required();
  reg->add_option("--path,-p", f->path,
                  "artifact folder or file within the run (default: outputs/model)");
  reg->add_option("--tag,-t", f->tags, "tag the version: --tag key=value (repeatable)");
  reg->add_flag("--json", f->json, "print JSON for scripts");
  reg->callback([f, &g, &code] { code = CmdRegister(g, *f); });

  auto* list = model->add_subcommand("list", "registered models with their versions and aliases");
  list->add_flag("--json", f->json, "print JSON for scripts");
  list->callback([f, &g, &code] { code = CmdList(g, *f); });

  auto* show = model->add_subcommand(
      "show", "a model version: lineage (run, params, metrics, code, inputs) and files");
  show->add_option("ref", f->ref, "NAME (latest), NAME:VERSION or NAME@ALIAS")->required();
  show->add_flag("--json", f->json, "print JSON for scripts");
  show->callback([f, &g, &code] { code = CmdShow(g, *f); });

  auto* download = model->add_subcommand("download", "write a model version's files into a folder");
  download->add_option("ref", f->ref, "NAME (latest), NAME:VERSION or NAME@ALIAS")->required();
  download->add_option("--to", f->to, "folder (default: ./NAME-vVERSION)");
  download->add_flag("--force", f->force, "overwrite files that already exist");
  download->callback([f, &g, &code] { code = CmdDownload(g, *f); });

  auto* alias = model->add_subcommand(
      "alias", "point an alias (e.g. production) at a version; moves it if already set");
  alias->add_option("name", f->name, "model name")->required();
  alias->add_option("version", f->version, "version number")->required();
  alias->add_option("alias", f->alias, "alias name ('latest' is implicit)")->required();
  alias->callback([f, &g, &code] { code = CmdAlias(g, *f); });
}

}  // namespace overdrive
