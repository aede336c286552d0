// libFuzzer target for UnpackSnapshot (store/snapshot.cpp): the tar a client uploads as a job's
// code (POST /api/v1/jobs, `code` part) is stored as a blob and unpacked by the server into a
// temporary folder; the same code unpacks every run's snapshot into its working directory.
//
// Input: the archive's bytes (a tar, maybe compressed), served by an in-memory ArtifactStore;
// unpacked under limits of 1 MiB and 2000 entries.
//
// Each input unpacks into box/work/dest in a fresh scratch folder `box` that also holds
// box/outside (a file, a folder, a file in it) and box/work/sibling. Invariants:
// - nothing outside box/work/dest is created, removed or changed (type, mode, size, content,
//   link target), whatever the archive holds (`..`, absolute paths, symlinks, hard links,
//   entries named "." or with a trailing '/');
// - an archive refused as unsafe or not a tar (kInvalidInput) wrote nothing: dest does not exist;
// - every error carries a message.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "fuzz_util.hpp"
#include "store/artifact_store.hpp"

namespace {

namespace fs = std::filesystem;
using overdrive::ErrorCode;
using overdrive::MakeError;
using overdrive::Result;

// Serves one blob, whatever digest is asked for.
class OneBlobStore : public overdrive::ArtifactStore {
 public:
  explicit OneBlobStore(std::string bytes) : bytes_(std::move(bytes)) {}
  Result<std::string> PutFile(const fs::path&) override { return Unsupported(); }
  Result<std::string> PutBytes(const std::string&) override { return Unsupported(); }
  Result<bool> Contains(const std::string&) override { return true; }
  Result<std::int64_t> Size(const std::string&) override {
    return static_cast<std::int64_t>(bytes_.size());
  }
  Result<void> GetToFile(const std::string&, const fs::path& dest) override {
    fuzz::WriteFile(dest, bytes_);
    return {};
  }
  Result<std::string> GetBytes(const std::string&) override { return bytes_; }

 private:
  static std::unexpected<overdrive::Error> Unsupported() {
    return MakeError(ErrorCode::kInternal, "not in this fake");
  }
  std::string bytes_;
};

// What a path is, without following symlinks: enough to see any change.
std::string Describe(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return "missing";
  std::ostringstream out;
  out << std::oct << st.st_mode << std::dec;
  // A folder's link count grows with its subfolders (dest itself); a file's only with hard links.
  if (!S_ISDIR(st.st_mode)) out << " links " << st.st_nlink << " size " << st.st_size;
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    out << " -> " << fs::read_symlink(p, ec).string();
  } else if (S_ISREG(st.st_mode)) {
    std::ifstream in(p, std::ios::binary);
    out << " " << in.rdbuf();
  }
  return out.str();
}

// Every path under `box` except those under `skip`, described.
std::map<std::string, std::string> Inventory(const fs::path& box, const fs::path& skip) {
  std::map<std::string, std::string> all;
  all["."] = Describe(box);
  std::error_code ec;
  fs::recursive_directory_iterator it(box, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p == skip) {
      it.disable_recursion_pending();
      continue;
    }
    all[p.lexically_relative(box).string()] = Describe(p);
  }
  FUZZ_CHECK(!ec, "cannot list %s: %s", box.c_str(), ec.message().c_str());
  return all;
}

void MakeBox(const fs::path& box) {
  std::error_code ec;
  fs::remove_all(box, ec);
  fs::create_directories(box / "outside" / "dir");
  fs::create_directories(box / "work" / "sibling");
  fuzz::WriteFile(box / "outside" / "secret", "keep me\n");
  fuzz::WriteFile(box / "outside" / "dir" / "file", "keep me too\n");
  fuzz::WriteFile(box / "work" / "sibling" / "file", "a neighbour\n");
  ::chmod((box / "outside" / "secret").c_str(), 0600);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path box = fuzz::ScratchDir() / "box";
  const fs::path dest = box / "work" / "dest";
  MakeBox(box);
  const auto before = Inventory(box, dest);

  OneBlobStore store(std::string(reinterpret_cast<const char*>(data), size));
  // Small limits: a compressed bomb must be refused, not fill the disk of the fuzzing machine.
  overdrive::UnpackLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_entries = 2000;
  auto unpacked = overdrive::UnpackSnapshot(store, std::string(64, '0'), dest, limits);
  if (!unpacked) {
    FUZZ_CHECK(!unpacked.error().message.empty(), "an error without a message");
    // Unsafe entries, non-tar data and archives over the limits are refused by the first pass.
    if (unpacked.error().code == ErrorCode::kInvalidInput) {
      std::error_code ec;
      FUZZ_CHECK(!fs::exists(fs::symlink_status(dest, ec)),
                 "refused as unsafe (%s) but dest was created",
                 unpacked.error().message.c_str());
    }
  }

  const auto after = Inventory(box, dest);
  for (const auto& [path, what] : after) {
    auto was = before.find(path);
    FUZZ_CHECK(was != before.end(), "created outside dest: %s (%s)", path.c_str(), what.c_str());
    FUZZ_CHECK(was->second == what, "changed outside dest: %s\n  was: %s\n  now: %s",
               path.c_str(), was->second.c_str(), what.c_str());
  }
  for (const auto& [path, what] : before) {
    FUZZ_CHECK(after.count(path) != 0, "removed outside dest: %s", path.c_str());
  }
  return 0;
}
