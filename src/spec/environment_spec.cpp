// Azure ML environment YAML and conda files -> EnvironmentSpec / CondaSpec, and a job's
// `environment:` scalar -> EnvironmentRef. Walks yaml-cpp trees with explicit key lists, like the
// job parser: a typo is an error with a position and a hint, never a silent default.
#include "spec/environment_spec.hpp"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/input_limits.hpp"
#include "common/strings.hpp"
#include "spec/environment_yaml.hpp"
#include "spec/yaml_fields.hpp"
#include "spec/yaml_walker.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using spec_yaml::CheckName;
using spec_yaml::Fail;
using spec_yaml::Keys;
using spec_yaml::LoadYaml;
using spec_yaml::MarkPos;
using spec_yaml::ReadSmallFile;
using spec_yaml::Walker;


const Keys kEnvironmentKeys = {"$schema",    "name",    "version",          "description",
                               "tags",       "image",   "conda_file",       "build",
                               "os_type",    "inference_config", "overdrive"};
const Keys kCondaKeys = {"name", "channels", "dependencies", "prefix", "variables"};

bool IsRemote(const std::string& path) {
  return StartsWith(path, "azureml:") || path.find("://") != std::string::npos;
}






// `python`, `python=3.11`, `python==3.11.4`, `python>=3.8`, `conda-forge::python 3.11`: the
// version text, or nullopt when the entry is not python.
std::optional<std::string> PythonVersion(const std::string& entry) {
  std::string s = Trim(entry);
  if (size_t colons = s.find("::"); colons != std::string::npos) s = s.substr(colons + 2);
  size_t end = s.find_first_of("=<>!~ ");
  std::string name = s.substr(0, end);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name != "python") return std::nullopt;
  if (end == std::string::npos) return std::string();
  std::string rest = Trim(s.substr(end));
  if (StartsWith(rest, "==")) rest = rest.substr(2);
  else if (StartsWith(rest, "=")) rest = rest.substr(1);
  return Trim(rest);
}

Result<CondaSpec> ParseCondaNode(const YAML::Node& root, const SourcePos& where,
                                 const YamlPosFn& pos, const std::string& context) {
  Walker w(pos);
  OD_TRY(w.CheckText(root));
  CondaSpec conda;
  conda.pos = SourcePos{where.file, 0, 0};
  OD_ASSIGN_OR_RETURN(Fields f, w.Map(root, where, context, kCondaKeys));
  if (auto* x = f.Get("name")) { OD_ASSIGN_OR_RETURN(conda.name, w.String(*x)); }
  if (auto* x = f.Get("channels")) {
    OD_ASSIGN_OR_RETURN(conda.channels, w.StringList(*x, "channels"));
  }
  const Field* deps = f.Get("dependencies");
  if (deps == nullptr) return conda;
  if (!deps->value.IsSequence()) {
    return Fail(w.ValuePos(*deps), "'dependencies' of " + context + " must be a list");
  }
  bool had_pip_list = false;
  for (auto it = deps->value.begin(); it != deps->value.end(); ++it) {
    YAML::Node item = *it;
    if (item.IsScalar()) {
      std::string text = Trim(item.Scalar());
      if (text.empty()) return Fail(w.Pos(item), "an entry of 'dependencies' is empty");
      conda.dependency_pos.emplace(text, w.Pos(item));
      if (auto v = PythonVersion(text)) {
        if (conda.python) {
          return Fail(w.Pos(item), "python is listed twice in 'dependencies' of " + context);
        }
        conda.python = *v;
      } else {
        conda.conda_dependencies.push_back(text);
      }
      continue;
    }
    if (!item.IsMap()) {
      return Fail(w.Pos(item), "entries of 'dependencies' must be package specs (numpy=1.26) "
                               "or a 'pip:' list");
    }
    OD_ASSIGN_OR_RETURN(Fields m, w.Map(item, w.Pos(item), "a 'dependencies' entry", {"pip"}));
    const Field* pip = m.Get("pip");
    if (pip == nullptr) return Fail(w.Pos(item), "a 'dependencies' mapping needs a 'pip:' list");
    if (had_pip_list) return Fail(w.Pos(pip->key), "'pip:' is listed twice in 'dependencies'");
    had_pip_list = true;
    if (!pip->value.IsSequence()) return Fail(w.ValuePos(*pip), "'pip' must be a list of requirements");
    for (auto p = pip->value.begin(); p != pip->value.end(); ++p) {
      if (!p->IsScalar() || Trim(p->Scalar()).empty()) {
        return Fail(w.Pos(*p), "entries of 'pip' must be requirement lines (scikit-learn==1.5.0)");
      }
      std::string text = Trim(p->Scalar());
      conda.dependency_pos.emplace(text, w.Pos(*p));
      conda.pip.push_back(text);
    }
  }
  return conda;
}


}  // namespace

