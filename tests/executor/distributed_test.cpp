// Distributed runs and shared GPUs on the local executor: every rank a real process started by
// the shim (the test binary doubles as the shim, see main() in local_executor_test.cpp).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "executor/executor.hpp"

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

bool ProcessAlive(pid_t pid) {
  std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
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

constexpr const char* kPrintEnv =
    "echo \"RANK=$RANK WORLD_SIZE=$WORLD_SIZE LOCAL_RANK=$LOCAL_RANK NODE_RANK=$NODE_RANK "
    "LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE MASTER_ADDR=$MASTER_ADDR MASTER_PORT=$MASTER_PORT "
    "CVD=${CUDA_VISIBLE_DEVICES-unset}\"";

class DistributedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "overdrive_dist_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "run folders kept for inspection: " << root_ << "\n";
      return;
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<Executor> Make(double cpus, std::vector<std::string> gpus = {}) {
    LocalExecutorOptions o;
    o.cpu_slots = cpus;
    o.gpus = std::move(gpus);
    o.detect = false;
    o.shim_path = fs::read_symlink("/proc/self/exe").string();
    auto e = MakeLocalExecutor(o);
    EXPECT_TRUE(e.has_value()) << (e ? "" : e.error().message);
    return e ? std::move(*e) : nullptr;
  }

  LaunchSpec Spec(const std::string& id, const std::string& command) {
    LaunchSpec s;
    s.run_id = id;
    s.command = command;
    s.run_dir = root_ / ("run_" + id);
    s.working_dir = s.run_dir;
    fs::create_directories(s.run_dir);
    s.grace_s = 1;
    return s;
  }

  static std::map<std::string, std::vector<ExecUpdate>> RunUntilDone(Executor& e,
                                                                     std::set<std::string> ids,
                                                                     double max_seconds = 30) {
    std::map<std::string, std::vector<ExecUpdate>> updates;
    double end = MonotonicSeconds() + max_seconds;
    while (!ids.empty() && MonotonicSeconds() < end) {
      for (auto& u : e.Poll()) {
        if (u.state != ExecState::kRunning && u.state != ExecState::kQueued) ids.erase(u.run_id);
        updates[u.run_id].push_back(u);
      }
      if (!ids.empty()) e.Wait(milliseconds(200));
    }
    EXPECT_TRUE(ids.empty()) << "runs did not finish in time";
    return updates;
  }

  ExecUpdate RunOne(Executor& e, const LaunchSpec& spec, double max_seconds = 30) {
    auto r = e.Submit(spec);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    auto v = RunUntilDone(e, {spec.run_id}, max_seconds)[spec.run_id];
    return v.empty() ? ExecUpdate{} : v.back();
  }

  fs::path root_;
};

TEST_F(DistributedTest, PytorchRanksGetTheTorchDistributedEnvironment) {
  ::unsetenv("CUDA_VISIBLE_DEVICES");
  auto e = Make(2);
  auto spec = Spec("ddp", kPrintEnv);
  spec.distribution = "pytorch";
  spec.nodes = 2;
  spec.processes_per_node = 2;
  spec.cpus = 0.5;  // 4 ranks x 0.5 = the machine's 2 slots
  auto u = RunOne(*e, spec);
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 0) << u.reason;
  EXPECT_EQ(u.rank, -1);

  std::set<std::string> ranks, masters;
  for (int r = 0; r < 4; ++r) {
    fs::path log =
        spec.run_dir / (r == 0 ? "stdout.log" : "rank-" + std::to_string(r) + ".stdout.log");
    std::string text = ReadText(log);
    ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << log << ": " << text;
    auto f = Fields(text);
    EXPECT_EQ(f["RANK"], std::to_string(r)) << "rank " << r << " writes its own log";
    EXPECT_EQ(f["WORLD_SIZE"], "4");
    EXPECT_EQ(f["LOCAL_WORLD_SIZE"], "2");
    EXPECT_EQ(f["LOCAL_RANK"], std::to_string(r % 2));
    EXPECT_EQ(f["NODE_RANK"], std::to_string(r / 2));
    EXPECT_EQ(f["MASTER_ADDR"], "127.0.0.1");
    EXPECT_TRUE(std::regex_match(f["MASTER_PORT"], std::regex("[1-9][0-9]*"))) << text;
    EXPECT_EQ(f["CVD"], "unset");
    ranks.insert(f["RANK"]);
    masters.insert(f["MASTER_ADDR"] + ":" + f["MASTER_PORT"]);
  }
  EXPECT_EQ(ranks.size(), 4u);
  EXPECT_EQ(masters.size(), 1u) << "every rank meets at the same address";
}

