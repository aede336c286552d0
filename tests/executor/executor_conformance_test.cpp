// The Executor contract (executor/executor.hpp), checked against every implementation: the local
// executor (real shims; this test binary is the shim, see local_executor_test.cpp's main), the
// Slurm executor (a real one-node cluster: scripts/slurm.sh start and OVERDRIVE_TEST_SLURM=1,
// which scripts/test.sh sets; skipped otherwise) and the FakeExecutor of tests (auto_finish).
// A new executor joins by adding a Backend below.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "executor/executor.hpp"
#include "executor/slurm_executor.hpp"
#include "fake_executor.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool IsFinalState(ExecState s) { return s != ExecState::kQueued && s != ExecState::kRunning; }

// One executor implementation under test.
struct Backend {
  virtual ~Backend() = default;
  // Why the backend cannot run here ("" = it can).
  virtual std::string Unavailable() const { return ""; }
  // A new executor instance; instances of one backend share the runs' world (one machine, one
  // cluster), so a second instance is a controller restart.
  virtual std::unique_ptr<Executor> Make() = 0;
  // Whether the run has ended (for "ended while nobody watched"), without an executor.
  virtual bool Ended(const LaunchSpec& spec) {
    return fs::exists(spec.run_dir / "exit.json");
  }
  // How long a run of a sub-second command may take to be reported final.
  virtual double Patience() const { return 20; }
};

struct LocalBackend : Backend {
  std::unique_ptr<Executor> Make() override {
    LocalExecutorOptions o;
    o.cpu_slots = 4;
    o.detect = false;  // no GPUs
    o.shim_path = fs::read_symlink("/proc/self/exe").string();
    auto e = MakeLocalExecutor(o);
    EXPECT_TRUE(e) << e.error().message;
    return e ? std::move(*e) : nullptr;
  }
};

struct SlurmBackend : Backend {
  std::string Unavailable() const override {
    const char* on = std::getenv("OVERDRIVE_TEST_SLURM");
    if (on && std::string(on) == "1") return "";
    return "the Slurm cases need a running cluster: run `scripts/slurm.sh start` and set "
           "OVERDRIVE_TEST_SLURM=1 (scripts/test.sh does both)";
  }
  std::unique_ptr<Executor> Make() override {
    SlurmOptions o;
    o.target = "test-cluster";
    o.partition = "debug";
    o.poll_interval_s = 0.3;
    return std::make_unique<SlurmExecutor>(o);
  }
  double Patience() const override { return 120; }
};

struct FakeBackend : Backend {
  std::shared_ptr<FakeCluster> cluster = std::make_shared<FakeCluster>();
  std::unique_ptr<Executor> Make() override {
    FakeOptions o;
    o.cpus = 4;
    o.auto_finish = true;
    return std::make_unique<FakeExecutor>(cluster, o);
  }
  bool Ended(const LaunchSpec& spec) override { return cluster->Ended(spec.run_id); }
};

std::unique_ptr<Backend> MakeBackend(const std::string& name) {
  if (name == "local") return std::make_unique<LocalBackend>();
  if (name == "slurm") return std::make_unique<SlurmBackend>();
  return std::make_unique<FakeBackend>();
}

class ExecutorConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = MakeBackend(GetParam());
    if (std::string why = backend_->Unavailable(); !why.empty()) GTEST_SKIP() << why;
    std::string tmpl = ::testing::TempDir() + "overdrive_conformance_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    // Slurm jobs run as the submitting user, who must be able to reach the run folders.
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  }
  void TearDown() override {
    if (root_.empty()) return;
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A launch with its own run folder and working directory. Run ids carry the pid: Slurm job
  // names must differ across test binaries sharing the cluster.
  LaunchSpec Spec(const std::string& name, const std::string& command) {
    LaunchSpec s;
    s.run_id = "conf-" + name + "-" + std::to_string(::getpid());
    s.command = command;
    s.run_dir = root_ / name;
    s.working_dir = root_ / name / "wd";
    fs::create_directories(s.working_dir);
    s.grace_s = 1;
    return s;
  }

  // Polls until every run in `ids` has had a final update (or the backend's patience ends).
  std::map<std::string, std::vector<ExecUpdate>> PollUntilFinal(Executor& e,
                                                                const std::set<std::string>& ids) {
    std::map<std::string, std::vector<ExecUpdate>> got;
    std::set<std::string> open = ids;
    const double end = MonotonicSeconds() + backend_->Patience();
    while (!open.empty() && MonotonicSeconds() < end) {
      for (auto& u : e.Poll()) {
        if (IsFinalState(u.state)) open.erase(u.run_id);
        got[u.run_id].push_back(std::move(u));
      }
      if (!open.empty()) e.Wait(milliseconds(100));
    }
    EXPECT_TRUE(open.empty()) << open.size() << " run(s) not reported final in time";
    return got;
  }

  // Polls until `id` is reported running; its updates so far (the last one kRunning, or a
  // failure of the test).
  std::vector<ExecUpdate> PollUntilRunning(Executor& e, const std::string& id) {
    std::vector<ExecUpdate> got;
    const double end = MonotonicSeconds() + backend_->Patience();
    while (MonotonicSeconds() < end) {
      for (auto& u : e.Poll()) {
        if (u.run_id == id) got.push_back(std::move(u));
      }
      if (!got.empty() && got.back().state != ExecState::kQueued) break;
      e.Wait(milliseconds(100));
    }
    EXPECT_FALSE(got.empty());
    if (!got.empty()) {
      EXPECT_EQ(got.back().state, ExecState::kRunning);
    }
    return got;
  }

  // The states of `updates` without kQueued (which an executor may or may not report).
  static std::vector<ExecState> States(const std::vector<ExecUpdate>& updates) {
    std::vector<ExecState> out;
    for (const auto& u : updates) {
      if (u.state != ExecState::kQueued) out.push_back(u.state);
    }
    return out;
  }

  std::unique_ptr<Backend> backend_;
  fs::path root_;
};

TEST_P(ExecutorConformance, EveryRunIsReportedRunningThenFinalExactlyOnce) {
  auto e = backend_->Make();
  ASSERT_TRUE(e);
  std::vector<LaunchSpec> specs = {Spec("ok", "true"), Spec("fails", "exit 3"),
                                   Spec("short", "sleep 0.3")};
  std::set<std::string> ids;
  for (const auto& s : specs) {
    auto r = e->Submit(s);
    ASSERT_TRUE(r) << r.error().message;
    ids.insert(s.run_id);
  }
  EXPECT_EQ(e->ActiveCount(), 3);
  auto got = PollUntilFinal(*e, ids);
  // Nothing more afterwards.
  for (int i = 0; i < 3; ++i) {
    e->Wait(milliseconds(150));
    for (const auto& u : e->Poll()) ADD_FAILURE() << "late update for " << u.run_id;
  }
  EXPECT_EQ(e->ActiveCount(), 0);
  for (const auto& s : specs) {
    auto states = States(got[s.run_id]);
    ASSERT_EQ(states.size(), 2u) << s.run_id;
    EXPECT_EQ(states[0], ExecState::kRunning) << s.run_id;
    EXPECT_EQ(states[1], ExecState::kExited) << s.run_id;
    EXPECT_GT(got[s.run_id].back().ended_at, 0) << s.run_id;
  }
  EXPECT_EQ(got[specs[0].run_id].back().exit_code, 0);
  EXPECT_EQ(got[specs[2].run_id].back().exit_code, 0);
  // The kRunning update carries the handle to store for Reattach.
  for (const auto& u : got[specs[0].run_id]) {
    if (u.state == ExecState::kRunning) {
      EXPECT_FALSE(u.handle.empty());
    }
  }
}

TEST_P(ExecutorConformance, FailingCommandGivesItsExitCodeAndAReason) {
  auto e = backend_->Make();
  ASSERT_TRUE(e);
  LaunchSpec s = Spec("exit3", "exit 3");
  ASSERT_TRUE(e->Submit(s));
  auto got = PollUntilFinal(*e, {s.run_id});
  ASSERT_FALSE(got[s.run_id].empty());
  const ExecUpdate& u = got[s.run_id].back();
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 3);
  EXPECT_EQ(u.signal, 0);
  EXPECT_NE(u.reason.find("exited with code 3"), std::string::npos) << u.reason;
  EXPECT_NE(u.reason.find("stderr.log"), std::string::npos) << u.reason;
}

