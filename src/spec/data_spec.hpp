// Data in Azure ML CLI v2's terms (issue 14): datastore YAML, data asset YAML, and where a
// job's input or output lives (a data location). Parsing only: resolving a location against the
// workspace's datastores and assets, and moving bytes, are the data part's (src/data).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "spec/source_pos.hpp"

namespace overdrive {

// The workspace's default datastore: a folder of the workspace that data assets made from local
// files and jobs' outputs use unless told otherwise (Azure's name for it).
inline constexpr const char* kDefaultDatastore = "workspaceblobstore";

// Azure's datastore YAML (`type: azure_blob`, also `azure_data_lake_gen2` through its blob
// endpoint) plus Overdrive's `type: s3` and `type: local`. Credentials given in clear in the
// file are held only until `overdrive datastore create` seals them as a secret; what is stored
// (ToJson) names the secret, never the value.
struct DatastoreSpec {
  std::string name;
  std::string type;  // "azure_blob" | "s3" | "local"
  std::string description;
  // azure_blob: https://ACCOUNT.blob.ENDPOINT/CONTAINER, or ENDPOINT itself when it is a URL
  // (an emulator or private endpoint: http://127.0.0.1:10000/devstoreaccount1).
  std::string account_name;
  std::string container_name;
  std::string endpoint;  // azure: "core.windows.net" or a URL; s3: a URL ("" = AWS)
  std::string protocol = "https";
  // s3
  std::string bucket;
  std::string region;
  std::string access_key_id;
  // local: an absolute folder (a local disk or an NFS mount)
  std::string path;
  // "" (none: public or local), "account_key", "sas_token" or "secret_access_key".
  std::string credential_kind;
  std::string credential_secret;  // the secret that holds it
  std::string credential_value;   // in clear from a file, until sealed; never in ToJson
  SourcePos credential_pos;

  // For the store: no credential value.
  nlohmann::json ToJson() const;
  static Result<DatastoreSpec> FromJson(const std::string& name, const nlohmann::json& j);
  // One line for listings: "azure_blob devstoreaccount1/data (http://127.0.0.1:10000/...)".
  std::string Describe() const;
};

// `overdrive datastore create -f FILE`: errors at file:line:col. A local `path` is resolved
// against the file's folder. Credentials: `credentials: {account_key | sas_token |
// secret_access_key (+ access_key_id)}` in clear, or `{account_key_secret | sas_token_secret |
// secret_access_key_secret: SECRET_NAME}` naming a secret made with `overdrive secret set`.
Result<DatastoreSpec> ParseDatastoreFile(const std::filesystem::path& path);
Result<DatastoreSpec> ParseDatastoreText(const std::string& text, const std::string& file,
                                         const std::filesystem::path& base_dir);
// Letters, digits and '_' (Azure's rule for datastore names), at most 255.
Result<void> ValidateDatastoreName(const std::string& name);

// Where data is, as written in a data asset's or an input's `path`.
struct DataLocation {
  enum class Kind {
    kLocal,      // a local file or folder: `local_path`
    kAsset,      // azureml:NAME:VERSION, azureml:NAME@latest (`asset`, `version` or "latest")
    kDatastore,  // azureml://datastores/NAME/paths/P (`datastore`, `rel`)
    kWeb,        // http(s)://... (`url`)
    kBlobUrl,    // wasbs:// wasb:// abfss:// abfs:// (`account`, `container`, `rel`)
    kS3,         // s3://BUCKET/KEY (`bucket`, `rel`)
  };
  Kind kind = Kind::kLocal;
  std::string text;  // as written
  std::filesystem::path local_path;
  std::string asset, version;
  std::string datastore;
  std::string rel;  // a path inside the datastore, container or bucket: no "..", no leading '/'
  std::string url;
  std::string account, container, bucket;

  bool remote() const { return kind != Kind::kLocal; }
  // The canonical text: azureml://datastores/NAME/paths/REL for datastore paths, else `text`.
  std::string Uri() const;
};

// Classifies `text`; relative local paths are resolved against `base_dir`. Errors (at `pos`): an
// unknown scheme, a malformed azureml reference, a path that climbs out of its datastore with
// "..". Does not look anything up or touch the file system.
Result<DataLocation> ParseDataLocation(const std::string& text, const SourcePos& pos,
                                       const std::filesystem::path& base_dir);
// "a/b/../c" -> "a/c"; kInvalidInput when ".." would leave the root ("../x", "a/../../x").
Result<std::string> NormalizeRelPath(const std::string& rel);

// Azure's data asset YAML: name, version, type (uri_file | uri_folder | mltable), path,
// description, tags.
struct DataAssetSpec {
  std::string name;
  std::string version;  // "" = the next integer version
  std::string type = "uri_folder";
  std::string description;
  std::map<std::string, std::string> tags;
  DataLocation location;
  SourcePos path_pos;
};

Result<DataAssetSpec> ParseDataAssetFile(const std::filesystem::path& path);
Result<DataAssetSpec> ParseDataAssetText(const std::string& text, const std::string& file,
                                         const std::filesystem::path& base_dir);
// Names as environments (letters, digits, '-', '_', '.'), versions likewise.
Result<void> ValidateDataAssetName(const std::string& name);
Result<void> ValidateDataAssetVersion(const std::string& version);

}  // namespace overdrive
