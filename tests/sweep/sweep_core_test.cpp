// The sweep's decision core on tables: events in, actions out, no processes, no store. A small
// simulated world (FakeWorld) stands in for the shell: it records what a shell would store,
// runs "trials" whose metric is a function of their params, and can throw the core away at any
// action boundary and resume a fresh one from what was recorded — as a killed controller would.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "sweep/sweep_core.hpp"

namespace overdrive {
namespace {

using Kind = JobAction::Kind;

Distribution Uniform(double lo, double hi) {
  Distribution d;
  d.type = DistributionType::kUniform;
  d.min_value = lo;
  d.max_value = hi;
  return d;
}

SweepSpec Spec(int total, int concurrent) {
  SweepSpec s;
  s.search_space.params.push_back({"x", Uniform(0, 1)});
  s.objective = {"acc", Goal::kMaximize};
  s.limits.max_total_trials = total;
  s.limits.max_concurrent_trials = concurrent;
  s.limits.timeout_s = 3600;
  return s;
}

std::unique_ptr<SweepCore> Make(const SweepSpec& spec, double started_at = 1000) {
  auto core = SweepCore::Make(spec, 42, started_at, "sw");
  EXPECT_TRUE(core.has_value()) << core.error().message;
  return std::move(*core);
}

int CountKind(const std::vector<JobAction>& actions, Kind k) {
  return static_cast<int>(std::count_if(actions.begin(), actions.end(),
                                        [k](const JobAction& a) { return a.kind == k; }));
}

const JobAction* Find(const std::vector<JobAction>& actions, Kind k) {
  for (const auto& a : actions)
    if (a.kind == k) return &a;
  return nullptr;
}

// What a shell records, and a world in which trials run: each launched trial reports
// acc = x over `intervals` reports and completes, unless it was asked to stop, is told to fail,
// or is lost. Everything is deterministic.
class FakeWorld {
 public:
  explicit FakeWorld(SweepSpec spec) : spec_(std::move(spec)) { core_ = Make(spec_); }

  SweepCore& core() { return *core_; }
  const std::vector<TrialInfo>& recorded() const { return recorded_; }

  // Performs actions the way the shell does; returns false on kFinish / kDetach. `budget`
  // counts actions performed; when it reaches 0 the "controller" dies before the next one.
  bool Perform(const std::vector<JobAction>& actions) {
    for (const auto& a : actions) {
      if (kill_after_ == 0) {
        killed_ = true;
        return true;
      }
      if (kill_after_ > 0) --kill_after_;
      switch (a.kind) {
        case Kind::kLaunch: {
          TrialInfo t;
          t.run.id = "t" + std::to_string(recorded_.size() + 1);
          t.run.display_name = core_->ChildName(recorded_.size() + 1);
          t.run.status = RunStatus::kQueued;
          t.params = a.params;
          t.replaces = a.replaces;
          recorded_.push_back(t);
          ++launches_;
          core_->Created(t);
          break;
        }
        case Kind::kStop:
          EXPECT_FALSE(stop_.count(a.child_id)) << "asked twice to stop " << a.child_id;
          stop_[a.child_id] = a.status;
          break;
        case Kind::kFinish:
          finish_ = a;
          return false;
        case Kind::kDetach:
          detached_ = true;
          return false;
        default:
          said_.push_back(a.text);
      }
    }
    return true;
  }

  // One loop pass of the shell: Step, then every active trial moves one report forward.
  bool Pass(const JobSignals& s = {}) {
    JobSignals signals = s;
    if (signals.now == 0) signals.now = 1000 + passes_;
    ++passes_;
    if (!Perform(core_->Step(signals)) || killed_) return false;
    int active = 0;
    for (auto& t : recorded_) {
      if (IsFinal(t.run.status)) continue;
      ++active;
      if (t.run.status == RunStatus::kQueued) {
        t.run.status = RunStatus::kRunning;
        core_->Started(t.run.id);
        continue;
      }
      if (auto it = stop_.find(t.run.id); it != stop_.end()) {
        End(t, it->second, "stopped");
      } else if (lose_.erase(t.run.id)) {
        t.run.lost = true;
        End(t, RunStatus::kFailed, "lost: its node went away");
      } else if (fail_reason_) {
        End(t, RunStatus::kFailed, *fail_reason_);
      } else {
        double x = std::get<double>(t.params.at("x"));
        t.intervals.push_back(x);
        if (!Perform(core_->Reported(t.run.id, {{"acc", 0, x, 0}})) || killed_) return false;
        if (static_cast<int>(t.intervals.size()) >= intervals_ && !stop_.count(t.run.id)) {
          End(t, RunStatus::kCompleted, "");
        }
      }
      if (killed_ || finish_ || detached_) return false;
      // The core never has more trials active than the sweep allows.
      EXPECT_LE(active, std::max(1, spec_.limits.max_concurrent_trials));
    }
    return true;
  }

