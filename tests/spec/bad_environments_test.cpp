// Runs every tests/spec/bad_environments/NAME.yml through ParseEnvironmentFile: each must fail as
// invalid input with exactly the message in NAME.expected ("@DIR@" stands for the corpus folder;
// the whole message is given because an error may point into the conda file the YAML names).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.hpp"
#include "spec/environment_spec.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

fs::path CorpusDir() {
  return fs::path(OVERDRIVE_SOURCE_DIR) / "tests" / "spec" / "bad_environments";
}

std::vector<std::string> CorpusNames() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(CorpusDir())) {
    if (e.path().extension() == ".yml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class BadEnvironmentTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadEnvironmentTest, FailsWithExpectedMessage) {
  std::ifstream in(CorpusDir() / (GetParam() + ".expected"));
  ASSERT_TRUE(in) << "missing " << GetParam() << ".expected";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string expected = Trim(ss.str());
  for (size_t at; (at = expected.find("@DIR@")) != std::string::npos;) {
    expected.replace(at, 5, CorpusDir().string());
  }
  auto r = ParseEnvironmentFile(CorpusDir() / (GetParam() + ".yml"));
  ASSERT_FALSE(r.has_value()) << GetParam() << " parsed but should not have";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(r.error().message, expected);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadEnvironmentTest, ::testing::ValuesIn(CorpusNames()),
                         [](const auto& info) { return info.param; });

TEST(BadEnvironmentCorpusTest, HasItsCases) { EXPECT_GE(CorpusNames().size(), 10u); }

}  // namespace
}  // namespace overdrive
