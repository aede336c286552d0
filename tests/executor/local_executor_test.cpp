// Local executor tests: real shims, real shells, real signals. The test binary doubles as the
// shim (main() below dispatches `_shim`), exactly as the overdrive binary does.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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

std::string SelfExe() { return fs::read_symlink("/proc/self/exe").string(); }

// Processes (not zombies) whose process group is `pgid`.
std::vector<pid_t> LiveProcessesInGroup(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string stat = ReadText(entry.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state, ppid, pgrp;
    rest >> state >> ppid >> pgrp;
    if (state != "Z" && !pgrp.empty() && std::stoi(pgrp) == pgid) out.push_back(std::stoi(name));
  }
  return out;
}

bool WaitForFile(const fs::path& p, double seconds) {
  double end = MonotonicSeconds() + seconds;
  while (MonotonicSeconds() < end) {
    if (fs::exists(p)) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return fs::exists(p);
}

class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "overdrive_exec_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<Executor> Make(double cpus, std::vector<std::string> gpus = {}) {
    LocalExecutorOptions o;
    o.cpu_slots = cpus;
    o.gpus = std::move(gpus);
    o.detect = false;
    o.shim_path = SelfExe();
    auto e = MakeLocalExecutor(o);
    EXPECT_TRUE(e.has_value()) << (e ? "" : e.error().message);
    return e ? std::move(*e) : nullptr;
  }

  // A launch with its own run folder; the working dir is a shared "work" folder.
  LaunchSpec Spec(const std::string& id, const std::string& command) {
    LaunchSpec s;
    s.run_id = id;
    s.command = command;
    s.run_dir = root_ / ("run_" + id);
    s.working_dir = root_ / "work";
    fs::create_directories(s.run_dir);
    fs::create_directories(s.working_dir);
    s.grace_s = 1;
    return s;
  }

  // Polls until every id in `ids` has a final update; returns all updates by run.
  std::map<std::string, std::vector<ExecUpdate>> RunUntilDone(Executor& e,
                                                              std::set<std::string> ids,
                                                              double max_seconds = 20) {
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

  ExecUpdate RunOne(Executor& e, const LaunchSpec& spec) {
    auto r = e.Submit(spec);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    auto all = RunUntilDone(e, {spec.run_id});
    auto& v = all[spec.run_id];
    return v.empty() ? ExecUpdate{} : v.back();
  }

  fs::path root_;
};

TEST_F(LocalExecutorTest, ReportsRunningThenExitCode) {
  auto e = Make(2);
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->Submit(Spec("a", "exit 3")));
  ASSERT_TRUE(e->Submit(Spec("b", "true")));
  EXPECT_EQ(e->ActiveCount(), 2);
  auto all = RunUntilDone(*e, {"a", "b"});
  ASSERT_EQ(all["a"].size(), 2u);
  EXPECT_EQ(all["a"][0].state, ExecState::kRunning);
  EXPECT_NE(all["a"][0].handle.find("\"pid\""), std::string::npos);
  EXPECT_GT(all["a"][0].started_at, 0);
  EXPECT_EQ(all["a"][1].state, ExecState::kExited);
  EXPECT_EQ(all["a"][1].exit_code, 3);
  EXPECT_NE(all["a"][1].reason, "");
  EXPECT_GE(all["a"][1].ended_at, all["a"][1].started_at);
  EXPECT_EQ(all["b"].back().state, ExecState::kExited);
  EXPECT_EQ(all["b"].back().exit_code, 0);
  EXPECT_EQ(e->ActiveCount(), 0);
  EXPECT_STREQ(ExecStateName(ExecState::kTimedOut), "timed_out");
}

TEST_F(LocalExecutorTest, OutputGoesToLogFiles) {
  auto e = Make(1);
  auto spec = Spec("logs", "echo to-out; echo to-err >&2; echo more-out");
  auto u = RunOne(*e, spec);
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(ReadText(spec.run_dir / "stdout.log"), "to-out\nmore-out\n");
  EXPECT_EQ(ReadText(spec.run_dir / "stderr.log"), "to-err\n");
  EXPECT_TRUE(fs::exists(spec.run_dir / "exit.json"));
}

