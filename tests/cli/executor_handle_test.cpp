// End to end: `job show` says where a run executes — the local process group, the Slurm job id
// (for scontrol/sacct) — in text and in --json, for a job and for each trial of a sweep.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <set>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class ExecutorHandleTest : public CliTest {
 protected:
  nlohmann::json WaitStatus(const std::string& id, const std::set<std::string>& wanted,
                            double timeout_s = 60) {
    auto end = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    nlohmann::json j;
    while (std::chrono::steady_clock::now() < end) {
      j = Json({"job", "show", id, "--json"});
      if (wanted.count(j.value("status", ""))) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " never reached the wanted status: " << j.dump();
    return j;
  }
};

TEST_F(ExecutorHandleTest, JobShowOfALocalRunShowsItsProcessGroup) {
  WriteFile(dir_ / "job.yml", "command: echo started; sleep 60\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = nlohmann::json::parse(r.out)["id"];
  nlohmann::json run = WaitStatus(id, {"running"});
  ASSERT_TRUE(run["executor"].is_object()) << run.dump();
  EXPECT_EQ(run["executor"]["type"], "local");
  // group.json follows the handle by a moment: wait for the command's group.
  for (int i = 0; i < 50 && !run["executor"].contains("process_group"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    run = Json({"job", "show", id, "--json"});
  }
  ASSERT_TRUE(run["executor"].contains("process_group")) << run.dump();
  int pgid = run["executor"]["process_group"];
  // It is the real group of the running command: what `kill -- -PGID` would stop.
  EXPECT_GT(pgid, 1);
  EXPECT_EQ(getpgid(pgid), pgid);
  EXPECT_NE(ReadFile("/proc/" + std::to_string(pgid) + "/cmdline").find("sleep 60"),
            std::string::npos);
  EXPECT_EQ(getpgid(run["executor"]["pid"].get<int>()), run["executor"]["pid"].get<int>())
      << "the supervisor leads its own group";

  CommandResult show = Run({"job", "show", id});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("executor    local process group " + std::to_string(pgid) +
                          " (supervisor pid "),
            std::string::npos)
      << show.out;
  ASSERT_EQ(Run({"job", "cancel", id}).exit_code, 0);
  // Still said after the run ended (where it ran, for the record).
  nlohmann::json done = Json({"job", "show", id, "--json"});
  EXPECT_EQ(done["status"], "canceled");
  EXPECT_EQ(done["executor"]["process_group"], pgid);
}

TEST_F(ExecutorHandleTest, SweepShowsEachTrialsProcessGroupInTheTableAndJson) {
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "trial:\n  command: echo acc=${{search_space.x}}\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x:\n    type: choice\n    values: [1, 2]\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 2\n  max_concurrent_trials: 2\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = Json({"job", "list", "--json"})[0]["id"];
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  ASSERT_EQ(sweep["trials"].size(), 2u) << sweep.dump();
  EXPECT_TRUE(sweep["executor"].is_null()) << "a sweep has no process of its own";
  CommandResult show = Run({"job", "show", id});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("executor"), std::string::npos) << show.out;
  for (const auto& t : sweep["trials"]) {
    ASSERT_EQ(t["executor"]["type"], "local") << t.dump();
    ASSERT_TRUE(t["executor"].contains("process_group")) << t.dump();
    std::string cell = "pgid " + t["executor"]["process_group"].dump();
    EXPECT_NE(show.out.find(cell), std::string::npos) << cell << "\n" << show.out;
  }
}

bool SlurmAvailable() {
  const char* on = std::getenv("OVERDRIVE_TEST_SLURM");
  return on && std::string(on) == "1";
}

TEST_F(ExecutorHandleTest, JobShowOfASlurmRunShowsTheSlurmJobId) {
  if (!SlurmAvailable()) {
    GTEST_SKIP() << "needs a running Slurm cluster: run `scripts/slurm.sh start` and set "
                    "OVERDRIVE_TEST_SLURM=1 (scripts/test.sh does both)";
  }
  ASSERT_EQ(Run({"compute", "add", "azureml:slurm-test", "--type", "slurm", "--partition",
                 "debug", "--poll-interval", "0.3"})
                .exit_code,
            0);
  WriteFile(dir_ / "job.yml", "compute: azureml:slurm-test\ncommand: echo hi\n");
  CommandResult r = Run({"job", "submit", "job.yml"}, 180);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = Json({"job", "list", "--json"})[0]["id"];
  nlohmann::json run = Json({"job", "show", id, "--json"});
  ASSERT_EQ(run["executor"]["type"], "slurm") << run.dump();
  EXPECT_EQ(run["executor"]["job_name"], "od-" + id);
  // The id Slurm itself gives the job of that name.
  std::string cmd = "sacct -n -X -P -o JobID --name od-" + id + " 2>/dev/null || squeue -h -t all -n od-" + id + " -o %i";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[128] = {0};
  std::string slurm_id = std::fgets(buf, sizeof buf, p) ? buf : "";
  ::pclose(p);
  while (!slurm_id.empty() && std::isspace(static_cast<unsigned char>(slurm_id.back()))) slurm_id.pop_back();
  EXPECT_EQ(run["executor"]["slurm_job_id"].dump(), slurm_id);
  CommandResult show = Run({"job", "show", id});
  EXPECT_NE(show.out.find("executor    slurm job " + run["executor"]["slurm_job_id"].dump() +
                          " (od-" + id + ")"),
            std::string::npos)
      << show.out;
}

}  // namespace
}  // namespace overdrive::testing