Result<void> ValidateEnvironmentName(const std::string& name) {
  return CheckName(name, 255, true, "environment name");
}

Result<void> ValidateEnvironmentVersion(const std::string& version) {
  return CheckName(version, 64, false, "environment version");
}

Result<EnvironmentSpec> ParseEnvironmentNode(const YAML::Node& node, const SourcePos& where,
                                             const YamlPosFn& pos, const fs::path& base_dir,
                                             const std::string& context) {
  Walker w(pos);
  OD_TRY(w.CheckText(node));
  EnvironmentSpec env;
  env.pos = where;
  if (!node.IsMap()) {
    return Fail(where, context + " must be a mapping (image, conda_file, build, ...)");
  }
  OD_ASSIGN_OR_RETURN(Fields f, w.Map(node, where, context, kEnvironmentKeys));
  // Messages about this spec: "environment" in a job, the keys alone in a file.
  const std::string in = context == "the environment file" ? "" : " in " + context;

  if (auto* x = f.Get("name")) {
    OD_ASSIGN_OR_RETURN(env.name, w.NonEmptyString(*x));
    if (auto ok = ValidateEnvironmentName(env.name); !ok) {
      return Fail(w.ValuePos(*x), ok.error().message);
    }
  }
  if (auto* x = f.Get("version")) {
    OD_ASSIGN_OR_RETURN(env.version, w.NonEmptyString(*x));
    if (auto ok = ValidateEnvironmentVersion(env.version); !ok) {
      return Fail(w.ValuePos(*x), ok.error().message);
    }
  }
  if (auto* x = f.Get("description")) { OD_ASSIGN_OR_RETURN(env.description, w.String(*x)); }
  if (auto* x = f.Get("tags")) {
    OD_ASSIGN_OR_RETURN(Fields tags, w.Map(x->value, w.ValuePos(*x), "tags", {}));
    for (const auto& t : tags.list) {
      if (t.present() && !t.value.IsScalar()) {
        return Fail(w.ValuePos(t), "tag '" + t.name + "' must be a string");
      }
      env.tags[t.name] = t.present() ? t.value.Scalar() : "";
    }
  }
  if (auto* x = f.Get("os_type")) {
    OD_ASSIGN_OR_RETURN(std::string os, w.String(*x));
    std::string l;
    for (char c : Trim(os)) l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (l == "windows") {
      return Fail(w.ValuePos(*x), "os_type 'windows' is not supported: Overdrive runs Linux "
                                  "environments only (remove os_type or write linux)");
    }
    if (l != "linux") {
      return Fail(w.ValuePos(*x), "'os_type' must be linux, got '" + os + "'" +
                                      DidYouMeanSuffix(l, {"linux"}));
    }
    env.os_type = "linux";
  }
  if (auto* x = f.Get("inference_config")) {
    env.ignored.push_back(w.Pos(x->key).ToString() +
                          ": 'inference_config' is for Azure online endpoints; ignored here "
                          "(overdrive serve runs the scoring script itself)");
  }
  if (auto* x = f.Get("image")) {
    OD_ASSIGN_OR_RETURN(env.image, w.NonEmptyString(*x));
    env.image = Trim(env.image);
    env.image_pos = w.ValuePos(*x);
  }
  if (auto* x = f.Get("conda_file")) {
    env.conda_file_pos = w.ValuePos(*x);
    if (x->value.IsMap()) {
      // The SDK's inline form: the conda spec itself, positions in this file.
      OD_ASSIGN_OR_RETURN(env.conda, ParseCondaNode(x->value, env.conda_file_pos, pos,
                                                    "the conda_file mapping"));
      YAML::Emitter out;
      out << x->value;
      env.conda_text = std::string(out.c_str()) + "\n";
    } else {
      OD_ASSIGN_OR_RETURN(std::string written, w.NonEmptyString(*x));
      if (IsRemote(written)) {
        return Fail(env.conda_file_pos, "conda_file '" + written +
                                            "' is not a local file; give a path relative to "
                                            "the YAML file");
      }
      fs::path p = (base_dir / fs::path(written)).lexically_normal();
      OD_ASSIGN_OR_RETURN(env.conda_text,
                          ReadSmallFile(p, env.conda_file_pos, "conda file", written));
      // Messages about the conda file's content name it as the user would reach it.
      fs::path shown = (fs::path(where.file).parent_path() / written).lexically_normal();
      auto root = LoadYaml(env.conda_text, shown.string(), "the conda file");
      Result<CondaSpec> conda =
          root ? ParseCondaNode(*root, SourcePos{shown.string(), 1, 1}, MarkPos(shown.string()),
                                "the conda file")
               : std::unexpected(root.error());
      if (!conda) {
        return std::unexpected(
            Error{conda.error().code, conda.error().message + " (the conda_file of " +
                                          env.conda_file_pos.ToString() + ")"});
      }
      env.conda = std::move(*conda);
      env.conda_file = p;
    }
  }
  if (auto* x = f.Get("build")) {
    env.build_pos = w.ValuePos(*x);
    OD_ASSIGN_OR_RETURN(Fields b, w.Map(x->value, env.build_pos, "build",
                                        {"path", "dockerfile_path"}));
    const Field* path = b.Get("path");
    if (path == nullptr) {
      return Fail(env.build_pos, "build needs a 'path' (the folder holding the Dockerfile)");
    }
    OD_ASSIGN_OR_RETURN(std::string written, w.NonEmptyString(*path));
    if (IsRemote(written)) {
      return Fail(w.ValuePos(*path), "build path '" + written +
                                         "' is not a local folder (no remote build context is "
                                         "reached); give a folder relative to the YAML file");
    }
    fs::path p = (base_dir / fs::path(written)).lexically_normal();
    std::error_code ec;
    auto st = fs::status(p, ec);
    std::string where_p = " (resolved to " + p.string() + ")";
    if (!fs::exists(st)) {
      return Fail(w.ValuePos(*path), "build folder '" + written + "' does not exist" + where_p);
    }
    if (!fs::is_directory(st)) {
      return Fail(w.ValuePos(*path), "build path '" + written + "' is not a folder" + where_p);
    }
    if (auto* d = b.Get("dockerfile_path")) {
      OD_ASSIGN_OR_RETURN(env.dockerfile_path, w.NonEmptyString(*d));
      fs::path rel = fs::path(env.dockerfile_path).lexically_normal();
      if (rel.is_absolute() || (!rel.empty() && *rel.begin() == "..")) {
        return Fail(w.ValuePos(*d), "dockerfile_path '" + env.dockerfile_path +
                                        "' must be a path inside the build folder");
      }
      if (!fs::is_regular_file(p / rel, ec)) {
        return Fail(w.ValuePos(*d), "dockerfile_path '" + env.dockerfile_path +
                                        "' is not a file in the build folder" + where_p);
      }
    } else if (fs::is_regular_file(p / "Dockerfile", ec)) {
      env.dockerfile_path = "Dockerfile";
    } else if (fs::is_regular_file(p / "Containerfile", ec)) {
      env.dockerfile_path = "Containerfile";
    } else {
      return Fail(w.ValuePos(*path), "build folder '" + written +
                                         "' has no Dockerfile (or Containerfile); name another "
                                         "with dockerfile_path" + where_p);
    }
    env.build_path = p;
  }
  if (auto* x = f.Get("overdrive")) {
    OD_ASSIGN_OR_RETURN(Fields o, w.Map(x->value, w.ValuePos(*x), "overdrive",
                                        {"python", "system_site_packages", "network"}));
    if (auto* y = o.Get("python")) { OD_ASSIGN_OR_RETURN(env.python, w.NonEmptyString(*y)); }
    if (auto* y = o.Get("system_site_packages")) {
      OD_ASSIGN_OR_RETURN(env.system_site_packages, w.Bool(*y));
    }
    if (auto* y = o.Get("network")) {
      OD_ASSIGN_OR_RETURN(env.network, w.NonEmptyString(*y));
      bool ok = env.network[0] != '-' &&
                std::all_of(env.network.begin(), env.network.end(), [](char ch) {
                  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                         ch == '_' || ch == '.';
                });
      if (!ok) {
        return Fail(w.ValuePos(*y), "network '" + env.network +
                                        "' is not a podman network: none (the default), host, "
                                        "or a network's name (podman network ls)");
      }
      if (env.network == "none") env.network.clear();
      env.network_pos = w.ValuePos(*y);
    }
  }

  if (env.build_path && !env.image.empty()) {
    return Fail(env.image_pos, "an environment has either 'image' or 'build', not both" + in);
  }
  if (env.build_path && (env.conda || env.conda_file)) {
    return Fail(env.conda_file_pos, "'conda_file' goes with 'image', not with 'build' (install "
                                    "the packages in the Dockerfile)" + in);
  }
  if (!env.network.empty() && !env.build_path && env.image.empty()) {
    return Fail(env.network_pos, "'network' is for container environments (image or build); a "
                                 "venv's runs use this machine's network" + in);
  }
  if (!env.build_path && env.image.empty() && !env.conda) {
    return Fail(where, "an environment needs 'image', 'conda_file' or 'build'" + in +
                           " (a conda_file alone makes a Python virtual environment)");
  }
  return env;
}

