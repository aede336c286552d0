// ModelRegistry on the real SQLite and local artifact stores in a scratch folder.
#include "registry/model_registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ModelRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/od-registry-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = OpenStore();
    auto artifacts = OpenLocalArtifactStore(dir_ / "artifacts");
    ASSERT_TRUE(artifacts.has_value()) << artifacts.error().message;
    artifacts_ = std::move(*artifacts);
    registry_ = std::make_unique<ModelRegistry>(*store_, *artifacts_);
  }
  void TearDown() override {
    registry_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<MetadataStore> OpenStore() {
    auto store = OpenSqliteMetadataStore((dir_ / "overdrive.db").string());
    EXPECT_TRUE(store.has_value()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  // A run with these artifacts (path -> content), params and metric points.
  void MakeRun(const std::string& id, RunStatus status,
               const std::map<std::string, std::string>& files, const std::string& parent = "",
               const std::string& spec_yaml = "") {
    RunRecord r;
    r.id = id;
    r.experiment_name = "churn-exp";
    r.parent_id = parent;
    r.job_type = parent.empty() ? JobType::kCommand : JobType::kTrial;
    r.status = status;
    r.spec_yaml = spec_yaml;
    r.command = "python train.py --lr 0.1";
    r.snapshot_digest = std::string(64, 'a');
    ASSERT_TRUE(store_->CreateRun(r, {{"lr", "0.1"}, {"optimizer", "\"adam\""}}, {}));
    IngestBatch b;
    b.run_id = id;
    b.points = {{"accuracy", 0, 0.5, 1}, {"accuracy", 1, 0.9, 2}, {"accuracy", 2, 0.8, 3}};
    ASSERT_TRUE(store_->Ingest(b));
    PutArtifacts(id, files);
  }

  void PutArtifacts(const std::string& id, const std::map<std::string, std::string>& files) {
    std::vector<ArtifactRecord> records;
    for (const auto& [path, content] : files) {
      auto digest = artifacts_->PutBytes(content);
      ASSERT_TRUE(digest.has_value());
      records.push_back({path, *digest, static_cast<std::int64_t>(content.size())});
    }
    ASSERT_TRUE(store_->AddArtifacts(id, records));
  }

  const std::map<std::string, std::string> kModelFiles = {
      {"outputs/model/model.pkl", "weights-1"},
      {"outputs/model/sub/config.json", "{\"layers\": 2}"},
      {"outputs/metrics.csv", "a,b"},
      {"logs/stdout.log", "hello"},
  };

  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(ModelRegistryTest, RegisterKeepsTheFilesUnderThePathAndTheRunsLineage) {
  MakeRun("run-a", RunStatus::kCompleted, kModelFiles, "",
          "type: command\ncommand: python train.py\ninputs:\n  lr: 0.1\n  data: {type: "
          "uri_file, path: ./data.csv}\n  label: \"007\"\n");
  auto v = registry_->Register("churn", "run-a", "outputs/model", {{"stage", "dev"}});
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->model, "churn");
  EXPECT_EQ(v->version, 1);
  EXPECT_EQ(v->run_id, "run-a");
  EXPECT_EQ(v->path, "outputs/model");
  ASSERT_EQ(v->files.size(), 2u);
  EXPECT_EQ(v->files[0].path, "model.pkl");
  EXPECT_EQ(v->files[0].size, 9);
  EXPECT_EQ(v->files[1].path, "sub/config.json");
  EXPECT_EQ(nlohmann::json::parse(v->tags_json), (nlohmann::json{{"stage", "dev"}}));

  auto lineage = nlohmann::json::parse(v->lineage_json);
  EXPECT_EQ(lineage["run_id"], "run-a");
  EXPECT_EQ(lineage["experiment"], "churn-exp");
  EXPECT_EQ(lineage["status"], "completed");
  EXPECT_FALSE(lineage.contains("sweep_id"));
  EXPECT_EQ(lineage["params"]["lr"], 0.1);
  EXPECT_EQ(lineage["params"]["optimizer"], "adam");
  EXPECT_EQ(lineage["metrics"]["accuracy"]["last"], 0.8);
  EXPECT_EQ(lineage["metrics"]["accuracy"]["max"], 0.9);
  EXPECT_EQ(lineage["metrics"]["accuracy"]["min"], 0.5);
  EXPECT_EQ(lineage["code_snapshot"], std::string(64, 'a'));
  EXPECT_EQ(lineage["command"], "python train.py --lr 0.1");
  EXPECT_EQ(lineage["inputs"]["lr"], 0.1);
  EXPECT_EQ(lineage["inputs"]["data"]["path"], "./data.csv");
  EXPECT_EQ(lineage["inputs"]["label"], "007") << "a quoted scalar stays a string";

  // Prefix of the run id, trailing slash and "./" are accepted; numbers go up.
  auto v2 = registry_->Register("churn", "run-", "./outputs/model/");
  ASSERT_TRUE(v2.has_value()) << v2.error().message;
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->files.size(), 2u);
}

TEST_F(ModelRegistryTest, ATrialsLineageNamesItsSweepAndTheSweepsInputs) {
  RunRecord sweep;
  sweep.id = "sweep-1";
  sweep.experiment_name = "churn-exp";
  sweep.job_type = JobType::kSweep;
  sweep.status = RunStatus::kCompleted;
  sweep.spec_yaml = "type: sweep\ninputs:\n  epochs: 12\n";
  ASSERT_TRUE(store_->CreateRun(sweep, {}, {}));
  MakeRun("trial-1", RunStatus::kEarlyTerminated, kModelFiles, "sweep-1");
  auto v = registry_->Register("churn", "trial-1");
  ASSERT_TRUE(v.has_value()) << v.error().message;
  auto lineage = nlohmann::json::parse(v->lineage_json);
  EXPECT_EQ(lineage["sweep_id"], "sweep-1");
  EXPECT_EQ(lineage["status"], "early_terminated");
  EXPECT_EQ(lineage["inputs"]["epochs"], 12);

  // The sweep itself has no files: the message says what to do.
  auto err = registry_->Register("churn", "sweep-1");
  ASSERT_FALSE(err.has_value());
  EXPECT_THAT(err.error().message, HasSubstr("it is a sweep; register one of its trials"));
}

TEST_F(ModelRegistryTest, RegisterRefusesWhatCannotBeAModelAndSaysWhy) {
  MakeRun("run-ok", RunStatus::kCompleted, kModelFiles);
  MakeRun("run-busy", RunStatus::kRunning, kModelFiles);
  MakeRun("run-bad", RunStatus::kFailed, kModelFiles);

  auto unknown = registry_->Register("churn", "nope");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  auto busy = registry_->Register("churn", "run-busy");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(busy.error().message,
              HasSubstr("run run-busy is running: only completed or early_terminated runs"));
  EXPECT_THAT(busy.error().message, HasSubstr("overdrive job logs run-busy -f"));
  auto failed = registry_->Register("churn", "run-bad");
  ASSERT_FALSE(failed.has_value());
  EXPECT_THAT(failed.error().message, HasSubstr("run run-bad is failed"));

  auto typo = registry_->Register("churn", "run-ok", "outputs/modle");
  ASSERT_FALSE(typo.has_value());
  EXPECT_EQ(typo.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(typo.error().message, HasSubstr("run run-ok has no artifacts under 'outputs/modle'"));
  EXPECT_THAT(typo.error().message,
              HasSubstr("(it has: logs/stdout.log, outputs/metrics.csv, outputs/model/model.pkl"));
  EXPECT_THAT(typo.error().message, HasSubstr("did you mean 'outputs/model'?"));
  // A prefix of a name is not a folder.
  EXPECT_FALSE(registry_->Register("churn", "run-ok", "outputs/mod").has_value());

  for (const std::string bad : {"my model", "-x", "", "a/b", "ü"}) {
    auto r = registry_->Register(bad, "run-ok");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("invalid model name")) << bad;
  }
  for (const std::string bad : {"../outputs", "/abs/path", ""}) {
    auto r = registry_->Register("churn", "run-ok", bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput) << bad;
  }
  EXPECT_TRUE(registry_->ListModels().value().empty()) << "nothing was registered";
}

TEST_F(ModelRegistryTest, OneFileCanBeRegisteredOnItsOwn) {
  MakeRun("run-ok", RunStatus::kCompleted, kModelFiles);
  auto v = registry_->Register("single", "run-ok", "outputs/model/model.pkl");
  ASSERT_TRUE(v.has_value()) << v.error().message;
  ASSERT_EQ(v->files.size(), 1u);
  EXPECT_EQ(v->files[0].path, "model.pkl");
}

TEST(ParseModelRefTest, ReadsNameVersionAndAlias) {
  auto plain = ParseModelRef("churn");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->name, "churn");
  EXPECT_FALSE(plain->version.has_value());
  EXPECT_EQ(plain->alias, "latest");
  auto versioned = ParseModelRef("churn.v2:3");
  ASSERT_TRUE(versioned.has_value());
  EXPECT_EQ(versioned->name, "churn.v2");
  EXPECT_EQ(versioned->version, 3);
  EXPECT_EQ(versioned->ToString(), "churn.v2:3");
  auto aliased = ParseModelRef("churn@production");
  ASSERT_TRUE(aliased.has_value());
  EXPECT_EQ(aliased->alias, "production");
  EXPECT_EQ(aliased->ToString(), "churn@production");

  for (const std::string bad :
       {"churn:", "churn:x", "churn:0", "churn:-1", "churn:3@prod", "churn@", "churn@pro d", ":3",
        "na me", "churn:99999999999999999999"}) {
    auto r = ParseModelRef(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput) << bad;
  }
  EXPECT_THAT(ParseModelRef("churn:x").error().message, HasSubstr("NAME:VERSION"));
}

