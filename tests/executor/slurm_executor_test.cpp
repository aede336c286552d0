// Slurm executor tests against a real cluster: scripts/slurm.sh start brings up a one-node
// cluster on this machine (2 CPUs, 2 fake GPUs, partitions `debug` and `low`), and
// scripts/test.sh sets OVERDRIVE_TEST_SLURM=1 when it is up. Without it every test is skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "executor/slurm_executor.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<ExecState> States(const std::vector<ExecUpdate>& updates) {
  std::vector<ExecState> out;
  for (const auto& u : updates) {
    if (u.state != ExecState::kQueued) out.push_back(u.state);
  }
  return out;
}

bool IsFinalState(ExecState s) { return s != ExecState::kQueued && s != ExecState::kRunning; }

class SlurmExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* on = std::getenv("OVERDRIVE_TEST_SLURM");
    if (!on || std::string(on) != "1") {
      GTEST_SKIP() << "Slurm executor tests need a running cluster: run `scripts/slurm.sh start` "
                      "and set OVERDRIVE_TEST_SLURM=1 (scripts/test.sh does both)";
    }
    std::string tmpl = ::testing::TempDir() + "overdrive_slurm_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    // Slurm jobs run as the submitting user, who must be able to write the run folders.
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  }
  void TearDown() override {
    if (root_.empty()) return;
    if (HasFailure()) {
      std::cerr << "run folders kept for inspection: " << root_ << "\n";
      return;
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static SlurmOptions Options(const std::string& partition = "debug") {
    SlurmOptions o;
    o.target = "test-cluster";
    o.partition = partition;
    o.poll_interval_s = 0.3;
    return o;
  }

  LaunchSpec Spec(const std::string& id, const std::string& command) {
    LaunchSpec s;
    s.run_id = id + "-" + std::to_string(::getpid());  // distinct job names across test binaries
    s.command = command;
    s.run_dir = root_ / id;
    s.working_dir = root_ / id / "wd";
    fs::create_directories(s.working_dir);
    return s;
  }

  // Polls until every run in `ids` has a final update (or `timeout_s` passes).
  static std::map<std::string, std::vector<ExecUpdate>> RunUntilDone(
      Executor& e, const std::set<std::string>& ids, double timeout_s = 120) {
    std::map<std::string, std::vector<ExecUpdate>> got;
    double end = MonotonicSeconds() + timeout_s;
    auto done = [&] {
      for (const auto& id : ids) {
        auto it = got.find(id);
        if (it == got.end() || it->second.empty() || !IsFinalState(it->second.back().state)) {
          return false;
        }
      }
      return true;
    };
    while (!done() && MonotonicSeconds() < end) {
      e.Wait(milliseconds(100));
      for (auto& u : e.Poll()) got[u.run_id].push_back(u);
    }
    return got;
  }

  // Polls until `id` is reported running; returns its updates so far.
  static std::vector<ExecUpdate> PollUntilRunning(Executor& e, const std::string& id,
                                                  double timeout_s = 90) {
    std::vector<ExecUpdate> got;
    double end = MonotonicSeconds() + timeout_s;
    while (MonotonicSeconds() < end) {
      e.Wait(milliseconds(100));
      for (auto& u : e.Poll()) {
        if (u.run_id == id) got.push_back(u);
      }
      if (!got.empty() && got.back().state != ExecState::kQueued) break;
    }
    return got;
  }

  fs::path root_;
};

TEST_F(SlurmExecutorTest, CommandRunsWithItsEnvironmentAndOutputGoesToTheRunFolder) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("hello", "echo \"hello $GREETING\"; pwd; echo oops >&2");
  s.env["GREETING"] = "from 'slurm' $HOME";  // quoting survives the batch script
  ASSERT_TRUE(e.Submit(s));
  auto all = RunUntilDone(e, {s.run_id});
  auto& u = all[s.run_id];
  ASSERT_FALSE(u.empty());
  // The first update is kQueued with the job's handle, sent before the job starts.
  EXPECT_EQ(u.front().state, ExecState::kQueued);
  auto handle = nlohmann::json::parse(u.front().handle);
  EXPECT_GT(handle.at("slurm_job_id").get<long long>(), 0);
  EXPECT_EQ(States(u), (std::vector<ExecState>{ExecState::kRunning, ExecState::kExited}));
  EXPECT_EQ(u.back().exit_code, 0) << u.back().reason;
  std::string out = ReadText(s.run_dir / "stdout.log");
  EXPECT_NE(out.find("hello from 'slurm' $HOME"), std::string::npos) << out;
  EXPECT_NE(out.find(s.working_dir.string()), std::string::npos) << out;
  EXPECT_NE(ReadText(s.run_dir / "stderr.log").find("oops"), std::string::npos);
  auto record = nlohmann::json::parse(ReadText(s.run_dir / "exit.json"));
  EXPECT_EQ(record.at("exit_code"), 0);
  EXPECT_GE(u.back().ended_at, u.back().started_at);
  EXPECT_EQ(e.ActiveCount(), 0);
}

