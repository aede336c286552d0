// End to end: environment assets through the real binary (create, list, show).
#include "cli_test_util.hpp"

#include <nlohmann/json.hpp>

namespace overdrive::testing {
namespace {

class EnvironmentCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    WriteFile(dir_ / "env" / "conda.yml",
              "name: sk\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn==1.5.0\n");
    WriteFile(dir_ / "env" / "env.yml",
              "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
              "name: sklearn-env\ndescription: scikit-learn\nconda_file: conda.yml\n");
  }
};

TEST_F(EnvironmentCliTest, CreateListShowWithImmutableVersions) {
  CommandResult first = Run({"environment", "create", "-f", "env/env.yml"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("created environment sklearn-env:1 (venv; 1 pip requirement)"),
            std::string::npos)
      << first.out;
  CommandResult second = Run({"environment", "create", "-f", "env/env.yml"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("sklearn-env:2"), std::string::npos) << second.out;

  // The stored version keeps the conda file's text as it was when created.
  WriteFile(dir_ / "env" / "conda.yml", "dependencies:\n  - pip:\n    - torch\n");
  CommandResult shown = Run({"environment", "show", "sklearn-env:1", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  auto j = nlohmann::json::parse(shown.out);
  EXPECT_EQ(j["ref"], "sklearn-env:1");
  EXPECT_EQ(j["kind"], "venv");
  EXPECT_EQ(j["content_hash"], "");
  EXPECT_EQ(j["description"], "scikit-learn");
  EXPECT_NE(j["spec"]["conda_text"].get<std::string>().find("scikit-learn==1.5.0"),
            std::string::npos);
  EXPECT_EQ(j["spec"]["conda"]["pip"], nlohmann::json::array({"scikit-learn==1.5.0"}));

  // Same name + version with another spec is refused; the same spec again is fine.
  CommandResult taken =
      Run({"environment", "create", "-f", "env/env.yml", "--version", "1"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("versions are immutable"), std::string::npos) << taken.err;
  CommandResult named = Run({"environment", "create", "-f", "env/env.yml", "--name",
                             "AzureML-sklearn-1.5", "--version", "7"});
  ASSERT_EQ(named.exit_code, 0) << named.err;
  CommandResult again = Run({"environment", "create", "-f", "env/env.yml", "--name",
                             "AzureML-sklearn-1.5", "--version", "7"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already exists with this spec"), std::string::npos) << again.out;

  CommandResult latest = Run({"environment", "show", "azureml:sklearn-env@latest"});
  ASSERT_EQ(latest.exit_code, 0) << latest.err;
  EXPECT_NE(latest.out.find("environment sklearn-env:2  (venv)"), std::string::npos)
      << latest.out;
  EXPECT_NE(latest.out.find("not built yet"), std::string::npos) << latest.out;

  CommandResult list = Run({"environment", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto arr = nlohmann::json::parse(list.out);
  ASSERT_EQ(arr.size(), 3u);
  EXPECT_EQ(arr[0]["ref"], "AzureML-sklearn-1.5:7");
  CommandResult table = Run({"environment", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("sklearn-env"), std::string::npos);
}

TEST_F(EnvironmentCliTest, BadInputIsOneLineWithThePlace) {
  CommandResult none = Run({"environment", "list"});
  EXPECT_EQ(none.exit_code, 1) << "no workspace yet, as for models";
  WriteFile(dir_ / "bad.yml", "name: e\nconda_file: nope.yml\n");
  CommandResult missing = Run({"environment", "create", "-f", "bad.yml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "overdrive: bad.yml:2:13: conda file 'nope.yml' does not exist (resolved to " +
                             (dir_ / "nope.yml").string() + ")\n");
  WriteFile(dir_ / "noname.yml", "image: localhost/base\n");
  CommandResult noname = Run({"environment", "create", "-f", "noname.yml"});
  EXPECT_EQ(noname.exit_code, 2);
  EXPECT_NE(noname.err.find("has no name"), std::string::npos) << noname.err;
  ASSERT_EQ(Run({"environment", "create", "-f", "env/env.yml"}).exit_code, 0);
  CommandResult empty_list = Run({"environment", "list"});
  EXPECT_EQ(empty_list.exit_code, 0) << empty_list.err;
  CommandResult unknown = Run({"environment", "show", "nope:1"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("environment 'nope' has no version '1'"), std::string::npos)
      << unknown.err;
  CommandResult bad_ref = Run({"environment", "show", "nope@best"});
  EXPECT_EQ(bad_ref.exit_code, 2);
  CommandResult help = Run({"environment", "create", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("immutable"), std::string::npos);
}

}  // namespace
}  // namespace overdrive::testing