TEST_F(DistributedTest, EveryRankTakesItsSlots) {
  auto e = Make(2);
  // 4 ranks x 1 CPU can never fit on 2 slots: refused at once, with the arithmetic.
  auto big = Spec("big", "true");
  big.distribution = "pytorch";
  big.nodes = 2;
  big.processes_per_node = 2;
  auto r = e->Submit(big);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("asks for 4 CPUs (2 instances x 2 processes x 1)"),
            std::string::npos)
      << r.error().message;

  // 2 ranks x 1 CPU fill the machine: a one-CPU run waits until the distributed run ends.
  auto ddp = Spec("ddp", "sleep 0.5");
  ddp.distribution = "pytorch";
  ddp.processes_per_node = 2;
  auto single = Spec("single", "true");
  ASSERT_TRUE(e->Submit(ddp));
  ASSERT_TRUE(e->Submit(single));
  auto all = RunUntilDone(*e, {"ddp", "single"});
  EXPECT_EQ(all["ddp"].back().exit_code, 0) << all["ddp"].back().reason;
  EXPECT_EQ(all["single"].back().exit_code, 0);
  EXPECT_GE(all["single"].front().started_at + 0.05, all["ddp"].back().ended_at);

  auto half_gpu = Spec("half", "true");
  half_gpu.distribution = "pytorch";
  half_gpu.processes_per_node = 2;
  half_gpu.cpus = 0.5;
  half_gpu.gpus = 0.5;
  auto e2 = Make(2, {"0", "1"});
  r = e2->Submit(half_gpu);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("whole GPUs"), std::string::npos) << r.error().message;
}

TEST_F(DistributedTest, EachNodesRanksSeeThatNodesGpus) {
  auto e = Make(4, {"0", "1", "2", "3"});
  auto spec = Spec("gpus", kPrintEnv);
  spec.distribution = "pytorch";
  spec.nodes = 2;
  spec.processes_per_node = 2;
  spec.cpus = 0.5;
  spec.gpus = 1;
  auto u = RunOne(*e, spec);
  ASSERT_EQ(u.exit_code, 0) << u.reason;
  std::map<int, std::string> cvd;
  for (int r = 0; r < 4; ++r) {
    fs::path log =
        spec.run_dir / (r == 0 ? "stdout.log" : "rank-" + std::to_string(r) + ".stdout.log");
    cvd[r] = Fields(ReadText(log))["CVD"];
  }
  EXPECT_EQ(cvd[0], cvd[1]);
  EXPECT_EQ(cvd[2], cvd[3]);
  EXPECT_NE(cvd[0], cvd[2]);
  std::set<std::string> all;
  for (const auto& node : {cvd[0], cvd[2]}) {
    std::istringstream ids(node);
    std::string id;
    int n = 0;
    while (std::getline(ids, id, ',')) all.insert(id), ++n;
    EXPECT_EQ(n, 2) << "2 ranks x 1 GPU per node: " << node;
  }
  EXPECT_EQ(all, (std::set<std::string>{"0", "1", "2", "3"}));
}