TEST_F(SlurmExecutorTest, FailingCommandReportsItsExitCode) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("fail", "echo about to fail >&2; exit 3");
  ASSERT_TRUE(e.Submit(s));
  auto all = RunUntilDone(e, {s.run_id});
  auto& u = all[s.run_id];
  ASSERT_FALSE(u.empty());
  EXPECT_EQ(u.back().state, ExecState::kExited);
  EXPECT_EQ(u.back().exit_code, 3);
  EXPECT_NE(u.back().reason.find("code 3"), std::string::npos) << u.back().reason;
}

TEST_F(SlurmExecutorTest, CancelStopsARunningJob) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("cancel", "echo started; exec sleep 300");
  ASSERT_TRUE(e.Submit(s));
  auto first = PollUntilRunning(e, s.run_id);
  ASSERT_FALSE(first.empty());
  ASSERT_EQ(first.back().state, ExecState::kRunning);
  double t0 = MonotonicSeconds();
  ASSERT_TRUE(e.Cancel(s.run_id));
  auto all = RunUntilDone(e, {s.run_id}, 60);
  ASSERT_FALSE(all[s.run_id].empty());
  EXPECT_EQ(all[s.run_id].back().state, ExecState::kCanceled) << all[s.run_id].back().reason;
  EXPECT_LT(MonotonicSeconds() - t0, 30);
}

TEST_F(SlurmExecutorTest, CancelOfAPendingJobNeverRunsIt) {
  SlurmOptions o = Options();
  o.sbatch_args = {"--begin=now+3600"};  // held in the queue for an hour
  SlurmExecutor e(o);
  LaunchSpec s = Spec("pending", "touch ran");
  ASSERT_TRUE(e.Submit(s));
  for (int i = 0; i < 5; ++i) {
    e.Wait(milliseconds(400));
    for (const auto& u : e.Poll()) EXPECT_EQ(u.state, ExecState::kQueued);
  }
  ASSERT_TRUE(e.Cancel(s.run_id));
  auto all = RunUntilDone(e, {s.run_id}, 60);
  EXPECT_EQ(States(all[s.run_id]), std::vector<ExecState>{ExecState::kCanceled});
  EXPECT_FALSE(fs::exists(s.working_dir / "ran"));
}

TEST_F(SlurmExecutorTest, JobCanceledOutsideOverdriveIsAFailureNamingSlurm) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("outside", "exec sleep 300");
  ASSERT_TRUE(e.Submit(s));
  auto first = PollUntilRunning(e, s.run_id);
  ASSERT_FALSE(first.empty());
  auto job = nlohmann::json::parse(first.back().handle).at("slurm_job_id").get<long long>();
  ASSERT_EQ(std::system(("scancel " + std::to_string(job)).c_str()), 0);
  auto all = RunUntilDone(e, {s.run_id}, 60);
  ASSERT_FALSE(all[s.run_id].empty());
  const ExecUpdate& last = all[s.run_id].back();
  EXPECT_NE(last.state, ExecState::kCanceled);
  EXPECT_NE(last.state, ExecState::kExited);
  EXPECT_NE(last.detail.find("canceled outside Overdrive"), std::string::npos) << last.detail;
}

