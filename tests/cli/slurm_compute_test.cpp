// End to end: compute targets of type slurm, and jobs and sweeps run on the real one-node cluster
// that scripts/slurm.sh starts (scripts/test.sh sets OVERDRIVE_TEST_SLURM=1 when it is up).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <set>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

bool SlurmAvailable() {
  const char* on = std::getenv("OVERDRIVE_TEST_SLURM");
  return on && std::string(on) == "1";
}

#define SKIP_WITHOUT_SLURM()                                                                  \
  if (!SlurmAvailable()) {                                                                    \
    GTEST_SKIP() << "needs a running Slurm cluster: run `scripts/slurm.sh start` and set "    \
                    "OVERDRIVE_TEST_SLURM=1 (scripts/test.sh does both)";                     \
  }

class SlurmComputeTest : public CliTest {
 protected:
  // Polls `job show` until the job is final.
  nlohmann::json WaitFinal(const std::string& id, double timeout_s = 180) {
    auto end = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    nlohmann::json j;
    while (std::chrono::steady_clock::now() < end) {
      j = Json({"job", "show", id, "--json"});
      std::string st = j.value("status", "");
      if (st != "queued" && st != "starting" && st != "running") return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    ADD_FAILURE() << "job " << id << " did not end: " << j.dump();
    return j;
  }
};

TEST_F(SlurmComputeTest, ComputeTargetsOfTypeSlurmAreAddedListedAndShown) {
  CommandResult add = Run({"compute", "add", "azureml:gpu-cluster", "--type", "slurm",
                           "--partition", "gpu", "--account", "ml", "--qos", "high",
                           "--sbatch-arg=--constraint=a100", "--sbatch-arg=--exclusive",
                           "--poll-interval", "5"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_NE(add.out.find("partition 'gpu'"), std::string::npos) << add.out;
  ASSERT_EQ(Run({"compute", "add", "box", "--type", "local"}).exit_code, 0);

  CommandResult list = Run({"compute", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("partition"), std::string::npos) << list.out;
  std::istringstream lines(list.out);
  std::string line;
  bool slurm_row = false, local_row = false;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
    if (w == std::vector<std::string>{"gpu-cluster", "slurm", "gpu"}) slurm_row = true;
    if (w == std::vector<std::string>{"box", "local", "-"}) local_row = true;
  }
  EXPECT_TRUE(slurm_row) << list.out;
  EXPECT_TRUE(local_row) << list.out;

  nlohmann::json shown = Json({"compute", "show", "azureml:gpu-cluster", "--json"});
  EXPECT_EQ(shown["type"], "slurm");
  EXPECT_EQ(shown["config"]["partition"], "gpu");
  EXPECT_EQ(shown["config"]["account"], "ml");
  EXPECT_EQ(shown["config"]["qos"], "high");
  EXPECT_EQ(shown["config"]["sbatch_args"],
            (nlohmann::json{"--constraint=a100", "--exclusive"}));
  EXPECT_EQ(shown["config"]["poll_interval_s"], 5);
  CommandResult text = Run({"compute", "show", "gpu-cluster"});
  EXPECT_NE(text.out.find("sbatch args: --constraint=a100 --exclusive"), std::string::npos)
      << text.out;

  CommandResult typo = Run({"compute", "add", "x", "--type", "slurn"});
  EXPECT_NE(typo.exit_code, 0);
  EXPECT_NE(typo.err.find("did you mean 'slurm'"), std::string::npos) << typo.err;
  CommandResult mixed = Run({"compute", "add", "y", "--type", "local", "--partition", "p"});
  EXPECT_NE(mixed.exit_code, 0);
  EXPECT_NE(mixed.err.find("--type slurm only"), std::string::npos) << mixed.err;
  CommandResult missing = Run({"compute", "show", "gpu-clustr"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("did you mean 'gpu-cluster'"), std::string::npos) << missing.err;
}

TEST_F(SlurmComputeTest, SweepRunsItsTrialsAsSlurmJobsTwoAtATime) {
  SKIP_WITHOUT_SLURM();
  ASSERT_EQ(Run({"compute", "add", "azureml:slurm-test", "--type", "slurm", "--partition",
                 "debug", "--poll-interval", "0.3"})
                .exit_code,
            0);
  WriteFile(dir_ / "src" / "trial.sh",
            "echo \"job=$SLURM_JOB_ID\"\n"
            "for i in 1 2 3; do\n"
            "  awk -v x=\"$1\" -v i=\"$i\" 'BEGIN { printf \"acc=%.6f\\n\", x * i / 3 }'\n"
            "  sleep 0.2\n"
            "done\n"
            "mkdir -p outputs && echo \"$1\" > outputs/x.txt\n");
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "compute: azureml:slurm-test\n"
            "trial:\n  code: src\n  command: sh trial.sh ${{search_space.x}}\n"
            "sampling_algorithm:\n  type: random\n  seed: 4\n"
            "search_space:\n  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 4\n  max_concurrent_trials: 2\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"}, 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("best trial"), std::string::npos) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_FALSE(runs.empty());
  std::string id = runs[0]["id"];
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  EXPECT_EQ(sweep["status"], "completed");
  ASSERT_EQ(sweep["trials"].size(), 4u);
  std::vector<std::pair<double, double>> spans;
  for (const auto& t : sweep["trials"]) {
    std::string tid = t["id"];
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_NEAR(t["metrics"]["acc"]["best"].get<double>(), t["params"]["x"].get<double>(), 1e-5);
    // It ran as a Slurm job: Slurm's own variables reached it and Slurm knows the job by name.
    std::string out = Run({"job", "logs", tid}).out;
    EXPECT_NE(out.find("job="), std::string::npos) << out;
    EXPECT_EQ(out.find("job=\n"), std::string::npos) << out;
    EXPECT_EQ(Json({"job", "show", tid, "--json"})["executor"]["type"], "slurm");
    std::string cmd = "squeue -h -t all -n od-" + tid + " -o %T";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[128] = {0};
    std::string state = std::fgets(buf, sizeof buf, p) ? buf : "";
    ::pclose(p);
    EXPECT_EQ(state, "COMPLETED\n") << tid;
    nlohmann::json trial = Json({"job", "show", tid, "--json"});
    EXPECT_EQ(trial["compute"], "slurm-test");
    std::vector<std::string> paths;
    for (const auto& a : trial["artifacts"]) paths.push_back(a["path"]);
    EXPECT_NE(std::find(paths.begin(), paths.end(), "outputs/x.txt"), paths.end());
    spans.emplace_back(trial["started_at"].get<double>(), trial["ended_at"].get<double>());
  }
  // Never more than max_concurrent_trials at once.
  for (const auto& [start, end] : spans) {
    double at = start + 1e-3;
    int running = 0;
    for (const auto& [s, e] : spans) running += (s <= at && at < e);
    EXPECT_LE(running, 2);
  }
}

TEST_F(SlurmComputeTest, PreemptedTrialIsLostAndReplacedNotCountedAsFailure) {
  SKIP_WITHOUT_SLURM();
  ASSERT_EQ(Run({"compute", "add", "scavenger", "--type", "slurm", "--partition", "low",
                 "--poll-interval", "0.3"})
                .exit_code,
            0);
  fs::path marker = dir_ / "first-trial";
  // The first trial to start waits to be preempted; the others finish at once.
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "compute: scavenger\n"
            "trial:\n"
            "  command: if mkdir " + marker.string() +
                " 2>/dev/null; then sleep 120; fi; echo acc=${{search_space.x}}\n"
            "  resources: {cpus: 2}\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 2\n  max_concurrent_trials: 1\n");
  CommandResult r = Run({"job", "submit", "sweep.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = nlohmann::json::parse(r.out)["id"];
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    running = fs::exists(marker);
  }
  ASSERT_TRUE(running) << "no trial started";
  // A job of the higher-priority partition needs both CPUs: Slurm preempts the trial.
  ASSERT_EQ(std::system("sbatch -Q -p debug -c 2 -o /dev/null --wrap 'sleep 1'"), 0);
  nlohmann::json sweep = WaitFinal(id);
  EXPECT_EQ(sweep["status"], "completed") << sweep.dump();
  int completed = 0, lost = 0;
  nlohmann::json lost_params;
  std::vector<nlohmann::json> completed_params;
  for (const auto& t : sweep["trials"]) {
    if (t["status"] == "completed") {
      ++completed;
      completed_params.push_back(t["params"]);
    }
    if (t["status"] == "failed") {
      ++lost;
      lost_params = t["params"];
      std::string reason = t["status_reason"];
      EXPECT_EQ(reason.rfind("lost: ", 0), 0u) << reason;
      EXPECT_NE(reason.find("PREEMPTED"), std::string::npos) << reason;
    }
  }
  EXPECT_EQ(completed, 2) << sweep.dump();
  EXPECT_EQ(lost, 1) << sweep.dump();
  // The preempted trial's point was run again, not replaced by a new sample.
  ASSERT_TRUE(lost_params.contains("x")) << sweep.dump();
  EXPECT_NE(std::find(completed_params.begin(), completed_params.end(), lost_params),
            completed_params.end())
      << "no completed trial has the preempted trial's params " << lost_params.dump() << ": "
      << sweep.dump();
  EXPECT_NE(completed_params[0], completed_params[1]) << "the sampler's next point is new";
}

// A controller killed while its job waits in Slurm's queue: `job resume` finds the job again
// (its handle was stored before it started) instead of submitting it a second time.
TEST_F(SlurmComputeTest, ResumeAfterTheControllerDiedFindsTheQueuedJob) {
  SKIP_WITHOUT_SLURM();
  ASSERT_EQ(Run({"compute", "add", "held", "--type", "slurm", "--partition", "debug",
                 "--sbatch-arg=--hold", "--poll-interval", "0.3"})
                .exit_code,
            0);
  WriteFile(dir_ / "job.yml", "command: echo acc=0.75\ncompute: held\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sub = nlohmann::json::parse(r.out);
  std::string id = sub["id"];
  nlohmann::json run;
  for (int i = 0; i < 100; ++i) {
    run = Json({"job", "show", id, "--json"});
    if (fs::exists(workspace_ / "runs" / id / "slurm_job.json")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(fs::exists(workspace_ / "runs" / id / "slurm_job.json"));
  kill(sub["controller_pid"].get<int>(), SIGKILL);
  auto handle = nlohmann::json::parse(ReadFile(workspace_ / "runs" / id / "slurm_job.json"));
  long long job = handle["slurm_job_id"];
  ASSERT_EQ(std::system(("scontrol release " + std::to_string(job)).c_str()), 0);
  CommandResult resumed = Run({"job", "resume", id});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  nlohmann::json done = Json({"job", "show", id, "--json"});
  EXPECT_EQ(done["status"], "completed") << done.dump();
  std::string cmd = "squeue -h -t all -n od-" + id + " -o %i";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  int jobs = 0;
  char buf[128];
  while (std::fgets(buf, sizeof buf, p)) ++jobs;
  ::pclose(p);
  EXPECT_EQ(jobs, 1) << "the run was submitted to Slurm again";
}

// How many Slurm jobs (in any state) carry the job name of run `id`.
int SlurmJobsNamed(const std::string& id) {
  std::string cmd = "squeue -h -t all -n od-" + id + " -o %i";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  int jobs = 0;
  char buf[128];
  while (std::fgets(buf, sizeof buf, p)) ++jobs;
  ::pclose(p);
  return jobs;
}

// kill -9 of the controller while trials run in Slurm, then `job resume`: the running trials are
// re-attached, the sweep finishes with exactly max_total_trials trials, each one Slurm job, each
// with its one metric point.
TEST_F(SlurmComputeTest, ControllerKilledMidSweepIsResumedWithoutLosingOrRepeatingTrials) {
  SKIP_WITHOUT_SLURM();
  ASSERT_EQ(Run({"compute", "add", "cluster", "--type", "slurm", "--partition", "debug",
                 "--poll-interval", "0.3"})
                .exit_code,
            0);
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\ncompute: cluster\n"
            "trial:\n  command: sleep 2; echo acc=${{search_space.x}}\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 4\n  max_concurrent_trials: 2\n");
  CommandResult r = Run({"job", "submit", "sweep.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sub = nlohmann::json::parse(r.out);
  std::string id = sub["id"];
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    nlohmann::json now = Json({"job", "show", id, "--json"});
    for (const auto& t : now["trials"]) running = running || t["status"] == "running";
  }
  ASSERT_TRUE(running) << "no trial started in Slurm";
  ASSERT_EQ(kill(sub["controller_pid"].get<int>(), SIGKILL), 0);
  CommandResult resumed = Run({"job", "resume", id}, 180);
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  EXPECT_EQ(sweep["status"], "completed") << sweep.dump();
  ASSERT_EQ(sweep["trials"].size(), 4u) << sweep.dump();
  std::set<double> xs;
  for (const auto& t : sweep["trials"]) {
    std::string tid = t["id"];
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["metrics"]["acc"]["count"], 1) << t.dump();
    EXPECT_EQ(SlurmJobsNamed(tid), 1) << "trial " << tid << " was submitted to Slurm again";
    xs.insert(t["params"]["x"].get<double>());
  }
  EXPECT_EQ(xs.size(), 4u) << "no params repeated";
}

// `job cancel` of a sweep on Slurm: its running and queued trials are scancel'ed.
TEST_F(SlurmComputeTest, CancelingASweepCancelsItsSlurmJobs) {
  SKIP_WITHOUT_SLURM();
  ASSERT_EQ(Run({"compute", "add", "cluster", "--type", "slurm", "--partition", "debug",
                 "--poll-interval", "0.3"})
                .exit_code,
            0);
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\ncompute: cluster\n"
            "trial:\n  command: sleep 120; echo acc=1\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x:\n    type: uniform\n    min_value: 0\n    max_value: 1\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "limits:\n  max_total_trials: 3\n  max_concurrent_trials: 3\n");
  CommandResult r = Run({"job", "submit", "sweep.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = nlohmann::json::parse(r.out)["id"];
  std::vector<std::string> trials;
  for (int i = 0; i < 300 && trials.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    trials.clear();
    nlohmann::json now = Json({"job", "show", id, "--json"});
    for (const auto& t : now["trials"]) {
      std::string tid = t["id"];
      if (fs::exists(workspace_ / "runs" / tid / "slurm_job.json")) trials.push_back(tid);
    }
  }
  ASSERT_EQ(trials.size(), 3u) << "three trials submitted to Slurm";
  // Their Slurm job ids, read now: an ended run's folder is emptied (run_retention.hpp).
  std::map<std::string, std::string> slurm_ids;
  for (const auto& tid : trials) {
    auto handle = nlohmann::json::parse(ReadFile(workspace_ / "runs" / tid / "slurm_job.json"));
    slurm_ids[tid] = std::to_string(handle["slurm_job_id"].get<long long>());
  }
  CommandResult cancel = Run({"job", "cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  nlohmann::json sweep = WaitFinal(id, 60);
  EXPECT_EQ(sweep["status"], "canceled") << sweep.dump();
  for (const auto& tid : trials) {
    nlohmann::json t = Json({"job", "show", tid, "--json"});
    EXPECT_EQ(t["status"], "canceled") << t.dump();
    std::string job = slurm_ids[tid];
    std::string state;
    for (int i = 0; i < 50; ++i) {
      FILE* p = ::popen(("squeue -h -t all -j " + job + " -o %T").c_str(), "r");
      ASSERT_NE(p, nullptr);
      char buf[64] = {0};
      state = std::fgets(buf, sizeof buf, p) ? std::string(buf) : "";
      while (!state.empty() && std::isspace(static_cast<unsigned char>(state.back()))) state.pop_back();
      ::pclose(p);
      if (state == "CANCELLED") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(state, "CANCELLED") << "Slurm job " << job << " of trial " << tid;
  }
}

TEST_F(SlurmComputeTest, SlurmsRefusalReachesTheUserWithWhatToChange) {
  SKIP_WITHOUT_SLURM();
  ASSERT_EQ(Run({"compute", "add", "typo", "--type", "slurm", "--partition", "debgu"}).exit_code,
            0);
  WriteFile(dir_ / "job.yml", "command: echo hi\ncompute: azureml:typo\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid partition specified: debgu"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check --partition of compute target 'typo'"), std::string::npos) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "failed");
}

}  // namespace
}  // namespace overdrive::testing
