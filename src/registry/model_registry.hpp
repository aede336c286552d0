// ModelRegistry: named, numbered model versions made from a finished run's artifacts.
//
// Contract:
// - A version is immutable: it records the run id, the artifact prefix it was registered from
//   ("outputs/model"), the (relative path, digest, size) of every file under that prefix at
//   registration, its tags, and a lineage snapshot of the run (see Register). Only aliases move.
// - Version numbers are 1, 2, 3... per model, assigned atomically by the store: two concurrent
//   Register calls (threads with their own store, or processes) never get the same number.
// - References: "name" (= the latest version), "name:3", "name@production". "@latest" is
//   implicit and cannot be set; every other alias points at one version of its model and can
//   be moved.
// - Names of models and aliases: letters, digits, '-', '_', '.', starting with a letter or a
//   digit, at most 128 characters.
// - Errors are values a user can act on: kInvalidInput (bad name, ref, path, alias, tag),
//   kNotFound (unknown run, model, version, alias, or no artifacts under the path: the message
//   lists what the run has, with a did-you-mean), kFailedPrecondition (the run has not finished
//   well: only completed and early_terminated runs can be registered), kAlreadyExists (download
//   onto existing files without `force`), kIo, kStorage.
// - Thread-compatible, like the stores it is given (one registry per thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"
#include "store/records.hpp"

namespace overdrive {

inline constexpr const char* kDefaultModelPath = "outputs/model";
inline constexpr const char* kLatestAlias = "latest";

// A parsed reference: exactly one of `version` and `alias` is set ("name" alone reads as
// alias "latest").
struct ModelRef {
  std::string name;
  std::optional<std::int64_t> version;
  std::optional<std::string> alias;

  std::string ToString() const;  // "name:3" / "name@production"
};

// "name", "name:3", "name@prod". kInvalidInput with a hint for anything else ("name:x",
// "name:0", "na me", "name:3@prod").
Result<ModelRef> ParseModelRef(std::string_view text);

// kInvalidInput unless `name` is a valid model or alias name; `what` names it in the message
// ("model name", "alias").
Result<void> ValidateModelName(std::string_view name, std::string_view what = "model name");

class ModelRegistry {
 public:
  // Both stores must outlive the registry.
  ModelRegistry(MetadataStore& store, ArtifactStore& artifacts)
      : store_(store), artifacts_(artifacts) {}

  // Registers the files of run `run_id` (a unique prefix is enough) under the artifact `path`
  // ("outputs/model": a folder, or one file) as the next version of model `name`.
  // The lineage (ModelVersion::lineage_json) is a JSON object: run_id, experiment, job_type,
  // status, sweep_id (the parent sweep of a trial, else absent), params, metrics (per name:
  // last, min, max, count, last_step), code_snapshot (digest, "" = none), command, inputs (the
  // job's `inputs:`, from the run's job document or its sweep's), registered_from (path).
  Result<ModelVersion> Register(const std::string& name, const std::string& run_id,
                                const std::string& path = kDefaultModelPath,
                                const std::map<std::string, std::string>& tags = {});

  // The version a reference names (kNotFound with a did-you-mean for unknown models/aliases).
  Result<ModelVersion> Resolve(const ModelRef& ref);
  Result<ModelVersion> Resolve(std::string_view ref_text);

  Result<std::vector<ModelSummary>> ListModels();
  // All versions of one model, oldest first (kNotFound for an unknown model).
  Result<std::vector<ModelVersion>> ListVersions(const std::string& name);

  // Points `alias` of model `name` at `version` (moving it when set). "latest" is refused: it
  // always means the highest version. Returns the version it now points at.
  Result<ModelVersion> SetAlias(const std::string& name, std::int64_t version,
                                const std::string& alias);

  // Writes the version's files into `dir` (created) at their paths relative to the registered
  // prefix. Refuses (kAlreadyExists, listing them, writing nothing) when any target exists,
  // unless `force`. Returns the files written.
  Result<std::vector<std::filesystem::path>> Download(const ModelVersion& v,
                                                      const std::filesystem::path& dir, bool force);

  // For serving: the version `ref` names, unpacked once under `cache_dir`/<content digest>/
  // (the digest of its file list, so equal content is shared and a finished folder is never
  // rewritten). Safe for several processes: the folder is written under a temporary name and
  // renamed into place. Returns the folder.
  Result<std::filesystem::path> Materialize(std::string_view ref,
                                            const std::filesystem::path& cache_dir);

 private:
  Result<std::vector<std::string>> ModelNames();

  MetadataStore& store_;
  ArtifactStore& artifacts_;
};

// The SHA-256 (hex) of a version's file list: equal for versions with the same files.
std::string ModelContentDigest(const ModelVersion& v);

// The default download folder: "NAME-vN".
std::string DefaultDownloadDir(const ModelVersion& v);

}  // namespace overdrive
