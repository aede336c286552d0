// LocalArtifactStore: content-addressed blobs in a folder.
//
// A new blob is streamed into a temporary file under root/sha256/ while its SHA-256 is computed,
// then renamed to its final name. rename() is atomic within one file system, so readers see
// either no blob or a complete one, and two processes storing the same content race harmlessly
// (the later rename replaces an identical file).
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "store/artifact_store.hpp"
#include "store/sha256.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 1 << 20;

std::unexpected<Error> IoError(const std::string& what, const fs::path& path, int err = errno) {
  return MakeError(ErrorCode::kIo, what + " '" + path.string() + "': " + std::strerror(err));
}

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

bool IsDigest(const std::string& d) {
  if (d.size() != 64) return false;
  for (char c : d) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<void> WriteAll(int fd, const char* data, size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

// Reads `fd` to its end in chunks, handing each to `chunk(data, n)` (which returns Result<void>).
template <class F>
Result<void> ReadChunks(int fd, const fs::path& path, F chunk) {
  std::vector<char> buf(kChunk);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", path);
    }
    if (n == 0) return {};
    OD_TRY(chunk(buf.data(), static_cast<size_t>(n)));
  }
}

// A temporary file in `dir`, removed unless released.
class TempFile {
 public:
  static Result<TempFile> Create(const fs::path& dir) {
    std::string tmpl = (dir / ".tmp-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    if (fd < 0) return IoError("cannot create a temporary file in", dir);
    // mkstemp makes 0600; blobs are shared read-only data.
    ::fchmod(fd, 0644);
    return TempFile(fd, fs::path(buf.data()));
  }
  TempFile(TempFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const fs::path& path() const { return path_; }
  Result<void> Close(bool sync) {
    if (sync && ::fsync(fd_) != 0) return IoError("cannot fsync", path_);
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return IoError("cannot close", path_);
    return {};
  }
  // Renames onto `dest`; the temporary no longer needs cleaning.
  Result<void> RenameTo(const fs::path& dest) {
    if (::rename(path_.c_str(), dest.c_str()) != 0) return IoError("cannot rename onto", dest);
    path_.clear();
    return {};
  }

 private:
  TempFile(int fd, fs::path p) : fd_(fd), path_(std::move(p)) {}
  int fd_;
  fs::path path_;
};

void SyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

class LocalArtifactStore final : public ArtifactStore {
 public:
  LocalArtifactStore(fs::path root, LocalArtifactStoreOptions options)
      : blobs_(std::move(root) / "sha256"), options_(options) {}

  Result<void> Init() {
    std::error_code ec;
    fs::create_directories(blobs_, ec);
    if (ec) {
      return MakeError(ErrorCode::kIo,
                       "cannot create artifact folder '" + blobs_.string() + "': " + ec.message());
    }
    return {};
  }

  Result<std::string> PutFile(const fs::path& file) override {
    FdCloser in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) return IoError("cannot read", file, errno);
    OD_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(blobs_));
    Sha256 sha;
    OD_TRY(ReadChunks(in.fd, file, [&](const char* data, size_t n) -> Result<void> {
      sha.Update(data, n);
      return WriteAll(tmp.fd(), data, n, tmp.path());
    }));
    return Commit(std::move(tmp), sha.HexDigest());
  }

