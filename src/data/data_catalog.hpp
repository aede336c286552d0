// The workspace's data (issue 14): datastores (the built-in `workspaceblobstore`, a folder of the
// workspace, plus those registered), data asset versions, and what a job's input or output
// location resolves to. Credentials are opened here, from the sealed secrets, only for the
// rclone process that needs them.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "data/data_cache.hpp"
#include "data/storage_remote.hpp"
#include "spec/data_spec.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {

// A location resolved against the workspace: what a run needs to fetch it (no credential).
struct DataSource {
  std::string kind;        // "local" | "datastore" | "web"
  std::string type = "uri_folder";  // uri_file | uri_folder | mltable
  std::string datastore;   // kind datastore
  std::string rel;         // kind datastore: the path inside it
  std::string url;         // kind web
  std::string local_path;  // kind local
  std::string asset, version;  // when it came from a data asset version
  std::string uri;         // canonical, for lineage and messages

  nlohmann::json ToJson() const;
  static DataSource FromJson(const nlohmann::json& j);
};

class DataCatalog {
 public:
  DataCatalog(MetadataStore& store, std::filesystem::path workspace_root)
      : store_(store), root_(std::move(workspace_root)) {}

  // Datastores. The default (kDefaultDatastore) always exists; it cannot be replaced or deleted.
  Result<DatastoreSpec> GetDatastore(const std::string& name);
  Result<std::vector<DatastoreSpec>> ListDatastores();
  // Stores `ds`: a credential given in clear is sealed as the secret "datastore.NAME" (the key
  // as `overdrive secret` uses it); a named secret must exist. Replaces a datastore of that name.
  Result<void> CreateDatastore(DatastoreSpec ds);
  Result<bool> DeleteDatastore(const std::string& name);
  // Its rclone remote, credentials opened.
  Result<StorageRemote> Open(const DatastoreSpec& ds);

  // Data assets. A local path is uploaded to `datastore` (default: the default datastore) under
  // LocalUpload/<content digest>/<name>, once per content; a URI is checked to exist.
  Result<DataAssetRecord> CreateAsset(const DataAssetSpec& spec, const std::string& datastore,
                                      const TransferOptions& opt);
  // version "" or "latest": the latest. kNotFound names the command that registers one.
  Result<DataAssetRecord> FindAsset(const std::string& name, const std::string& version);

  // Resolves a location (an asset reference, a datastore path, a blob or S3 URL through the
  // datastore that holds it, a web URL, a local path). Errors are InputErrors at `pos`, naming
  // what is unknown and the command that registers it.
  Result<DataSource> Resolve(const DataLocation& loc, const std::string& type, const SourcePos& pos);

  struct Materialized {
    std::filesystem::path path;  // the file or folder a run reads
    bool transferred = false;    // false: a cache hit, or local data read in place
    std::int64_t bytes = 0;
  };
  // Makes `src` readable on this machine: local data (and local datastores) in place, the rest
  // through `cache` (one transfer per content).
  Result<Materialized> Materialize(const DataSource& src, DataCache& cache, const TransferOptions& opt);
  // Copies a local file or folder to a datastore location.
  Result<void> Upload(const std::filesystem::path& local, const DataSource& dest,
                      const TransferOptions& opt);

  std::filesystem::path DefaultDatastoreRoot() const { return root_ / "datastores" / kDefaultDatastore; }
  std::filesystem::path CacheRoot() const { return root_ / "cache" / "data"; }

 private:
  Result<std::string> Credential(const DatastoreSpec& ds);
  MetadataStore& store_;
  std::filesystem::path root_;
};

// "datastore.NAME": the secret a datastore's inline credential is sealed as.
std::string DatastoreSecretName(const std::string& datastore);

// SHA-256 over a local file or folder's files (relative path, size, content), and their count
// and bytes.
struct LocalDigest {
  std::string digest;
  std::int64_t files = 0;
  std::int64_t bytes = 0;
};
Result<LocalDigest> DigestLocal(const std::filesystem::path& path);

}  // namespace overdrive
