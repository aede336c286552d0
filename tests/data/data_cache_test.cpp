// The node-local data cache: one fill per key across processes, nothing visible from a failed
// or crashed fill, least-recently-used eviction under a size limit.
#include "data/data_cache.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace overdrive {
namespace {

namespace fs = std::filesystem;

class DataCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "od-cache-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A fill that writes `bytes` bytes into data/file and counts itself in `counter`.
  static std::function<Result<void>(const fs::path&)> Fill(int bytes, const fs::path& counter) {
    return [bytes, counter](const fs::path& d) -> Result<void> {
      std::ofstream(counter, std::ios::app) << "x";
      fs::create_directories(d / "data");
      std::ofstream(d / "data" / "file") << std::string(static_cast<size_t>(bytes), 'a');
      return {};
    };
  }
  static int Count(const fs::path& counter) {
    std::error_code ec;
    return fs::exists(counter, ec) ? static_cast<int>(fs::file_size(counter, ec)) : 0;
  }
  fs::path dir_;
};

TEST_F(DataCacheTest, FillsOnceThenHits) {
  DataCache cache(dir_ / "cache", 0);
  fs::path counter = dir_ / "fills";
  auto first = cache.Get("k1", Fill(10, counter));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_FALSE(first->hit);
  EXPECT_EQ(first->bytes, 10);
  EXPECT_TRUE(fs::exists(first->data / "file"));
  auto second = cache.Get("k1", Fill(10, counter));
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->hit);
  EXPECT_EQ(second->data, first->data);
  EXPECT_EQ(Count(counter), 1);
}

TEST_F(DataCacheTest, AFailedFillLeavesNothingAndTheNextOneRetries) {
  DataCache cache(dir_ / "cache", 0);
  auto failed = cache.Get("k", [](const fs::path& d) -> Result<void> {
    fs::create_directories(d / "data");
    std::ofstream(d / "data" / "half") << "partial";
    return MakeError(ErrorCode::kIo, "network went away");
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message, "network went away");
  for (const auto& e : fs::directory_iterator(dir_ / "cache")) {
    EXPECT_EQ(e.path().extension(), ".lock") << "left behind: " << e.path();
  }
  fs::path counter = dir_ / "fills";
  auto again = cache.Get("k", Fill(3, counter));
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->hit);
  EXPECT_FALSE(fs::exists(again->data / "half"));
}

TEST_F(DataCacheTest, AnEntryWithoutItsReadyMarkIsNeverUsed) {
  // What a fill killed after its rename but before... cannot exist (ready is written before the
  // rename); a folder without it (from an older layout, or a hand copy) is refilled.
  fs::create_directories(dir_ / "cache" / "k" / "data");
  std::ofstream(dir_ / "cache" / "k" / "data" / "stale") << "old";
  DataCache cache(dir_ / "cache", 0);
  fs::path counter = dir_ / "fills";
  auto e = cache.Get("k", Fill(4, counter));
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->hit);
  EXPECT_FALSE(fs::exists(e->data / "stale"));
  EXPECT_EQ(Count(counter), 1);
}

TEST_F(DataCacheTest, ConcurrentProcessesFillOnce) {
  fs::path counter = dir_ / "fills";
  constexpr int kProcesses = 6;
  std::vector<pid_t> kids;
  for (int i = 0; i < kProcesses; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      DataCache cache(dir_ / "cache", 0);
      auto e = cache.Get("shared", [&](const fs::path& d) -> Result<void> {
        std::ofstream(counter, std::ios::app) << "x";
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a slow transfer
        fs::create_directories(d / "data");
        std::ofstream(d / "data" / "file") << "content";
        return {};
      });
      _exit(e && fs::exists(e->data / "file") ? 0 : 1);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    waitpid(k, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(Count(counter), 1) << "one transfer for all";
}

TEST_F(DataCacheTest, EvictsLeastRecentlyUsedOverTheLimit) {
  DataCache cache(dir_ / "cache", 250);
  fs::path counter = dir_ / "fills";
  ASSERT_TRUE(cache.Get("old", Fill(100, counter)).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache.Get("mid", Fill(100, counter)).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Using "old" again makes "mid" the least recently used.
  ASSERT_TRUE(cache.Get("old", Fill(100, counter))->hit);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache.Get("new", Fill(100, counter)).has_value());
  EXPECT_TRUE(fs::exists(dir_ / "cache" / "old" / "ready"));
  EXPECT_FALSE(fs::exists(dir_ / "cache" / "mid"));
  EXPECT_TRUE(fs::exists(dir_ / "cache" / "new" / "ready"));
  // The entry just made stays even when it alone is over the limit.
  DataCache tiny(dir_ / "cache", 50);
  auto big = tiny.Get("big", Fill(100, counter));
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(fs::exists(big->data / "file"));
}

}  // namespace
}  // namespace overdrive
