// Datastore and data asset YAML -> DatastoreSpec / DataAssetSpec, and a `path:` -> DataLocation.
// Walks yaml-cpp trees with explicit key lists like the other parsers: a typo is an error with a
// position and a hint, never a silent default.
#include "spec/data_spec.hpp"

#include <yaml-cpp/yaml.h>

#include "common/strings.hpp"
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

const Keys kDatastoreKeys = {"$schema",        "name",       "type",        "description",
                             "tags",           "account_name", "container_name", "filesystem",
                             "endpoint",       "protocol",   "credentials", "bucket",
                             "region",         "path"};
const Keys kCredentialKeys = {"account_key",        "sas_token",        "access_key_id",
                              "secret_access_key",  "account_key_secret", "sas_token_secret",
                              "secret_access_key_secret"};
const Keys kDataKeys = {"$schema", "name", "version", "type", "path", "description", "tags"};

fs::path AbsoluteDir(const fs::path& base_dir) {
  std::error_code ec;
  fs::path dir = fs::absolute(base_dir, ec);
  return (ec ? base_dir : dir).lexically_normal();
}

// The position of a YAML exception.
SourcePos ExceptionPos(const std::string& file, const YAML::Exception& e) {
  return SourcePos{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                   e.mark.is_null() ? 0 : e.mark.column + 1};
}

Result<void> ParseCredentials(const Walker& w, const Field& f, DatastoreSpec& ds) {
  OD_ASSIGN_OR_RETURN(Fields c, w.Map(f.value, w.ValuePos(f), "credentials", kCredentialKeys));
  const Field* chosen = nullptr;
  for (const auto& field : c.list) {
    if (!field.present() || field.name == "access_key_id") continue;
    if (chosen) {
      return Fail(w.Pos(field.key), "credentials: give one of account_key, sas_token, "
                                    "secret_access_key or a *_secret naming a secret, not both '" +
                                        chosen->name + "' and '" + field.name + "'");
    }
    chosen = &field;
  }
  if (auto* id = c.Get("access_key_id")) {
    OD_ASSIGN_OR_RETURN(ds.access_key_id, w.NonEmptyString(*id));
  }
  if (!chosen) {
    if (c.list.empty()) return {};
    return Fail(w.ValuePos(f), "credentials: no credential given (account_key, sas_token, "
                               "secret_access_key, or *_secret naming a secret)");
  }
  std::string kind = chosen->name;
  bool by_secret = kind.size() > 7 && kind.ends_with("_secret");
  if (by_secret) kind = kind.substr(0, kind.size() - 7);
  const bool s3 = ds.type == "s3";
  if (s3 != (kind == "secret_access_key")) {
    return Fail(w.Pos(chosen->key),
                "credentials: '" + chosen->name + "' does not fit a datastore of type " + ds.type +
                    (s3 ? " (an s3 datastore takes access_key_id with secret_access_key)"
                        : " (an azure_blob datastore takes account_key or sas_token)"));
  }
  if (s3 && ds.access_key_id.empty()) {
    return Fail(w.ValuePos(f), "credentials: an s3 datastore needs access_key_id with its secret");
  }
  OD_ASSIGN_OR_RETURN(std::string value, w.NonEmptyString(*chosen));
  ds.credential_kind = kind;
  ds.credential_pos = w.ValuePos(*chosen);
  if (by_secret) {
    ds.credential_secret = value;
  } else {
    ds.credential_value = value;
    if (kind == "sas_token" && StartsWith(ds.credential_value, "?")) {
      ds.credential_value = ds.credential_value.substr(1);
    }
  }
  return {};
}

