// Moving bytes through rclone against the real emulators: Azurite checks the SAS we sign from an
// account key (a wrong key is refused), s3rver takes S3 requests; failures name the datastore
// and never show a credential.
#include "data/storage_remote.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage_test_util.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

class StorageRemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "od-remote-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    fs::create_directories(dir_ / "src" / "sub");
    std::ofstream(dir_ / "src" / "a.csv") << "x,y\n1,2\n";
    std::ofstream(dir_ / "src" / "sub" / "b.txt") << "hello";
    opt_.retries = 1;
  }
  void TearDown() override { fs::remove_all(dir_); }

  DatastoreSpec Blob(const std::string& container) {
    DatastoreSpec ds;
    ds.name = "blob";
    ds.type = "azure_blob";
    ds.account_name = kAzuriteAccount;
    ds.container_name = container;
    ds.endpoint = AzuriteUrl();
    ds.credential_kind = "account_key";
    return ds;
  }

  fs::path dir_;
  TransferOptions opt_;
};

TEST(ContainerSas, IsDeterministicForAKeyAndExpiry) {
  auto a = MakeContainerSas("acct", "c", kAzuriteKey, 1900000000);
  auto b = MakeContainerSas("acct", "c", kAzuriteKey, 1900000000);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(*a, *b);
  EXPECT_NE(a->find("sr=c"), std::string::npos);
  EXPECT_NE(a->find("se=2030-03-17T17%3A46%3A40Z"), std::string::npos) << *a;
  EXPECT_NE(*a, *MakeContainerSas("acct", "other", kAzuriteKey, 1900000000));
  EXPECT_FALSE(MakeContainerSas("acct", "c", "not base64!", 1900000000).has_value());
}

TEST_F(StorageRemoteTest, BlobRoundTripWithAnAccountKeyTheEmulatorChecks) {
  OD_REQUIRE_STORAGE();
  std::string container = UniqueStorageName("rt");
  ASSERT_EQ(MakeContainer(container), 0);
  auto remote = MakeStorageRemote(Blob(container), kAzuriteKey);
  ASSERT_TRUE(remote.has_value()) << remote.error().message;
  ASSERT_TRUE(CopyToRemote(*remote, dir_ / "src", "data/v1", opt_).has_value());
  auto listed = ListRemote(*remote, "data/v1", opt_);
  ASSERT_TRUE(listed.has_value()) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  std::int64_t bytes = 0;
  for (const auto& o : *listed) bytes += o.size;
  EXPECT_EQ(bytes, 13);
  // One file lists as itself.
  auto one = ListRemote(*remote, "data/v1/a.csv", opt_);
  ASSERT_TRUE(one.has_value()) << one.error().message;
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].size, 8);

  ASSERT_TRUE(CopyFromRemote(*remote, "data/v1", false, dir_ / "back", opt_).has_value());
  ASSERT_TRUE(fs::exists(dir_ / "back" / "sub" / "b.txt"));
  EXPECT_EQ(fs::file_size(dir_ / "back" / "sub" / "b.txt"), 5u);
  ASSERT_TRUE(CopyFromRemote(*remote, "data/v1/a.csv", true, dir_ / "one.csv", opt_).has_value());
  EXPECT_EQ(fs::file_size(dir_ / "one.csv"), 8u);

  auto missing = ListRemote(*remote, "no/such/thing", opt_);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
}

TEST_F(StorageRemoteTest, AWrongKeyIsRefusedByTheEmulatorAndNeverShown) {
  OD_REQUIRE_STORAGE();
  std::string container = UniqueStorageName("wrongkey");
  ASSERT_EQ(MakeContainer(container), 0);
  const std::string wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS0xMjM0NTY3OA==";
  auto remote = MakeStorageRemote(Blob(container), wrong);
  ASSERT_TRUE(remote.has_value());
  auto up = CopyToRemote(*remote, dir_ / "src", "x", opt_);
  ASSERT_FALSE(up.has_value());
  const std::string& m = up.error().message;
  EXPECT_NE(m.find("datastore 'blob'"), std::string::npos) << m;
  EXPECT_NE(m.find("refused the credentials"), std::string::npos) << m;
  EXPECT_EQ(m.find(wrong), std::string::npos) << m;
  // A signature rclone echoes back is redacted too.
  for (size_t p = m.find("sig="); p != std::string::npos; p = m.find("sig=", p + 1)) {
    EXPECT_EQ(m.compare(p, 12, "sig=REDACTED"), 0) << m;
  }
}

TEST_F(StorageRemoteTest, AMissingContainerIsNamed) {
  OD_REQUIRE_STORAGE();
  auto remote = MakeStorageRemote(Blob(UniqueStorageName("nocontainer")), kAzuriteKey);
  ASSERT_TRUE(remote.has_value());
  auto up = CopyToRemote(*remote, dir_ / "src", "x", opt_);
  ASSERT_FALSE(up.has_value());
  EXPECT_NE(up.error().message.find("the container does not exist"), std::string::npos)
      << up.error().message;
}

TEST_F(StorageRemoteTest, SasTokenCredentials) {
  OD_REQUIRE_STORAGE();
  std::string container = UniqueStorageName("sas");
  ASSERT_EQ(MakeContainer(container), 0);
  auto sas = MakeContainerSas(kAzuriteAccount, container, kAzuriteKey, ::time(nullptr) + 600);
  ASSERT_TRUE(sas.has_value());
  DatastoreSpec ds = Blob(container);
  ds.credential_kind = "sas_token";
  auto remote = MakeStorageRemote(ds, *sas);
  ASSERT_TRUE(remote.has_value());
  EXPECT_TRUE(CopyToRemote(*remote, dir_ / "src" / "a.csv", "f/a.csv", opt_).has_value());
  auto listed = ListRemote(*remote, "f", opt_);
  ASSERT_TRUE(listed.has_value()) << listed.error().message;
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(StorageRemoteTest, S3RoundTrip) {
  OD_REQUIRE_STORAGE();
  std::string bucket = UniqueStorageName("bucket");
  ASSERT_EQ(MakeBucket(bucket), 0);
  DatastoreSpec ds;
  ds.name = "s3store";
  ds.type = "s3";
  ds.bucket = bucket;
  ds.endpoint = S3Url();
  ds.access_key_id = "S3RVER";
  ds.credential_kind = "secret_access_key";
  // A stale AWS variable of the caller's shell changes nothing: rclone gets a clean environment.
  setenv("AWS_CA_BUNDLE", "/no/such/bundle.pem", 1);
  auto remote = MakeStorageRemote(ds, "S3RVER");
  ASSERT_TRUE(remote.has_value());
  auto up = CopyToRemote(*remote, dir_ / "src", "p", opt_);
  unsetenv("AWS_CA_BUNDLE");
  ASSERT_TRUE(up.has_value()) << up.error().message;
  auto listed = ListRemote(*remote, "p", opt_);
  ASSERT_TRUE(listed.has_value()) << listed.error().message;
  EXPECT_EQ(listed->size(), 2u);
  ASSERT_TRUE(CopyFromRemote(*remote, "p", false, dir_ / "back", opt_).has_value());
  EXPECT_TRUE(fs::exists(dir_ / "back" / "sub" / "b.txt"));
}

}  // namespace
}  // namespace overdrive