TEST_F(DistributedTest, FailingRankFailsTheRunAndItsSiblingsAreStopped) {
  auto e = Make(2);
  // Rank 0 ignores SIGTERM (so only the SIGKILL after the grace period ends it); rank 1 fails.
  auto spec = Spec("fail",
                   "if [ \"$RANK\" = 1 ]; then while [ ! -e pid-0 ]; do sleep 0.05; done; "
                   "echo 'ValueError: rank one broke' >&2; exit 3; fi; "
                   "trap '' TERM; echo $$ > pid-$RANK; sleep 60");
  spec.distribution = "pytorch";
  spec.processes_per_node = 2;
  spec.grace_s = 1;
  double t0 = MonotonicSeconds();
  auto u = RunOne(*e, spec);
  double took = MonotonicSeconds() - t0;
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 3);
  EXPECT_EQ(u.rank, 1);
  EXPECT_NE(u.reason.find("rank 1"), std::string::npos) << u.reason;
  EXPECT_NE(u.reason.find("rank-1.stderr.log"), std::string::npos) << u.reason;
  EXPECT_GE(took, 0.95) << "rank 0 was given its grace period";
  EXPECT_LT(took, 15) << "rank 0 did not keep the run alive";
  EXPECT_NE(ReadText(spec.run_dir / "rank-1.stderr.log").find("rank one broke"), std::string::npos);
  pid_t sibling = std::stoi(ReadText(spec.run_dir / "pid-0"));
  EXPECT_FALSE(ProcessAlive(sibling)) << "rank 0 was stopped";
  auto record = nlohmann::json::parse(ReadText(spec.run_dir / "exit.json"));
  EXPECT_EQ(record.at("rank"), 1);
}

TEST_F(DistributedTest, CancelStopsEveryRank) {
  auto e = Make(2);
  auto spec = Spec("cancel", "echo $$ > pid-$RANK; sleep 60");
  spec.distribution = "pytorch";
  spec.processes_per_node = 2;
  ASSERT_TRUE(e->Submit(spec));
  double end = MonotonicSeconds() + 10;
  while (!(fs::exists(spec.run_dir / "pid-0") && fs::exists(spec.run_dir / "pid-1")) &&
         MonotonicSeconds() < end) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(e->Cancel("cancel"));
  auto u = RunUntilDone(*e, {"cancel"})["cancel"].back();
  EXPECT_EQ(u.state, ExecState::kCanceled);
  for (const char* f : {"pid-0", "pid-1"}) {
    EXPECT_FALSE(ProcessAlive(std::stoi(ReadText(spec.run_dir / f)))) << f;
  }
}

