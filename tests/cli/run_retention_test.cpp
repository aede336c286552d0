// End to end: a finished run's folder keeps at most 4 KB (its logs and outputs are in the
// artifact store), `job logs` and `job show` still work from the stores, and `workspace prune`
// removes what older or kept folders hold without touching a running job.
#include <cstdio>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class RunRetentionTest : public CliTest {
 protected:
  // `du -s<unit>` of `path`: its first number.
  static long long Du(const fs::path& path, const char* unit) {
    std::string cmd = std::string("du -s") + unit + " '" + path.string() + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    long long n = -1;
    if (std::fscanf(p, "%lld", &n) != 1) n = -1;
    ::pclose(p);
    return n;
  }

  void ExpectSmall(const fs::path& dir) {
    EXPECT_LE(Du(dir, "b"), 4096) << dir;
    EXPECT_LE(Du(dir, "k"), 4) << dir;
  }

  // A code folder with some weight, so the unpacked snapshot in wd/ would show.
  void WriteCode() {
    WriteFile(dir_ / "code" / "data.txt", std::string(20000, 'd'));
    WriteFile(dir_ / "code" / "train.sh",
              "echo acc=0.75; echo 'to stderr' >&2; mkdir -p outputs && cp data.txt outputs/copy.txt\n");
  }
};

TEST_F(RunRetentionTest, AFinishedRunsFolderKeepsAtMost4KbAndItsLogsStillShow) {
  WriteCode();
  WriteFile(dir_ / "job.yml", "code: code\ncommand: sh train.sh\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("acc=0.75"), std::string::npos) << "streamed to the end: " << r.out;
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  std::string id = run["id"];
  fs::path folder = workspace_ / "runs" / id;
  ExpectSmall(folder);

  CommandResult logs = Run({"job", "logs", id});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out, "acc=0.75\n");
  EXPECT_EQ(logs.err, "to stderr\n");
  nlohmann::json full = Json({"job", "show", id, "--json"});
  EXPECT_EQ(full["status"], "completed");
  EXPECT_EQ(full["metrics"]["acc"]["last"], 0.75);
  EXPECT_EQ(ArtifactText(full, "outputs/copy.txt"), std::string(20000, 'd'));
  EXPECT_EQ(full["executor"]["type"], "local");
  EXPECT_TRUE(full["executor"].contains("process_group")) << "still said: " << full.dump();
  CommandResult show = Run({"job", "show", id});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("local process group"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("outputs/copy.txt"), std::string::npos) << show.out;
}

TEST_F(RunRetentionTest, EveryFinishedTrialsFolderKeepsAtMost4Kb) {
  WriteCode();
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "trial:\n  code: code\n  command: sh train.sh; echo x=${{search_space.x}}\n"
            "sampling_algorithm: grid\n"
            "search_space:\n  x:\n    type: choice\n    values: [1, 2, 3]\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 3\n  max_concurrent_trials: 2\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = Json({"job", "list", "--json"})[0]["id"];
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  ASSERT_EQ(sweep["trials"].size(), 3u) << sweep.dump();
  for (const auto& t : sweep["trials"]) {
    std::string tid = t["id"];
    EXPECT_EQ(t["status"], "completed") << t.dump();
    ExpectSmall(workspace_ / "runs" / tid);
    CommandResult logs = Run({"job", "logs", tid});
    EXPECT_EQ(logs.out, "acc=0.75\nx=" + t["params"]["x"].dump() + "\n") << tid;
  }
}

TEST_F(RunRetentionTest, KeepRunFilesKeepsTheWholeFolderAndPruneRemovesItButNotARunningJob) {
  WriteCode();
  WriteFile(dir_ / "job.yml", "code: code\ncommand: sh train.sh\n");
  std::string kept;
  {
    KeepRunFiles keep;
    CommandResult r = Run({"job", "submit", "job.yml", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    kept = Json({"job", "list", "--json"})[0]["id"];
  }
  fs::path kept_dir = workspace_ / "runs" / kept;
  EXPECT_TRUE(fs::exists(kept_dir / "stdout.log"));
  EXPECT_TRUE(fs::exists(kept_dir / "wd" / "data.txt"));
  EXPECT_GT(Du(kept_dir, "b"), 20000);

  WriteFile(dir_ / "slow.yml", "command: echo started; sleep 60\n");
  CommandResult slow = Run({"job", "submit", "slow.yml", "--detach", "--json"});
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  std::string running = nlohmann::json::parse(slow.out)["id"];
  fs::path running_dir = workspace_ / "runs" / running;
  for (int i = 0; i < 100 && Json({"job", "show", running, "--json"})["status"] != "running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(Json({"job", "show", running, "--json"})["status"], "running");

  // A dry run lists and removes nothing.
  nlohmann::json dry = Json({"workspace", "prune", "--dry-run", "--json"});
  EXPECT_EQ(dry["dry_run"], true);
  ASSERT_EQ(dry["runs"].size(), 1u) << dry.dump();
  EXPECT_EQ(dry["runs"][0]["id"], kept);
  EXPECT_GT(dry["bytes"].get<long long>(), 20000);
  EXPECT_EQ(dry["skipped_not_ended"], 1);
  EXPECT_TRUE(fs::exists(kept_dir / "wd" / "data.txt"));
  CommandResult human = Run({"workspace", "prune", "--dry-run"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find(kept), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("would free"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("1 run(s) that have not ended"), std::string::npos) << human.out;

  // Too recent for --older-than.
  nlohmann::json recent = Json({"workspace", "prune", "--older-than", "1h", "--json"});
  EXPECT_EQ(recent["runs"].size(), 0u);
  EXPECT_EQ(recent["skipped_recent"], 1);
  EXPECT_TRUE(fs::exists(kept_dir));
  EXPECT_EQ(Run({"workspace", "prune", "--older-than", "soon"}).exit_code, 2);

  CommandResult pruned = Run({"workspace", "prune"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_NE(pruned.out.find("freed "), std::string::npos) << pruned.out;
  EXPECT_NE(pruned.out.find("in 1 run folder"), std::string::npos) << pruned.out;
  EXPECT_FALSE(fs::exists(kept_dir));
  // The running job is untouched, and still running.
  EXPECT_TRUE(fs::exists(running_dir / "stdout.log"));
  EXPECT_EQ(Json({"job", "show", running, "--json"})["status"], "running");
  // What was pruned still shows from the stores.
  CommandResult logs = Run({"job", "logs", kept});
  EXPECT_EQ(logs.out, "acc=0.75\n");
  EXPECT_EQ(Json({"job", "show", kept, "--json"})["metrics"]["acc"]["last"], 0.75);
  EXPECT_EQ(Json({"workspace", "prune", "--json"})["runs"].size(), 0u) << "nothing left to free";

  ASSERT_EQ(Run({"job", "cancel", running}).exit_code, 0);
}

}  // namespace
}  // namespace overdrive::testing
