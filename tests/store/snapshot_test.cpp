// Code snapshots: what gets in, determinism, symlinks, and safe unpacking.
#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "store/artifact_store.hpp"
#include "store_test_util.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::ReadFile;
using testing_util::WriteFile;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenLocalArtifactStore(dir_.path() / "store");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    code_ = dir_.path() / "code";
    fs::create_directories(code_);
  }

  // Snapshots `folder`, unpacks it and returns the relative paths that came back.
  std::set<std::string> RoundTrip(const fs::path& folder, SnapshotInfo* info = nullptr,
                                  const std::vector<fs::path>& exclude = {}) {
    auto snap = SnapshotFolder(*store_, folder, exclude);
    EXPECT_TRUE(snap.has_value()) << snap.error().message;
    if (!snap) return {};
    if (info != nullptr) *info = *snap;
    const fs::path out = dir_.path() / ("out" + std::to_string(++unpacks_));
    auto res = UnpackSnapshot(*store_, snap->digest, out);
    EXPECT_TRUE(res.has_value()) << res.error().message;
    std::set<std::string> paths;
    for (auto it = fs::recursive_directory_iterator(out); it != fs::recursive_directory_iterator();
         ++it) {
      if (!it->is_directory() || it->is_symlink()) {
        paths.insert(it->path().lexically_relative(out).string());
      }
    }
    last_out_ = out;
    return paths;
  }

  testing_util::TempDir dir_;
  std::unique_ptr<ArtifactStore> store_;
  fs::path code_;
  fs::path last_out_;
  int unpacks_ = 0;
};

TEST_F(SnapshotTest, RoundTripKeepsContentPermissionsAndCounts) {
  WriteFile(code_ / "train.py", "print('hi')\n");
  WriteFile(code_ / "lib" / "util.py", "x = 1\n");
  WriteFile(code_ / "run.sh", "#!/bin/sh\n");
  fs::permissions(code_ / "run.sh", fs::perms(0755));
  fs::create_directories(code_ / "empty");
  SnapshotInfo info;
  auto paths = RoundTrip(code_, &info);
  EXPECT_EQ(paths, (std::set<std::string>{"train.py", "lib/util.py", "run.sh"}));
  EXPECT_TRUE(fs::is_directory(last_out_ / "empty"));
  EXPECT_EQ(info.files, 3);
  EXPECT_EQ(info.bytes, 12 + 6 + 10);
  EXPECT_EQ(info.digest.size(), 64u);
  EXPECT_EQ(ReadFile(last_out_ / "lib" / "util.py"), "x = 1\n");
  struct stat st {};
  ASSERT_EQ(::stat((last_out_ / "run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ASSERT_EQ(::stat((last_out_ / "train.py").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0111, 0u);
}

TEST_F(SnapshotTest, SameContentGivesTheSameDigest) {
  const std::string long_name(120, 'n');  // beyond ustar's 100-byte name field
  for (const fs::path& root : {code_, dir_.path() / "copy"}) {
    WriteFile(root / "a.py", "a");
    WriteFile(root / "sub" / (long_name + ".py"), "long");
    WriteFile(root / "z" / "b.txt", "b");
  }
  // Different times, same content.
  fs::last_write_time(code_ / "a.py", fs::last_write_time(code_ / "a.py") - std::chrono::hours(5));
  auto first = SnapshotFolder(*store_, code_);
  auto second = SnapshotFolder(*store_, dir_.path() / "copy");
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(first->digest, second->digest);
  EXPECT_EQ(SnapshotFolder(*store_, code_)->digest, first->digest);
  WriteFile(dir_.path() / "copy" / "a.py", "A");
  EXPECT_NE(SnapshotFolder(*store_, dir_.path() / "copy")->digest, first->digest);
  auto paths = RoundTrip(code_);
  EXPECT_TRUE(paths.count("sub/" + long_name + ".py"));
}

TEST_F(SnapshotTest, GitignoreIsHonouredAndGitIsSkipped) {
  WriteFile(code_ / ".gitignore", "*.log\nbuild/\n!keep.log\n/data\n");
  WriteFile(code_ / "train.py", "");
  WriteFile(code_ / "debug.log", "");
  WriteFile(code_ / "keep.log", "");
  WriteFile(code_ / "build" / "out.o", "");
  WriteFile(code_ / "data" / "big.csv", "");
  WriteFile(code_ / "src" / "data" / "small.csv", "");
  WriteFile(code_ / ".git" / "HEAD", "ref: refs/heads/main\n");
  auto paths = RoundTrip(code_);
  EXPECT_EQ(paths,
            (std::set<std::string>{".gitignore", "train.py", "keep.log", "src/data/small.csv"}));
}

TEST_F(SnapshotTest, NestedGitignoreAppliesBelowItsFolder) {
  WriteFile(code_ / ".gitignore", "*.tmp\n");
  WriteFile(code_ / "pkg" / ".gitignore", "!keep.tmp\n/generated\n");
  WriteFile(code_ / "a.tmp", "");
  WriteFile(code_ / "pkg" / "b.tmp", "");
  WriteFile(code_ / "pkg" / "keep.tmp", "");
  WriteFile(code_ / "pkg" / "generated", "");
  WriteFile(code_ / "generated", "");
  auto paths = RoundTrip(code_);
  EXPECT_EQ(paths, (std::set<std::string>{".gitignore", "pkg/.gitignore", "pkg/keep.tmp",
                                          "generated"}));
}

TEST_F(SnapshotTest, AmlignoreWinsOverGitignore) {
  WriteFile(code_ / ".amlignore", "*.csv\n");
  WriteFile(code_ / ".gitignore", "*.py\n");
  WriteFile(code_ / "train.py", "");
  WriteFile(code_ / "data.csv", "");
  WriteFile(code_ / "sub" / ".gitignore", "*.txt\n");  // no .amlignore here: .gitignore counts
  WriteFile(code_ / "sub" / "notes.txt", "");
  WriteFile(code_ / "sub" / "more.csv", "");
  auto paths = RoundTrip(code_);
  EXPECT_EQ(paths, (std::set<std::string>{".amlignore", ".gitignore", "train.py",
                                          "sub/.gitignore"}));
}

TEST_F(SnapshotTest, ExcludedPathsAreSkipped) {
  WriteFile(code_ / "train.py", "");
  WriteFile(code_ / ".overdrive" / "workspace.db", "");
  auto paths = RoundTrip(code_, nullptr, {code_ / ".overdrive"});
  EXPECT_EQ(paths, (std::set<std::string>{"train.py"}));
}

TEST_F(SnapshotTest, SymlinksAreKeptAsLinks) {
  WriteFile(code_ / "target.txt", "T");
  WriteFile(dir_.path() / "outside" / "secret.txt", "S");
  fs::create_symlink("target.txt", code_ / "link.txt");
  fs::create_directory_symlink(dir_.path() / "outside", code_ / "outside_link");
  SnapshotInfo info;
  auto paths = RoundTrip(code_, &info);
  EXPECT_EQ(paths, (std::set<std::string>{"target.txt", "link.txt", "outside_link"}));
  EXPECT_EQ(info.files, 3);
  EXPECT_EQ(info.bytes, 1);
  ASSERT_TRUE(fs::is_symlink(last_out_ / "link.txt"));
  EXPECT_EQ(fs::read_symlink(last_out_ / "link.txt"), "target.txt");
  ASSERT_TRUE(fs::is_symlink(last_out_ / "outside_link"));
  EXPECT_EQ(ReadFile(last_out_ / "link.txt"), "T");
}

// `code: /` must not archive the machine: the walk stops at the first entry past a limit, the
// error names the limit and the folder, and nothing reaches the store.
TEST_F(SnapshotTest, LimitsStopTheWalkAndStoreNothing) {
  auto stored_files = [&] {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path() / "store")) {
      if (e.is_regular_file()) ++n;
    }
    return n;
  };
  for (int i = 0; i < 5; ++i) WriteFile(code_ / ("f" + std::to_string(i) + ".py"), "x = 1\n");
  WriteFile(code_ / "data.bin", std::string(3 << 20, 'd'));
  const int before = stored_files();

  SnapshotLimits few;
  few.max_entries = 4;
  auto r = SnapshotFolder(*store_, code_, {}, few);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(r.error().message, "code folder '" + fs::canonical(code_).string() +
                                   "' holds more than 4 files and folders, the limit for a code "
                                   "snapshot");
  SnapshotLimits small;
  small.max_bytes = 2 << 20;
  r = SnapshotFolder(*store_, code_, {}, small);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "code folder '" + fs::canonical(code_).string() +
                                   "' holds more than 2 MiB of files, the limit for a code "
                                   "snapshot");
  EXPECT_EQ(stored_files(), before) << "no partial snapshot is stored";

  // Ignored files do not count; at the limits exactly, the snapshot is taken.
  WriteFile(code_ / ".amlignore", "data.bin\n");
  SnapshotLimits exact;
  exact.max_entries = 6;  // five .py files and the .amlignore
  exact.max_bytes = 5 * 6 + 9;
  auto ok = SnapshotFolder(*store_, code_, {}, exact);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->files, 6);
}