  void End(TrialInfo& t, RunStatus status, const std::string& reason) {
    t.run.status = status;
    t.run.status_reason = reason;
    Perform(core_->Ended(t));
  }

  // Runs passes until the sweep finishes (or `max_passes`).
  void RunToEnd(int max_passes = 1000) {
    for (int i = 0; i < max_passes && Pass(); ++i) {
    }
  }

  // The controller dies after `n` more actions; then a new core resumes from the record.
  void KillAfter(int n) { kill_after_ = n; }
  bool killed() const { return killed_; }
  void Restart() {
    core_ = Make(spec_);
    killed_ = false;
    kill_after_ = -1;
    core_->Resume(recorded_);
  }

  void Lose(const std::string& id) { lose_.insert(id); }
  void FailAll(std::string reason) { fail_reason_ = std::move(reason); }
  void SetIntervals(int n) { intervals_ = n; }
  const std::optional<JobAction>& finish() const { return finish_; }
  bool detached() const { return detached_; }
  const std::vector<std::string>& said() const { return said_; }
  int launches() const { return launches_; }

 private:
  SweepSpec spec_;
  std::unique_ptr<SweepCore> core_;
  std::vector<TrialInfo> recorded_;
  std::map<std::string, RunStatus> stop_;
  std::set<std::string> lose_;
  std::optional<std::string> fail_reason_;
  std::optional<JobAction> finish_;
  std::vector<std::string> said_;
  bool detached_ = false;
  bool killed_ = false;
  int kill_after_ = -1;
  int intervals_ = 2;
  int passes_ = 0;
  int launches_ = 0;
};

TEST(SweepCoreTest, LaunchesUpToTheConcurrencyLimitAndNeverPastTheTotal) {
  auto core = Make(Spec(5, 2));
  core->Resume({});
  auto first = core->Step({1000, 0, false});
  EXPECT_EQ(CountKind(first, Kind::kLaunch), 2);
  // Until the shell reports them created, nothing more: they are not the core's to count yet.
  for (int i = 0; i < 2; ++i) {
    TrialInfo t;
    t.run.id = "t" + std::to_string(i);
    t.run.status = RunStatus::kQueued;
    t.params = first[static_cast<size_t>(i)].params;
    core->Created(t);
  }
  EXPECT_EQ(CountKind(core->Step({1001, 0, false}), Kind::kLaunch), 0);  // both slots busy

  FakeWorld world(Spec(5, 2));
  world.core().Resume({});
  world.RunToEnd();
  ASSERT_TRUE(world.finish());
  EXPECT_EQ(world.finish()->status, RunStatus::kCompleted);
  EXPECT_EQ(world.recorded().size(), 5u);
  for (const auto& t : world.recorded()) EXPECT_EQ(t.run.status, RunStatus::kCompleted);
  ASSERT_NE(world.core().Best(), nullptr);
  double best = 0;
  for (const auto& t : world.recorded()) best = std::max(best, std::get<double>(t.params.at("x")));
  EXPECT_EQ(*world.core().Best()->best, best);
}

TEST(SweepCoreTest, ALostTrialRunsItsParamsAgainOnceAndIsNotCounted) {
  FakeWorld world(Spec(3, 1));
  world.core().Resume({});
  world.Pass();  // t1 launched
  world.Lose("t1");
  world.RunToEnd();
  ASSERT_TRUE(world.finish());
  EXPECT_EQ(world.finish()->status, RunStatus::kCompleted);
  ASSERT_EQ(world.recorded().size(), 4u);  // 3 counted + the lost one
  EXPECT_EQ(world.recorded()[0].run.status, RunStatus::kFailed);
  EXPECT_EQ(world.recorded()[1].replaces, "t1");
  EXPECT_EQ(world.recorded()[1].params, world.recorded()[0].params);
  int replacements = 0;
  for (const auto& t : world.recorded()) replacements += t.replaces == "t1";
  EXPECT_EQ(replacements, 1);
  EXPECT_EQ(CountChildren(world.recorded()).lost, 1);
  EXPECT_EQ(CountChildren(world.recorded()).failed, 0);
}

TEST(SweepCoreTest, AResumedCoreDoesNotReplaceALostTrialTwice) {
  FakeWorld world(Spec(2, 1));
  world.core().Resume({});
  world.Pass();
  world.Lose("t1");
  world.Pass();  // t1 starts running
  world.Pass();  // t1 is lost
  world.Pass();  // the replacement is created
  ASSERT_EQ(world.recorded().size(), 2u);
  ASSERT_EQ(world.recorded()[1].replaces, "t1");
  world.Restart();
  world.RunToEnd();
  int replacements = 0;
  for (const auto& t : world.recorded()) replacements += t.replaces == "t1";
  EXPECT_EQ(replacements, 1);
  EXPECT_EQ(world.recorded().size(), 3u);
}

TEST(SweepCoreTest, FirstCtrlCStopsEveryTrialSecondDetaches) {
  FakeWorld world(Spec(10, 3));
  world.core().Resume({});
  world.Pass();
  world.Pass();
  auto actions = world.core().Step({1100, 1, false});
  EXPECT_EQ(CountKind(actions, Kind::kStop), 3);
  EXPECT_EQ(CountKind(actions, Kind::kLaunch), 0);
  for (const auto& a : actions) {
    if (a.kind == Kind::kStop) EXPECT_EQ(a.status, RunStatus::kCanceled);
  }
  // A second press before they ended: detach, leaving them running.
  auto again = world.core().Step({1101, 2, false});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].kind, Kind::kDetach);
}