TEST_F(ModelRegistryTest, ReferencesResolveToVersionsAndAliasesMove) {
  MakeRun("run-ok", RunStatus::kCompleted, kModelFiles);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(registry_->Register("churn", "run-ok"));
  EXPECT_EQ(registry_->Resolve("churn")->version, 3);
  EXPECT_EQ(registry_->Resolve("churn@latest")->version, 3);
  EXPECT_EQ(registry_->Resolve("churn:2")->version, 2);

  auto set = registry_->SetAlias("churn", 1, "production");
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_THAT(set->aliases, ElementsAre("production"));
  EXPECT_EQ(registry_->Resolve("churn@production")->version, 1);
  ASSERT_TRUE(registry_->SetAlias("churn", 2, "production"));
  EXPECT_EQ(registry_->Resolve("churn@production")->version, 2);
  EXPECT_TRUE(registry_->Resolve("churn:1")->aliases.empty());

  auto latest = registry_->SetAlias("churn", 1, "latest");
  ASSERT_FALSE(latest.has_value());
  EXPECT_THAT(latest.error().message, HasSubstr("'latest' is implicit"));
  auto no_version = registry_->SetAlias("churn", 9, "staging");
  ASSERT_FALSE(no_version.has_value());
  EXPECT_THAT(no_version.error().message, HasSubstr("has no version 9 (latest is 3)"));

  auto typo = registry_->Resolve("chrun");
  ASSERT_FALSE(typo.has_value());
  EXPECT_EQ(typo.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(typo.error().message, HasSubstr("no model named 'chrun' (did you mean 'churn'?)"));
  auto alias_typo = registry_->Resolve("churn@prodution");
  ASSERT_FALSE(alias_typo.has_value());
  EXPECT_THAT(alias_typo.error().message, HasSubstr("did you mean 'production'?"));
  EXPECT_THAT(registry_->Resolve("churn:4").error().message, HasSubstr("no version 4"));
}

TEST_F(ModelRegistryTest, DownloadWritesTheVersionsFilesAndRefusesToOverwrite) {
  MakeRun("run-ok", RunStatus::kCompleted, kModelFiles);
  ASSERT_TRUE(registry_->Register("churn", "run-ok"));
  // The version is frozen: later changes to the run's artifacts do not reach it.
  PutArtifacts("run-ok", {{"outputs/model/model.pkl", "weights-2"}});
  auto v = registry_->Resolve("churn:1");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(DefaultDownloadDir(*v), "churn-v1");

  fs::path to = dir_ / "out";
  auto written = registry_->Download(*v, to, false);
  ASSERT_TRUE(written.has_value()) << written.error().message;
  EXPECT_EQ(written->size(), 2u);
  EXPECT_EQ(ReadFile(to / "model.pkl"), "weights-1");
  EXPECT_EQ(ReadFile(to / "sub" / "config.json"), "{\"layers\": 2}");

  std::ofstream(to / "model.pkl") << "mine";
  fs::remove(to / "sub" / "config.json");
  auto refused = registry_->Download(*v, to, false);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  EXPECT_THAT(refused.error().message, HasSubstr("model.pkl"));
  EXPECT_THAT(refused.error().message, HasSubstr("--force"));
  EXPECT_EQ(ReadFile(to / "model.pkl"), "mine");
  EXPECT_FALSE(fs::exists(to / "sub" / "config.json")) << "a refusal writes nothing";

  ASSERT_TRUE(registry_->Download(*v, to, true));
  EXPECT_EQ(ReadFile(to / "model.pkl"), "weights-1");
  EXPECT_TRUE(fs::exists(to / "sub" / "config.json"));
}

TEST_F(ModelRegistryTest, MaterializeUnpacksAVersionOnceByContent) {
  MakeRun("run-ok", RunStatus::kCompleted, kModelFiles);
  ASSERT_TRUE(registry_->Register("churn", "run-ok"));
  ASSERT_TRUE(registry_->Register("churn", "run-ok"));  // same content as version 1
  ASSERT_TRUE(registry_->SetAlias("churn", 1, "prod"));
  fs::path cache = dir_ / "cache";
  auto first = registry_->Materialize("churn@prod", cache);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(ReadFile(*first / "model.pkl"), "weights-1");
  EXPECT_EQ(first->parent_path(), cache);

  std::ofstream(*first / "marker") << "x";
  auto again = registry_->Materialize("churn:2", cache);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, *first) << "equal content shares one folder";
  EXPECT_TRUE(fs::exists(*again / "marker")) << "a finished folder is not rewritten";
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u) << "no temporary folder is left behind";

  PutArtifacts("run-ok", {{"outputs/model/model.pkl", "weights-3"}});
  ASSERT_TRUE(registry_->Register("churn", "run-ok"));
  auto third = registry_->Materialize("churn", cache);
  ASSERT_TRUE(third.has_value());
  EXPECT_NE(*third, *first);
  EXPECT_EQ(ReadFile(*third / "model.pkl"), "weights-3");
  EXPECT_FALSE(registry_->Materialize("ghost", cache).has_value());
}

TEST_F(ModelRegistryTest, ConcurrentRegistersNeverShareAVersionNumber) {
  MakeRun("run-ok", RunStatus::kCompleted, kModelFiles);
  constexpr int kThreads = 4;
  constexpr int kEach = 5;
  std::vector<std::vector<std::int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // One store and registry per thread, as the contract asks (like separate processes).
      auto store = OpenStore();
      auto artifacts = OpenLocalArtifactStore(dir_ / "artifacts");
      if (!store || !artifacts) return;
      ModelRegistry registry(*store, **artifacts);
      for (int i = 0; i < kEach; ++i) {
        auto v = registry.Register("churn", "run-ok");
        EXPECT_TRUE(v.has_value()) << v.error().message;
        if (v) got[t].push_back(v->version);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);
  EXPECT_EQ(registry_->ListVersions("churn")->size(), static_cast<size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace overdrive