TEST_F(SnapshotTest, MissingFolderIsNotFound) {
  auto res = SnapshotFolder(*store_, dir_.path() / "nope");
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(res.error().message, HasSubstr("nope"));
  EXPECT_EQ(UnpackSnapshot(*store_, std::string(64, 'b'), dir_.path() / "o").error().code,
            ErrorCode::kNotFound);
}

// Builds a tar with the given regular-file entries and stores it.
std::string StoreTar(ArtifactStore& store, const fs::path& tar,
                     const std::vector<std::string>& names) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, tar.c_str());
  for (const auto& name : names) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 4);
    archive_write_header(a, e);
    archive_write_data(a, "evil", 4);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return store.PutFile(tar).value();
}

TEST_F(SnapshotTest, UnpackRefusesEntriesThatEscape) {
  const fs::path dest = dir_.path() / "dest" / "inner";
  for (const std::string& bad : std::vector<std::string>{"../escaped.txt", "ok/../../escaped.txt",
                                (dir_.path() / "abs.txt").string()}) {
    std::string digest = StoreTar(*store_, dir_.path() / "evil.tar", {"fine.txt", bad});
    auto res = UnpackSnapshot(*store_, digest, dest);
    ASSERT_FALSE(res.has_value()) << bad;
    EXPECT_EQ(res.error().code, ErrorCode::kInvalidInput);
    EXPECT_THAT(res.error().message, HasSubstr(bad));
    EXPECT_FALSE(fs::exists(dir_.path() / "dest" / "escaped.txt"));
    EXPECT_FALSE(fs::exists(dir_.path() / "escaped.txt"));
    EXPECT_FALSE(fs::exists(dest / "fine.txt")) << "nothing is written from a refused archive";
  }
  EXPECT_EQ(ReadFile(dir_.path() / "abs.txt"), "");
  EXPECT_FALSE(fs::exists(dir_.path() / "abs.txt"));
}

}  // namespace
}  // namespace overdrive