std::string EnvironmentSpec::Kind() const {
  if (build_path) return "build";
  if (!image.empty()) return "image";
  return "venv";
}

std::string EnvironmentSpec::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  j["name"] = name;
  j["version"] = version;
  j["description"] = description;
  j["tags"] = tags;
  j["kind"] = Kind();
  j["image"] = image;
  j["conda_file"] = conda_file ? conda_file->string() : "";
  j["conda_text"] = conda_text;
  if (conda) {
    nlohmann::json c = {{"name", conda->name},
                        {"pip", conda->pip},
                        {"conda_dependencies", conda->conda_dependencies},
                        {"channels", conda->channels}};
    c["python"] = conda->python ? nlohmann::json(*conda->python) : nlohmann::json(nullptr);
    j["conda"] = c;
  } else {
    j["conda"] = nullptr;
  }
  if (build_path) {
    j["build"] = {{"path", build_path->string()}, {"dockerfile_path", dockerfile_path}};
  } else {
    j["build"] = nullptr;
  }
  j["os_type"] = os_type;
  j["python"] = python;
  j["system_site_packages"] = system_site_packages;
  if (!network.empty()) j["network"] = network;  // absent by default: older specs stay the same
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<EnvironmentSpec> EnvironmentSpec::FromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  auto bad = [](const std::string& why) {
    return MakeError(ErrorCode::kInvalidInput, "stored environment spec: " + why);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  EnvironmentSpec env;
  try {
    auto str = [&](const char* key, std::string& out) {
      if (j.contains(key) && !j[key].is_null()) out = j[key].get<std::string>();
    };
    str("name", env.name);
    str("version", env.version);
    str("description", env.description);
    str("image", env.image);
    str("conda_text", env.conda_text);
    str("os_type", env.os_type);
    str("python", env.python);
    if (j.contains("tags") && j["tags"].is_object()) {
      env.tags = j["tags"].get<std::map<std::string, std::string>>();
    }
    std::string conda_file;
    str("conda_file", conda_file);
    if (!conda_file.empty()) env.conda_file = conda_file;
    if (j.contains("conda") && j["conda"].is_object()) {
      const auto& c = j["conda"];
      CondaSpec conda;
      conda.name = c.value("name", "");
      if (c.contains("python") && c["python"].is_string()) conda.python = c["python"].get<std::string>();
      if (c.contains("pip")) conda.pip = c["pip"].get<std::vector<std::string>>();
      if (c.contains("conda_dependencies")) {
        conda.conda_dependencies = c["conda_dependencies"].get<std::vector<std::string>>();
      }
      if (c.contains("channels")) conda.channels = c["channels"].get<std::vector<std::string>>();
      env.conda = std::move(conda);
    }
    if (j.contains("build") && j["build"].is_object()) {
      env.build_path = j["build"].value("path", "");
      env.dockerfile_path = j["build"].value("dockerfile_path", "Dockerfile");
    }
    if (j.contains("system_site_packages")) {
      env.system_site_packages = j["system_site_packages"].get<bool>();
    }
    if (j.contains("network")) env.network = j["network"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("a field has the wrong type (") + e.what() + ")");
  }
  return env;
}

