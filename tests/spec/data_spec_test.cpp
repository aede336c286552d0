// Datastore and data asset YAML, data locations, and a job's data inputs and outputs.
#include "spec/data_spec.hpp"

#include <gtest/gtest.h>

#include "spec/job_spec.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

Result<DatastoreSpec> Datastore(const std::string& text) {
  return ParseDatastoreText(text, "ds.yml", "/project");
}

TEST(DatastoreYaml, AzureBlobWithAnAccountKeyAsAzureWritesIt) {
  auto ds = Datastore(R"(
$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: blob_example
type: azure_blob
description: Datastore pointing to a blob container.
account_name: mytestblobstore
container_name: data-container
credentials:
  account_key: XXXxxxXXXxXXXXxxXXXXXxXXXXXxXxxXxXXXxXXXxXXxxxXXxxXXXxXxXXXxxXxxXXXXxxxxxXXxxxxxxXXXxXXX
)");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->type, "azure_blob");
  EXPECT_EQ(ds->endpoint, "core.windows.net");
  EXPECT_EQ(ds->protocol, "https");
  EXPECT_EQ(ds->credential_kind, "account_key");
  EXPECT_EQ(ds->Describe(), "https://mytestblobstore.blob.core.windows.net/data-container");
  // What is stored holds no credential.
  EXPECT_EQ(ds->ToJson().dump().find("XXXxxx"), std::string::npos);
  auto back = DatastoreSpec::FromJson(ds->name, ds->ToJson());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->Describe(), ds->Describe());
}

TEST(DatastoreYaml, EmulatorEndpointSasTokenAndNamedSecrets) {
  auto ds = Datastore(R"(
name: emu
type: azure_blob
account_name: devstoreaccount1
container_name: c
endpoint: http://127.0.0.1:10000/devstoreaccount1
credentials:
  sas_token: "?sv=2019-12-12&sig=abc"
)");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->credential_value, "sv=2019-12-12&sig=abc");
  EXPECT_EQ(ds->Describe(), "http://127.0.0.1:10000/devstoreaccount1/c");
  auto named = Datastore(R"(
name: s3store
type: s3
bucket: data
endpoint: http://127.0.0.1:4568
credentials:
  access_key_id: AKIA
  secret_access_key_secret: s3-key
)");
  ASSERT_TRUE(named.has_value()) << named.error().message;
  EXPECT_EQ(named->credential_kind, "secret_access_key");
  EXPECT_EQ(named->credential_secret, "s3-key");
  EXPECT_TRUE(named->credential_value.empty());
  auto gen2 = Datastore("name: lake\ntype: azure_data_lake_gen2\naccount_name: a\nfilesystem: fs\n");
  ASSERT_TRUE(gen2.has_value()) << gen2.error().message;
  EXPECT_EQ(gen2->type, "azure_blob");
  EXPECT_EQ(gen2->container_name, "fs");
  auto local = Datastore("name: nfs\ntype: local\npath: shared/data/\n");
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->path, "/project/shared/data");
}

TEST(DatastoreYaml, MistakesNameTheirPlace) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"name: x\ntype: azure_blob\naccount_name: a\ncontainer: c\n",
       "ds.yml:4:1: unknown key 'container' in the datastore file"},
      {"name: x\ntype: azure_files\n", "ds.yml:2:7: unknown datastore type 'azure_files'"},
      {"name: x\ntype: azure_file\n", "ds.yml:2:7: datastore type 'azure_file' is not supported here"},
      {"name: x\ntype: azure_blob\naccount_name: a\n", "ds.yml:1:1: a datastore of type azure_blob needs 'container_name'"},
      {"name: my-store\ntype: local\npath: /x\n", "ds.yml:1:7: datastore name 'my-store' may contain only letters, digits and '_'"},
      {"name: x\ntype: s3\nbucket: b\ncredentials:\n  account_key: k\n",
       "ds.yml:5:3: credentials: 'account_key' does not fit a datastore of type s3"},
      {"name: x\ntype: azure_blob\naccount_name: a\ncontainer_name: c\ncredentials:\n  account_key: k\n  sas_token: t\n",
       "ds.yml:7:3: credentials: give one of account_key, sas_token"},
      {"name: x\ntype: s3\nbucket: b\ncredentials:\n  secret_access_key: k\n",
       "ds.yml:5:3: credentials: an s3 datastore needs access_key_id with its secret"},
      {"name: x\ntype: local\npath: /x\nbucket: b\n", "ds.yml:4:1: 'bucket' belongs to s3 datastores, not to type local"},
  };
  for (const auto& c : cases) {
    auto ds = Datastore(c.yaml);
    ASSERT_FALSE(ds.has_value()) << c.yaml;
    EXPECT_EQ(ds.error().code, ErrorCode::kInvalidInput);
    EXPECT_EQ(ds.error().message.rfind(c.message, 0), 0u) << "got: " << ds.error().message;
  }
}

