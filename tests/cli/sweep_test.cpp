// End to end: sweep jobs through the real binary — sampling, early termination, views, export,
// and killing the controller at many points.
#include <set>

#include "cli_test_util.hpp"
#include "common/process.hpp"

namespace overdrive::testing {
namespace {

class SweepTest : public CliTest {
 protected:
  // A trial that reports `acc` `intervals` times; better trials have a larger x.
  void WriteSweep(const std::string& name, int trials, int concurrent, const std::string& extra,
                  int intervals = 4, const std::string& pause = "0.05") {
    WriteFile(dir_ / "src" / "trial.sh",
              "x=$1\nfor i in $(seq 1 " + std::to_string(intervals) +
                  "); do\n  awk -v x=\"$x\" -v i=\"$i\" 'BEGIN { printf \"acc=%.6f\\n\", x * i / " +
                  std::to_string(intervals) + " }'\n  sleep " + pause +
                  "\ndone\nmkdir -p outputs && echo \"$x\" > outputs/x.txt\n");
    WriteFile(dir_ / name,
              "type: sweep\n"
              "trial:\n  code: src\n  command: sh trial.sh ${{search_space.x}} ${{search_space.kind}}\n"
              "search_space:\n"
              "  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
              "  kind:\n    type: choice\n    values: [a, b]\n"
              "objective:\n  goal: maximize\n  primary_metric: acc\n"
              "limits:\n  max_total_trials: " + std::to_string(trials) +
              "\n  max_concurrent_trials: " + std::to_string(concurrent) + "\n" + extra);
  }

  std::string SweepId() {
    nlohmann::json runs = Json({"job", "list", "--json"});
    EXPECT_FALSE(runs.empty());
    return runs.empty() ? "" : runs[0]["id"].get<std::string>();
  }
};

TEST_F(SweepTest, RandomSweepRunsEveryTrialAndRanksThem) {
  WriteSweep("sweep.yml", 6, 2, "sampling_algorithm:\n  type: random\n  seed: 3\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("best trial"), std::string::npos) << r.err;
  std::string id = SweepId();
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  EXPECT_EQ(sweep["status"], "completed");
  ASSERT_EQ(sweep["trials"].size(), 6u);
  double previous = 2;
  std::set<double> xs;
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed");
    double best = t["metrics"]["acc"]["best"];
    EXPECT_LE(best, previous) << "ranked best first";
    previous = best;
    double x = t["params"]["x"];
    EXPECT_NEAR(best, x, 1e-5) << "the trial saw its own hyperparameter";
    xs.insert(x);
  }
  EXPECT_EQ(xs.size(), 6u) << "no duplicated suggestion";
  EXPECT_EQ(sweep["best_trial"], sweep["trials"][0]["id"]);
  // A trial is a run of its own, with AZUREML_SWEEP_* and outputs.
  nlohmann::json trial = Json({"job", "show", sweep["trials"][0]["id"], "--json"});
  EXPECT_EQ(trial["parent_id"], id);
  std::vector<std::string> paths;
  for (const auto& a : trial["artifacts"]) paths.push_back(a["path"]);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "outputs/x.txt"), paths.end());

