// End to end: `distribution:` jobs (torch.distributed-style launches) and shared GPUs through
// the real binary, and the submit-time errors that name the place in the job file.
#include <set>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class DistributedJobTest : public CliTest {
 protected:
  nlohmann::json LastRun() {
    nlohmann::json runs = Json({"job", "list", "--json"});
    EXPECT_FALSE(runs.empty());
    return runs.empty() ? nlohmann::json{} : Json({"job", "show", runs[0]["id"], "--json"});
  }
};

TEST_F(DistributedJobTest, PytorchDistributionStartsEveryRankWithTorchsVariables) {
  WriteFile(dir_ / "job.yml",
            "command: >-\n"
            "  echo \"rank=$RANK world=$WORLD_SIZE local_rank=$LOCAL_RANK node_rank=$NODE_RANK\n"
            "  master=$MASTER_ADDR:$MASTER_PORT\" > env-$RANK.txt &&\n"
            "  echo \"ranks_seen=$WORLD_SIZE\"\n"
            "distribution:\n  type: pytorch\n  process_count_per_instance: 2\n"
            "resources:\n  instance_count: 2\n  cpus: 0.5\n");
  KeepRunFiles keep;  // the ranks' env-N.txt are read from the working folder after the end
  setenv("OVERDRIVE_CPUS", "2", 1);
  CommandResult r = Run({"job", "submit", "job.yml"});
  unsetenv("OVERDRIVE_CPUS");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json run = LastRun();
  EXPECT_EQ(run["status"], "completed");
  // Metrics come from rank 0's stdout only: one point, not four.
  EXPECT_EQ(run["metrics"]["ranks_seen"]["count"], 1) << run["metrics"].dump();
  EXPECT_EQ(run["metrics"]["ranks_seen"]["last"], 4);
  fs::path wd = fs::path(run["run_dir"].get<std::string>()) / "wd";
  std::set<std::string> masters;
  for (int rank = 0; rank < 4; ++rank) {
    std::string line = ReadFile(wd / ("env-" + std::to_string(rank) + ".txt"));
    std::string want = "rank=" + std::to_string(rank) +
                       " world=4 local_rank=" + std::to_string(rank % 2) +
                       " node_rank=" + std::to_string(rank / 2) + " master=127.0.0.1:";
    EXPECT_EQ(line.rfind(want, 0), 0u) << line;
    masters.insert(line.substr(line.find("master=")));
  }
  EXPECT_EQ(masters.size(), 1u) << "one MASTER_ADDR:MASTER_PORT for all ranks";
  std::set<std::string> logs;
  for (const auto& a : run["artifacts"]) logs.insert(a["path"]);
  EXPECT_TRUE(logs.count("logs/stdout.log"));
  EXPECT_TRUE(logs.count("logs/rank-3.stdout.log")) << run["artifacts"].dump();
}

TEST_F(DistributedJobTest, FailingRankFailsTheJobNamingTheRankAndStopsTheOthers) {
  WriteFile(dir_ / "job.yml",
            "command: >-\n"
            "  if [ \"$RANK\" = 1 ]; then echo 'ValueError: rank one broke' >&2; exit 3; fi;\n"
            "  sleep 60\n"
            "distribution: {type: pytorch, process_count_per_instance: 2}\n"
            "resources: {cpus: 0.5}\n");
  auto start = std::chrono::steady_clock::now();
  CommandResult r = Run({"job", "submit", "job.yml"});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 3) << "the failed rank's exit code is the job's\n" << r.err;
  EXPECT_LT(took, 30) << "rank 0 (sleeping) was stopped";
  nlohmann::json run = LastRun();
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["exit_code"], 3);
  std::string reason = run["status_reason"];
  EXPECT_NE(reason.find("exit code 3 on rank 1"), std::string::npos) << reason;
  EXPECT_NE(reason.find("ValueError: rank one broke"), std::string::npos) << reason;
}