TEST_F(SlurmExecutorTest, TimeoutStopsTheJobToTheSecond) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("timeout", "exec sleep 300");
  s.timeout_s = 2;
  ASSERT_TRUE(e.Submit(s));
  auto all = RunUntilDone(e, {s.run_id}, 90);
  ASSERT_FALSE(all[s.run_id].empty());
  const ExecUpdate& last = all[s.run_id].back();
  EXPECT_EQ(last.state, ExecState::kTimedOut) << last.reason;
  EXPECT_LT(last.ended_at - last.started_at, 15);
}

TEST_F(SlurmExecutorTest, GpuJobsGetCudaVisibleDevices) {
  SlurmExecutor e(Options());
  LaunchSpec one = Spec("gpu1", "echo \"CVD=$CUDA_VISIBLE_DEVICES\"");
  one.gpus = 1;
  LaunchSpec two = Spec("gpu2", "echo \"CVD=$CUDA_VISIBLE_DEVICES\"");
  two.gpus = 2;
  ASSERT_TRUE(e.Submit(one));
  ASSERT_TRUE(e.Submit(two));
  auto all = RunUntilDone(e, {one.run_id, two.run_id});
  EXPECT_EQ(all[one.run_id].back().state, ExecState::kExited);
  EXPECT_EQ(all[two.run_id].back().state, ExecState::kExited);
  std::string out1 = ReadText(one.run_dir / "stdout.log");
  EXPECT_TRUE(out1 == "CVD=0\n" || out1 == "CVD=1\n") << out1;
  EXPECT_EQ(ReadText(two.run_dir / "stdout.log"), "CVD=0,1\n");
  // Whole GPUs only, as on the local executor.
  LaunchSpec half = Spec("half", "true");
  half.gpus = 0.5;
  EXPECT_FALSE(e.Submit(half));
}

// "KEY=value KEY2=value2" -> map.
std::map<std::string, std::string> Fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    size_t eq = word.find('=');
    if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

TEST_F(SlurmExecutorTest, DistributedRunIsOneSrunTaskPerRank) {
  SlurmExecutor e(Options());
  // The cluster has one node with 2 CPUs and 2 GPUs: 1 node x 2 tasks x (1 CPU, 1 GPU).
  LaunchSpec s = Spec("ddp",
                      "echo \"RANK=$RANK WORLD_SIZE=$WORLD_SIZE LOCAL_RANK=$LOCAL_RANK "
                      "NODE_RANK=$NODE_RANK LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE "
                      "MASTER_ADDR=$MASTER_ADDR MASTER_PORT=$MASTER_PORT "
                      "CVD=$CUDA_VISIBLE_DEVICES\"");
  s.distribution = "pytorch";
  s.nodes = 1;
  s.processes_per_node = 2;
  s.gpus = 1;
  ASSERT_TRUE(e.Submit(s));
  auto all = RunUntilDone(e, {s.run_id});
  ASSERT_FALSE(all[s.run_id].empty());
  const ExecUpdate& u = all[s.run_id].back();
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 0) << u.reason << ReadText(s.run_dir / "stderr.log");
  std::set<std::string> masters;
  for (int r = 0; r < 2; ++r) {
    fs::path log = s.run_dir / (r == 0 ? "stdout.log" : "rank-1.stdout.log");
    std::string text = ReadText(log);
    auto f = Fields(text);
    EXPECT_EQ(f["RANK"], std::to_string(r)) << log << ": " << text;
    EXPECT_EQ(f["WORLD_SIZE"], "2");
    EXPECT_EQ(f["LOCAL_RANK"], std::to_string(r));
    EXPECT_EQ(f["NODE_RANK"], "0");
    EXPECT_EQ(f["LOCAL_WORLD_SIZE"], "2");
    EXPECT_EQ(f["MASTER_ADDR"], "localhost") << "the first host of SLURM_JOB_NODELIST";
    EXPECT_FALSE(f["MASTER_PORT"].empty());
    EXPECT_EQ(f["CVD"], "0,1") << "a node's ranks see the node's GPUs";
    masters.insert(f["MASTER_ADDR"] + ":" + f["MASTER_PORT"]);
  }
  EXPECT_EQ(masters.size(), 1u);
  std::string script = ReadText(s.run_dir / SlurmExecutor::kBatchScript);
  EXPECT_NE(script.find("srun --kill-on-bad-exit=1 --nodes=1 --ntasks=2 --ntasks-per-node=2"),
            std::string::npos)
      << script;
}

