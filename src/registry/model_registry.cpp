#include "registry/model_registry.hpp"

#include <openssl/evp.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "common/strings.hpp"

namespace overdrive {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxListedArtifacts = 8;

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
}

// "outputs/model/" and "./outputs/model" are "outputs/model"; "" when it cannot be a relative
// artifact path.
Result<std::string> NormalizeArtifactPath(const std::string& raw) {
  std::string p = Trim(raw);
  while (StartsWith(p, "./")) p.erase(0, 2);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty() || p == ".") {
    return MakeError(ErrorCode::kInvalidInput,
                     "the artifact path must not be empty (e.g. --path outputs/model)");
  }
  if (p.front() == '/') {
    return MakeError(
        ErrorCode::kInvalidInput,
        "artifact path '" + raw + "' must be relative to the run (e.g. outputs/model)");
  }
  for (const auto& part : Split(p, '/')) {
    if (part == "..") {
      return MakeError(ErrorCode::kInvalidInput,
                       "artifact path '" + raw + "' must not contain '..'");
    }
  }
  return p;
}

// A relative path stored in a version that could escape the download folder is refused.
bool IsSafeRelative(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  for (const auto& part : Split(p, '/')) {
    if (part == ".." || part.empty()) return false;
  }
  return true;
}

// yaml-cpp node -> JSON; scalars that read as JSON numbers or booleans stay typed.
nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& kv : node) j[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& item : node) j.push_back(YamlToJson(item));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = node.Scalar();
      if (node.Tag() != "!") {  // not quoted in the file
        auto parsed = nlohmann::json::parse(s, nullptr, false);
        if (!parsed.is_discarded() && (parsed.is_number() || parsed.is_boolean())) return parsed;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

// The `inputs:` of a job document, or null when it has none (or cannot be read).
nlohmann::json InputsOf(const std::string& spec_yaml) {
  if (spec_yaml.empty()) return nullptr;
  try {
    YAML::Node doc = YAML::Load(spec_yaml);
    if (!doc.IsMap() || !doc["inputs"]) return nullptr;
    return YamlToJson(doc["inputs"]);
  } catch (const std::exception&) {
    return nullptr;  // lineage is best effort: a stored document is not re-validated here
  }
}

// Every folder prefix and file of a run's artifacts: what a mistyped --path is compared to.
std::vector<std::string> PathCandidates(const std::vector<ArtifactRecord>& artifacts) {
  std::set<std::string> out;
  for (const auto& a : artifacts) {
    out.insert(a.path);
    for (size_t pos = a.path.find('/'); pos != std::string::npos; pos = a.path.find('/', pos + 1)) {
      out.insert(a.path.substr(0, pos));
    }
  }
  return {out.begin(), out.end()};
}

std::string Sha256Hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string ModelRef::ToString() const {
  if (version) return name + ":" + std::to_string(*version);
  return name + "@" + alias.value_or(kLatestAlias);
}

Result<void> ValidateModelName(std::string_view name, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidInput,
                     "invalid " + std::string(what) + " '" + std::string(name) + "': " + why);
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > kMaxNameLength) {
    return bad("longer than " + std::to_string(kMaxNameLength) + " characters");
  }
  if (std::isalnum(static_cast<unsigned char>(name.front())) == 0) {
    return bad("it must start with a letter or a digit");
  }
  if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
    return bad("use only letters, digits, '-', '_' and '.'");
  }
  return {};
}

Result<ModelRef> ParseModelRef(std::string_view text) {
  const std::string t = Trim(text);
  const size_t colon = t.find(':');
  const size_t at = t.find('@');
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidInput,
                     "invalid model reference '" + t + "': " + why +
                         " (write NAME, NAME:VERSION or NAME@ALIAS, e.g. churn:3 or "
                         "churn@production)");
  };
  if (colon != std::string::npos && at != std::string::npos) {
    return bad("give a version or an alias, not both");
  }
  ModelRef ref;
  size_t sep = std::min(colon, at);
  ref.name = t.substr(0, sep);
  OD_TRY(ValidateModelName(ref.name));
  if (sep == std::string::npos) {
    ref.alias = kLatestAlias;
    return ref;
  }
  std::string rest = t.substr(sep + 1);
  if (sep == colon) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (rest.empty() || ec != std::errc() || ptr != rest.data() + rest.size() || v < 1) {
      return bad("the version '" + rest + "' is not a number from 1 up");
    }
    ref.version = v;
    return ref;
  }
  OD_TRY(ValidateModelName(rest, "alias"));
  ref.alias = rest;
  return ref;
}