TEST(DataLocation, EveryFormAzureWrites) {
  SourcePos at{"job.yml", 3, 4};
  auto asset = ParseDataLocation("azureml:cifar-10:2", at, "/p");
  ASSERT_TRUE(asset.has_value());
  EXPECT_EQ(asset->kind, DataLocation::Kind::kAsset);
  EXPECT_EQ(asset->asset, "cifar-10");
  EXPECT_EQ(asset->version, "2");
  auto latest = ParseDataLocation("azureml:cifar-10@latest", at, "/p");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->version, "latest");
  auto ds = ParseDataLocation("azureml://datastores/workspaceblobstore/paths/a/./b//c.csv", at, "/p");
  ASSERT_TRUE(ds.has_value());
  EXPECT_EQ(ds->kind, DataLocation::Kind::kDatastore);
  EXPECT_EQ(ds->rel, "a/b/c.csv");
  EXPECT_EQ(ds->Uri(), "azureml://datastores/workspaceblobstore/paths/a/b/c.csv");
  auto full = ParseDataLocation(
      "azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/blob/paths/x", at, "/p");
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->datastore, "blob");
  EXPECT_EQ(full->rel, "x");
  auto registry = ParseDataLocation("azureml://registries/reg/data/mnist/versions/4", at, "/p");
  ASSERT_TRUE(registry.has_value());
  EXPECT_EQ(registry->kind, DataLocation::Kind::kAsset);
  EXPECT_EQ(registry->asset, "mnist");
  EXPECT_EQ(registry->version, "4");
  auto wasbs = ParseDataLocation("wasbs://data@acct.blob.core.windows.net/train/", at, "/p");
  ASSERT_TRUE(wasbs.has_value());
  EXPECT_EQ(wasbs->kind, DataLocation::Kind::kBlobUrl);
  EXPECT_EQ(wasbs->container, "data");
  EXPECT_EQ(wasbs->account, "acct");
  EXPECT_EQ(wasbs->rel, "train");
  auto abfss = ParseDataLocation("abfss://fs@acct.dfs.core.windows.net/x/y", at, "/p");
  ASSERT_TRUE(abfss.has_value());
  EXPECT_EQ(abfss->container, "fs");
  auto s3 = ParseDataLocation("s3://bucket/key/part", at, "/p");
  ASSERT_TRUE(s3.has_value());
  EXPECT_EQ(s3->bucket, "bucket");
  EXPECT_EQ(s3->rel, "key/part");
  auto web = ParseDataLocation("https://azuremlexamples.blob.core.windows.net/datasets/iris.csv", at, "/p");
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->kind, DataLocation::Kind::kWeb);
  auto local = ParseDataLocation("../data", at, "/p/jobs");
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->local_path, fs::path("/p/data"));
}

TEST(DataLocation, EscapesAndNonsenseAreRefusedAtThePosition) {
  SourcePos at{"job.yml", 7, 11};
  for (const char* bad : {"azureml://datastores/x/paths/../secret", "s3://b/../../etc/passwd",
                          "wasbs://c@a.blob.core.windows.net/a/../../b", "gopher://x/y",
                          "azureml:name", "azureml:name@v2", "azureml://datastores/x/files/y",
                          "azureml://datastores/bad-name/paths/y"}) {
    auto r = ParseDataLocation(bad, at, "/p");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().message.rfind("job.yml:7:11: ", 0), 0u) << r.error().message;
  }
  EXPECT_EQ(*NormalizeRelPath("a/b/../c"), "a/c");
  EXPECT_FALSE(NormalizeRelPath("a/../../c").has_value());
}

TEST(DataAssetYaml, AzureDataFile) {
  auto a = ParseDataAssetText(R"(
$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
name: cifar-10-example
version: 1
description: CIFAR-10 images
type: uri_folder
path: ./cifar
tags:
  source: toronto
)",
                              "data.yml", "/proj");
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->name, "cifar-10-example");
  EXPECT_EQ(a->version, "1");
  EXPECT_EQ(a->location.local_path, fs::path("/proj/cifar"));
  EXPECT_EQ(a->tags.at("source"), "toronto");
  auto bad = ParseDataAssetText("name: x\npath: ./d\ntype: folder\n", "data.yml", "/proj");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.rfind("data.yml:3:7: data type must be uri_file, uri_folder or mltable", 0), 0u)
      << bad.error().message;
  auto self = ParseDataAssetText("name: x\npath: azureml:y:1\n", "data.yml", "/proj");
  ASSERT_FALSE(self.has_value());
  EXPECT_NE(self.error().message.find("cannot be another asset"), std::string::npos);
}

TEST(JobDataInputs, RemoteInputsAreParsedNotIgnored) {
  auto job = ParseJobText(R"(
type: command
command: python train.py --data ${{inputs.data}} --iris ${{inputs.iris}}
inputs:
  data:
    type: uri_folder
    path: azureml:cifar-10-example:1
    mode: download
  iris:
    type: uri_file
    path: https://azuremlexamples.blob.core.windows.net/datasets/iris.csv
    mode: direct
outputs:
  model:
    type: uri_folder
    mode: upload
    path: azureml://datastores/workspaceblobstore/paths/models/run
    name: trained-model
    version: 7
)",
                          "job.yml", "/proj");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  const auto& in = job->command.inputs.at("data");
  EXPECT_TRUE(in.remote());
  EXPECT_EQ(in.mode, "download");
  EXPECT_EQ(in.location.kind, DataLocation::Kind::kAsset);
  EXPECT_EQ(job->command.inputs.at("iris").mode, "direct");
  const auto& out = job->command.outputs.at("model");
  ASSERT_TRUE(out.path.has_value());
  EXPECT_EQ(out.path->datastore, "workspaceblobstore");
  EXPECT_EQ(out.asset_name, "trained-model");
  EXPECT_EQ(out.asset_version, "7");
  // Nothing about inputs is reported as ignored any more.
  for (const auto& w : job->ignored) EXPECT_EQ(w.find("inputs."), std::string::npos) << w;
  for (const auto& w : job->ignored) EXPECT_EQ(w.find("outputs."), std::string::npos) << w;
}

}  // namespace
}  // namespace overdrive
