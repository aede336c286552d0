#include "sweep/environment_assets.hpp"

#include "common/clock.hpp"

namespace overdrive {

namespace {

std::string Ref(const EnvironmentRecord& r) { return r.name + ":" + r.version; }

nlohmann::json ParseOr(const std::string& text, nlohmann::json fallback) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

}  // namespace

Result<EnvironmentSpec> StoredEnvironmentSpec(const EnvironmentRecord& r) {
  auto spec = EnvironmentSpec::FromJson(r.spec_json);
  if (!spec) {
    return MakeError(ErrorCode::kStorage, "environment " + Ref(r) + ": " + spec.error().message);
  }
  spec->name = r.name;
  spec->version = r.version;
  return spec;
}

nlohmann::json EnvironmentJson(const EnvironmentRecord& r, const EnvironmentSpec& spec) {
  nlohmann::json s = ParseOr(r.spec_json, nlohmann::json::object());
  s["name"] = r.name;
  s["version"] = r.version;
  return {{"name", r.name},
          {"version", r.version},
          {"ref", Ref(r)},
          {"kind", spec.Kind()},
          {"content_hash", r.content_hash},
          {"description", r.description},
          {"tags", ParseOr(r.tags_json, nlohmann::json::object())},
          {"created_at", r.created_at},
          {"spec", s}};
}

Result<EnvironmentRecord> EnvironmentFromJson(const nlohmann::json& j) {
  try {
    EnvironmentRecord r;
    r.name = j.at("name").get<std::string>();
    r.version = j.at("version").get<std::string>();
    r.content_hash = j.value("content_hash", "");
    r.description = j.value("description", "");
    r.tags_json = j.value("tags", nlohmann::json::object()).dump();
    r.created_at = j.value("created_at", 0.0);
    nlohmann::json spec = j.value("spec", nlohmann::json::object());
    spec.erase("name");
    spec.erase("version");
    r.spec_json = spec.dump();
    return r;
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorCode::kInvalidInput, std::string("not an environment: ") + e.what());
  }
}

Result<CreatedEnvironment> CreateEnvironmentAsset(MetadataStore& store, EnvironmentSpec spec,
                                                  const std::string& name_flag,
                                                  const std::string& version_flag,
                                                  const std::string& file) {
  std::string name = name_flag.empty() ? spec.name : name_flag;
  std::string version = version_flag.empty() ? spec.version : version_flag;
  if (name.empty()) {
    return MakeError(ErrorCode::kInvalidInput,
                     file + ": the environment has no name: write 'name:' in the file or give "
                            "--name");
  }
  OD_TRY(ValidateEnvironmentName(name));
  if (!version.empty()) OD_TRY(ValidateEnvironmentVersion(version));
  EnvironmentRecord record;
  record.name = name;
  record.version = version;
  record.description = spec.description;
  record.tags_json = nlohmann::json(spec.tags).dump();
  spec.name.clear();
  spec.version.clear();
  record.spec_json = spec.ToJson();
  record.created_at = WallSeconds();
  OD_ASSIGN_OR_RETURN(EnvironmentRecord stored, store.CreateEnvironment(record));
  bool existed = stored.created_at != record.created_at;
  return CreatedEnvironment{std::move(stored), existed};
}

Result<EnvironmentRecord> LookupEnvironment(MetadataStore& store, const std::string& text,
                                            const std::string& command) {
  OD_ASSIGN_OR_RETURN(EnvironmentRef ref, ParseEnvironmentName(text, SourcePos{command, 0, 0}));
  auto r = ref.version.empty() ? store.GetLatestEnvironment(ref.name)
                               : store.GetEnvironment(ref.name, ref.version);
  if (!r && r.error().code == ErrorCode::kNotFound) {
    return MakeError(ErrorCode::kNotFound,
                     r.error().message + " (overdrive environment list shows them; overdrive "
                                         "environment create -f env.yml makes one)");
  }
  return r;
}

}  // namespace overdrive