TEST(SweepCoreTest, InterruptsTimeoutAndCancelEndTheSweepCanceledWithTheirReason) {
  struct Case {
    std::string name;
    JobSignals signals;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"Ctrl-C", {1005, 1, false}, "interrupted (Ctrl-C)"},
           {"timeout", {1000 + 3601, 0, false}, "sweep timeout of"},
           {"cancel", {1005, 0, true}, "canceled by user"},
       }) {
    SCOPED_TRACE(c.name);
    FakeWorld world(Spec(10, 2));
    world.core().Resume({});
    world.Pass();
    world.Pass();
    world.Pass(c.signals);
    world.RunToEnd();
    ASSERT_TRUE(world.finish());
    EXPECT_EQ(world.finish()->status, RunStatus::kCanceled);
    EXPECT_NE(world.finish()->reason.find(c.reason), std::string::npos) << world.finish()->reason;
    EXPECT_LT(world.recorded().size(), 10u);  // nothing launched after the stop
    for (const auto& t : world.recorded()) EXPECT_TRUE(IsFinal(t.run.status));
  }
}

TEST(SweepCoreTest, TrialsThatAllFailAlikeEndTheSweepFailedWithTheirReason) {
  FakeWorld world(Spec(50, 2));
  world.core().Resume({});
  world.FailAll("exited with code 2; see stderr.log");
  world.RunToEnd();
  ASSERT_TRUE(world.finish());
  EXPECT_EQ(world.finish()->status, RunStatus::kFailed);
  EXPECT_NE(world.finish()->reason.find("all failed (exited with code 2"), std::string::npos)
      << world.finish()->reason;
  EXPECT_LE(world.recorded().size(), 4u);  // it gave up early, not after 50
}

TEST(SweepCoreTest, NoCompletedTrialMeansFailed) {
  SweepSpec spec = Spec(2, 2);
  FakeWorld world(spec);
  world.core().Resume({});
  world.FailAll("different each time?");
  world.RunToEnd();
  ASSERT_TRUE(world.finish());
  EXPECT_EQ(world.finish()->status, RunStatus::kFailed);
}

