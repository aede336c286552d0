// The workspace's data catalog with a real store and the real emulators: datastores keep their
// credential only as a sealed secret, assets from local files are content-addressed, locations
// resolve (or fail naming what to register), and materializing goes through the cache once.
#include "data/data_catalog.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <chrono>
#include <thread>

#include "storage_test_util.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

class DataCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("OVERDRIVE_SECRET_KEY");
    ::unsetenv("OVERDRIVE_SECRET_KEY_FILE");
    std::string tmpl = (fs::temp_directory_path() / "od-catalog-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto store = OpenSqliteMetadataStore((dir_ / "meta.db").string());
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    catalog_ = std::make_unique<DataCatalog>(*store_, dir_);
    fs::create_directories(dir_ / "data" / "sub");
    std::ofstream(dir_ / "data" / "train.csv") << "x,y\n1,2\n3,4\n";
    std::ofstream(dir_ / "data" / "sub" / "notes.txt") << "notes";
    opt_.retries = 1;
  }
  void TearDown() override {
    catalog_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // A blob datastore on a fresh container of the emulator, with the account key in clear (as a
  // datastore file gives it).
  DatastoreSpec BlobStore(const std::string& name, const std::string& key = kAzuriteKey) {
    std::string container = UniqueStorageName("cat");
    EXPECT_EQ(MakeContainer(container), 0);
    DatastoreSpec ds;
    ds.name = name;
    ds.type = "azure_blob";
    ds.account_name = kAzuriteAccount;
    ds.container_name = container;
    ds.endpoint = AzuriteUrl();
    ds.credential_kind = "account_key";
    ds.credential_value = key;
    return ds;
  }

  DataAssetSpec LocalAsset(const std::string& name, const fs::path& path, const std::string& type) {
    DataAssetSpec a;
    a.name = name;
    a.type = type;
    a.location.kind = DataLocation::Kind::kLocal;
    a.location.local_path = path;
    a.location.text = path.string();
    return a;
  }

  int CacheEntries() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(catalog_->CacheRoot(), ec)) {
      if (fs::exists(e.path() / "ready")) ++n;
    }
    return n;
  }

  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<DataCatalog> catalog_;
  TransferOptions opt_;
};

TEST_F(DataCatalogTest, TheDefaultDatastoreIsAWorkspaceFolderThatStays) {
  auto ds = catalog_->GetDatastore(kDefaultDatastore);
  ASSERT_TRUE(ds.has_value());
  EXPECT_EQ(ds->type, "local");
  EXPECT_EQ(ds->path, (dir_ / "datastores" / kDefaultDatastore).string());
  EXPECT_FALSE(catalog_->DeleteDatastore(kDefaultDatastore).has_value());
  DatastoreSpec mine;
  mine.name = kDefaultDatastore;
  mine.type = "local";
  mine.path = "/tmp";
  EXPECT_FALSE(catalog_->CreateDatastore(mine).has_value());
}

TEST_F(DataCatalogTest, ACredentialIsStoredOnlySealed) {
  OD_REQUIRE_STORAGE();
  ASSERT_TRUE(catalog_->CreateDatastore(BlobStore("blob")).has_value());
  auto rec = store_->GetDatastore("blob");
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->spec_json.find(kAzuriteKey), std::string::npos);
  EXPECT_NE(rec->spec_json.find("datastore.blob"), std::string::npos);
  auto secret = store_->GetSecret("datastore.blob");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->sealed.find(kAzuriteKey), std::string::npos);
  EXPECT_EQ(secret->sealed.rfind("od1:", 0), 0u);
  // Deleting the datastore deletes the secret it made for itself.
  ASSERT_TRUE(*catalog_->DeleteDatastore("blob"));
  EXPECT_FALSE(store_->GetSecret("datastore.blob").has_value());
}

TEST_F(DataCatalogTest, ANamedSecretMustExist) {
  DatastoreSpec ds;
  ds.name = "s3store";
  ds.type = "s3";
  ds.bucket = "b";
  ds.access_key_id = "id";
  ds.credential_kind = "secret_access_key";
  ds.credential_secret = "s3-secret";
  ds.credential_pos = SourcePos{"ds.yml", 7, 29};
  auto made = catalog_->CreateDatastore(ds);
  ASSERT_FALSE(made.has_value());
  EXPECT_NE(made.error().message.find("ds.yml:7:29: secret 's3-secret' does not exist"),
            std::string::npos)
      << made.error().message;
}

