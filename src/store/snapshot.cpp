// Code snapshots: a deterministic tar of a folder, stored as one blob; and its safe unpacking.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/strings.hpp"
#include "store/artifact_store.hpp"

namespace overdrive {
namespace {

// libarchive's message for its last error; some errors (a truncated long-name header) have
// none, and a null message must not reach a std::string.
std::string ArchiveError(archive* a) {
  const char* m = archive_error_string(a);
  return m != nullptr ? m : "libarchive error " + std::to_string(archive_errno(a));
}


namespace fs = std::filesystem;

struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using WriteArchive = std::unique_ptr<archive, ArchiveWriteDeleter>;
using ReadArchive = std::unique_ptr<archive, ArchiveReadDeleter>;
using Entry = std::unique_ptr<archive_entry, EntryDeleter>;

// A temporary file path, removed on destruction.
class TempPath {
 public:
  static Result<TempPath> Create(const std::string& stem) {
    std::error_code ec;
    fs::path dir = fs::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string tmpl = (dir / (stem + "-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    if (fd < 0) {
      return MakeError(ErrorCode::kIo, "cannot create a temporary file in '" + dir.string() +
                                           "': " + std::strerror(errno));
    }
    ::close(fd);
    return TempPath(buf.data());
  }
  TempPath(TempPath&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~TempPath() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const fs::path& path() const { return path_; }

 private:
  explicit TempPath(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
};

std::string ReadSmallFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SnapshotWriter {
 public:
  SnapshotWriter(fs::path root, std::set<fs::path> exclude, archive* ar, SnapshotLimits limits)
      : root_(std::move(root)), exclude_(std::move(exclude)), ar_(ar), limits_(limits) {}

  Result<void> Walk(const std::string& dir_rel) {
    const fs::path dir = dir_rel.empty() ? root_ : root_ / dir_rel;
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) {
      return MakeError(ErrorCode::kIo, "cannot list folder '" + dir.string() + "': " + ec.message());
    }
    std::sort(names.begin(), names.end());
    // Per folder: .amlignore wins over .gitignore, as in Azure ML.
    for (const char* ignore_name : {".amlignore", ".gitignore"}) {
      if (std::find(names.begin(), names.end(), ignore_name) != names.end() &&
          fs::is_regular_file(dir / ignore_name, ec)) {
        rules_.AddFile(dir_rel, ReadSmallFile(dir / ignore_name));
        break;
      }
    }
    for (const auto& name : names) {
      if (name == ".git") continue;
      const std::string rel = dir_rel.empty() ? name : dir_rel + "/" + name;
      const fs::path full = dir / name;
      if (exclude_.count(full) != 0) continue;
      struct stat st {};
      if (::lstat(full.c_str(), &st) != 0) {
        return MakeError(ErrorCode::kIo,
                         "cannot stat '" + full.string() + "': " + std::strerror(errno));
      }
      if (S_ISDIR(st.st_mode)) {
        if (rules_.IsIgnored(rel, true)) continue;
        OD_TRY(CountEntry(0));
        OD_TRY(WriteHeader(rel, AE_IFDIR, st.st_mode & 0777, 0, nullptr));
        OD_TRY(Walk(rel));
      } else if (S_ISREG(st.st_mode)) {
        if (rules_.IsIgnored(rel, false)) continue;
        OD_TRY(CountEntry(st.st_size));
        OD_TRY(WriteFile(rel, full, st));
      } else if (S_ISLNK(st.st_mode)) {
        if (rules_.IsIgnored(rel, false)) continue;
        OD_TRY(CountEntry(0));
        std::vector<char> target(static_cast<size_t>(st.st_size) + 256);
        ssize_t n = ::readlink(full.c_str(), target.data(), target.size() - 1);
        if (n < 0) {
          return MakeError(ErrorCode::kIo,
                           "cannot read link '" + full.string() + "': " + std::strerror(errno));
        }
        target[static_cast<size_t>(n)] = '\0';
        OD_TRY(WriteHeader(rel, AE_IFLNK, 0777, 0, target.data()));
        ++info_.files;
      }
      // Sockets, fifos and devices are not code: skipped.
    }
    return {};
  }

  const SnapshotInfo& info() const { return info_; }

 private:
  // Checked before an entry is written, so the walk stops at the first one past a limit.
  Result<void> CountEntry(std::int64_t size) {
    if (++entries_ > limits_.max_entries) {
      return MakeError(ErrorCode::kInvalidInput,
                       "code folder '" + root_.string() + "' holds more than " +
                           std::to_string(limits_.max_entries) +
                           " files and folders, the limit for a code snapshot" +
                           limits_.raise_entries_hint);
    }
    bytes_ += size;
    if (bytes_ > limits_.max_bytes) {
      return MakeError(ErrorCode::kInvalidInput,
                       "code folder '" + root_.string() + "' holds more than " +
                           std::to_string(limits_.max_bytes >> 20) +
                           " MiB of files, the limit for a code snapshot" +
                           limits_.raise_bytes_hint);
    }
    return {};
  }

  Result<void> WriteHeader(const std::string& rel, unsigned int type, unsigned int perm,
                           std::int64_t size, const char* link_target) {
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    if (link_target != nullptr) archive_entry_set_symlink(e.get(), link_target);
    if (archive_write_header(ar_, e.get()) < ARCHIVE_WARN) {
      return MakeError(ErrorCode::kIo, "cannot archive '" + (root_ / rel).string() +
                                           "': " + ArchiveError(ar_));
    }
    return {};
  }

  Result<void> WriteFile(const std::string& rel, const fs::path& full, const struct stat& st) {
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return MakeError(ErrorCode::kIo, "cannot read '" + full.string() + "': " + std::strerror(errno));
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    OD_TRY(WriteHeader(rel, AE_IFREG, st.st_mode & 0777, st.st_size, nullptr));
    // Exactly st_size bytes: a file that grows meanwhile is cut, one that shrinks is
    // zero-padded by libarchive, so the header stays truthful.
    std::vector<char> buf(1 << 16);
    std::int64_t left = st.st_size;
    while (left > 0) {
      ssize_t n = ::read(fd, buf.data(), std::min<std::int64_t>(left, buf.size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return MakeError(ErrorCode::kIo, "cannot read '" + full.string() + "': " + std::strerror(errno));
      }
      if (n == 0) break;
      if (archive_write_data(ar_, buf.data(), static_cast<size_t>(n)) < 0) {
        return MakeError(ErrorCode::kIo, "cannot archive '" + full.string() +
                                             "': " + ArchiveError(ar_));
      }
      left -= n;
    }
    ++info_.files;
    info_.bytes += st.st_size;
    return {};
  }

  fs::path root_;
  std::set<fs::path> exclude_;
  archive* ar_;
  IgnoreRules rules_;
  SnapshotInfo info_;
  SnapshotLimits limits_;
  std::int64_t entries_ = 0, bytes_ = 0;
};

// Why `name` may not be unpacked, or "" when it is safe.
std::string UnsafeReason(const std::string& name) {
  if (name.empty()) return "an empty path";
  if (name[0] == '/') return "an absolute path";
  for (const auto& part : Split(name, '/')) {
    if (part == "..") return "a '..' component";
  }
  return "";
}

}  // namespace

Result<SnapshotInfo> SnapshotFolder(ArtifactStore& store, const fs::path& folder,
                                    const std::vector<fs::path>& exclude,
                                    const SnapshotLimits& limits) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return MakeError(ErrorCode::kNotFound,
                     "code folder '" + folder.string() + "' does not exist or is not a folder");
  }
  fs::path root = fs::canonical(folder, ec);
  if (ec) {
    return MakeError(ErrorCode::kIo, "cannot resolve '" + folder.string() + "': " + ec.message());
  }
  std::set<fs::path> excluded;
  for (const auto& e : exclude) {
    fs::path p = fs::weakly_canonical(fs::absolute(e, ec), ec);
    if (!ec) excluded.insert(p);
  }
  OD_ASSIGN_OR_RETURN(TempPath tar, TempPath::Create("overdrive-snapshot"));
  WriteArchive ar(archive_write_new());
  // pax_restricted writes plain ustar headers and adds pax records only for what ustar cannot
  // hold (long or non-ASCII names), with no per-process data: identical input, identical bytes.
  archive_write_set_format_pax_restricted(ar.get());
  if (archive_write_open_filename(ar.get(), tar.path().c_str()) != ARCHIVE_OK) {
    return MakeError(ErrorCode::kIo, "cannot write '" + tar.path().string() +
                                         "': " + ArchiveError(ar.get()));
  }
  SnapshotWriter writer(root, std::move(excluded), ar.get(), limits);
  OD_TRY(writer.Walk(""));  // on error the temporary tar is removed: nothing is stored
  if (archive_write_close(ar.get()) != ARCHIVE_OK) {
    return MakeError(ErrorCode::kIo, "cannot finish '" + tar.path().string() +
                                         "': " + ArchiveError(ar.get()));
  }
  SnapshotInfo info = writer.info();
  OD_ASSIGN_OR_RETURN(info.digest, store.PutFile(tar.path()));
  return info;
}

Result<void> UnpackSnapshot(ArtifactStore& store, const std::string& digest,
                            const fs::path& dest, const UnpackLimits& limits) {
  OD_ASSIGN_OR_RETURN(TempPath tar, TempPath::Create("overdrive-unpack"));
  OD_TRY(store.GetToFile(digest, tar.path()));
  auto open = [&]() -> Result<ReadArchive> {
    ReadArchive in(archive_read_new());
    archive_read_support_format_tar(in.get());
    archive_read_support_filter_all(in.get());
    if (archive_read_open_filename(in.get(), tar.path().c_str(), 1 << 16) != ARCHIVE_OK) {
      return MakeError(ErrorCode::kInvalidInput, "snapshot " + digest + " is not a readable tar: " +
                                                     ArchiveError(in.get()));
    }
    return in;
  };
  auto too_large = [&](const std::string& what) {
    return MakeError(ErrorCode::kTooLarge, "snapshot " + digest + " unpacks to " + what +
                                               "; refusing to unpack it into '" + dest.string() +
                                               "'");
  };
  // First pass: refuse the whole archive before writing anything if one entry could escape or
  // the archive unpacks to more than the limits allow.
  {
    OD_ASSIGN_OR_RETURN(ReadArchive in, open());
    archive_entry* e = nullptr;
    int rc;
    std::int64_t bytes = 0, entries = 0;
    std::set<std::string> links;  // the archive's symlinks: nothing may be unpacked through one
    while ((rc = archive_read_next_header(in.get(), &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
      const char* p = archive_entry_pathname(e);
      std::string name = p != nullptr ? p : "";
      std::string why = UnsafeReason(name);
      if (why.empty() && archive_entry_hardlink(e) != nullptr) {
        why = UnsafeReason(archive_entry_hardlink(e));
        if (!why.empty()) why = "a hard link to " + why;
      }
      while (!name.empty() && name.back() == '/') name.pop_back();
      for (std::size_t i = name.find('/'); why.empty() && i != std::string::npos;
           i = name.find('/', i + 1)) {
        if (links.count(name.substr(0, i)) != 0) why = "it lies under the symlink '" + name.substr(0, i) + "'";
      }
      if (!why.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "snapshot " + digest + " has an unsafe entry '" + name + "' (" + why +
                             "); refusing to unpack it into '" + dest.string() + "'");
      }
      if (archive_entry_filetype(e) == AE_IFLNK) links.insert(name);
      if (archive_entry_size_is_set(e)) bytes += std::max<la_int64_t>(0, archive_entry_size(e));
      if (++entries > limits.max_entries) {
        return too_large("more than " + std::to_string(limits.max_entries) + " entries");
      }
      if (bytes > limits.max_bytes) {
        return too_large("more than " + std::to_string(limits.max_bytes >> 20) + " MiB");
      }
    }
    if (rc != ARCHIVE_EOF) {
      return MakeError(ErrorCode::kInvalidInput, "snapshot " + digest + " is not a valid tar: " +
                                                     ArchiveError(in.get()));
    }
  }
  std::error_code ec;
  fs::create_directories(dest, ec);
  fs::path root = fs::canonical(dest, ec);
  if (ec) {
    return MakeError(ErrorCode::kIo, "cannot create folder '" + dest.string() + "': " + ec.message());
  }
  OD_ASSIGN_OR_RETURN(ReadArchive in, open());
  WriteArchive out(archive_write_disk_new());
  // Paths are made absolute under the canonical `root` (no symlinks in it), so the secure
  // checks below guard only what the archive itself contains.
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(in.get(), &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
    std::string name = archive_entry_pathname(e);
    archive_entry_set_pathname(e, (root / name).c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      archive_entry_set_hardlink(e, (root / link).c_str());
    }
    if (archive_write_header(out.get(), e) < ARCHIVE_WARN) {
      return MakeError(ErrorCode::kIo, "cannot unpack '" + name + "' into '" + root.string() +
                                           "': " + ArchiveError(out.get()));
    }
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r;
    while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
      if (offset + static_cast<la_int64_t>(size) > limits.max_bytes) {
        return too_large("more than " + std::to_string(limits.max_bytes >> 20) + " MiB");
      }
      // A failed write() (a full disk) is only ARCHIVE_WARN here: anything but OK is a file
      // unpacked short, which must not run as if whole.
      if (archive_write_data_block(out.get(), buf, size, offset) != ARCHIVE_OK) {
        int err = archive_errno(out.get());
        return MakeError(ErrorCode::kIo, "cannot write '" + (root / name).string() +
                                             "': " + ArchiveError(out.get()) +
                                             (err > 0 ? std::string(": ") + std::strerror(err) : ""));
      }
    }
    if (r != ARCHIVE_EOF) {
      return MakeError(ErrorCode::kIo, "snapshot " + digest + " is corrupt at '" + name +
                                           "': " + ArchiveError(in.get()));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      return MakeError(ErrorCode::kIo, "cannot finish '" + (root / name).string() +
                                           "': " + ArchiveError(out.get()));
    }
  }
  if (rc != ARCHIVE_EOF) {
    return MakeError(ErrorCode::kIo,
                     "snapshot " + digest + " is corrupt: " + ArchiveError(in.get()));
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return MakeError(ErrorCode::kIo, "cannot finish unpacking into '" + root.string() +
                                         "': " + ArchiveError(out.get()));
  }
  return {};
}

}  // namespace overdrive
