// Workspace: where everything of a project lives — a metadata store and an artifact store under
// one folder (default ./.overdrive, or --workspace DIR / OVERDRIVE_WORKSPACE).
//   <root>/overdrive.db      SQLite metadata (WAL)
//   <root>/artifacts/        content-addressed blobs
//   <root>/runs/<run-id>/    run folders: wd/ (unpacked code, the working directory),
//                            stdout.log, stderr.log, metrics.jsonl, launch.json, exit.json
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {

class Workspace {
 public:
  // `create`: make the folder if missing; otherwise a missing workspace is kNotFound with a hint.
  static Result<std::unique_ptr<Workspace>> Open(const std::filesystem::path& root, bool create);
  // --workspace flag value if not empty, else $OVERDRIVE_WORKSPACE, else ./.overdrive.
  static std::filesystem::path DefaultRoot(const std::string& flag_value);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path RunDir(const std::string& run_id) const { return root_ / "runs" / run_id; }
  MetadataStore& store() { return *store_; }
  ArtifactStore& artifacts() { return *artifacts_; }

 private:
  std::filesystem::path root_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
};

}  // namespace overdrive