TEST_F(DataCatalogTest, ALocalFolderAssetIsUploadedOnceContentAddressedAndReadThroughTheCache) {
  OD_REQUIRE_STORAGE();
  ASSERT_TRUE(catalog_->CreateDatastore(BlobStore("blob")).has_value());
  auto v1 = catalog_->CreateAsset(LocalAsset("train", dir_ / "data", "uri_folder"), "blob", opt_);
  ASSERT_TRUE(v1.has_value()) << v1.error().message;
  EXPECT_EQ(v1->version, "1");
  EXPECT_EQ(v1->path.rfind("azureml://datastores/blob/paths/LocalUpload/", 0), 0u) << v1->path;
  // The same bytes again: the same version, not a new one.
  auto again = catalog_->CreateAsset(LocalAsset("train", dir_ / "data", "uri_folder"), "blob", opt_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->version, "1");
  // Changed bytes: a new version at another path; version 1 is unchanged.
  std::ofstream(dir_ / "data" / "train.csv", std::ios::app) << "5,6\n";
  auto v2 = catalog_->CreateAsset(LocalAsset("train", dir_ / "data", "uri_folder"), "blob", opt_);
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ(v2->version, "2");
  EXPECT_NE(v2->path, v1->path);

  DataLocation ref;
  ref.kind = DataLocation::Kind::kAsset;
  ref.asset = "train";
  ref.version = "1";
  ref.text = "azureml:train:1";
  auto src = catalog_->Resolve(ref, "uri_folder", SourcePos{"job.yml", 9, 11});
  ASSERT_TRUE(src.has_value()) << src.error().message;
  EXPECT_EQ(src->kind, "datastore");
  EXPECT_EQ(src->asset, "train");
  EXPECT_EQ(src->version, "1");
  DataCache cache(catalog_->CacheRoot(), 0);
  auto first = catalog_->Materialize(*src, cache, opt_);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_TRUE(first->transferred);
  EXPECT_EQ(std::ifstream(first->path / "train.csv").get(), 'x');
  EXPECT_TRUE(fs::exists(first->path / "sub" / "notes.txt"));
  auto second = catalog_->Materialize(*src, cache, opt_);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->transferred);
  EXPECT_EQ(second->path, first->path);
  EXPECT_EQ(CacheEntries(), 1);

  // One file of it, as uri_file: the trial gets the file under its own name.
  DataLocation file;
  file.kind = DataLocation::Kind::kDatastore;
  file.datastore = "blob";
  file.rel = v1->path.substr(std::string("azureml://datastores/blob/paths/").size()) + "/train.csv";
  auto fsrc = catalog_->Resolve(file, "uri_file", SourcePos{});
  ASSERT_TRUE(fsrc.has_value());
  auto got = catalog_->Materialize(*fsrc, cache, opt_);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->path.filename(), "train.csv");
  EXPECT_EQ(fs::file_size(got->path), 12u);
}

TEST_F(DataCatalogTest, UnknownNamesFailAtTheirPlaceNamingTheCommandThatRegistersThem) {
  DataLocation ref;
  ref.kind = DataLocation::Kind::kAsset;
  ref.asset = "cifar";
  ref.version = "3";
  auto a = catalog_->Resolve(ref, "uri_folder", SourcePos{"job.yml", 8, 11});
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(a.error().message.find("job.yml:8:11: unknown data asset 'cifar' version '3'"),
            std::string::npos)
      << a.error().message;
  EXPECT_NE(a.error().message.find("overdrive data create --name cifar --version 3"),
            std::string::npos);
  DataLocation ds;
  ds.kind = DataLocation::Kind::kDatastore;
  ds.datastore = "nowhere";
  auto d = catalog_->Resolve(ds, "uri_folder", SourcePos{"job.yml", 9, 11});
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message.find("job.yml:9:11: unknown datastore 'nowhere'"), std::string::npos);
  EXPECT_NE(d.error().message.find("overdrive datastore create"), std::string::npos);
  DataLocation wasbs;
  wasbs.kind = DataLocation::Kind::kBlobUrl;
  wasbs.account = "acct";
  wasbs.container = "c";
  wasbs.text = "wasbs://c@acct.blob.core.windows.net/x";
  auto w = catalog_->Resolve(wasbs, "uri_folder", SourcePos{"job.yml", 10, 11});
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message.find("no datastore holds container 'c' of account 'acct'"),
            std::string::npos)
      << w.error().message;
}

TEST_F(DataCatalogTest, ABlobUrlReadsThroughTheDatastoreThatHoldsIt) {
  OD_REQUIRE_STORAGE();
  DatastoreSpec ds = BlobStore("blob");
  ASSERT_TRUE(catalog_->CreateDatastore(ds).has_value());
  auto remote = catalog_->Open(*catalog_->GetDatastore("blob"));
  ASSERT_TRUE(remote.has_value());
  ASSERT_TRUE(CopyToRemote(*remote, dir_ / "data", "raw", opt_).has_value());
  auto loc = ParseDataLocation("wasbs://" + ds.container_name + "@devstoreaccount1.blob.core.windows.net/raw",
                               SourcePos{}, dir_);
  ASSERT_TRUE(loc.has_value());
  auto src = catalog_->Resolve(*loc, "uri_folder", SourcePos{});
  ASSERT_TRUE(src.has_value()) << src.error().message;
  EXPECT_EQ(src->datastore, "blob");
  DataCache cache(catalog_->CacheRoot(), 0);
  auto got = catalog_->Materialize(*src, cache, opt_);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_TRUE(fs::exists(got->path / "train.csv"));
}