Result<DatastoreSpec> ParseDatastoreNode(const YAML::Node& root, const std::string& file,
                                         const fs::path& base_dir) {
  YamlPosFn pos = MarkPos(file);
  Walker w(pos);
  SourcePos where{file, 1, 1};
  OD_TRY(w.CheckText(root));
  if (!root.IsMap()) {
    return Fail(where, "a datastore file must be a mapping of keys (name, type, ...)");
  }
  OD_ASSIGN_OR_RETURN(Fields f, w.Map(root, where, "the datastore file", kDatastoreKeys));
  DatastoreSpec ds;
  const Field* name = f.Get("name");
  if (!name) return Fail(where, "the datastore file needs a 'name'");
  OD_ASSIGN_OR_RETURN(ds.name, w.NonEmptyString(*name));
  if (auto ok = ValidateDatastoreName(ds.name); !ok) return Fail(w.ValuePos(*name), ok.error().message);
  const Field* type = f.Get("type");
  if (!type) return Fail(where, "the datastore file needs a 'type' (azure_blob, s3 or local)");
  OD_ASSIGN_OR_RETURN(std::string t, w.NonEmptyString(*type));
  if (t == "azure_data_lake_gen2") t = "azure_blob";  // served through its blob endpoint
  if (t == "azure_file" || t == "azure_data_lake_gen1") {
    return Fail(w.ValuePos(*type), "datastore type '" + t +
                                       "' is not supported here; Overdrive reads azure_blob, "
                                       "azure_data_lake_gen2, s3 and local datastores");
  }
  if (t != "azure_blob" && t != "s3" && t != "local") {
    return Fail(w.ValuePos(*type), "unknown datastore type '" + t + "'" +
                                       DidYouMeanSuffix(t, {"azure_blob", "s3", "local"}) +
                                       " (azure_blob, azure_data_lake_gen2, s3 or local)");
  }
  ds.type = t;
  if (auto* x = f.Get("description")) {
    OD_ASSIGN_OR_RETURN(ds.description, w.String(*x));
  }
  auto need = [&](const char* key, std::string& out) -> Result<void> {
    const Field* x = f.Get(key);
    if (!x) return Fail(where, "a datastore of type " + ds.type + " needs '" + key + "'");
    OD_ASSIGN_OR_RETURN(out, w.NonEmptyString(*x));
    return {};
  };
  // Keys of one type given to another are mistakes worth naming.
  auto only = [&](std::initializer_list<const char*> keys, const char* for_type) -> Result<void> {
    for (const char* k : keys) {
      if (const Field* x = f.Get(k); x && ds.type != for_type) {
        return Fail(w.Pos(x->key), "'" + std::string(k) + "' belongs to " + for_type +
                                       " datastores, not to type " + ds.type);
      }
    }
    return {};
  };
  OD_TRY(only({"account_name", "container_name", "filesystem", "protocol"}, "azure_blob"));
  OD_TRY(only({"bucket", "region"}, "s3"));
  OD_TRY(only({"path"}, "local"));
  if (ds.type == "azure_blob") {
    OD_TRY(need("account_name", ds.account_name));
    if (f.Get("filesystem")) {
      OD_TRY(need("filesystem", ds.container_name));
    } else {
      OD_TRY(need("container_name", ds.container_name));
    }
    ds.endpoint = "core.windows.net";
    if (auto* x = f.Get("endpoint")) {
      OD_ASSIGN_OR_RETURN(ds.endpoint, w.NonEmptyString(*x));
    }
    if (auto* x = f.Get("protocol")) {
      OD_ASSIGN_OR_RETURN(ds.protocol, w.NonEmptyString(*x));
      if (ds.protocol != "https" && ds.protocol != "http") {
        return Fail(w.ValuePos(*x), "protocol must be https or http, got '" + ds.protocol + "'");
      }
    }
  } else if (ds.type == "s3") {
    OD_TRY(need("bucket", ds.bucket));
    if (auto* x = f.Get("endpoint")) {
      OD_ASSIGN_OR_RETURN(ds.endpoint, w.NonEmptyString(*x));
    }
    if (auto* x = f.Get("region")) {
      OD_ASSIGN_OR_RETURN(ds.region, w.NonEmptyString(*x));
    }
  } else {
    std::string p;
    OD_TRY(need("path", p));
    if (f.Get("endpoint")) return Fail(w.Pos(f.Get("endpoint")->key), "a local datastore has no endpoint");
    ds.path = (base_dir / fs::path(p)).lexically_normal().string();
    if (ds.path.size() > 1 && ds.path.back() == '/') ds.path.pop_back();
  }
  if (!ds.endpoint.empty() && ds.endpoint.find("://") != std::string::npos &&
      !StartsWith(ds.endpoint, "http://") && !StartsWith(ds.endpoint, "https://")) {
    return Fail(w.ValuePos(*f.Get("endpoint")),
                "endpoint '" + ds.endpoint + "' must be a storage suffix (core.windows.net) or an "
                                             "http(s):// URL");
  }
  if (auto* c = f.Get("credentials")) {
    if (ds.type == "local") return Fail(w.Pos(c->key), "a local datastore takes no credentials");
    OD_TRY(ParseCredentials(w, *c, ds));
  }
  return ds;
}