Result<EnvironmentSpec> ParseEnvironmentText(const std::string& text, const std::string& file,
                                             const fs::path& base_dir) {
  try {
    OD_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, file, "the environment file"));
    SourcePos where{file, 1, 1};
    if (!root.IsMap()) {
      return Fail(where, "an environment file must be a mapping of keys (name, version, image, "
                         "conda_file, build, ...)");
    }
    std::error_code ec;
    fs::path dir = fs::absolute(base_dir, ec);
    if (ec) dir = base_dir;
    return ParseEnvironmentNode(root, where, MarkPos(file), dir.lexically_normal(),
                                "the environment file");
  } catch (const YAML::Exception& e) {
    return Fail(SourcePos{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                          e.mark.is_null() ? 0 : e.mark.column + 1},
                e.msg);
  }
}

Result<EnvironmentSpec> ParseEnvironmentFile(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return MakeError(ErrorCode::kNotFound, path.string() + ": cannot read the environment file: " +
                                               std::strerror(errno));
  }
  OD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, SourcePos{path.string(), 0, 0},
                                                      "environment file", path.string()));
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) abs = path;
  return ParseEnvironmentText(text, path.string(), abs.parent_path());
}

Result<CondaSpec> ParseCondaText(const std::string& text, const std::string& file) {
  try {
    OD_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, file, "the conda file"));
    return ParseCondaNode(root, SourcePos{file, 1, 1}, MarkPos(file), "the conda file");
  } catch (const YAML::Exception& e) {
    return Fail(SourcePos{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                          e.mark.is_null() ? 0 : e.mark.column + 1},
                e.msg);
  }
}