std::string ModelContentDigest(const ModelVersion& v) {
  std::vector<ArtifactRecord> files = v.files;
  std::sort(files.begin(), files.end(),
            [](const ArtifactRecord& a, const ArtifactRecord& b) { return a.path < b.path; });
  std::string manifest;
  for (const auto& f : files) {
    manifest += f.path;
    manifest += '\0';
    manifest += f.digest;
    manifest += '\0';
    manifest += std::to_string(f.size);
    manifest += '\n';
  }
  return Sha256Hex(manifest);
}

std::string DefaultDownloadDir(const ModelVersion& v) {
  return v.model + "-v" + std::to_string(v.version);
}

Result<std::vector<std::string>> ModelRegistry::ModelNames() {
  OD_ASSIGN_OR_RETURN(auto models, store_.ListModels());
  std::vector<std::string> names;
  for (const auto& m : models) names.push_back(m.name);
  return names;
}

Result<ModelVersion> ModelRegistry::Register(const std::string& name, const std::string& run_ref,
                                             const std::string& raw_path,
                                             const std::map<std::string, std::string>& tags) {
  OD_TRY(ValidateModelName(name));
  OD_ASSIGN_OR_RETURN(std::string path, NormalizeArtifactPath(raw_path));
  for (const auto& [k, v] : tags) {
    if (Trim(k).empty()) {
      return MakeError(ErrorCode::kInvalidInput, "a tag has an empty name (write --tag key=value)");
    }
  }
  OD_ASSIGN_OR_RETURN(std::string run_id, store_.ResolveRunId(run_ref));
  OD_ASSIGN_OR_RETURN(RunRecord run, store_.GetRun(run_id));
  if (run.status != RunStatus::kCompleted && run.status != RunStatus::kEarlyTerminated) {
    std::string msg = "run " + run.id + " is " + RunStatusName(run.status) +
                      ": only completed or early_terminated runs can be registered";
    if (!IsFinal(run.status)) msg += " (wait for it: overdrive job logs " + run.id + " -f)";
    return MakeError(ErrorCode::kFailedPrecondition, msg);
  }

  OD_ASSIGN_OR_RETURN(auto artifacts, store_.ListArtifacts(run.id));
  ModelVersion v;
  v.model = name;
  v.run_id = run.id;
  v.path = path;
  for (const auto& a : artifacts) {
    if (a.path == path) {
      // One file registered on its own keeps its name.
      v.files.push_back({fs::path(a.path).filename().string(), a.digest, a.size});
    } else if (StartsWith(a.path, path + "/")) {
      v.files.push_back({a.path.substr(path.size() + 1), a.digest, a.size});
    }
  }
  if (v.files.empty()) {
    std::string msg = "run " + run.id + " has no artifacts under '" + path + "'";
    if (artifacts.empty()) {
      msg += " (it has no artifacts at all";
      if (run.job_type == JobType::kSweep) msg += ": it is a sweep; register one of its trials";
      msg += ")";
    } else {
      std::vector<std::string> listed;
      for (size_t i = 0; i < artifacts.size() && i < kMaxListedArtifacts; ++i) {
        listed.push_back(artifacts[i].path);
      }
      if (artifacts.size() > kMaxListedArtifacts) listed.push_back("...");
      msg += " (it has: " + Join(listed, ", ") + ")";
      msg += DidYouMeanSuffix(path, PathCandidates(artifacts));
    }
    return MakeError(ErrorCode::kNotFound, msg);
  }
  for (const auto& f : v.files) {
    OD_ASSIGN_OR_RETURN(bool present, artifacts_.Contains(f.digest));
    if (!present) {
      return MakeError(ErrorCode::kNotFound, "artifact '" + path + "/" + f.path + "' of run " +
                                                 run.id +
                                                 " is missing from the artifact store "
                                                 "(blob " +
                                                 f.digest + ")");
    }
  }

  nlohmann::json tag_json = nlohmann::json::object();
  for (const auto& [k, val] : tags) tag_json[Trim(k)] = val;
  v.tags_json = tag_json.dump();

  nlohmann::json lineage;
  lineage["run_id"] = run.id;
  lineage["experiment"] = run.experiment_name;
  lineage["job_type"] = JobTypeName(run.job_type);
  lineage["status"] = RunStatusName(run.status);
  std::string spec_yaml = run.spec_yaml;
  if (!run.parent_id.empty()) {
    lineage["sweep_id"] = run.parent_id;
    if (spec_yaml.empty()) {
      OD_ASSIGN_OR_RETURN(RunRecord parent, store_.GetRun(run.parent_id));
      spec_yaml = parent.spec_yaml;
    }
  }
  nlohmann::json params = nlohmann::json::object();
  OD_ASSIGN_OR_RETURN(auto stored_params, store_.GetParams(run.id));
  for (const auto& p : stored_params) {
    auto value = nlohmann::json::parse(p.value_json, nullptr, false);
    params[p.name] = value.is_discarded() ? nlohmann::json(p.value_json) : value;
  }
  lineage["params"] = params;
  nlohmann::json metrics = nlohmann::json::object();
  OD_ASSIGN_OR_RETURN(auto summaries, store_.GetMetricSummaries(run.id));
  // JSON has no NaN/inf: nlohmann writes them as null, which is what a reader should see.
  for (const auto& s : summaries) {
    metrics[s.name] = {{"last", s.last_value},
                       {"min", s.min_value},
                       {"max", s.max_value},
                       {"count", s.count},
                       {"last_step", s.last_step}};
  }
  lineage["metrics"] = metrics;
  lineage["code_snapshot"] = run.snapshot_digest;
  lineage["command"] = run.command;
  lineage["inputs"] = InputsOf(spec_yaml);
  lineage["registered_from"] = path;
  v.lineage_json = lineage.dump();

  return store_.CreateModelVersion(v);
}