TEST_F(DistributedTest, TorchGlooAllReduceAcrossTwoProcesses) {
  if (std::system("/usr/bin/python3 -c 'import torch.distributed' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs Debian's python3-torch (apt-get install python3-torch)";
  }
  auto e = Make(2);
  std::ofstream(root_ / "allreduce.py")
      << "import torch, torch.distributed as dist\n"
         "dist.init_process_group('gloo')  # env:// from MASTER_ADDR, MASTER_PORT, RANK, "
         "WORLD_SIZE\n"
         "t = torch.tensor([float(dist.get_rank() + 1)])\n"
         "dist.all_reduce(t)\n"
         "print(f'rank={dist.get_rank()} world={dist.get_world_size()} sum={t.item()}', "
         "flush=True)\n"
         "dist.destroy_process_group()\n";
  auto spec = Spec("gloo", "/usr/bin/python3 " + (root_ / "allreduce.py").string());
  spec.distribution = "pytorch";
  spec.processes_per_node = 2;
  auto u = RunOne(*e, spec, 180);
  EXPECT_EQ(u.exit_code, 0) << ReadText(spec.run_dir / "stderr.log")
                            << ReadText(spec.run_dir / "rank-1.stderr.log");
  EXPECT_EQ(ReadText(spec.run_dir / "stdout.log"), "rank=0 world=2 sum=3.0\n");
  EXPECT_EQ(ReadText(spec.run_dir / "rank-1.stdout.log"), "rank=1 world=2 sum=3.0\n");
}

// A stand-in for mpirun: starts -np copies of the command with Open MPI's rank variables.
void WriteFakeMpirun(const fs::path& dir) {
  fs::create_directories(dir);
  fs::path p = dir / "mpirun";
  std::ofstream(p)
      << "#!/bin/sh\n"
         "[ \"$1\" = -np ] || { echo \"fake mpirun: expected -np, got $1\" >&2; exit 99; }\n"
         "n=$2; shift 2; i=0; pids=''\n"
         "while [ $i -lt $n ]; do\n"
         "  OMPI_COMM_WORLD_RANK=$i OMPI_COMM_WORLD_SIZE=$n \"$@\" & pids=\"$pids $!\"\n"
         "  i=$((i + 1))\n"
         "done\n"
         "rc=0; for p in $pids; do wait $p || rc=$?; done; exit $rc\n";
  fs::permissions(p, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
}

TEST_F(DistributedTest, MpiStartsTheRanksThroughMpirun) {
  auto e = Make(2);
  fs::path bin = root_ / "bin";
  WriteFakeMpirun(bin);
  auto spec = Spec("mpi", std::string(kPrintEnv) + "; [ \"$RANK\" = 2 ] && exit 4; exit 0");
  spec.distribution = "mpi";
  spec.nodes = 2;
  spec.processes_per_node = 2;
  spec.cpus = 0.5;
  spec.env["PATH"] = bin.string() + ":/usr/bin:/bin";
  auto u = RunOne(*e, spec);
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 4) << u.reason;
  EXPECT_EQ(u.rank, 2) << "the failed rank is known through mpirun";
  std::set<std::string> masters;
  for (int r = 0; r < 4; ++r) {
    fs::path log =
        spec.run_dir / (r == 0 ? "stdout.log" : "rank-" + std::to_string(r) + ".stdout.log");
    auto f = Fields(ReadText(log));
    EXPECT_EQ(f["RANK"], std::to_string(r)) << ReadText(log);
    EXPECT_EQ(f["WORLD_SIZE"], "4");
    EXPECT_EQ(f["LOCAL_RANK"], std::to_string(r % 2));
    EXPECT_EQ(f["NODE_RANK"], std::to_string(r / 2));
    masters.insert(f["MASTER_ADDR"] + ":" + f["MASTER_PORT"]);
  }
  EXPECT_EQ(masters.size(), 1u);

  // Without mpirun the run fails with a reason that says what to install.
  auto none = Spec("nompi", "true");
  none.distribution = "mpi";
  none.env["PATH"] = (root_ / "empty").string();
  auto v = RunOne(*e, none);
  EXPECT_EQ(v.exit_code, 127);
  EXPECT_NE(v.reason.find("mpirun"), std::string::npos) << v.reason;
}

// ---- GPUs ---------------------------------------------------------------------------------

TEST_F(DistributedTest, FractionalGpusShareAGpuUpToAWhole) {
  auto e = Make(8, {"0", "1"});
  // a 0.5 -> GPU 0; b 1 -> GPU 1 (the only free one); c 0.5 -> GPU 0 (now full); d 0.3 waits.
  std::vector<std::pair<std::string, double>> asks = {{"a", 0.5}, {"b", 1}, {"c", 0.5}, {"d", 0.3}};
  for (const auto& [id, gpus] : asks) {
    auto spec = Spec(id, "echo \"$CUDA_VISIBLE_DEVICES\" > cvd; sleep 0.6");
    spec.gpus = gpus;
    ASSERT_TRUE(e->Submit(spec)) << id;
  }
  std::set<std::string> started;
  for (auto& u : e->Poll()) {
    EXPECT_EQ(u.state, ExecState::kRunning);
    started.insert(u.run_id);
  }
  EXPECT_EQ(started, (std::set<std::string>{"a", "b", "c"})) << "d waits: no GPU has 0.3 left";
  auto all = RunUntilDone(*e, {"a", "b", "c", "d"});
  for (const auto& [id, gpus] : asks) {
    EXPECT_EQ(all[id].back().exit_code, 0) << id << ": " << all[id].back().reason;
  }
  EXPECT_EQ(ReadText(root_ / "run_a" / "cvd"), "0\n");
  EXPECT_EQ(ReadText(root_ / "run_b" / "cvd"), "1\n");
  EXPECT_EQ(ReadText(root_ / "run_c" / "cvd"), "0\n");
  double first_end =
      std::min({all["a"].back().ended_at, all["b"].back().ended_at, all["c"].back().ended_at});
  EXPECT_GE(all["d"].front().started_at + 0.05, first_end);

  auto odd = Spec("odd", "true");
  odd.gpus = 1.5;
  auto r = e->Submit(odd);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("whole units"), std::string::npos) << r.error().message;
  auto e0 = Make(1);
  auto half = Spec("half", "true");
  half.gpus = 0.5;
  r = e0->Submit(half);
  ASSERT_FALSE(r.has_value()) << "no GPU to share";
  EXPECT_NE(r.error().message.find("offers 0"), std::string::npos) << r.error().message;
}