TEST_F(SlurmExecutorTest, FailedRankEndsTheDistributedRun) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("ddpfail",
                      "if [ \"$RANK\" = 1 ]; then sleep 1; echo 'rank one broke' >&2; exit 3; fi; "
                      "sleep 120");
  s.distribution = "pytorch";
  s.processes_per_node = 2;
  double t0 = MonotonicSeconds();
  ASSERT_TRUE(e.Submit(s));
  auto all = RunUntilDone(e, {s.run_id}, 90);
  ASSERT_FALSE(all[s.run_id].empty());
  const ExecUpdate& u = all[s.run_id].back();
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 3) << u.reason;
  EXPECT_EQ(u.rank, 1);
  EXPECT_NE(u.reason.find("rank 1"), std::string::npos) << u.reason;
  EXPECT_LT(MonotonicSeconds() - t0, 60) << "rank 0 did not keep the job alive";
  EXPECT_NE(ReadText(s.run_dir / "rank-1.stderr.log").find("rank one broke"), std::string::npos);
}

TEST_F(SlurmExecutorTest, BadPartitionGivesSlurmsOwnMessageAndWhatToChange) {
  SlurmExecutor e(Options("no-such-partition"));
  LaunchSpec s = Spec("badpart", "true");
  auto r = e.Submit(s);
  ASSERT_FALSE(r);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("invalid partition specified: no-such-partition"), std::string::npos) << m;
  EXPECT_NE(m.find("check --partition of compute target 'test-cluster'"), std::string::npos) << m;
  EXPECT_NE(m.find("sinfo"), std::string::npos) << m;
  EXPECT_EQ(e.ActiveCount(), 0);
}