Result<DataAssetSpec> ParseDataAssetNode(const YAML::Node& root, const std::string& file,
                                         const fs::path& base_dir) {
  YamlPosFn pos = MarkPos(file);
  Walker w(pos);
  SourcePos where{file, 1, 1};
  OD_TRY(w.CheckText(root));
  if (!root.IsMap()) return Fail(where, "a data file must be a mapping of keys (name, path, ...)");
  OD_ASSIGN_OR_RETURN(Fields f, w.Map(root, where, "the data file", kDataKeys));
  DataAssetSpec a;
  const Field* name = f.Get("name");
  if (!name) return Fail(where, "the data file needs a 'name'");
  OD_ASSIGN_OR_RETURN(a.name, w.NonEmptyString(*name));
  if (auto ok = ValidateDataAssetName(a.name); !ok) return Fail(w.ValuePos(*name), ok.error().message);
  if (auto* x = f.Get("version")) {
    OD_ASSIGN_OR_RETURN(a.version, w.NonEmptyString(*x));
    if (auto ok = ValidateDataAssetVersion(a.version); !ok) {
      return Fail(w.ValuePos(*x), ok.error().message);
    }
  }
  if (auto* x = f.Get("type")) {
    OD_ASSIGN_OR_RETURN(a.type, w.NonEmptyString(*x));
    if (a.type != "uri_file" && a.type != "uri_folder" && a.type != "mltable") {
      return Fail(w.ValuePos(*x), "data type must be uri_file, uri_folder or mltable, got '" +
                                      a.type + "'" +
                                      DidYouMeanSuffix(a.type, {"uri_file", "uri_folder", "mltable"}));
    }
  }
  if (auto* x = f.Get("description")) {
    OD_ASSIGN_OR_RETURN(a.description, w.String(*x));
  }
  if (auto* x = f.Get("tags")) {
    OD_ASSIGN_OR_RETURN(Fields tags, w.Map(x->value, w.ValuePos(*x), "tags", {}));
    for (const auto& t : tags.list) {
      if (t.present() && !t.value.IsScalar()) return Fail(w.ValuePos(t), "tag values must be text");
      a.tags[t.name] = t.present() ? t.value.Scalar() : "";
    }
  }
  const Field* path = f.Get("path");
  if (!path) return Fail(where, "the data file needs a 'path' (a local file or folder, or a URI)");
  OD_ASSIGN_OR_RETURN(std::string p, w.NonEmptyString(*path));
  a.path_pos = w.ValuePos(*path);
  OD_ASSIGN_OR_RETURN(a.location, ParseDataLocation(p, a.path_pos, base_dir));
  if (a.location.kind == DataLocation::Kind::kAsset) {
    return Fail(a.path_pos, "a data asset's path cannot be another asset ('" + p +
                                "'); give the location of its bytes");
  }
  return a;
}

// Checks the part after a scheme's authority: no "..", no empty result unless allowed.
Result<std::string> RelPart(const std::string& rel, const SourcePos& pos, const std::string& text) {
  auto norm = NormalizeRelPath(rel);
  if (!norm) return Fail(pos, "'" + Printable(text) + "': " + norm.error().message);
  return *norm;
}

}  // namespace

nlohmann::json DatastoreSpec::ToJson() const {
  nlohmann::json j = {{"type", type}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("description", description);
  put("account_name", account_name);
  put("container_name", container_name);
  put("endpoint", endpoint);
  if (type == "azure_blob") put("protocol", protocol);
  put("bucket", bucket);
  put("region", region);
  put("access_key_id", access_key_id);
  put("path", path);
  put("credential_kind", credential_kind);
  put("credential_secret", credential_secret);
  return j;
}

Result<DatastoreSpec> DatastoreSpec::FromJson(const std::string& name, const nlohmann::json& j) {
  DatastoreSpec ds;
  ds.name = name;
  if (!j.is_object()) return MakeError(ErrorCode::kStorage, "datastore '" + name + "': bad spec");
  auto get = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  ds.type = get("type");
  ds.description = get("description");
  ds.account_name = get("account_name");
  ds.container_name = get("container_name");
  ds.endpoint = get("endpoint");
  if (auto p = get("protocol"); !p.empty()) ds.protocol = p;
  ds.bucket = get("bucket");
  ds.region = get("region");
  ds.access_key_id = get("access_key_id");
  ds.path = get("path");
  ds.credential_kind = get("credential_kind");
  ds.credential_secret = get("credential_secret");
  return ds;
}

std::string DatastoreSpec::Describe() const {
  if (type == "local") return path;
  if (type == "s3") return "s3://" + bucket + (endpoint.empty() ? "" : " (" + endpoint + ")");
  if (endpoint.find("://") != std::string::npos) return endpoint + "/" + container_name;
  return protocol + "://" + account_name + ".blob." + endpoint + "/" + container_name;
}

Result<DatastoreSpec> ParseDatastoreText(const std::string& text, const std::string& file,
                                         const fs::path& base_dir) {
  try {
    OD_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, file, "the datastore file"));
    return ParseDatastoreNode(root, file, AbsoluteDir(base_dir));
  } catch (const YAML::Exception& e) {
    return Fail(ExceptionPos(file, e), e.msg);
  }
}