TEST_F(LocalExecutorTest, EnvAndWorkingDirReachTheCommand) {
  ::setenv("OVERDRIVE_TEST_INHERITED", "from-parent", 1);
  ::setenv("OVERDRIVE_TEST_OVERRIDDEN", "old", 1);
  auto e = Make(1);
  auto spec = Spec("env", "echo \"$MY_PARAM|$OVERDRIVE_TEST_INHERITED|$OVERDRIVE_TEST_OVERRIDDEN|"
                          "${CUDA_VISIBLE_DEVICES-unset}\"; pwd -P; read x || echo stdin-empty");
  spec.env = {{"MY_PARAM", "lr=0.1 'quoted'"}, {"OVERDRIVE_TEST_OVERRIDDEN", "new"}};
  ::unsetenv("CUDA_VISIBLE_DEVICES");
  auto u = RunOne(*e, spec);
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(ReadText(spec.run_dir / "stdout.log"),
            "lr=0.1 'quoted'|from-parent|new|unset\n" +
                fs::canonical(spec.working_dir).string() + "\nstdin-empty\n");
}

TEST_F(LocalExecutorTest, MissingWorkingDirIsReportedNotLost) {
  auto e = Make(1);
  auto spec = Spec("nowd", "true");
  fs::create_directories(root_ / "gone");
  spec.working_dir = root_ / "gone";
  ASSERT_TRUE(e->Submit(spec));
  fs::remove(root_ / "gone");  // vanishes between submit and start
  auto u = RunUntilDone(*e, {"nowd"})["nowd"].back();
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 127);
  EXPECT_NE(u.reason.find("gone"), std::string::npos) << u.reason;
}

TEST_F(LocalExecutorTest, TimeoutKillsTheWholeProcessGroup) {
  auto e = Make(1);
  auto spec = Spec("slow", "echo $$ > pgid; sleep 100 & sleep 100");
  spec.working_dir = spec.run_dir;
  spec.timeout_s = 0.5;
  spec.grace_s = 0.5;
  double t0 = MonotonicSeconds();
  auto u = RunOne(*e, spec);
  double took = MonotonicSeconds() - t0;
  EXPECT_EQ(u.state, ExecState::kTimedOut);
  EXPECT_GE(took, 0.5);
  EXPECT_LT(took, 5);
  pid_t pgid = std::stoi(ReadText(spec.run_dir / "pgid"));
  EXPECT_TRUE(LiveProcessesInGroup(pgid).empty());
}

TEST_F(LocalExecutorTest, CancelKillsARunThatIgnoresSigtermAfterTheGrace) {
  auto e = Make(1);
  auto spec = Spec("stubborn", "trap '' TERM; echo $$ > pgid; sleep 100 & sleep 100");
  spec.working_dir = spec.run_dir;
  spec.grace_s = 0.4;
  ASSERT_TRUE(e->Submit(spec));
  ASSERT_TRUE(WaitForFile(spec.run_dir / "pgid", 10));
  double t0 = MonotonicSeconds();
  ASSERT_TRUE(e->Cancel("stubborn"));
  auto u = RunUntilDone(*e, {"stubborn"})["stubborn"].back();
  double took = MonotonicSeconds() - t0;
  EXPECT_EQ(u.state, ExecState::kCanceled);
  EXPECT_GE(took, 0.35);  // it ignored SIGTERM, so only the SIGKILL after the grace ended it
  EXPECT_LT(took, 5);
  pid_t pgid = std::stoi(ReadText(spec.run_dir / "pgid"));
  EXPECT_TRUE(LiveProcessesInGroup(pgid).empty());
}

TEST_F(LocalExecutorTest, CancelOfAQueuedRunNeverStartsIt) {
  auto e = Make(1);
  ASSERT_TRUE(e->Submit(Spec("first", "sleep 0.3")));
  auto second = Spec("second", "touch ran");
  second.working_dir = second.run_dir;
  ASSERT_TRUE(e->Submit(second));
  ASSERT_TRUE(e->Cancel("second"));
  auto all = RunUntilDone(*e, {"first", "second"});
  ASSERT_EQ(all["second"].size(), 1u);
  EXPECT_EQ(all["second"][0].state, ExecState::kCanceled);
  EXPECT_EQ(all["first"].back().state, ExecState::kExited);
  EXPECT_FALSE(fs::exists(second.run_dir / "ran"));
  EXPECT_FALSE(e->Cancel("second").has_value());  // already reported: no longer known
}

