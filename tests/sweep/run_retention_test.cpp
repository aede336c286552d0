// run_retention.hpp without a run: what TidyRunFolder keeps, and the ages of `workspace prune`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sweep/run_retention.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

TEST(RunRetentionTest, TidyKeepsOnlyTheControllerLogAndSaysWhatItFreed) {
  fs::path dir = fs::temp_directory_path() / ("od-tidy-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "wd" / "outputs");
  std::ofstream(dir / "stdout.log") << std::string(10000, 'x');
  std::ofstream(dir / "exit.json") << "{}";
  std::ofstream(dir / "wd" / "outputs" / "model.bin") << std::string(20000, 'y');
  std::ofstream(dir / kControllerLog) << "controller\n";
  fs::create_symlink("/etc/passwd", dir / "link");
  std::int64_t before = FolderBytes(dir);
  EXPECT_GE(before, 30000);
  std::int64_t freed = TidyRunFolder(dir);
  EXPECT_GE(freed, 30000);
  EXPECT_LE(freed, before);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{kControllerLog});
  EXPECT_TRUE(fs::exists("/etc/passwd")) << "a link is removed, never what it names";
  EXPECT_EQ(TidyRunFolder(dir), 0) << "nothing more to free";
  EXPECT_EQ(TidyRunFolder(dir / "missing"), 0);
  EXPECT_EQ(FolderBytes(dir / "missing"), 0);
  fs::remove_all(dir);
}

TEST(RunRetentionTest, AgesHaveAUnit) {
  struct Case {
    const char* text;
    double seconds;  // < 0: refused
  };
  const Case kCases[] = {{"45s", 45},   {"45", 45},         {"30m", 1800},  {"12h", 43200},
                         {"7d", 604800}, {"2w", 1209600},   {"1.5h", 5400}, {"0d", 0},
                         {"", -1},       {"d", -1},          {"7 d", -1},    {"-1d", -1},
                         {"7days", -1},  {"7D", -1},         {"1e3s", -1},   {"1..5h", -1}};
  for (const auto& c : kCases) {
    auto got = ParseAge(c.text);
    if (c.seconds < 0) {
      ASSERT_FALSE(got.has_value()) << c.text;
      EXPECT_EQ(got.error().code, ErrorCode::kInvalidInput);
      EXPECT_NE(got.error().message.find("7d"), std::string::npos) << got.error().message;
    } else {
      ASSERT_TRUE(got.has_value()) << c.text << ": " << got.error().message;
      EXPECT_DOUBLE_EQ(*got, c.seconds) << c.text;
    }
  }
}

TEST(RunRetentionTest, KeepRunFilesIsAnOptIn) {
  unsetenv(kKeepRunFilesEnv);
  EXPECT_FALSE(KeepRunFiles());
  setenv(kKeepRunFilesEnv, "0", 1);
  EXPECT_FALSE(KeepRunFiles());
  setenv(kKeepRunFilesEnv, "", 1);
  EXPECT_FALSE(KeepRunFiles());
  setenv(kKeepRunFilesEnv, "1", 1);
  EXPECT_TRUE(KeepRunFiles());
  unsetenv(kKeepRunFilesEnv);
}

}  // namespace
}  // namespace overdrive