TEST_F(DistributedTest, ManyFractionalRunsNeverPutMoreThanOneGpuOnAGpu) {
  auto e = Make(8, {"0", "1"});
  std::set<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    std::string id = "f" + std::to_string(i);
    auto spec = Spec(id,
                     "echo \"$CUDA_VISIBLE_DEVICES $(date +%s.%N)\" > span; sleep 0.4; "
                     "echo \"$(date +%s.%N)\" >> span");
    spec.gpus = 0.4;  // two fit on a GPU (0.8), a third does not (1.2)
    ASSERT_TRUE(e->Submit(spec));
    ids.insert(id);
  }
  auto all = RunUntilDone(*e, ids);
  struct Span {
    std::string gpu;
    double t0, t1;
  };
  std::vector<Span> spans;
  for (const auto& id : ids) {
    EXPECT_EQ(all[id].back().exit_code, 0) << all[id].back().reason;
    std::istringstream in(ReadText(root_ / ("run_" + id) / "span"));
    Span s;
    in >> s.gpu >> s.t0 >> s.t1;
    spans.push_back(s);
  }
  for (const auto& a : spans) {
    int same_gpu = 0;
    for (const auto& b : spans) same_gpu += (b.gpu == a.gpu && b.t0 <= a.t0 && a.t0 < b.t1);
    EXPECT_LE(same_gpu, 2) << "GPU " << a.gpu << " held more than 0.8 of a GPU";
  }
}

TEST_F(DistributedTest, ReattachedFractionalRunKeepsItsShare) {
  auto e = Make(8, {"0"});
  auto first = Spec("first", "sleep 1");
  first.gpus = 0.6;
  ASSERT_TRUE(e->Submit(first));
  std::string handle;
  for (auto& u : e->Poll()) handle = u.handle;
  ASSERT_NE(handle, "");
  e.reset();  // the controller goes away; the run goes on

  auto again = Make(8, {"0"});
  ASSERT_TRUE(again->Reattach("first", handle));
  auto second = Spec("second", "true");
  second.gpus = 0.6;  // 0.6 + 0.6 > 1: waits for the re-attached run
  ASSERT_TRUE(again->Submit(second));
  auto all = RunUntilDone(*again, {"first", "second"});
  EXPECT_EQ(all["first"].back().exit_code, 0);
  EXPECT_GE(all["second"].front().started_at + 0.05, all["first"].back().ended_at);
}

}  // namespace
}  // namespace overdrive
