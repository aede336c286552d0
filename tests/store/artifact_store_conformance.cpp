// The ArtifactStore contract, run against every backend (append to kBackends to add one), plus
// the on-disk layout of the local store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <random>
#include <string>

#include "store/artifact_store.hpp"
#include "store_test_util.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::ReadFile;
using testing_util::WriteFile;

constexpr const char* kHelloSha =
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
constexpr const char* kEmptySha =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct ArtifactStoreBackend {
  std::string name;
  std::function<Result<std::unique_ptr<ArtifactStore>>(const fs::path& scratch)> open;
};

const ArtifactStoreBackend kBackends[] = {
    {"Local", [](const fs::path& scratch) { return OpenLocalArtifactStore(scratch / "artifacts"); }},
    {"LocalFsync",
     [](const fs::path& scratch) {
       return OpenLocalArtifactStore(scratch / "artifacts", {.fsync = true});
     }},
};

class ArtifactStoreConformance : public ::testing::TestWithParam<ArtifactStoreBackend> {
 protected:
  void SetUp() override {
    auto opened = GetParam().open(scratch_.path());
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    store_ = std::move(*opened);
  }
  testing_util::TempDir scratch_;
  testing_util::TempDir files_;
  std::unique_ptr<ArtifactStore> store_;
};

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_P(ArtifactStoreConformance, PutBytesReturnsTheSha256AndReadsBack) {
  auto digest = store_->PutBytes("hello");
  ASSERT_TRUE(digest.has_value()) << digest.error().message;
  EXPECT_EQ(*digest, kHelloSha);
  EXPECT_EQ(store_->PutBytes("").value(), kEmptySha);
  EXPECT_TRUE(store_->Contains(kHelloSha).value());
  EXPECT_EQ(store_->GetBytes(kHelloSha).value(), "hello");
  EXPECT_EQ(store_->GetBytes(kEmptySha).value(), "");
  EXPECT_EQ(store_->Size(kHelloSha).value(), 5);
}

TEST_P(ArtifactStoreConformance, PutFileMatchesPutBytesForLargeContent) {
  const std::string big = RandomBytes(3 * 1024 * 1024 + 17, 7);  // several copy chunks
  WriteFile(files_.path() / "big.bin", big);
  auto from_file = store_->PutFile(files_.path() / "big.bin");
  ASSERT_TRUE(from_file.has_value()) << from_file.error().message;
  EXPECT_EQ(store_->PutBytes(big).value(), *from_file);
  EXPECT_EQ(store_->Size(*from_file).value(), static_cast<std::int64_t>(big.size()));
  ASSERT_TRUE(store_->GetToFile(*from_file, files_.path() / "new" / "out"));
  EXPECT_EQ(ReadFile(files_.path() / "new" / "out"), big);
}

TEST_P(ArtifactStoreConformance, GetRangeReadsAPieceOfABlob) {
  std::string content;
  for (int i = 0; i < 200000; ++i) content.push_back(static_cast<char>('a' + i % 26));
  std::string digest = store_->PutBytes(content).value();
  EXPECT_EQ(store_->GetRange(digest, 0, 5).value(), "abcde");
  EXPECT_EQ(store_->GetRange(digest, 27, 3).value(), "bcd");
  EXPECT_EQ(store_->GetRange(digest, 0, 1 << 20).value(), content) << "fewer at its end";
  EXPECT_EQ(store_->GetRange(digest, 100000, 100000).value(), content.substr(100000));
  EXPECT_EQ(store_->GetRange(digest, 199999, 10).value(), content.substr(199999));
  EXPECT_EQ(store_->GetRange(digest, 200000, 10).value(), "") << "past the end";
  EXPECT_EQ(store_->GetRange(digest, 500000, 10).value(), "");
  EXPECT_EQ(store_->GetRange(digest, 3, 0).value(), "");
  EXPECT_EQ(store_->GetRange(digest, -1, 3).error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(store_->GetRange(std::string(64, '0'), 0, 3).error().code, ErrorCode::kNotFound);
}

TEST_P(ArtifactStoreConformance, GetToFileReplacesAnExistingFile) {
  auto digest = store_->PutBytes("new content").value();
  WriteFile(files_.path() / "dest.txt", "old content that is longer");
  ASSERT_TRUE(store_->GetToFile(digest, files_.path() / "dest.txt"));
  EXPECT_EQ(ReadFile(files_.path() / "dest.txt"), "new content");
}

TEST_P(ArtifactStoreConformance, UnknownAndMalformedDigests) {
  const std::string unknown(64, 'a');
  EXPECT_FALSE(store_->Contains(unknown).value());
  auto get = store_->GetBytes(unknown);
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(get.error().message, HasSubstr(unknown));
  EXPECT_EQ(store_->Size(unknown).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetToFile(unknown, files_.path() / "x").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(files_.path() / "x"));
  for (const std::string& bad : std::vector<std::string>{"abc", "../../etc/passwd", std::string(64, 'A')}) {
    auto res = store_->GetBytes(bad);
    ASSERT_FALSE(res.has_value()) << bad;
    EXPECT_EQ(res.error().code, ErrorCode::kInvalidInput) << bad;
    EXPECT_EQ(store_->Contains(bad).error().code, ErrorCode::kInvalidInput);
  }
}

TEST_P(ArtifactStoreConformance, PutFileOfAMissingFileNamesIt) {
  auto res = store_->PutFile(files_.path() / "absent.txt");
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kIo);
  EXPECT_THAT(res.error().message, HasSubstr("absent.txt"));
}

TEST_P(ArtifactStoreConformance, ConcurrentIdenticalPutsFromTwoProcessesAreHarmless) {
  const std::string content = RandomBytes(200000, 3);
  WriteFile(files_.path() / "f", content);
  pid_t children[2];
  for (auto& child : children) {
    child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = GetParam().open(scratch_.path());
      int code = 0;
      for (int i = 0; i < 30 && code == 0; ++i) {
        if (!store || !(*store)->PutFile(files_.path() / "f")) code = 1;
      }
      ::_exit(code);
    }
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto digest = store_->PutBytes(content).value();
  EXPECT_EQ(store_->GetBytes(digest).value(), content);
}

INSTANTIATE_TEST_SUITE_P(Backends, ArtifactStoreConformance, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param.name; });

// Local layout: root/sha256/ab/cdef..., one file per content, no temporaries left behind.
TEST(LocalArtifactStoreTest, BlobsAreStoredOnceUnderTheirDigest) {
  testing_util::TempDir dir;
  auto store = OpenLocalArtifactStore(dir.path() / "a").value();
  WriteFile(dir.path() / "one.txt", "hello");
  WriteFile(dir.path() / "two.txt", "hello");
  EXPECT_EQ(store->PutFile(dir.path() / "one.txt").value(), kHelloSha);
  EXPECT_EQ(store->PutFile(dir.path() / "two.txt").value(), kHelloSha);
  EXPECT_EQ(store->PutBytes("hello").value(), kHelloSha);
  const fs::path blob = dir.path() / "a" / "sha256" / "2c" / (std::string(kHelloSha).substr(2));
  EXPECT_EQ(ReadFile(blob), "hello");
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path() / "a")) {
    if (e.is_regular_file()) ++files;
  }
  EXPECT_EQ(files, 1) << "identical content stored more than once, or a temporary left";
}

}  // namespace
}  // namespace overdrive