Result<ModelVersion> ModelRegistry::Resolve(std::string_view ref_text) {
  OD_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(ref_text));
  return Resolve(ref);
}

Result<ModelVersion> ModelRegistry::Resolve(const ModelRef& ref) {
  OD_ASSIGN_OR_RETURN(auto versions, store_.ListModelVersions(ref.name));
  if (versions.empty()) {
    OD_ASSIGN_OR_RETURN(auto names, ModelNames());
    std::string msg = "no model named '" + ref.name + "'" + DidYouMeanSuffix(ref.name, names);
    msg += names.empty() ? " (no model is registered yet: overdrive model register NAME --run RUN)"
                         : " (models: " + Join(names, ", ") + ")";
    return MakeError(ErrorCode::kNotFound, msg);
  }
  if (ref.version) {
    for (auto& v : versions) {
      if (v.version == *ref.version) return std::move(v);
    }
    return MakeError(ErrorCode::kNotFound, "model '" + ref.name + "' has no version " +
                                               std::to_string(*ref.version) + " (latest is " +
                                               std::to_string(versions.back().version) + ")");
  }
  const std::string alias = ref.alias.value_or(kLatestAlias);
  if (alias == kLatestAlias) return std::move(versions.back());
  for (auto& v : versions) {
    if (std::find(v.aliases.begin(), v.aliases.end(), alias) != v.aliases.end()) {
      return std::move(v);
    }
  }
  std::vector<std::string> aliases = {kLatestAlias};
  for (const auto& v : versions) aliases.insert(aliases.end(), v.aliases.begin(), v.aliases.end());
  return MakeError(ErrorCode::kNotFound, "model '" + ref.name + "' has no alias '" + alias + "'" +
                                             DidYouMeanSuffix(alias, aliases) +
                                             " (aliases: " + Join(aliases, ", ") + ")");
}

