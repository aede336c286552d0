// End to end: the model registry through the real binary, as a user drives it.
#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class ModelCliTest : public CliTest {
 protected:
  // Runs a small job whose outputs/model holds two files; returns its run id.
  std::string SubmitTrainingJob(const std::string& weights) {
    WriteFile(dir_ / "src" / "train.sh",
              "mkdir -p \"$1/sub\" && printf '" + weights +
                  "' > \"$1/model.pkl\" && "
                  "printf '{}' > \"$1/sub/config.json\" && echo accuracy=0.9\n");
    WriteFile(dir_ / "job.yml",
              "code: src\nexperiment_name: churn-exp\n"
              "command: sh train.sh ${{outputs.model}} ${{inputs.lr}}\n"
              "inputs:\n  lr: 0.25\noutputs:\n  model:\n    type: uri_folder\n");
    CommandResult r = Run({"job", "submit", "job.yml", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("id", "") : "";
  }
};

TEST_F(ModelCliTest, RegisterShowAliasDownloadList) {
  std::string run1 = SubmitTrainingJob("w1");
  ASSERT_FALSE(run1.empty());

  CommandResult reg =
      Run({"model", "register", "churn", "--run", run1.substr(0, 8), "--tag", "stage=dev"});
  ASSERT_EQ(reg.exit_code, 0) << reg.err;
  EXPECT_NE(reg.out.find("registered churn:1 (2 files"), std::string::npos) << reg.out;

  std::string run2 = SubmitTrainingJob("w2");
  nlohmann::json v2 = Json({"model", "register", "churn", "--run", run2, "--json"});
  EXPECT_EQ(v2["version"], 2);

  nlohmann::json shown = Json({"model", "show", "churn:1", "--json"});
  EXPECT_EQ(shown["version"], 1);
  EXPECT_EQ(shown["run_id"], run1);
  EXPECT_EQ(shown["path"], "outputs/model");
  EXPECT_EQ(shown["tags"]["stage"], "dev");
  EXPECT_EQ(shown["latest_version"], 2);
  ASSERT_EQ(shown["files"].size(), 2u);
  EXPECT_EQ(shown["files"][0]["path"], "model.pkl");
  EXPECT_EQ(shown["files"][1]["path"], "sub/config.json");
  EXPECT_EQ(shown["lineage"]["experiment"], "churn-exp");
  EXPECT_EQ(shown["lineage"]["params"]["lr"], 0.25);
  EXPECT_EQ(shown["lineage"]["inputs"]["lr"], 0.25);
  EXPECT_EQ(shown["lineage"]["metrics"]["accuracy"]["last"], 0.9);
  EXPECT_EQ(shown["lineage"]["code_snapshot"].get<std::string>().size(), 64u);

  CommandResult text = Run({"model", "show", "churn"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("churn:2  (latest)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(run2), std::string::npos);
  EXPECT_NE(text.out.find("sub/config.json"), std::string::npos);
  EXPECT_NE(text.out.find("accuracy"), std::string::npos);

  CommandResult alias = Run({"model", "alias", "churn", "1", "production"});
  ASSERT_EQ(alias.exit_code, 0) << alias.err;
  EXPECT_EQ(Json({"model", "show", "churn@production", "--json"})["version"], 1);
  CommandResult moved = Run({"model", "alias", "churn", "2", "production"});
  EXPECT_NE(moved.out.find("moved from version 1"), std::string::npos) << moved.out;
  EXPECT_EQ(Json({"model", "show", "churn@production", "--json"})["version"], 2);

  // Default folder ./NAME-vN, relative paths without the registered prefix.
  CommandResult dl = Run({"model", "download", "churn:1"});
  ASSERT_EQ(dl.exit_code, 0) << dl.err;
  EXPECT_EQ(ReadFile(dir_ / "churn-v1" / "model.pkl"), "w1");
  EXPECT_EQ(ReadFile(dir_ / "churn-v1" / "sub" / "config.json"), "{}");
  CommandResult again = Run({"model", "download", "churn:1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  WriteFile(dir_ / "churn-v1" / "model.pkl", "local edit");
  ASSERT_EQ(Run({"model", "download", "churn@production", "--to", "churn-v1", "--force"}).exit_code,
            0);
  EXPECT_EQ(ReadFile(dir_ / "churn-v1" / "model.pkl"), "w2");

  nlohmann::json list = Json({"model", "list", "--json"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "churn");
  EXPECT_EQ(list[0]["versions"], 2);
  EXPECT_EQ(list[0]["aliases"]["production"], 2);
  CommandResult table = Run({"model", "list"});
  EXPECT_NE(table.out.find("production:2"), std::string::npos) << table.out;
}

TEST_F(ModelCliTest, MistakesGetMessagesThatSayWhatToDo) {
  // An empty registry says how to start.
  std::string run = SubmitTrainingJob("w");
  ASSERT_FALSE(run.empty());
  CommandResult none = Run({"model", "list"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.out.find("no models yet"), std::string::npos) << none.out;

  CommandResult typo = Run({"model", "register", "churn", "--run", run, "--path", "outputs/modle"});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.err.find("has no artifacts under 'outputs/modle' (it has: "), std::string::npos)
      << typo.err;
  EXPECT_NE(typo.err.find("outputs/model/model.pkl"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("did you mean 'outputs/model'?"), std::string::npos) << typo.err;

  CommandResult bad_name = Run({"model", "register", "my model", "--run", run});
  EXPECT_EQ(bad_name.exit_code, 2);
  EXPECT_NE(bad_name.err.find("invalid model name 'my model'"), std::string::npos) << bad_name.err;
  CommandResult bad_tag = Run({"model", "register", "churn", "--run", run, "--tag", "novalue"});
  EXPECT_EQ(bad_tag.exit_code, 2);
  CommandResult no_run = Run({"model", "register", "churn", "--run", "zzzz"});
  EXPECT_EQ(no_run.exit_code, 1);

  ASSERT_EQ(Run({"model", "register", "churn", "--run", run}).exit_code, 0);
  CommandResult unknown = Run({"model", "show", "chrun"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("did you mean 'churn'?"), std::string::npos) << unknown.err;
  CommandResult bad_ref = Run({"model", "show", "churn:x"});
  EXPECT_EQ(bad_ref.exit_code, 2);
  CommandResult latest = Run({"model", "alias", "churn", "1", "latest"});
  EXPECT_EQ(latest.exit_code, 2);
  EXPECT_NE(latest.err.find("implicit"), std::string::npos) << latest.err;
  CommandResult no_version = Run({"model", "alias", "churn", "5", "production"});
  EXPECT_EQ(no_version.exit_code, 1);
  EXPECT_NE(no_version.err.find("has no version 5"), std::string::npos) << no_version.err;
}

}  // namespace
}  // namespace overdrive::testing
