// ArtifactStore: content-addressed blobs (SHA-256). A blob is immutable; storing the same bytes
// twice stores them once.
//
// Contract (tests/store/artifact_store_conformance.cpp):
// - Put* returns the lowercase hex SHA-256 of the content; the blob is visible only once it is
//   complete (written to a temporary name, then renamed), so a crash never leaves a torn blob.
// - Safe for several processes at once (identical concurrent puts are harmless).
// - Errors: kIo (with the path) for file system failures, kNotFound for unknown digests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace overdrive {

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  virtual Result<std::string> PutFile(const std::filesystem::path& file) = 0;
  virtual Result<std::string> PutBytes(const std::string& bytes) = 0;
  virtual Result<bool> Contains(const std::string& digest) = 0;
  virtual Result<std::int64_t> Size(const std::string& digest) = 0;
  // Copies the blob to `dest` (created or replaced).
  virtual Result<void> GetToFile(const std::string& digest, const std::filesystem::path& dest) = 0;
  virtual Result<std::string> GetBytes(const std::string& digest) = 0;
};

// Blobs live under `root`/sha256/<first two hex>/<rest>.
Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::filesystem::path& root);

// Code snapshots: a folder archived deterministically (sorted entries, fixed times) as one tar
// blob, honouring .amlignore (else .gitignore) files with gitignore semantics, in every folder.
// `exclude` paths (e.g. the workspace itself when it lies inside the code folder) are skipped.
struct SnapshotInfo {
  std::string digest;
  std::int64_t files = 0;
  std::int64_t bytes = 0;
};
Result<SnapshotInfo> SnapshotFolder(ArtifactStore& store, const std::filesystem::path& folder,
                                    const std::vector<std::filesystem::path>& exclude = {});
// Unpacks a snapshot into `dest` (created). Entries cannot escape `dest`.
Result<void> UnpackSnapshot(ArtifactStore& store, const std::string& digest,
                            const std::filesystem::path& dest);

// gitignore-style matching, exposed for tests: true when `rel_path` ('/'-separated, relative to
// the folder holding the ignore file) is ignored by `patterns` (the lines of that file).
class IgnoreRules {
 public:
  void AddFile(const std::string& base_dir, const std::string& contents);  // base "" = root
  bool IsIgnored(const std::string& rel_path, bool is_dir) const;
 private:
  struct Rule {
    std::string base;     // folder of the ignore file, "" or "a/b"
    std::string pattern;  // without leading '!' and trailing '/'
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;
  };
  std::vector<Rule> rules_;
};

}  // namespace overdrive