Result<EnvironmentRef> ParseEnvironmentName(const std::string& text, const SourcePos& pos) {
  EnvironmentRef ref;
  ref.kind = EnvironmentRef::Kind::kAsset;
  ref.text = text;
  ref.pos = pos;
  std::string t = Trim(text);
  const std::string forms =
      " (write azureml:NAME:VERSION, azureml:NAME@latest or "
      "azureml://registries/REGISTRY/environments/NAME/versions/VERSION)";
  auto fail = [&](const std::string& why) {
    return Fail(pos, "environment '" + Printable(t) + "': " + why);
  };
  if (t.empty()) return Fail(pos, "'environment' names no environment" + forms);
  auto check = [&]() -> Result<EnvironmentRef> {
    if (auto ok = ValidateEnvironmentName(ref.name); !ok) return fail(ok.error().message + forms);
    if (!ref.version.empty()) {
      if (auto ok = ValidateEnvironmentVersion(ref.version); !ok) {
        return fail(ok.error().message + forms);
      }
    }
    return ref;
  };
  auto label = [&](const std::string& l) -> Result<void> {
    if (l != "latest") {
      return fail("only the label 'latest' is known here, got '" + Printable(l) + "'" + forms);
    }
    ref.label = l;
    return {};
  };
  if (StartsWith(t, "azureml://")) {
    // registries/<reg>/environments/<name>/(versions/<v>|labels/latest)
    std::vector<std::string> parts = Split(t.substr(10), '/');
    if (parts.size() != 6 || parts[0] != "registries" || parts[2] != "environments" ||
        (parts[4] != "versions" && parts[4] != "labels") || parts[1].empty() ||
        parts[5].empty()) {
      return fail("not an environment reference" + forms);
    }
    ref.registry = parts[1];
    ref.name = parts[3];
    if (parts[4] == "versions") {
      ref.version = parts[5];
    } else {
      OD_TRY(label(parts[5]));
    }
    return check();
  }
  if (StartsWith(t, "azureml:/")) {
    // An ARM id: .../environments/<name>/versions/<v>
    std::vector<std::string> parts = Split(t.substr(9), '/');
    if (parts.size() < 4 || parts[parts.size() - 4] != "environments" ||
        parts[parts.size() - 2] != "versions") {
      return fail("not an environment reference" + forms);
    }
    ref.name = parts[parts.size() - 3];
    ref.version = parts.back();
    if (ref.version.empty()) return fail("no version after 'versions/'" + forms);
    return check();
  }
  std::string rest = StartsWith(t, "azureml:") ? t.substr(8) : t;
  if (rest.empty()) return fail("no name after 'azureml:'" + forms);
  if (size_t at = rest.find('@'); at != std::string::npos) {
    ref.name = rest.substr(0, at);
    if (ref.name.empty()) return fail("no name before '@'" + forms);
    OD_TRY(label(rest.substr(at + 1)));
    return check();
  }
  if (size_t colon = rest.find(':'); colon != std::string::npos) {
    ref.name = rest.substr(0, colon);
    ref.version = rest.substr(colon + 1);
    if (ref.name.empty()) return fail("no name before ':'" + forms);
    if (ref.version.empty()) return fail("no version after ':'" + forms);
    return check();
  }
  ref.name = rest;
  ref.label = "latest";
  return check();
}

bool YamlWithinLimits(const YAML::Node& n, int max_depth, size_t& budget, int depth) {
  if (depth > max_depth || budget == 0) return false;
  --budget;
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!YamlWithinLimits(it->first, max_depth, budget, depth + 1) ||
          !YamlWithinLimits(it->second, max_depth, budget, depth + 1)) {
        return false;
      }
    }
  } else if (n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!YamlWithinLimits(*it, max_depth, budget, depth + 1)) return false;
    }
  }
  return true;
}

}  // namespace overdrive
