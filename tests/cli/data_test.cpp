// End to end, against the real storage emulators: datastores whose credentials are secrets, data
// assets uploaded once, sweeps whose trials read a registered asset as a local path (one transfer
// for all of them), lineage both ways, outputs delivered and registered, and the failures a user
// meets (an unknown asset at submit, a wrong key, a path escaping its datastore).
#include "../data/storage_test_util.hpp"
#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class DataCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    unsetenv("OVERDRIVE_SECRET_KEY");
    unsetenv("OVERDRIVE_SECRET_KEY_FILE");
    setenv("OVERDRIVE_DATA_RETRIES", "1", 1);
    WriteFile(dir_ / "data" / "train.csv", "x,y\n1,2\n3,4\n");
    WriteFile(dir_ / "data" / "more" / "extra.csv", "5,6\n");
  }
  void TearDown() override {
    unsetenv("OVERDRIVE_DATA_RETRIES");
    CliTest::TearDown();
  }

  // Registers datastore NAME on a fresh container of Azurite, with `key` in the file.
  std::string BlobDatastore(const std::string& name, const std::string& key = kAzuriteKey) {
    std::string container = UniqueStorageName("cli");
    EXPECT_EQ(MakeContainer(container), 0);
    WriteFile(dir_ / (name + ".yml"),
              "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\n"
              "name: " + name + "\ntype: azure_blob\naccount_name: devstoreaccount1\n"
              "container_name: " + container + "\nendpoint: " + AzuriteUrl() + "\n"
              "credentials:\n  account_key: " + key + "\n");
    CommandResult r = Run({"datastore", "create", "-f", name + ".yml"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return container;
  }

  std::string WorkspaceBytes() {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(workspace_)) {
      if (e.is_regular_file() && e.path().string().find("/datastores/") == std::string::npos &&
          e.path().string().find("/cache/") == std::string::npos) {
        all += ReadFile(e.path());
      }
    }
    return all;
  }

  int CacheEntries() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(workspace_ / "cache" / "data", ec)) {
      if (fs::exists(e.path() / "ready")) ++n;
    }
    return n;
  }
};