Result<DatastoreSpec> ParseDatastoreFile(const fs::path& path) {
  OD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, SourcePos{path.string(), 0, 0},
                                                      "datastore file", path.string()));
  return ParseDatastoreText(text, path.string(), AbsoluteDir(path).parent_path());
}

Result<void> ValidateDatastoreName(const std::string& name) {
  if (name.empty()) return MakeError(ErrorCode::kInvalidInput, "datastore name must not be empty");
  if (name.size() > 255) {
    return MakeError(ErrorCode::kInvalidInput, "datastore name is longer than 255 characters");
  }
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '_') {
      return MakeError(ErrorCode::kInvalidInput,
                       "datastore name '" + Printable(name) +
                           "' may contain only letters, digits and '_' (Azure's rule)");
    }
  }
  return {};
}

Result<void> ValidateDataAssetName(const std::string& name) {
  return CheckName(name, 255, true, "data asset name");
}

Result<void> ValidateDataAssetVersion(const std::string& version) {
  return CheckName(version, 64, false, "data asset version");
}

Result<std::string> NormalizeRelPath(const std::string& rel) {
  std::vector<std::string> out;
  for (const auto& part : Split(rel, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (out.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "the path climbs out of its datastore with '..'");
      }
      out.pop_back();
      continue;
    }
    out.push_back(part);
  }
  return Join(out, "/");
}

std::string DataLocation::Uri() const {
  if (kind == Kind::kDatastore) return "azureml://datastores/" + datastore + "/paths/" + rel;
  if (kind == Kind::kLocal) return local_path.string();
  return text;
}