Result<std::vector<ModelSummary>> ModelRegistry::ListModels() { return store_.ListModels(); }

Result<std::vector<ModelVersion>> ModelRegistry::ListVersions(const std::string& name) {
  ModelRef ref;
  ref.name = name;
  OD_TRY(ValidateModelName(name));
  OD_TRY(Resolve(ref));  // the not-found message with its hints
  return store_.ListModelVersions(name);
}

Result<ModelVersion> ModelRegistry::SetAlias(const std::string& name, std::int64_t version,
                                             const std::string& alias) {
  OD_TRY(ValidateModelName(name));
  OD_TRY(ValidateModelName(alias, "alias"));
  if (alias == kLatestAlias) {
    return MakeError(ErrorCode::kInvalidInput,
                     "'latest' is implicit (it always names the highest version); pick another "
                     "alias, e.g. production");
  }
  ModelRef ref;
  ref.name = name;
  ref.version = version;
  OD_TRY(Resolve(ref));
  OD_TRY(store_.SetModelAlias(name, alias, version));
  return store_.GetModelVersion(name, version);
}

Result<std::vector<fs::path>> ModelRegistry::Download(const ModelVersion& v, const fs::path& dir,
                                                      bool force) {
  std::vector<fs::path> targets;
  std::vector<std::string> existing;
  for (const auto& f : v.files) {
    if (!IsSafeRelative(f.path)) {
      return MakeError(ErrorCode::kInternal, "model " + v.model + ":" + std::to_string(v.version) +
                                                 " lists an unsafe file path '" + f.path + "'");
    }
    fs::path target = dir / f.path;
    std::error_code ec;
    if (fs::symlink_status(target, ec).type() != fs::file_type::not_found && !ec) {
      existing.push_back(target.string());
    }
    targets.push_back(std::move(target));
  }
  // Checked before anything is written, so a refusal leaves the folder as it was.
  if (!existing.empty() && !force) {
    if (existing.size() > kMaxListedArtifacts) {
      existing.resize(kMaxListedArtifacts);
      existing.push_back("...");
    }
    return MakeError(ErrorCode::kAlreadyExists,
                     "not overwriting existing files: " + Join(existing, ", ") +
                         " (pass --force to overwrite, or --to another folder)");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kIo,
                     "cannot create folder '" + dir.string() + "': " + ec.message());
  }
  for (size_t i = 0; i < v.files.size(); ++i) {
    OD_TRY(artifacts_.GetToFile(v.files[i].digest, targets[i]));
  }
  return targets;
}

Result<fs::path> ModelRegistry::Materialize(std::string_view ref_text, const fs::path& cache_dir) {
  OD_ASSIGN_OR_RETURN(ModelVersion v, Resolve(ref_text));
  const fs::path final_dir = cache_dir / ModelContentDigest(v);
  std::error_code ec;
  if (fs::is_directory(final_dir, ec)) return final_dir;
  fs::create_directories(cache_dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kIo,
                     "cannot create cache folder '" + cache_dir.string() + "': " + ec.message());
  }
  std::random_device rd;
  const fs::path tmp = cache_dir / (".tmp-" + final_dir.filename().string() + "-" +
                                    std::to_string(getpid()) + "-" + std::to_string(rd()));
  auto written = Download(v, tmp, true);
  if (!written) {
    fs::remove_all(tmp, ec);
    return std::unexpected(written.error());
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    // Another process finished the same content first: theirs is as good as ours.
    std::error_code ec2;
    if (fs::is_directory(final_dir, ec2)) return final_dir;
    return MakeError(ErrorCode::kIo, "cannot move the model into '" + final_dir.string() + "'");
  }
  return final_dir;
}

}  // namespace overdrive