TEST(SweepCoreTest, ThePolicyStopsATrialOnceAtTheIntervalItFallsBehind) {
  SweepSpec spec = Spec(4, 4);
  spec.early_termination.type = "bandit";
  spec.early_termination.slack_amount = 0.1;
  auto core = Make(spec);
  core->Resume({});
  auto launches = core->Step({1000, 0, false});
  ASSERT_EQ(CountKind(launches, Kind::kLaunch), 4);
  for (int i = 0; i < 2; ++i) {
    TrialInfo t;
    t.run.id = i == 0 ? "good" : "bad";
    t.run.status = RunStatus::kRunning;
    t.params = launches[static_cast<size_t>(i)].params;
    core->Created(t);
  }
  EXPECT_TRUE(core->Reported("good", {{"acc", 0, 0.9, 0}}).empty());
  // Other metrics are not the primary one: no decision.
  EXPECT_TRUE(core->Reported("bad", {{"loss", 0, 5.0, 0}}).empty());
  auto stop = core->Reported("bad", {{"acc", 0, 0.2, 0}});
  ASSERT_EQ(CountKind(stop, Kind::kStop), 1);
  EXPECT_EQ(Find(stop, Kind::kStop)->child_id, "bad");
  EXPECT_EQ(Find(stop, Kind::kStop)->status, RunStatus::kEarlyTerminated);
  EXPECT_FALSE(Find(stop, Kind::kStop)->reason.empty());
  // More values before it has ended: it is already stopping.
  EXPECT_TRUE(core->Reported("bad", {{"acc", 0, 0.1, 0}}).empty());
  // Ctrl-C now does not re-stop it as canceled: it keeps its early-termination.
  auto cancel = core->Step({1001, 1, false});
  for (const auto& a : cancel) {
    if (a.kind == Kind::kStop) EXPECT_NE(a.child_id, "bad");
  }
}

TEST(SweepCoreTest, AGridSweepEndsWhenItsSpaceIsExhausted) {
  SweepSpec spec = Spec(100, 4);
  spec.sampling.type = "grid";
  Distribution choice;
  choice.type = DistributionType::kChoice;
  choice.values = {ParamValue(1.0), ParamValue(2.0), ParamValue(3.0)};
  spec.search_space.params.clear();
  spec.search_space.params.push_back({"x", choice});
  FakeWorld world(spec);
  world.core().Resume({});
  world.RunToEnd();
  ASSERT_TRUE(world.finish());
  EXPECT_EQ(world.finish()->status, RunStatus::kCompleted);
  EXPECT_EQ(world.recorded().size(), 3u);
  EXPECT_NE(std::find_if(world.said().begin(), world.said().end(),
                         [](const std::string& s) {
                           return s.find("search space exhausted after 3 trials") !=
                                  std::string::npos;
                         }),
            world.said().end());
}

// A killed controller at every action boundary of a sweep with a lost trial: the resumed core
// finishes it with exactly the trials owed, the lost one replaced once, never two stops of one
// trial, never past the concurrency limit (FakeWorld checks those two as it goes).
TEST(SweepCoreTest, ResumeAtEveryActionBoundaryFinishesWithoutDuplicates) {
  auto scenario = [](FakeWorld& world) {
    world.core().Resume({});
    world.Pass();
    world.Lose("t2");
  };
  FakeWorld reference(Spec(6, 2));
  scenario(reference);
  reference.RunToEnd();
  ASSERT_TRUE(reference.finish());
  const size_t trials = reference.recorded().size();
  ASSERT_EQ(trials, 7u);  // 6 + the lost one
  int boundaries = 0;
  for (int k = 0;; ++k) {
    FakeWorld world(Spec(6, 2));
    scenario(world);
    world.KillAfter(k);
    world.RunToEnd();
    if (!world.killed()) break;  // k is past the last action
    ++boundaries;
    SCOPED_TRACE("killed after " + std::to_string(k) + " more actions");
    world.Restart();
    world.RunToEnd();
    ASSERT_TRUE(world.finish());
    EXPECT_EQ(world.finish()->status, RunStatus::kCompleted);
    EXPECT_EQ(world.recorded().size(), trials);
    int replacements = 0, completed = 0;
    for (const auto& t : world.recorded()) {
      replacements += t.replaces == "t2";
      completed += t.run.status == RunStatus::kCompleted;
    }
    EXPECT_EQ(replacements, 1);
    EXPECT_EQ(completed, 6);
  }
  EXPECT_GT(boundaries, 10);
}

}  // namespace
}  // namespace overdrive