// A small web server: /data.csv whole, /broken.csv cut off mid-body.
class WebServer {
 public:
  WebServer() {
    server_.Get("/data.csv", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Last-Modified", "Wed, 02 Dec 2026 10:00:00 GMT");
      res.set_content("a,b\n1,2\n", "text/csv");
    });
    server_.Get("/broken.csv", [](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(
          100000, "text/csv",
          [](size_t offset, size_t, httplib::DataSink& sink) {
            if (offset > 0) return false;  // the connection drops after the first bytes
            sink.write("a,b\n1,2\n", 8);
            return true;
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~WebServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(DataCatalogTest, AWebFileIsFetchedOnceAndACutTransferLeavesNoEntry) {
  WebServer web;
  auto loc = ParseDataLocation(web.Url("/data.csv"), SourcePos{}, dir_);
  ASSERT_TRUE(loc.has_value());
  auto src = catalog_->Resolve(*loc, "uri_file", SourcePos{});
  ASSERT_TRUE(src.has_value()) << src.error().message;
  DataCache cache(catalog_->CacheRoot(), 0);
  auto got = catalog_->Materialize(*src, cache, opt_);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->path.filename(), "data.csv");
  EXPECT_EQ(fs::file_size(got->path), 8u);
  EXPECT_FALSE(catalog_->Materialize(*src, cache, opt_)->transferred);
  // A folder over http is refused at resolve time.
  EXPECT_FALSE(catalog_->Resolve(*loc, "uri_folder", SourcePos{}).has_value());

  auto broken = ParseDataLocation(web.Url("/broken.csv"), SourcePos{}, dir_);
  auto bsrc = catalog_->Resolve(*broken, "uri_file", SourcePos{});
  ASSERT_TRUE(bsrc.has_value());
  auto cut = catalog_->Materialize(*bsrc, cache, opt_);
  ASSERT_FALSE(cut.has_value());
  EXPECT_NE(cut.error().message.find("broken.csv"), std::string::npos) << cut.error().message;
  EXPECT_EQ(CacheEntries(), 1) << "only the whole file is in the cache";
  for (const auto& e : fs::directory_iterator(catalog_->CacheRoot())) {
    EXPECT_EQ(e.path().filename().string().rfind("tmp-", 0), std::string::npos) << e.path();
  }
}

// A cache on a disk too small for the data: the transfer fails saying so, and nothing of it is
// left (the disk is real: a 20 MB tmpfs holds the cache).
TEST_F(DataCatalogTest, AFullDiskFailsTheFetchAndLeavesNoEntry) {
  OD_REQUIRE_STORAGE();
  fs::path small = dir_ / "small";
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=20m") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs (" << std::strerror(errno)
                 << "): this test needs root (CAP_SYS_ADMIN) for a real full disk";
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{small};
  // Both catalogs open the one sealed credential with the same key.
  ::setenv("OVERDRIVE_SECRET_KEY", std::string(64, 'e').c_str(), 1);
  ASSERT_TRUE(catalog_->CreateDatastore(BlobStore("blob")).has_value());
  fs::create_directories(dir_ / "big");
  {
    std::ofstream out(dir_ / "big" / "blob.bin", std::ios::binary);
    std::string chunk(1 << 20, 'z');
    for (int i = 0; i < 30; ++i) out << chunk;
  }
  auto asset = catalog_->CreateAsset(LocalAsset("big", dir_ / "big", "uri_folder"), "blob", opt_);
  ASSERT_TRUE(asset.has_value()) << asset.error().message;
  DataCatalog on_small(*store_, small);
  auto loc = ParseDataLocation(asset->path, SourcePos{}, dir_);
  ASSERT_TRUE(loc.has_value());
  auto src = on_small.Resolve(*loc, "uri_folder", SourcePos{});
  ASSERT_TRUE(src.has_value());
  DataCache cache(on_small.CacheRoot(), 0);
  auto got = on_small.Materialize(*src, cache, opt_);
  ::unsetenv("OVERDRIVE_SECRET_KEY");
  ASSERT_FALSE(got.has_value()) << "30 MB fit on a 20 MB disk?";
  EXPECT_NE(got.error().message.find("datastore 'blob'"), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find("the disk is full"), std::string::npos) << got.error().message;
  for (const auto& e : fs::directory_iterator(on_small.CacheRoot())) {
    EXPECT_EQ(e.path().extension(), ".lock") << "left behind: " << e.path();
  }
}

}  // namespace
}  // namespace overdrive