Result<DataLocation> ParseDataLocation(const std::string& raw, const SourcePos& pos,
                                       const fs::path& base_dir) {
  DataLocation loc;
  std::string text = Trim(raw);
  loc.text = text;
  const std::string forms =
      " (write azureml:NAME:VERSION, azureml:NAME@latest, azureml://datastores/NAME/paths/PATH, "
      "an http(s), wasbs, abfss or s3 URL, or a local path)";
  auto bad = [&](const std::string& why) { return Fail(pos, "'" + Printable(text) + "': " + why); };
  if (StartsWith(text, "azureml://")) {
    std::string rest = text.substr(10);
    // Azure also writes the workspace's own location in front:
    // azureml://subscriptions/S/resourcegroups/R/workspaces/W/datastores/NAME/paths/P
    if (size_t d = rest.find("datastores/"); StartsWith(rest, "subscriptions/") && d != std::string::npos) {
      rest = rest.substr(d);
    }
    if (StartsWith(rest, "datastores/")) {
      std::string after = rest.substr(11);
      size_t slash = after.find('/');
      loc.kind = DataLocation::Kind::kDatastore;
      loc.datastore = after.substr(0, slash);
      if (auto ok = ValidateDatastoreName(loc.datastore); !ok) return bad(ok.error().message);
      std::string tail = slash == std::string::npos ? "" : after.substr(slash);
      if (tail.empty() || tail == "/" || tail == "/paths" || tail == "/paths/") return loc;
      if (!StartsWith(tail, "/paths/")) {
        return bad("not a datastore path; write azureml://datastores/NAME/paths/PATH");
      }
      OD_ASSIGN_OR_RETURN(loc.rel, RelPart(tail.substr(7), pos, text));
      return loc;
    }
    // azureml://locations/.../data/NAME/versions/V, azureml://registries/R/data/NAME/versions/V
    std::vector<std::string> parts = Split(rest, '/');
    for (size_t i = 0; i + 4 <= parts.size(); ++i) {
      if (parts[i] == "data" && parts[i + 2] == "versions" && i + 4 == parts.size()) {
        loc.kind = DataLocation::Kind::kAsset;
        loc.asset = parts[i + 1];
        loc.version = parts[i + 3];
        break;
      }
    }
    if (loc.kind != DataLocation::Kind::kAsset) return bad("not a data location" + forms);
  } else if (StartsWith(text, "azureml:")) {
    std::string ref = text.substr(8);
    loc.kind = DataLocation::Kind::kAsset;
    if (size_t at = ref.rfind('@'); at != std::string::npos) {
      loc.asset = ref.substr(0, at);
      loc.version = ref.substr(at + 1);
      if (loc.version != "latest") {
        return bad("only the label 'latest' is known here, got '" + loc.version + "'" + forms);
      }
    } else if (size_t colon = ref.find(':'); colon != std::string::npos) {
      loc.asset = ref.substr(0, colon);
      loc.version = ref.substr(colon + 1);
    } else {
      return bad("a data asset reference needs a version: azureml:" + ref + ":VERSION or azureml:" +
                 ref + "@latest");
    }
  } else if (StartsWith(text, "http://") || StartsWith(text, "https://")) {
    loc.kind = DataLocation::Kind::kWeb;
    loc.url = text;
    if (text.find('/', text.find("://") + 3) == std::string::npos && text.size() <= 8) {
      return bad("a URL needs a host");
    }
    return loc;
  } else if (StartsWith(text, "wasbs://") || StartsWith(text, "wasb://") ||
             StartsWith(text, "abfss://") || StartsWith(text, "abfs://")) {
    // SCHEME://CONTAINER@ACCOUNT.blob.core.windows.net/PATH (dfs for abfs)
    std::string rest = text.substr(text.find("://") + 3);
    size_t at = rest.find('@');
    size_t slash = rest.find('/');
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) {
      return bad("a blob URL is SCHEME://CONTAINER@ACCOUNT.blob.core.windows.net/PATH");
    }
    loc.kind = DataLocation::Kind::kBlobUrl;
    loc.container = rest.substr(0, at);
    std::string host = rest.substr(at + 1, slash == std::string::npos ? std::string::npos : slash - at - 1);
    loc.account = host.substr(0, host.find('.'));
    if (loc.container.empty() || loc.account.empty()) {
      return bad("a blob URL is SCHEME://CONTAINER@ACCOUNT.blob.core.windows.net/PATH");
    }
    OD_ASSIGN_OR_RETURN(loc.rel, RelPart(slash == std::string::npos ? "" : rest.substr(slash + 1), pos, text));
    return loc;
  } else if (StartsWith(text, "s3://")) {
    std::string rest = text.substr(5);
    size_t slash = rest.find('/');
    loc.kind = DataLocation::Kind::kS3;
    loc.bucket = rest.substr(0, slash);
    if (loc.bucket.empty()) return bad("an S3 URL is s3://BUCKET/KEY");
    OD_ASSIGN_OR_RETURN(loc.rel, RelPart(slash == std::string::npos ? "" : rest.substr(slash + 1), pos, text));
    return loc;
  } else if (text.find("://") != std::string::npos) {
    return bad("unknown scheme '" + text.substr(0, text.find("://")) + "'" + forms);
  } else {
    if (text.empty()) return Fail(pos, "'path' must not be empty");
    loc.kind = DataLocation::Kind::kLocal;
    loc.local_path = (base_dir / fs::path(text)).lexically_normal();
    return loc;
  }
  // An asset reference: check its name and version.
  if (auto ok = ValidateDataAssetName(loc.asset); !ok) return bad(ok.error().message + forms);
  if (loc.version != "latest") {
    if (auto ok = ValidateDataAssetVersion(loc.version); !ok) return bad(ok.error().message + forms);
  }
  return loc;
}

Result<DataAssetSpec> ParseDataAssetText(const std::string& text, const std::string& file,
                                         const fs::path& base_dir) {
  try {
    OD_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, file, "the data file"));
    return ParseDataAssetNode(root, file, AbsoluteDir(base_dir));
  } catch (const YAML::Exception& e) {
    return Fail(ExceptionPos(file, e), e.msg);
  }
}

Result<DataAssetSpec> ParseDataAssetFile(const fs::path& path) {
  OD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, SourcePos{path.string(), 0, 0},
                                                      "data file", path.string()));
  return ParseDataAssetText(text, path.string(), AbsoluteDir(path).parent_path());
}

}  // namespace overdrive