  CommandResult csv = Run({"job", "export", id, "--csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  auto lines = std::count(csv.out.begin(), csv.out.end(), '\n');
  EXPECT_EQ(lines, 7) << csv.out;
  EXPECT_EQ(csv.out.rfind("trial_id,name,status", 0), 0u) << csv.out;
  CommandResult text = Run({"job", "show", id});
  EXPECT_NE(text.out.find("trials (best acc first)"), std::string::npos) << text.out;
}

TEST_F(SweepTest, BanditStopsLaggingTrials) {
  WriteSweep("sweep.yml", 10, 2,
             "sampling_algorithm:\n  type: random\n  seed: 5\n"
             "early_termination:\n  type: bandit\n  slack_factor: 0.1\n"
             "  evaluation_interval: 1\n  delay_evaluation: 2\n",
             6, "0.15");
  CommandResult r = Run({"job", "submit", "sweep.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sweep = Json({"job", "show", SweepId(), "--json"});
  int stopped = 0;
  for (const auto& t : sweep["trials"]) {
    if (t["status"] == "early_terminated") {
      ++stopped;
      EXPECT_LT(t["intervals"].get<int>(), 6);
      EXPECT_NE(t["status_reason"].get<std::string>().find("bandit"), std::string::npos);
    }
  }
  EXPECT_GT(stopped, 0) << r.err;
  EXPECT_GT(sweep["saved_trial_seconds"].get<double>(), 0);
  EXPECT_NE(r.err.find("early termination stopped"), std::string::npos) << r.err;
}

TEST_F(SweepTest, GridSweepVisitsEachPointOnce) {
  WriteFile(dir_ / "grid.yml",
            "type: sweep\ntrial:\n  command: echo acc=${{search_space.a}}\n"
            "sampling_algorithm: grid\n"
            "search_space:\n  a:\n    type: choice\n    values: [1, 2, 3]\n"
            "  b:\n    type: choice\n    values: [x, y]\n"
            "objective:\n  goal: minimize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 20\n  max_concurrent_trials: 3\n");
  CommandResult r = Run({"job", "submit", "grid.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sweep = Json({"job", "show", SweepId(), "--json"});
  ASSERT_EQ(sweep["trials"].size(), 6u) << "the grid has 6 points";
  std::set<std::string> seen;
  for (const auto& t : sweep["trials"]) seen.insert(t["params"].dump());
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(sweep["trials"][0]["metrics"]["acc"]["best"], 1) << "minimize ranks the smallest first";
}

TEST_F(SweepTest, SweepWhoseTrialsAllFailStopsWithTheReason) {
  WriteFile(dir_ / "bad.yml",
            "type: sweep\ntrial:\n  command: |\n    echo 'ImportError: no module named torch' >&2; exit 1\n"
            "sampling_algorithm: random\nsearch_space:\n  a:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 50\n  max_concurrent_trials: 1\n");
  CommandResult r = Run({"job", "submit", "bad.yml"});
  EXPECT_NE(r.exit_code, 0);
  nlohmann::json sweep = Json({"job", "show", SweepId(), "--json"});
  EXPECT_EQ(sweep["status"], "failed");
  EXPECT_LT(sweep["trials"].size(), 10u);
  EXPECT_NE(sweep["status_reason"].get<std::string>().find("ImportError"), std::string::npos)
      << sweep["status_reason"];
}

// Kill -9 of the controller at several moments; resume must finish with exactly the trials asked
// for, every trial final, no duplicated parameters and no duplicated metric point.
TEST_F(SweepTest, KillingTheControllerAtManyPointsLosesAndDuplicatesNothing) {
  WriteSweep("sweep.yml", 8, 2,
             "sampling_algorithm:\n  type: random\n  seed: 9\n", 4, "0.1");
  for (int delay_ms : {150, 700, 1500, 2600}) {
    SCOPED_TRACE("kill after " + std::to_string(delay_ms) + " ms");
    CommandResult r = Run({"job", "submit", "sweep.yml", "--detach", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json sub = nlohmann::json::parse(r.out);
    std::string id = sub["id"];
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(sub["controller_pid"].get<int>(), SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // trials go on meanwhile
    CommandResult resumed = Run({"job", "resume", id});
    EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
    nlohmann::json sweep = Json({"job", "show", id, "--json"});
    EXPECT_EQ(sweep["status"], "completed");
    ASSERT_EQ(sweep["trials"].size(), 8u);
    std::set<std::string> params;
    for (const auto& t : sweep["trials"]) {
      EXPECT_EQ(t["status"], "completed") << t.dump();
      EXPECT_EQ(t["metrics"]["acc"]["count"], 4) << t.dump();
      params.insert(t["params"].dump());
    }
    EXPECT_EQ(params.size(), 8u);
  }
}

// A trial whose supervising process is killed from outside while no controller watches is
// recorded as lost and replaced: the sweep still ends with max_total_trials counted trials, and
// the orphaned command is stopped.
TEST_F(SweepTest, LostTrialIsRecordedAndReplaced) {
  WriteFile(dir_ / "lost.yml",
            "type: sweep\ntrial:\n  command: sleep 2; echo acc=${{search_space.x}}\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 3\n  max_concurrent_trials: 2\n");
  CommandResult r = Run({"job", "submit", "lost.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sub = nlohmann::json::parse(r.out);
  std::string id = sub["id"];
  // Wait for a running trial, then kill the controller and that trial's shim.
  std::string victim;
  for (int i = 0; i < 100 && victim.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    nlohmann::json now = Json({"job", "show", id, "--json"});
    for (const auto& t : now["trials"]) {
      fs::path group = workspace_ / "runs" / t["id"].get<std::string>() / "group.json";
      if (t["status"] == "running" && fs::exists(group)) victim = t["id"];
    }
  }
  ASSERT_FALSE(victim.empty());
  kill(sub["controller_pid"].get<int>(), SIGKILL);
  fs::path run_dir = workspace_ / "runs" / victim;
  int shim = nlohmann::json::parse(ReadFile(run_dir / "shim.json"))["pid"];
  int group = nlohmann::json::parse(ReadFile(run_dir / "group.json"))["pgid"];
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  CommandResult resumed = Run({"job", "resume", id});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("1 lost and replaced"), std::string::npos) << resumed.err;
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  EXPECT_EQ(sweep["status"], "completed");
  int completed = 0, lost = 0, same_params = 0;
  nlohmann::json lost_params;
  for (const auto& t : sweep["trials"]) {
    if (t["id"] == victim) lost_params = t["params"];
  }
  for (const auto& t : sweep["trials"]) {
    if (t["status"] == "completed") {
      ++completed;
      same_params += t["params"] == lost_params;
    }
    if (t["status"] == "failed") {
      ++lost;
      EXPECT_EQ(t["id"], victim);
      EXPECT_EQ(t["status_reason"].get<std::string>().rfind("lost: ", 0), 0u) << t.dump();
    }
  }
  EXPECT_EQ(completed, 3);
  EXPECT_EQ(lost, 1);
  // The lost trial's point is run again (once), not traded for a new sample.
  EXPECT_EQ(same_params, 1) << "lost " << lost_params.dump() << ": " << sweep.dump();
  // Resuming again replaces nothing a second time.
  CommandResult again = Run({"job", "resume", id});
  EXPECT_EQ(Json({"job", "show", id, "--json"})["trials"].size(), 4u) << again.err;
  EXPECT_EQ(ProcessStartTime(group), 0) << "the orphaned command was stopped";
}

TEST_F(SweepTest, TrialTimeoutAndConditionalSpace) {
  WriteFile(dir_ / "cond.yml",
            "type: sweep\n"
            "trial:\n  command: >-\n    echo acc=${{search_space.depth}}${{search_space.c}};\n"
            "    if [ \"${{search_space.model}}\" = slow ]; then sleep 30; fi\n"
            "sampling_algorithm:\n  type: random\n  seed: 2\n"
            "search_space:\n"
            "  model:\n    type: choice\n    values:\n"
            "      - value: tree\n        search_space:\n"
            "          depth:\n            type: randint\n            upper: 5\n"
            "      - value: slow\n        search_space:\n"
            "          c:\n            type: choice\n            values: [7]\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 8\n  max_concurrent_trials: 4\n  trial_timeout: 1\n");
  CommandResult r = Run({"job", "submit", "cond.yml"});
  nlohmann::json sweep = Json({"job", "show", SweepId(), "--json"});
  ASSERT_EQ(sweep["trials"].size(), 8u) << r.err;
  int timed_out = 0, completed = 0;
  for (const auto& t : sweep["trials"]) {
    const auto& p = t["params"];
    if (p["model"] == "tree") {
      EXPECT_TRUE(p.contains("depth") && !p.contains("c")) << p.dump();
      EXPECT_EQ(t["status"], "completed");
      EXPECT_EQ(t["metrics"]["acc"]["last"], p["depth"]);
      ++completed;
    } else {
      EXPECT_TRUE(p.contains("c") && !p.contains("depth")) << p.dump();
      EXPECT_EQ(t["status"], "timed_out") << "trial_timeout applies to each trial";
      ++timed_out;
    }
  }
  EXPECT_GT(completed, 0);
  EXPECT_GT(timed_out, 0);
}

TEST_F(SweepTest, TrialsAskingForGpusGetDistinctOnes) {
  setenv("OVERDRIVE_GPUS", "0,1", 1);
  WriteFile(dir_ / "gpu.yml",
            "type: sweep\ntrial:\n  command: >-\n"
            "    echo t0=$(date +%s.%N) gpu=$CUDA_VISIBLE_DEVICES; sleep 0.5; echo t1=$(date +%s.%N)\n"
            "  resources:\n    gpus: 1\n"
            "sampling_algorithm: grid\n"
            "search_space:\n  a:\n    type: choice\n    values: [1, 2, 3, 4]\n"
            "objective:\n  goal: maximize\n  primary_metric: gpu\n"
            "limits:\n  max_total_trials: 4\n  max_concurrent_trials: 4\n");
  CommandResult r = Run({"job", "submit", "gpu.yml"});
  unsetenv("OVERDRIVE_GPUS");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sweep = Json({"job", "show", SweepId(), "--json"});
  ASSERT_EQ(sweep["trials"].size(), 4u);
  struct Span {
    double t0, t1, gpu;
  };
  std::vector<Span> spans;
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    const auto& m = t["metrics"];
    spans.push_back({m["t0"]["last"], m["t1"]["last"], m["gpu"]["last"]});
    EXPECT_TRUE(spans.back().gpu == 0 || spans.back().gpu == 1) << t.dump();
  }
  // Two GPUs and four trials asking for one each: at most two at a time, never sharing a GPU.
  for (const auto& a : spans) {
    int running = 0;
    for (const auto& b : spans) {
      bool overlaps = b.t0 <= a.t0 && a.t0 < b.t1;
      running += overlaps;
      if (overlaps && &a != &b) EXPECT_NE(a.gpu, b.gpu) << "two trials on one GPU at once";
    }
    EXPECT_LE(running, 2);
  }
}

TEST_F(SweepTest, SweepTimeoutCancelsRemainingTrials) {
  WriteFile(dir_ / "slow.yml",
            "type: sweep\ntrial:\n  command: sleep 20\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 10\n  max_concurrent_trials: 2\n  timeout: 1\n");
  auto start = std::chrono::steady_clock::now();
  CommandResult r = Run({"job", "submit", "slow.yml"});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(took, 20);
  EXPECT_EQ(r.exit_code, 130) << r.err;
  nlohmann::json sweep = Json({"job", "show", SweepId(), "--json"});
  EXPECT_EQ(sweep["status"], "canceled");
  EXPECT_NE(sweep["status_reason"].get<std::string>().find("timeout"), std::string::npos);
  for (const auto& t : sweep["trials"]) EXPECT_EQ(t["status"], "canceled");
}

}  // namespace
}  // namespace overdrive::testing