TEST_F(DistributedJobTest, MistakesAreReportedAtSubmitWithTheirPlace) {
  struct Case {
    std::string yaml;
    std::string want;  // part of the error, position included
  };
  std::vector<Case> cases = {
      {"command: 'true'\ndistribution:\n  type: tensorflow\n  worker_count: 2\n",
       "job.yml:3:9: distribution type 'tensorflow' is not supported"},
      {"command: 'true'\ndistribution:\n  type: pytorch\n  process_count_per_instance: 0\n",
       "job.yml:4:31: 'process_count_per_instance' must be"},
      {"command: 'true'\ndistribution:\n  type: pytorch\n  worker_count: 2\n",
       "job.yml:4:3: 'worker_count' belongs to type: tensorflow"},
      {"command: 'true'\nresources:\n  gpus: 1.5\n",
       "job.yml:3:9: 'gpus' above 1 must be a whole number"},
      {"command: 'true'\ndistribution: {type: pytorch}\nresources:\n  gpus: 0.5\n",
       "job.yml:4:9: a distributed run takes whole GPUs per process"},
      {"command: 'true'\nenvironment_variables: {PATH: /nonexistent}\n"
       "distribution:\n  type: mpi\n",
       "job.yml:4:9: distribution type mpi runs its processes with mpirun"},
  };
  for (const auto& c : cases) {
    WriteFile(dir_ / "job.yml", c.yaml);
    CommandResult r = Run({"job", "submit", "job.yml"});
    EXPECT_EQ(r.exit_code, 2) << c.yaml;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << c.yaml << "\n" << r.err;
  }
  EXPECT_EQ(Json({"job", "list", "--json"}).size(), 0u) << "nothing was stored";

  // Slurm hands out whole GPUs: a fraction is refused before anything reaches sbatch.
  ASSERT_EQ(Run({"compute", "add", "cluster", "--type", "slurm"}).exit_code, 0);
  WriteFile(dir_ / "job.yml",
            "command: 'true'\ncompute: azureml:cluster\nresources:\n  gpus: 0.5\n");
  CommandResult slurm = Run({"job", "submit", "job.yml"});
  EXPECT_EQ(slurm.exit_code, 2);
  EXPECT_NE(slurm.err.find("job.yml:4:9: gpus: 0.5 shares a GPU"), std::string::npos) << slurm.err;

  // instance_count without a distribution runs once, and says so.
  WriteFile(dir_ / "job.yml", "command: 'true'\nresources:\n  instance_count: 2\n");
  CommandResult once = Run({"job", "submit", "job.yml"});
  EXPECT_EQ(once.exit_code, 0) << once.err;
  EXPECT_NE(once.err.find("job.yml:3:19: 'resources.instance_count: 2' without a 'distribution' "
                          "runs the command once"),
            std::string::npos)
      << once.err;
}

TEST_F(DistributedJobTest, HalfGpuTrialsShareOneGpuTwoAtATime) {
  setenv("OVERDRIVE_GPUS", "7", 1);
  WriteFile(
      dir_ / "gpu.yml",
      "type: sweep\ntrial:\n  command: >-\n"
      "    echo t0=$(date +%s.%N) gpu=$CUDA_VISIBLE_DEVICES; sleep 0.5; echo t1=$(date +%s.%N)\n"
      "  resources:\n    gpus: 0.5\n"
      "sampling_algorithm: grid\n"
      "search_space:\n  a:\n    type: choice\n    values: [1, 2, 3, 4]\n"
      "objective:\n  goal: maximize\n  primary_metric: gpu\n"
      "limits:\n  max_total_trials: 4\n  max_concurrent_trials: 4\n");
  CommandResult r = Run({"job", "submit", "gpu.yml"});
  unsetenv("OVERDRIVE_GPUS");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
  ASSERT_EQ(sweep["trials"].size(), 4u);
  std::vector<std::pair<double, double>> spans;
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed");
    EXPECT_EQ(t["metrics"]["gpu"]["last"], 7) << "the shared GPU's id";
    spans.emplace_back(t["metrics"]["t0"]["last"], t["metrics"]["t1"]["last"]);
  }
  // One GPU, four half-GPU trials: two share it at a time, never three.
  int max_running = 0;
  for (const auto& [s, _] : spans) {
    int running = 0;
    for (const auto& [s2, e2] : spans) running += (s2 <= s && s < e2);
    max_running = std::max(max_running, running);
  }
  EXPECT_EQ(max_running, 2);
}

}  // namespace
}  // namespace overdrive::testing
