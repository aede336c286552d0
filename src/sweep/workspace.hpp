// Workspace: where everything of a project lives — a metadata store and an artifact store under
// one folder (default ./.overdrive, or --workspace DIR / OVERDRIVE_WORKSPACE).
//   <root>/overdrive.db      SQLite metadata (WAL)
//   <root>/artifacts/        content-addressed blobs
//   <root>/runs/<run-id>/    run folders while a run runs: wd/ (unpacked code, the working
//                            directory), its logs, metrics.jsonl and the executor's records
//                            (docs/design.md, "What is durable where"); emptied once the run's
//                            end, logs and outputs are stored (run_retention.hpp)
//   <root>/overdrive.reserve room kept free (1 MiB) to record how runs ended on a full disk
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {

// Where a workspace keeps things when they are not all under one folder (a server with
// PostgreSQL): the metadata store at `db_url` and the artifact store at `artifacts`, run folders
// under `root`/runs.
struct WorkspaceLocation {
  std::filesystem::path root;
  std::string db_url;                  // "" = SQLite at root/overdrive.db
  std::filesystem::path artifacts;     // "" = root/artifacts
};

class Workspace {
 public:
  // `create`: make the folder if missing; otherwise a missing workspace is kNotFound with a hint.
  static Result<std::unique_ptr<Workspace>> Open(const std::filesystem::path& root, bool create);
  // Opens (creating folders and schema as needed) a workspace whose stores may live elsewhere.
  static Result<std::unique_ptr<Workspace>> Open(const WorkspaceLocation& location);
  // --workspace flag value if not empty, else $OVERDRIVE_WORKSPACE, else ./.overdrive.
  static std::filesystem::path DefaultRoot(const std::string& flag_value);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path RunDir(const std::string& run_id) const { return root_ / "runs" / run_id; }
  MetadataStore& store() { return *store_; }
  ArtifactStore& artifacts() { return *artifacts_; }
  const WorkspaceLocation& location() const { return location_; }

  // Environment every run launched from this workspace gets on top of its own (a server sets
  // MLFLOW_TRACKING_URI here so trials log to it); MLFLOW_RUN_ID is then set per run.
  std::map<std::string, std::string>& run_env() { return run_env_; }

  // Room kept for recording what happened when the disk is full. With the SQLite store in the
  // workspace folder, Open makes `<root>/overdrive.reserve` (kReserveBytes, allocated) when it is
  // missing and the disk has room. A write that must not be lost (a run's final status) that
  // fails calls ReleaseReserve() and tries once more: the store is then writable again on a disk
  // that something else filled. Returns whether space was freed. KeepReserve() makes the file
  // again after a release, when there is room (nothing when there is none).
  static constexpr std::int64_t kReserveBytes = 1 << 20;
  bool ReleaseReserve();
  void KeepReserve();
  std::filesystem::path ReservePath() const { return root_ / "overdrive.reserve"; }

 private:
  std::filesystem::path root_;
  WorkspaceLocation location_;
  std::map<std::string, std::string> run_env_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  bool reserve_ = false;  // the store shares the workspace folder's disk: keep a reserve there
};

}  // namespace overdrive