TEST_F(LocalExecutorTest, ConcurrencyIsBoundedByCpuSlots) {
  auto e = Make(2);
  std::set<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    std::string id = std::string("c").append(std::to_string(i));
    auto spec = Spec(id, "date +%s.%N > start; sleep 0.3; date +%s.%N > end");
    spec.working_dir = spec.run_dir;
    ASSERT_TRUE(e->Submit(spec));
    ids.insert(id);
  }
  // From the executor's own reports: never more than 2 between kRunning and final.
  int running = 0, max_running = 0;
  std::set<std::string> left = ids;
  double end = MonotonicSeconds() + 20;
  while (!left.empty() && MonotonicSeconds() < end) {
    for (auto& u : e->Poll()) {
      if (u.state == ExecState::kRunning) {
        max_running = std::max(max_running, ++running);
      } else {
        --running;
        EXPECT_EQ(u.state, ExecState::kExited);
        left.erase(u.run_id);
      }
    }
    e->Wait(milliseconds(200));
  }
  EXPECT_TRUE(left.empty());
  EXPECT_EQ(max_running, 2);
  // From the commands' own clocks: at any start, at most 2 runs were inside [start, end).
  std::vector<std::pair<double, double>> spans;
  for (const auto& id : ids) {
    fs::path dir = root_ / ("run_" + id);
    spans.emplace_back(std::stod(ReadText(dir / "start")), std::stod(ReadText(dir / "end")));
  }
  for (const auto& [s, _] : spans) {
    int inside = 0;
    for (const auto& [s2, e2] : spans) inside += (s2 <= s && s < e2) ? 1 : 0;
    EXPECT_LE(inside, 2);
  }
}

TEST_F(LocalExecutorTest, GpusAreHandedOutDistinctly) {
  auto e = Make(8, {"0", "1"});
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    std::string id = std::string("g").append(std::to_string(i));
    auto spec = Spec(id, "echo \"$CUDA_VISIBLE_DEVICES\" > cvd; sleep 0.4");
    spec.working_dir = spec.run_dir;
    spec.gpus = 1;
    ASSERT_TRUE(e->Submit(spec));
    ids.insert(id);
  }
  auto first = e->Poll();
  ASSERT_EQ(first.size(), 2u);  // the third waits for a GPU
  EXPECT_EQ(first[0].run_id, "g0");
  EXPECT_EQ(first[1].run_id, "g1");
  auto all = RunUntilDone(*e, ids);
  std::string a = ReadText(root_ / "run_g0" / "cvd"), b = ReadText(root_ / "run_g1" / "cvd");
  EXPECT_NE(a, b);
  EXPECT_TRUE(a == "0\n" || a == "1\n") << a;
  EXPECT_TRUE(b == "0\n" || b == "1\n") << b;
  std::string c = ReadText(root_ / "run_g2" / "cvd");
  EXPECT_TRUE(c == "0\n" || c == "1\n") << c;
  // g2 started only after one of the first two ended.
  double g2_start = all["g2"].front().started_at;
  double first_end = std::min(all["g0"].back().ended_at, all["g1"].back().ended_at);
  EXPECT_GE(g2_start + 0.05, first_end);

  auto too_many = Spec("big", "true");
  too_many.gpus = 3;
  auto r = e->Submit(too_many);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("offers 2"), std::string::npos) << r.error().message;
  EXPECT_EQ(e->ActiveCount(), 0);
}

TEST_F(LocalExecutorTest, SubmitRejectsWhatCanNeverFit) {
  auto e = Make(2);
  auto spec = Spec("huge", "true");
  spec.cpus = 3;
  auto r = e->Submit(spec);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("offers 2"), std::string::npos) << r.error().message;
  spec.cpus = 1;
  spec.gpus = 1;
  EXPECT_FALSE(e->Submit(spec).has_value());  // no GPUs at all
  spec.gpus = 0;
  ASSERT_TRUE(e->Submit(spec));
  EXPECT_FALSE(e->Submit(spec).has_value());  // same id twice
  RunUntilDone(*e, {"huge"});
}

// Starts `command` from a child process that then exits at once, like a controller that died:
// the shim is then nobody's child here. Returns the run's handle.
std::string StartInDeadController(const LaunchSpec& spec, const std::string& shim) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    LocalExecutorOptions o;
    o.cpu_slots = 1;
    o.detect = false;
    o.shim_path = shim;
    std::string handle;
    if (auto e = MakeLocalExecutor(o); e && (*e)->Submit(spec)) {
      for (auto& u : (*e)->Poll()) handle = u.handle;
    }
    (void)!write(fds[1], handle.data(), handle.size());
    _exit(0);  // no cleanup, no waiting: the controller is simply gone
  }
  close(fds[1]);
  std::string handle;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) handle.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return handle;
}

