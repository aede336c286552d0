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
  // Copies the blob to `dest` (created with its folders, or replaced whole).
  virtual Result<void> GetToFile(const std::string& digest, const std::filesystem::path& dest) = 0;
  virtual Result<std::string> GetBytes(const std::string& digest) = 0;
  // At most `max_bytes` of the blob from byte `offset` (fewer at its end; "" past it): for
  // reading a stored log piece by piece. kInvalidInput for a negative offset or max_bytes.
  virtual Result<std::string> GetRange(const std::string& digest, std::int64_t offset,
                                       std::int64_t max_bytes) = 0;
};

struct LocalArtifactStoreOptions {
  // fsync each new blob (and its folder) before it becomes visible: survives power loss, at a
  // cost per blob. A crash without it can lose recent blobs but never leaves a torn one.
  bool fsync = false;
};

// Blobs live under `root`/sha256/<first two hex>/<rest>; `root` is created when missing.
// Digests passed in must be 64 lowercase hex characters (kInvalidInput otherwise).
Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(
    const std::filesystem::path& root, const LocalArtifactStoreOptions& options = {});

// Code snapshots: a folder archived deterministically (sorted entries, fixed times) as one tar
// blob, honouring .amlignore (else .gitignore) files with gitignore semantics, in every folder.
// `exclude` paths (e.g. the workspace itself when it lies inside the code folder) are skipped.
struct SnapshotInfo {
  std::string digest;
  std::int64_t files = 0;
  std::int64_t bytes = 0;
};
// Bounds on what a snapshot may hold, so that `code: /` is refused early instead of archiving
// the machine: the regular files' total size, and the number of entries (files, links and
// folders). The walk stops at the first entry past a bound, and nothing is stored.
struct SnapshotLimits {
  std::int64_t max_bytes = std::int64_t{1} << 30;
  std::int64_t max_entries = 100'000;
  // Appended to the error of each limit: how the caller lets a user raise it.
  std::string raise_bytes_hint;
  std::string raise_entries_hint;
};
// Over a limit: kInvalidInput "code folder 'F' holds more than ..." naming the limit, then the
// hint for that limit.
Result<SnapshotInfo> SnapshotFolder(ArtifactStore& store, const std::filesystem::path& folder,
                                    const std::vector<std::filesystem::path>& exclude = {},
                                    const SnapshotLimits& limits = {});
// The tar holds directories, regular files (permission bits kept) and symlinks (kept as links,
// never followed); mtime 0, uid/gid 0, so the same content gives the same digest. `files` counts
// regular files and symlinks, `bytes` the regular files' sizes. `.git` is always skipped.
// Bounds on what unpacking an archive may write: sizes count what entries unpack to (a sparse
// 1 GB file counts 1 GB, however small its tar), so a small upload cannot fill a disk.
struct UnpackLimits {
  std::int64_t max_bytes = std::int64_t{4} << 30;
  std::int64_t max_entries = 1'000'000;
};
// Unpacks a snapshot (a tar, optionally gzip/bzip2/xz/zstd-compressed) into `dest` (created).
// The whole archive is checked before anything is written: an entry that is absolute, has a
// '..' component or lies under a symlink of the archive is refused (kInvalidInput), as is
// data that is not a tar; an archive over `limits` is refused with kTooLarge naming the limit.
Result<void> UnpackSnapshot(ArtifactStore& store, const std::string& digest,
                            const std::filesystem::path& dest, const UnpackLimits& limits = {});

// gitignore-style matching (git's documented semantics), exposed for tests.
// AddFile adds the lines of an ignore file found in folder `base_dir` ("" = the root, else
// "a/b"); its rules apply only to paths under that folder, and rules of deeper folders take
// precedence over shallower ones; within a file the last matching line wins.
// IsIgnored: true when `rel_path` ('/'-separated, relative to the root) is ignored. A path under
// an ignored directory is ignored whatever later negations say, as in git.
class IgnoreRules {
 public:
  void AddFile(const std::string& base_dir, const std::string& contents);  // base "" = root
  bool IsIgnored(const std::string& rel_path, bool is_dir) const;
  bool empty() const { return rules_.empty(); }
 private:
  // The verdict of the last matching rule for this one path (its parents not considered).
  bool MatchesLast(const std::string& rel_path, bool is_dir) const;

  struct Rule {
    std::string base;     // folder of the ignore file, "" or "a/b"
    std::string pattern;  // without leading '!' and trailing '/'
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;
    int depth = 0;        // components in base: deeper files are consulted after shallower
  };
  std::vector<Rule> rules_;
};

}  // namespace overdrive