TEST_F(DataCliTest, ADatastoreKeepsItsKeyOnlyAsASealedSecret) {
  OD_REQUIRE_STORAGE();
  BlobDatastore("blob");
  CommandResult list = Run({"datastore", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("workspaceblobstore"), std::string::npos);
  EXPECT_NE(list.out.find("account_key in secret datastore.blob"), std::string::npos) << list.out;
  CommandResult show = Run({"datastore", "show", "blob", "--json"});
  nlohmann::json listed = Json({"datastore", "list", "--json"});
  CommandResult secrets = Run({"secret", "list"});
  std::string everything = list.out + list.err + show.out + show.err + listed.dump() + secrets.out;
  EXPECT_EQ(everything.find(kAzuriteKey), std::string::npos) << everything;
  EXPECT_NE(secrets.out.find("datastore.blob"), std::string::npos);
  EXPECT_EQ(WorkspaceBytes().find(kAzuriteKey), std::string::npos) << "the key is in the workspace in clear";
  // A datastore file with a mistake says where, and stores nothing.
  WriteFile(dir_ / "bad.yml", "name: bad\ntype: azure_blob\naccount_name: a\ncontainer_nam: c\n");
  CommandResult bad = Run({"datastore", "create", "-f", "bad.yml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.yml:4:1: unknown key 'container_nam'"), std::string::npos) << bad.err;
  EXPECT_EQ(Json({"datastore", "list", "--json"}).size(), 2u);
}

TEST_F(DataCliTest, AnAssetIsUploadedOnceListedShownAndDownloaded) {
  OD_REQUIRE_STORAGE();
  BlobDatastore("blob");
  CommandResult made = Run({"data", "create", "--name", "train", "--path", "data", "--datastore", "blob"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("data asset train:1 (uri_folder) -> azureml://datastores/blob/paths/LocalUpload/"),
            std::string::npos)
      << made.out;
  // A data file, Azure's way, for a single file on the default datastore.
  WriteFile(dir_ / "iris.yml", "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
                               "name: iris\nversion: 3\ntype: uri_file\npath: data/train.csv\n"
                               "description: one file\n");
  CommandResult file = Run({"data", "create", "-f", "iris.yml"});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  nlohmann::json all = Json({"data", "list", "--json"});
  ASSERT_EQ(all.size(), 2u);
  nlohmann::json shown = Json({"data", "show", "iris:3", "--json"});
  EXPECT_EQ(shown["type"], "uri_file");
  EXPECT_EQ(shown["meta"]["files"], 1);
  EXPECT_EQ(shown["read_by"].size(), 0u);

  CommandResult dl = Run({"data", "download", "train@latest", "--download-path", "out"});
  ASSERT_EQ(dl.exit_code, 0) << dl.err;
  EXPECT_EQ(ReadFile(dir_ / "out" / "train" / "train.csv"), "x,y\n1,2\n3,4\n");
  EXPECT_EQ(ReadFile(dir_ / "out" / "train" / "more" / "extra.csv"), "5,6\n");
  CommandResult again = Run({"data", "download", "train:1", "--download-path", "out"});
  EXPECT_EQ(again.exit_code, 2) << "an existing folder is not overwritten";
  CommandResult one = Run({"data", "download", "iris:3", "-p", "out"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(ReadFile(dir_ / "out" / "iris" / "train.csv"), "x,y\n1,2\n3,4\n");

  CommandResult unknown = Run({"data", "show", "nope:1"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown data asset 'nope' version '1'"), std::string::npos) << unknown.err;
}

TEST_F(DataCliTest, ASweepReadsARegisteredAssetAsALocalPathTransferredOnce) {
  OD_REQUIRE_STORAGE();
  BlobDatastore("blob");
  ASSERT_EQ(Run({"data", "create", "--name", "train", "--path", "data", "--datastore", "blob"}).exit_code, 0);
  // Each trial reads the folder it is given and reports how many rows it found.
  WriteFile(dir_ / "src" / "trial.sh",
            "test -d \"$1\" || { echo \"not a folder: $1\" >&2; exit 3; }\n"
            "rows=$(cat \"$1/train.csv\" \"$1/more/extra.csv\" | wc -l)\n"
            "echo \"rows=$rows\"\n");
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "trial:\n  code: src\n  command: sh trial.sh ${{inputs.train}} ${{search_space.x}}\n"
            "inputs:\n  train:\n    type: uri_folder\n    path: azureml:train@latest\n    mode: download\n"
            "search_space:\n  x: {type: uniform, min_value: 0, max_value: 1}\n"
            "sampling_algorithm: random\n"
            "objective: {goal: maximize, primary_metric: rows}\n"
            "limits: {max_total_trials: 4, max_concurrent_trials: 2}\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_FALSE(runs.empty());
  std::string sweep_id = runs[0]["id"];
  nlohmann::json sweep = Json({"job", "show", sweep_id, "--json"});
  ASSERT_EQ(sweep["trials"].size(), 4u);
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["metrics"]["rows"]["best"], 4.0);
  }
  EXPECT_EQ(CacheEntries(), 1) << "four trials, one transfer";
  // Lineage both ways: the asset lists the sweep; a trial shows what it read.
  nlohmann::json asset = Json({"data", "show", "train:1", "--json"});
  ASSERT_EQ(asset["read_by"].size(), 1u);
  EXPECT_EQ(asset["read_by"][0]["run_id"], sweep_id);
  std::string trial_id = sweep["trials"][0]["id"];
  nlohmann::json trial = Json({"job", "show", trial_id, "--json"});
  ASSERT_EQ(trial["data_inputs"].size(), 1u);
  EXPECT_EQ(trial["data_inputs"][0]["asset"], "train");
  EXPECT_EQ(trial["data_inputs"][0]["version"], "1");
  CommandResult text = Run({"job", "show", trial_id});
  EXPECT_NE(text.out.find("data read"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("train:1"), std::string::npos) << text.out;
  // What staging did is said on the runs: one fetch, the others from the cache.
  int fetched = 0, cached = 0;
  for (const auto& t : sweep["trials"]) {
    CommandResult s = Run({"job", "show", t["id"].get<std::string>()});
    if (s.out.find("fetched in") != std::string::npos) ++fetched;
    if (s.out.find("from the node's data cache") != std::string::npos) ++cached;
  }
  EXPECT_EQ(fetched, 1);
  EXPECT_EQ(cached, 3);
}

TEST_F(DataCliTest, AnUnknownAssetOrDatastoreFailsAtSubmitAndStoresNothing) {
  WriteFile(dir_ / "job.yml",
            "type: command\ncommand: cat ${{inputs.d}}\ninputs:\n  d:\n    type: uri_file\n"
            "    path: azureml:cifar-10-example:1\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("job.yml:6:11: unknown data asset 'cifar-10-example' version '1'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("overdrive data create"), std::string::npos) << r.err;
  WriteFile(dir_ / "job2.yml",
            "type: command\ncommand: cat ${{inputs.d}}\ninputs:\n  d:\n    type: uri_file\n"
            "    path: azureml://datastores/nowhere/paths/x.csv\n");
  CommandResult d = Run({"job", "submit", "job2.yml"});
  EXPECT_EQ(d.exit_code, 2);
  EXPECT_NE(d.err.find("job2.yml:6:11: unknown datastore 'nowhere'"), std::string::npos) << d.err;
  WriteFile(dir_ / "job3.yml",
            "type: command\ncommand: cat ${{inputs.d}}\ninputs:\n  d:\n    type: uri_file\n"
            "    path: azureml://datastores/workspaceblobstore/paths/../../../etc/passwd\n");
  CommandResult esc = Run({"job", "submit", "job3.yml"});
  EXPECT_EQ(esc.exit_code, 2);
  EXPECT_NE(esc.err.find("climbs out of its datastore"), std::string::npos) << esc.err;
  EXPECT_TRUE(Json({"job", "list", "--json"}).empty()) << "nothing stored";
}

TEST_F(DataCliTest, AWrongKeyFailsTheRunNamingTheDatastoreAndNeverShowsTheKey) {
  OD_REQUIRE_STORAGE();
  const std::string wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS0xMjM0NTY3OA==";
  BlobDatastore("badkey", wrong);
  WriteFile(dir_ / "job.yml",
            "type: command\ncommand: ls ${{inputs.d}}\ninputs:\n  d:\n    type: uri_folder\n"
            "    path: azureml://datastores/badkey/paths/anything\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  EXPECT_NE(r.exit_code, 0);
  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_EQ(runs.size(), 1u);
  nlohmann::json run = Json({"job", "show", runs[0]["id"].get<std::string>(), "--json"});
  EXPECT_EQ(run["status"], "failed");
  std::string reason = run["status_reason"];
  EXPECT_NE(reason.find("input 'd'"), std::string::npos) << reason;
  EXPECT_NE(reason.find("datastore 'badkey'"), std::string::npos) << reason;
  EXPECT_NE(reason.find("refused the credentials"), std::string::npos) << reason;
  EXPECT_EQ((r.out + r.err + run.dump()).find(wrong), std::string::npos);
  EXPECT_EQ(CacheEntries(), 0);
}

TEST_F(DataCliTest, AnOutputIsUploadedAndRegisteredAsADataAsset) {
  OD_REQUIRE_STORAGE();
  BlobDatastore("blob");
  WriteFile(dir_ / "job.yml",
            "type: command\n"
            "command: mkdir -p ${{outputs.model}} && echo weights > ${{outputs.model}}/model.txt\n"
            "outputs:\n  model:\n    type: uri_folder\n"
            "    path: azureml://datastores/blob/paths/models/first\n"
            "    name: trained-model\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json asset = Json({"data", "show", "trained-model@latest", "--json"});
  EXPECT_EQ(asset["version"], "1");
  EXPECT_EQ(asset["path"], "azureml://datastores/blob/paths/models/first");
  nlohmann::json runs = Json({"job", "list", "--json"});
  EXPECT_EQ(asset["meta"]["run_id"], runs[0]["id"]);
  ASSERT_EQ(Run({"data", "download", "trained-model:1", "-p", "got"}).exit_code, 0);
  EXPECT_EQ(ReadFile(dir_ / "got" / "trained-model" / "model.txt"), "weights\n");
  // Registering a version that exists is refused at submit, before anything runs.
  WriteFile(dir_ / "job2.yml",
            "type: command\ncommand: echo hi\n"
            "outputs:\n  model:\n    type: uri_folder\n    name: trained-model\n    version: 1\n");
  CommandResult taken = Run({"job", "submit", "job2.yml"});
  EXPECT_EQ(taken.exit_code, 2);
  EXPECT_NE(taken.err.find("job2.yml:7:14: output 'model' would register data asset 'trained-model' version '1'"),
            std::string::npos)
      << taken.err;
}

TEST_F(DataCliTest, AnS3UrlReadsThroughItsDatastoreWithANamedSecret) {
  OD_REQUIRE_STORAGE();
  std::string bucket = UniqueStorageName("clibucket");
  ASSERT_EQ(MakeBucket(bucket), 0);
  WriteFile(dir_ / "key.txt", "S3RVER\n");
  ASSERT_EQ(Run({"secret", "set", "s3-key", "--from-file", "key.txt"}).exit_code, 0);
  WriteFile(dir_ / "s3.yml", "name: s3store\ntype: s3\nbucket: " + bucket + "\nendpoint: " + S3Url() +
                                 "\ncredentials:\n  access_key_id: S3RVER\n  secret_access_key_secret: s3-key\n");
  CommandResult ds = Run({"datastore", "create", "-f", "s3.yml"});
  ASSERT_EQ(ds.exit_code, 0) << ds.err;
  // Put data there through the datastore, as an asset.
  ASSERT_EQ(Run({"data", "create", "--name", "s3data", "--path", "data", "--datastore", "s3store"}).exit_code, 0);
  nlohmann::json asset = Json({"data", "show", "s3data:1", "--json"});
  std::string rel = asset["path"].get<std::string>().substr(std::string("azureml://datastores/s3store/paths/").size());
  WriteFile(dir_ / "job.yml",
            "type: command\ncommand: cat ${{inputs.d}}/train.csv\ninputs:\n  d:\n    type: uri_folder\n"
            "    path: s3://" + bucket + "/" + rel + "\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3,4"), std::string::npos) << r.out;
}

// examples/data-asset, as the README runs it: a sweep reading a versioned data asset from a blob
// datastore whose key is a secret. Copied first, so the data it exports stays out of the tree;
// its endpoint and container are this test's.
TEST_F(DataCliTest, TheDataAssetExampleRunsAsTheReadmeSays) {
  OD_REQUIRE_STORAGE();
  fs::path example = dir_ / "example";
  fs::copy(fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "data-asset", example,
           fs::copy_options::recursive);
  fs::remove_all(example / "data");
  std::string container = UniqueStorageName("example");
  ASSERT_EQ(MakeContainer(container), 0);
  std::string yml = ReadFile(example / "blobstore.yml");
  for (auto [from, to] : {std::pair<std::string, std::string>{"http://127.0.0.1:10000/devstoreaccount1", AzuriteUrl()},
                          {"container_name: training", "container_name: " + container}}) {
    size_t at = yml.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    yml.replace(at, from.size(), to);
  }
  WriteFile(example / "blobstore.yml", yml);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (example / "export_data.py").string() + " " +
                         (example / "data").string() + " >/dev/null")
                            .c_str()),
            0);
  setenv("AZURITE_KEY", kAzuriteKey, 1);
  CommandResult secret = Run({"secret", "set", "azurite-key", "--from-env", "AZURITE_KEY"});
  unsetenv("AZURITE_KEY");
  ASSERT_EQ(secret.exit_code, 0) << secret.err;
  CommandResult ds = Run({"datastore", "create", "-f", "example/blobstore.yml"});
  ASSERT_EQ(ds.exit_code, 0) << ds.err;
  CommandResult data = Run({"data", "create", "-f", "example/data.yml", "--datastore", "trainingblob"});
  ASSERT_EQ(data.exit_code, 0) << data.err;
  CommandResult r = Run({"job", "submit", "example/sweep.yml", "--set", "limits.max_total_trials=4"}, 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
  ASSERT_EQ(sweep["trials"].size(), 4u);
  for (const auto& t : sweep["trials"]) EXPECT_EQ(t["status"], "completed") << t.dump();
  EXPECT_GT(sweep["trials"][0]["metrics"]["accuracy"]["best"].get<double>(), 0.9);
  nlohmann::json asset = Json({"data", "show", "breast-cancer:1", "--json"});
  ASSERT_EQ(asset["read_by"].size(), 1u);
  EXPECT_EQ(asset["read_by"][0]["run_id"], runs[0]["id"]);
  EXPECT_EQ(CacheEntries(), 1);
}

}  // namespace
}  // namespace overdrive::testing