TEST_P(ExecutorConformance, CancelEndsARunCanceled) {
  auto e = backend_->Make();
  ASSERT_TRUE(e);
  LaunchSpec s = Spec("cancel", "sleep 30");
  ASSERT_TRUE(e->Submit(s));
  PollUntilRunning(*e, s.run_id);
  const double asked = MonotonicSeconds();
  auto c = e->Cancel(s.run_id);
  ASSERT_TRUE(c) << c.error().message;
  auto got = PollUntilFinal(*e, {s.run_id});
  ASSERT_FALSE(got[s.run_id].empty());
  EXPECT_EQ(got[s.run_id].back().state, ExecState::kCanceled) << got[s.run_id].back().reason;
  EXPECT_LT(MonotonicSeconds() - asked, 25) << "the command ran to its end";
  EXPECT_EQ(e->ActiveCount(), 0);
  // A run no executor knows cannot be canceled.
  EXPECT_FALSE(e->Cancel("conf-no-such-run"));
}

TEST_P(ExecutorConformance, TimeoutEndsARunTimedOut) {
  auto e = backend_->Make();
  ASSERT_TRUE(e);
  LaunchSpec s = Spec("timeout", "sleep 30");
  s.timeout_s = 1;
  ASSERT_TRUE(e->Submit(s));
  auto got = PollUntilFinal(*e, {s.run_id});
  ASSERT_FALSE(got[s.run_id].empty());
  const ExecUpdate& u = got[s.run_id].back();
  EXPECT_EQ(u.state, ExecState::kTimedOut) << u.reason;
  EXPECT_LT(u.ended_at - u.started_at, 20) << "the time limit was not enforced";
}

TEST_P(ExecutorConformance, ReattachReportsTheEndOfARunThatEndedWhileNobodyWatched) {
  LaunchSpec s = Spec("reattach", "sleep 0.3; exit 4");
  std::string handle;
  {
    auto first = backend_->Make();
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->Submit(s));
    auto got = PollUntilRunning(*first, s.run_id);
    ASSERT_FALSE(got.empty());
    handle = got.back().handle;
    ASSERT_FALSE(handle.empty());
  }  // the controller "dies"; the run goes on
  const double end = MonotonicSeconds() + backend_->Patience();
  while (!backend_->Ended(s) && MonotonicSeconds() < end) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(backend_->Ended(s)) << "the run did not end on its own";

  auto second = backend_->Make();
  ASSERT_TRUE(second);
  auto r = second->Reattach(s.run_id, handle);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(second->ActiveCount(), 1);
  auto got = PollUntilFinal(*second, {s.run_id});
  // No second kRunning: only the end, once.
  EXPECT_EQ(States(got[s.run_id]), std::vector<ExecState>{ExecState::kExited});
  ASSERT_FALSE(got[s.run_id].empty());
  EXPECT_EQ(got[s.run_id].back().exit_code, 4);
  second->Wait(milliseconds(300));
  EXPECT_TRUE(second->Poll().empty());
  EXPECT_EQ(second->ActiveCount(), 0);
}

TEST_P(ExecutorConformance, FindSubmittedFindsASubmittedRunAndNothingForOneNeverSubmitted) {
  LaunchSpec s = Spec("found", "sleep 30");
  LaunchSpec never = Spec("never", "true");
  {
    auto first = backend_->Make();
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->Submit(s));
    PollUntilRunning(*first, s.run_id);
  }  // died before the handle was stored anywhere but the executor's own records
  auto second = backend_->Make();
  ASSERT_TRUE(second);
  auto none = second->FindSubmitted(never.run_id, never.run_dir);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(*none, "");

  auto found = second->FindSubmitted(s.run_id, s.run_dir);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_FALSE(found->empty());
  auto r = second->Reattach(s.run_id, *found);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(second->Cancel(s.run_id));
  auto got = PollUntilFinal(*second, {s.run_id});
  ASSERT_FALSE(got[s.run_id].empty());
  EXPECT_EQ(got[s.run_id].back().state, ExecState::kCanceled) << got[s.run_id].back().reason;
}

TEST_P(ExecutorConformance, ImpossibleRequestIsAnErrorAtSubmit) {
  auto e = backend_->Make();
  ASSERT_TRUE(e);
  LaunchSpec s = Spec("toobig", "true");
  s.gpus = 64;  // no backend here has that many
  auto r = e->Submit(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("GPUs"), std::string::npos) << r.error().message;
  EXPECT_EQ(e->ActiveCount(), 0);
  EXPECT_TRUE(e->Poll().empty());
}

INSTANTIATE_TEST_SUITE_P(Executors, ExecutorConformance,
                         ::testing::Values("local", "slurm", "fake"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace overdrive
