// Runs every tests/spec/bad_jobs/NAME.yml through ParseJobFile: each must fail as invalid input
// with a message ending in NAME.expected ("line:col: message"; @DIR@ stands for the corpus folder).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

fs::path CorpusDir() { return fs::path(OVERDRIVE_SOURCE_DIR) / "tests" / "spec" / "bad_jobs"; }

std::vector<std::string> CorpusNames() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(CorpusDir())) {
    if (e.path().extension() == ".yml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class BadJobTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadJobTest, FailsWithExpectedMessage) {
  fs::path yml = CorpusDir() / (GetParam() + ".yml");
  std::ifstream in(CorpusDir() / (GetParam() + ".expected"));
  ASSERT_TRUE(in) << "missing " << GetParam() << ".expected";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string expected = Trim(ss.str());
  for (size_t at; (at = expected.find("@DIR@")) != std::string::npos;) {
    expected.replace(at, 5, CorpusDir().string());
  }
  ASSERT_FALSE(expected.empty());

  auto r = ParseJobFile(yml);
  ASSERT_FALSE(r.has_value()) << yml << " parsed but should not have";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  // The message starts with the file as given, then the position and text.
  EXPECT_TRUE(r.error().message.starts_with(yml.string() + ":")) << r.error().message;
  EXPECT_TRUE(r.error().message.ends_with(":" + expected))
      << "expected: ..." << expected << "\n     got: " << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadJobTest, ::testing::ValuesIn(CorpusNames()),
                         [](const auto& info) { return info.param; });

TEST(BadJobCorpusTest, HasAtLeast25Files) { EXPECT_GE(CorpusNames().size(), 25u); }

}  // namespace
}  // namespace overdrive