TEST_F(LocalExecutorTest, ReattachAdoptsARunFromADeadController) {
  auto spec = Spec("adopted", "sleep 1; exit 7");
  std::string handle = StartInDeadController(spec, SelfExe());
  ASSERT_NE(handle, "");
  auto b = Make(1);
  ASSERT_TRUE(b->Reattach("adopted", handle));
  EXPECT_EQ(b->ActiveCount(), 1);
  // Its CPU slot is busy: a new run waits until the adopted one ends.
  ASSERT_TRUE(b->Submit(Spec("next", "true")));
  EXPECT_TRUE(b->Poll().empty());
  auto all = RunUntilDone(*b, {"adopted", "next"});
  ASSERT_FALSE(all["adopted"].empty());
  EXPECT_EQ(all["adopted"].back().state, ExecState::kExited);
  EXPECT_EQ(all["adopted"].back().exit_code, 7);
  EXPECT_GE(all["next"].front().started_at + 0.05, all["adopted"].back().ended_at);
}

TEST_F(LocalExecutorTest, ReattachAfterAnAbandonedExecutorInThisProcess) {
  auto spec = Spec("abandoned", "sleep 0.3; exit 4");
  std::string handle;
  {
    auto a = Make(1);
    ASSERT_TRUE(a->Submit(spec));
    for (auto& u : a->Poll()) handle = u.handle;
  }  // destroyed without waiting; the shim is still our (unreaped) child
  auto b = Make(1);
  ASSERT_TRUE(b->Reattach("abandoned", handle));
  auto u = RunUntilDone(*b, {"abandoned"})["abandoned"].back();
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 4);
}

TEST_F(LocalExecutorTest, RunThatEndedWhileNobodyWatchedIsReportedFromExitRecord) {
  auto spec = Spec("finished", "exit 5");
  std::string handle = StartInDeadController(spec, SelfExe());
  ASSERT_NE(handle, "");
  ASSERT_TRUE(WaitForFile(spec.run_dir / "exit.json", 10));
  std::this_thread::sleep_for(milliseconds(100));  // let the shim exit too
  auto b = Make(1);
  ASSERT_TRUE(b->Reattach("finished", handle));
  auto u = RunUntilDone(*b, {"finished"})["finished"].back();
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 5);
}

TEST_F(LocalExecutorTest, DeadShimWithoutExitRecordIsLost) {
  auto spec = Spec("lost", "true");
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  auto b = Make(1);
  std::string handle = "{\"pid\":" + std::to_string(dead) + ",\"start_time\":1,\"run_dir\":\"" +
                       spec.run_dir.string() + "\"}";
  ASSERT_TRUE(b->Reattach("lost", handle));
  // A live process whose start time does not match is a reused pid, not our shim.
  std::string reused = "{\"pid\":" + std::to_string(getpid()) +
                       ",\"start_time\":1,\"run_dir\":\"" + spec.run_dir.string() + "\"}";
  ASSERT_TRUE(b->Reattach("reused", reused));
  auto all = RunUntilDone(*b, {"lost", "reused"});
  EXPECT_EQ(all["lost"].back().state, ExecState::kLost);
  EXPECT_NE(all["lost"].back().reason, "");
  EXPECT_EQ(all["reused"].back().state, ExecState::kLost);
  EXPECT_FALSE(b->Reattach("bad", "not json").has_value());
}

TEST_F(LocalExecutorTest, MeasureOverheadOfShortRuns) {
  auto e = Make(2);
  constexpr int kRuns = 200;
  std::set<std::string> ids;
  double t0 = MonotonicSeconds();
  for (int i = 0; i < kRuns; ++i) {
    std::string id = std::string("t").append(std::to_string(i));
    ASSERT_TRUE(e->Submit(Spec(id, "true")));
    ids.insert(id);
  }
  auto all = RunUntilDone(*e, ids, 120);
  double took = MonotonicSeconds() - t0;
  int ok = 0;
  for (auto& [id, v] : all) ok += (v.back().state == ExecState::kExited && v.back().exit_code == 0);
  EXPECT_EQ(ok, kRuns);
  std::printf("[ overhead ] %d runs of `true` at 2 slots: %.2f s, %.2f ms per run\n", kRuns, took,
              took * 1000 / kRuns);
}

}  // namespace
}  // namespace overdrive

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "_shim") == 0) {
    // Skip atexit handlers (leak check, gtest): the shim's job ends with its exit record.
    std::fflush(nullptr);
    _exit(overdrive::RunShim(argc, argv));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
