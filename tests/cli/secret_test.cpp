// `overdrive secret`: values come from a file or a variable, are sealed before they reach the
// store, and never appear in any output or in the database file.
#include <sys/stat.h>

#include <cstdlib>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

constexpr const char* kValue = "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0LWtleQ==";

class SecretTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    unsetenv("OVERDRIVE_SECRET_KEY");
    unsetenv("OVERDRIVE_SECRET_KEY_FILE");
  }
  // Every byte under the workspace, as text.
  std::string WorkspaceBytes() {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(workspace_)) {
      if (e.is_regular_file()) all += ReadFile(e.path());
    }
    return all;
  }
};

TEST_F(SecretTest, AValueIsSealedNeverShownAndDeleted) {
  WriteFile(dir_ / "key.txt", std::string(kValue) + "\n");
  CommandResult set = Run({"secret", "set", "blob-key", "--from-file", "key.txt"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(set.out.find("secret blob-key stored, sealed with key"), std::string::npos);
  setenv("OD_TEST_TOKEN", "s3-secret-access-key", 1);
  ASSERT_EQ(Run({"secret", "set", "s3-key", "--from-env", "OD_TEST_TOKEN"}).exit_code, 0);
  unsetenv("OD_TEST_TOKEN");

  CommandResult list = Run({"secret", "list"});
  EXPECT_NE(list.out.find("blob-key"), std::string::npos);
  EXPECT_NE(list.out.find("s3-key"), std::string::npos);
  nlohmann::json listed = Json({"secret", "list", "--json"});
  ASSERT_EQ(listed.size(), 2u);
  std::string everything = list.out + list.err + listed.dump() + set.out + set.err;
  EXPECT_EQ(everything.find("AccountKey"), std::string::npos) << everything;
  EXPECT_EQ(everything.find("s3-secret"), std::string::npos) << everything;
  // Not in the database, the WAL or anything else in the workspace; the key file is private.
  std::string bytes = WorkspaceBytes();
  EXPECT_EQ(bytes.find("AccountKey"), std::string::npos);
  EXPECT_EQ(bytes.find("s3-secret-access-key"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((workspace_ / "secret.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Another key cannot add to what this one sealed (its values would not open later).
  setenv("OVERDRIVE_SECRET_KEY", std::string(64, 'c').c_str(), 1);
  CommandResult wrong = Run({"secret", "set", "third", "--from-file", "key.txt"});
  unsetenv("OVERDRIVE_SECRET_KEY");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("was sealed with key"), std::string::npos) << wrong.err;

  ASSERT_EQ(Run({"secret", "delete", "s3-key"}).exit_code, 0);
  CommandResult again = Run({"secret", "delete", "s3-key"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("no secret named 's3-key'"), std::string::npos);
  EXPECT_EQ(Json({"secret", "list", "--json"}).size(), 1u);
}

TEST_F(SecretTest, BadNamesAndMissingValuesAreRefused) {
  CommandResult bad = Run({"secret", "set", "../x", "--from-env", "HOME"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("secret name '../x'"), std::string::npos);
  CommandResult unset = Run({"secret", "set", "x", "--from-env", "OD_NO_SUCH_VARIABLE"});
  EXPECT_EQ(unset.exit_code, 2);
  EXPECT_NE(unset.err.find("not set"), std::string::npos);
  EXPECT_FALSE(fs::exists(workspace_)) << "nothing half-made";
}

}  // namespace
}  // namespace overdrive::testing