  Result<std::string> PutBytes(const std::string& bytes) override {
    Sha256 sha;
    sha.Update(bytes.data(), bytes.size());
    std::string digest = sha.HexDigest();
    if (fs::exists(BlobPath(digest))) return digest;
    OD_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(blobs_));
    OD_TRY(WriteAll(tmp.fd(), bytes.data(), bytes.size(), tmp.path()));
    return Commit(std::move(tmp), digest);
  }

  Result<bool> Contains(const std::string& digest) override {
    OD_TRY(CheckDigest(digest));
    std::error_code ec;
    bool present = fs::is_regular_file(BlobPath(digest), ec);
    return present;
  }

  Result<std::int64_t> Size(const std::string& digest) override {
    OD_ASSIGN_OR_RETURN(fs::path p, ExistingBlob(digest));
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (ec) return MakeError(ErrorCode::kIo, "cannot stat '" + p.string() + "': " + ec.message());
    return static_cast<std::int64_t>(size);
  }

  Result<void> GetToFile(const std::string& digest, const fs::path& dest) override {
    OD_ASSIGN_OR_RETURN(fs::path src, ExistingBlob(digest));
    FdCloser in{::open(src.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) return IoError("cannot read", src);
    fs::path dir = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    // Through a temporary beside `dest`, so that `dest` is replaced whole or not at all.
    OD_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(dir));
    OD_TRY(ReadChunks(in.fd, src, [&](const char* data, size_t n) {
      return WriteAll(tmp.fd(), data, n, tmp.path());
    }));
    OD_TRY(tmp.Close(options_.fsync));
    return tmp.RenameTo(dest);
  }

  Result<std::string> GetBytes(const std::string& digest) override {
    OD_ASSIGN_OR_RETURN(fs::path src, ExistingBlob(digest));
    FdCloser in{::open(src.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) return IoError("cannot read", src);
    std::string out;
    OD_TRY(ReadChunks(in.fd, src, [&](const char* data, size_t n) -> Result<void> {
      out.append(data, n);
      return {};
    }));
    return out;
  }

  Result<std::string> GetRange(const std::string& digest, std::int64_t offset,
                               std::int64_t max_bytes) override {
    if (offset < 0 || max_bytes < 0) {
      return MakeError(ErrorCode::kInvalidInput, "a range of an artifact cannot be negative");
    }
    OD_ASSIGN_OR_RETURN(fs::path src, ExistingBlob(digest));
    FdCloser in{::open(src.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) return IoError("cannot read", src);
    std::string out;
    while (static_cast<std::int64_t>(out.size()) < max_bytes) {
      char buf[65536];
      size_t want = static_cast<size_t>(
          std::min<std::int64_t>(sizeof buf, max_bytes - static_cast<std::int64_t>(out.size())));
      ssize_t n = ::pread(in.fd, buf, want, static_cast<off_t>(offset) + static_cast<off_t>(out.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError("cannot read", src);
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  fs::path BlobPath(const std::string& digest) const {
    return blobs_ / digest.substr(0, 2) / digest.substr(2);
  }

  static Result<void> CheckDigest(const std::string& digest) {
    if (!IsDigest(digest)) {
      return MakeError(ErrorCode::kInvalidInput,
                       "'" + digest + "' is not a sha256 digest (64 lowercase hex characters)");
    }
    return {};
  }

  Result<fs::path> ExistingBlob(const std::string& digest) const {
    OD_TRY(CheckDigest(digest));
    fs::path p = BlobPath(digest);
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      return MakeError(ErrorCode::kNotFound, "artifact " + digest + " is not in the store at '" +
                                                 blobs_.parent_path().string() + "'");
    }
    return p;
  }

  Result<std::string> Commit(TempFile tmp, const std::string& digest) {
    OD_TRY(tmp.Close(options_.fsync));
    fs::path dest = BlobPath(digest);
    std::error_code ec;
    if (fs::exists(dest, ec)) return digest;  // stored once; the temporary is dropped
    fs::create_directories(dest.parent_path(), ec);
    if (ec) {
      return MakeError(ErrorCode::kIo, "cannot create folder '" + dest.parent_path().string() +
                                           "': " + ec.message());
    }
    OD_TRY(tmp.RenameTo(dest));
    if (options_.fsync) SyncDir(dest.parent_path());
    return digest;
  }

  fs::path blobs_;
  LocalArtifactStoreOptions options_;
};

}  // namespace

Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(
    const fs::path& root, const LocalArtifactStoreOptions& options) {
  auto store = std::make_unique<LocalArtifactStore>(root, options);
  OD_TRY(store->Init());
  return std::unique_ptr<ArtifactStore>(std::move(store));
}

}  // namespace overdrive
