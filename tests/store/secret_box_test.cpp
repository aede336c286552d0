// Secrets sealed at rest: AES-256-GCM under a key from the environment or a private key file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "store/secret_box.hpp"
#include "store_test_util.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

class SecretBoxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("OVERDRIVE_SECRET_KEY");
    ::unsetenv("OVERDRIVE_SECRET_KEY_FILE");
  }
  void TearDown() override { SetUp(); }
  testing_util::TempDir dir_;
};

TEST_F(SecretBoxTest, SealedValuesOpenOnlyUnderTheirNameAndKey) {
  auto box = SecretBox::FromKey(std::string(32, 'k'));
  ASSERT_TRUE(box.has_value());
  std::string sealed = box->Seal("blob-key", "account-key==");
  EXPECT_EQ(sealed.find("account-key"), std::string::npos) << "no clear text in " << sealed;
  EXPECT_NE(box->Seal("blob-key", "account-key=="), sealed) << "a fresh nonce each time";
  EXPECT_EQ(*box->Open("blob-key", sealed), "account-key==");
  // Copied to another name, changed, or opened with another key: refused, saying which.
  EXPECT_NE(box->Open("other", sealed).error().message.find("does not open"), std::string::npos);
  std::string tampered = sealed;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(box->Open("blob-key", tampered));
  auto other = SecretBox::FromKey(std::string(32, 'j'));
  auto wrong = other->Open("blob-key", sealed);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("was sealed with key " + box->key_id()), std::string::npos)
      << wrong.error().message;
  EXPECT_FALSE(box->Open("blob-key", "plain text"));
  EXPECT_FALSE(SecretBox::FromKey("short"));
}

TEST_F(SecretBoxTest, TheKeyFileIsMadeOncePrivateAndReadAgain) {
  fs::path file = dir_.path() / "ws" / "secret.key";
  EXPECT_EQ(SecretBox::Load(file, false).error().code, ErrorCode::kFailedPrecondition);
  auto made = SecretBox::Load(file, true);
  ASSERT_TRUE(made.has_value()) << made.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = SecretBox::Load(file, true);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->key_id(), made->key_id());
  EXPECT_EQ(*again->Open("n", made->Seal("n", "v")), "v");
  // A key others may read is refused, as ssh refuses one.
  ::chmod(file.c_str(), 0644);
  auto loose = SecretBox::Load(file, true);
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().message.find("chmod 600"), std::string::npos);
}

TEST_F(SecretBoxTest, TheEnvironmentsKeyComesFirst) {
  fs::path file = dir_.path() / "secret.key";
  ::setenv("OVERDRIVE_SECRET_KEY", std::string(64, 'a').c_str(), 1);
  auto box = SecretBox::Load(file, true);
  ASSERT_TRUE(box.has_value()) << box.error().message;
  EXPECT_FALSE(fs::exists(file)) << "no file is made when the environment has the key";
  EXPECT_EQ(box->key_id(), SecretBox::FromKey(std::string(32, '\xaa'))->key_id());
  ::setenv("OVERDRIVE_SECRET_KEY", "not-hex", 1);
  EXPECT_NE(SecretBox::Load(file, true).error().message.find("64 hex digits"), std::string::npos);
  ::unsetenv("OVERDRIVE_SECRET_KEY");
  std::ofstream(dir_.path() / "named.key") << std::string(64, 'b') << "\n";
  ::chmod((dir_.path() / "named.key").c_str(), 0600);
  ::setenv("OVERDRIVE_SECRET_KEY_FILE", (dir_.path() / "named.key").c_str(), 1);
  auto named = SecretBox::Load(file, true);
  ASSERT_TRUE(named.has_value()) << named.error().message;
  EXPECT_EQ(named->key_id(), SecretBox::FromKey(std::string(32, '\xbb'))->key_id());
}

}  // namespace
}  // namespace overdrive