TEST_F(SlurmExecutorTest, RequestNoNodeCanMeetIsRefusedAtSubmit) {
  SlurmExecutor e(Options());
  LaunchSpec s = Spec("toobig", "true");
  s.gpus = 4;  // the node has 2
  auto r = e.Submit(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("Requested node configuration is not available"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("4 GPUs"), std::string::npos) << r.error().message;
}

TEST_F(SlurmExecutorTest, ReattachAfterDroppingTheExecutorReportsTheEndOnce) {
  LaunchSpec s = Spec("reattach", "sleep 3; echo finished");
  std::string handle;
  {
    SlurmExecutor first(Options());
    ASSERT_TRUE(first.Submit(s));
    auto got = PollUntilRunning(first, s.run_id);
    ASSERT_FALSE(got.empty());
    ASSERT_EQ(got.back().state, ExecState::kRunning);
    handle = got.back().handle;
  }  // the controller "dies": the job goes on in Slurm
  SlurmExecutor second(Options());
  ASSERT_TRUE(second.Reattach(s.run_id, handle));
  EXPECT_EQ(second.ActiveCount(), 1);
  auto all = RunUntilDone(second, {s.run_id});
  // No second kRunning: only the end.
  EXPECT_EQ(States(all[s.run_id]), std::vector<ExecState>{ExecState::kExited});
  EXPECT_EQ(all[s.run_id].back().exit_code, 0);
  EXPECT_EQ(ReadText(s.run_dir / "stdout.log"), "finished\n");
  for (int i = 0; i < 3; ++i) {
    second.Wait(milliseconds(400));
    EXPECT_TRUE(second.Poll().empty());
  }
  // Re-attaching never submits again: Slurm knows one job of that name.
  std::string cmd = "squeue -h -t all -n od-" + s.run_id + " -o %i";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  int jobs = 0;
  char line[256];
  while (std::fgets(line, sizeof line, p)) ++jobs;
  ::pclose(p);
  EXPECT_EQ(jobs, 1);
}

TEST_F(SlurmExecutorTest, ReattachToAQueuedJobReportsRunningThenEnd) {
  LaunchSpec s = Spec("reattach-queued", "echo ok");
  std::string handle;
  {
    SlurmOptions o = Options();
    o.sbatch_args = {"--hold"};  // still queued when the first controller dies
    SlurmExecutor first(o);
    ASSERT_TRUE(first.Submit(s));
    auto got = first.Poll();
    ASSERT_FALSE(got.empty());
    ASSERT_EQ(got.front().state, ExecState::kQueued);
    handle = got.front().handle;
  }
  SlurmExecutor second(Options());
  ASSERT_TRUE(second.Reattach(s.run_id, handle));
  for (int i = 0; i < 3; ++i) {
    second.Wait(milliseconds(400));
    EXPECT_TRUE(second.Poll().empty());  // held: neither running nor ended
  }
  auto job = nlohmann::json::parse(handle).at("slurm_job_id").get<long long>();
  ASSERT_EQ(std::system(("scontrol release " + std::to_string(job)).c_str()), 0);
  auto all = RunUntilDone(second, {s.run_id});
  EXPECT_EQ(States(all[s.run_id]), (std::vector<ExecState>{ExecState::kRunning, ExecState::kExited}));
}

// The controller died after sbatch returned but before the job id was written anywhere: the
// job is found in Slurm's queue by its name, so the run is re-attached, not submitted twice.
TEST_F(SlurmExecutorTest, JobWhoseIdWasNeverStoredIsFoundByName) {
  LaunchSpec s = Spec("unrecorded", "echo once >> count.txt");
  LaunchSpec never = Spec("never-submitted", "true");
  std::int64_t job = 0;
  {
    SlurmOptions o = Options();
    o.sbatch_args = {"--hold"};
    SlurmExecutor first(o);
    ASSERT_TRUE(first.Submit(s));
    job = nlohmann::json::parse(first.Poll().front().handle).at("slurm_job_id");
  }
  fs::remove(s.run_dir / SlurmExecutor::kHandleFile);  // as if it died before writing it

  SlurmExecutor second(Options());
  // No batch script: sbatch never ran, nothing to ask Slurm.
  auto none = second.FindSubmitted(never.run_id, never.run_dir);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(*none, "");
  EXPECT_EQ(second.SlurmCommandCount(), 0);

  auto found = second.FindSubmitted(s.run_id, s.run_dir);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_FALSE(found->empty());
  EXPECT_EQ(nlohmann::json::parse(*found).at("slurm_job_id").get<std::int64_t>(), job);
  EXPECT_TRUE(fs::exists(s.run_dir / SlurmExecutor::kHandleFile)) << "stored for next time";
  ASSERT_TRUE(second.Reattach(s.run_id, *found));
  ASSERT_EQ(std::system(("scontrol release " + std::to_string(job)).c_str()), 0);
  auto all = RunUntilDone(second, {s.run_id});
  EXPECT_EQ(States(all[s.run_id]), (std::vector<ExecState>{ExecState::kRunning, ExecState::kExited}));
  EXPECT_EQ(ReadText(s.working_dir / "count.txt"), "once\n");

  // A batch script whose job Slurm does not know: safe to submit again.
  std::ofstream(never.run_dir / SlurmExecutor::kBatchScript) << "#!/bin/sh\n";
  auto unknown = second.FindSubmitted(never.run_id, never.run_dir);
  ASSERT_TRUE(unknown) << unknown.error().message;
  EXPECT_EQ(*unknown, "");
}

TEST_F(SlurmExecutorTest, JobIdThatNamesAnotherJobIsLost) {
  SlurmExecutor e(Options());
  LaunchSpec other = Spec("other", "true");
  ASSERT_TRUE(e.Submit(other));
  auto got = e.Poll();
  ASSERT_FALSE(got.empty());
  auto j = nlohmann::json::parse(got.front().handle);
  // A handle whose job id Slurm has since given to a different job (a reset cluster).
  LaunchSpec s = Spec("ghost", "true");
  nlohmann::json ghost = {{"slurm_job_id", j.at("slurm_job_id")},
                          {"job_name", "od-not-this-one"},
                          {"run_dir", s.run_dir.string()},
                          {"phase", "running"}};
  ASSERT_TRUE(e.Reattach(s.run_id, ghost.dump()));
  auto all = RunUntilDone(e, {s.run_id, other.run_id});
  ASSERT_FALSE(all[s.run_id].empty());
  EXPECT_EQ(States(all[s.run_id]), std::vector<ExecState>{ExecState::kLost});
  EXPECT_NE(all[s.run_id].back().reason.find("no longer known to Slurm"), std::string::npos)
      << all[s.run_id].back().reason;
  EXPECT_EQ(all[other.run_id].back().state, ExecState::kExited);
}

TEST_F(SlurmExecutorTest, PreemptedJobIsLostSoASweepReplacesIt) {
  SlurmExecutor low(Options("low"));
  SlurmExecutor high(Options("debug"));
  LaunchSpec victim = Spec("victim", "exec sleep 300");
  victim.cpus = 2;
  ASSERT_TRUE(low.Submit(victim));
  auto got = PollUntilRunning(low, victim.run_id);
  ASSERT_FALSE(got.empty());
  ASSERT_EQ(got.back().state, ExecState::kRunning);
  LaunchSpec urgent = Spec("urgent", "true");
  urgent.cpus = 2;
  ASSERT_TRUE(high.Submit(urgent));
  auto all = RunUntilDone(low, {victim.run_id}, 90);
  ASSERT_FALSE(all[victim.run_id].empty());
  const ExecUpdate& last = all[victim.run_id].back();
  EXPECT_EQ(last.state, ExecState::kLost) << last.reason;
  EXPECT_NE(last.reason.find("PREEMPTED"), std::string::npos) << last.reason;
  auto done = RunUntilDone(high, {urgent.run_id});
  EXPECT_EQ(done[urgent.run_id].back().state, ExecState::kExited);
}

TEST_F(SlurmExecutorTest, OneSqueuePerPollIntervalForAllJobs) {
  SlurmOptions o = Options();
  o.poll_interval_s = 0.5;
  SlurmExecutor e(o);
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    LaunchSpec s = Spec("many" + std::to_string(i), "sleep 1");
    ASSERT_TRUE(e.Submit(s));
    ids.insert(s.run_id);
  }
  EXPECT_EQ(e.SlurmCommandCount(), 5);  // one sbatch each
  std::map<std::string, std::vector<ExecUpdate>> got;
  double t0 = MonotonicSeconds();
  int polls = 0;
  auto finished = [&] {
    int n = 0;
    for (const auto& [id, v] : got) n += !v.empty() && IsFinalState(v.back().state);
    return n;
  };
  while (finished() < 5 && MonotonicSeconds() - t0 < 120) {
    e.Wait(milliseconds(100));
    std::int64_t before = e.SlurmCommandCount();
    for (auto& u : e.Poll()) got[u.run_id].push_back(u);
    ++polls;
    // Never one command per job: at most one squeue, whatever the number of jobs.
    ASSERT_LE(e.SlurmCommandCount() - before, 1);
  }
  double took = MonotonicSeconds() - t0;
  ASSERT_EQ(finished(), 5);
  for (const auto& id : ids) EXPECT_EQ(got[id].back().exit_code, 0);
  std::int64_t queries = e.SlurmCommandCount() - 5;
  EXPECT_LE(queries, static_cast<std::int64_t>(took / o.poll_interval_s) + 1)
      << polls << " polls in " << took << " s";
  std::printf("[ slurm ] 5 jobs: %lld squeue calls over %d polls in %.1f s\n",
              static_cast<long long>(queries), polls, took);
}

TEST(SlurmOptionsTest, RoundTripsThroughTheComputeTargetsJson) {
  SlurmOptions o;
  o.partition = "gpu";
  o.account = "ml";
  o.qos = "high";
  o.sbatch_args = {"--constraint=a100"};
  o.poll_interval_s = 5;
  auto back = SlurmOptions::FromJson("cluster", o.ToJson());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->partition, "gpu");
  EXPECT_EQ(back->account, "ml");
  EXPECT_EQ(back->qos, "high");
  EXPECT_EQ(back->sbatch_args, std::vector<std::string>{"--constraint=a100"});
  EXPECT_EQ(back->poll_interval_s, 5);
  EXPECT_EQ(back->target, "cluster");
  auto typo = SlurmOptions::FromJson("cluster", R"({"partiton": "gpu"})");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("did you mean 'partition'"), std::string::npos)
      << typo.error().message;
}

}  // namespace
}  // namespace overdrive
