// RunTracker::Adopt after a controller restart, against the FakeExecutor: a run whose handle
// never reached the store is found through Executor::FindSubmitted (not sent again), one the
// executor never got is launched, and a `running` one nobody knows is lost.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "../executor/fake_executor.hpp"
#include "common/clock.hpp"
#include "spec/job_spec.hpp"
#include "sweep/run_tracker.hpp"
#include "sweep/submission.hpp"
#include "sweep/workspace.hpp"
#include "temp_workspace.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

class RunTrackerAdoptTest : public TempWorkspaceTest {
 protected:
  RunRecord SubmitCommand() { return SubmitText("command: echo hello\n"); }

  RunRecord Reload(const std::string& id) {
    auto r = ws_->store().GetRun(id);
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }

  // Updates until the run is recorded final.
  static std::vector<FinishedRun> UntilFinished(RunTracker& tracker) {
    const double end = MonotonicSeconds() + 10;
    while (MonotonicSeconds() < end) {
      auto done = tracker.Update();
      EXPECT_TRUE(done) << done.error().message;
      if (!done || !done->empty()) return done ? *done : std::vector<FinishedRun>{};
      tracker.Wait(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the run was not finished in time";
    return {};
  }

  std::shared_ptr<FakeCluster> cluster_ = std::make_shared<FakeCluster>();
};

TEST_F(RunTrackerAdoptTest, RunWhoseHandleWasNeverStoredIsFoundNotSentAgain) {
  RunRecord run = SubmitCommand();
  {
    FakeExecutor first(cluster_);
    RunTracker tracker(*ws_, first);
    ASSERT_TRUE(tracker.Launch(run));
    ASSERT_EQ(first.submitted().size(), 1u);
  }  // died before any update stored the handle
  RunRecord stored = Reload(run.id);
  EXPECT_EQ(stored.executor_handle, "");
  EXPECT_EQ(stored.status, RunStatus::kStarting);

  FakeExecutor second(cluster_);
  RunTracker tracker(*ws_, second);
  ASSERT_TRUE(tracker.Adopt(stored));
  EXPECT_TRUE(second.submitted().empty()) << "found through FindSubmitted, not submitted again";
  EXPECT_TRUE(tracker.Tracks(run.id));
  cluster_->Finish(run.id, ExecState::kExited, 0);
  auto finished = UntilFinished(tracker);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].status, RunStatus::kCompleted) << finished[0].reason;
  EXPECT_EQ(Reload(run.id).status, RunStatus::kCompleted);
}

TEST_F(RunTrackerAdoptTest, RunTheExecutorNeverGotIsLaunched) {
  RunRecord run = SubmitCommand();
  ASSERT_TRUE(ws_->store().TransitionRun(run.id, RunStatus::kStarting, {}));
  FakeExecutor executor(cluster_);
  RunTracker tracker(*ws_, executor);
  ASSERT_TRUE(tracker.Adopt(Reload(run.id)));
  ASSERT_EQ(executor.submitted().size(), 1u);
  EXPECT_EQ(executor.submitted()[0].run_id, run.id);
  executor.Finish(run.id, ExecState::kExited, 2);
  auto finished = UntilFinished(tracker);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].status, RunStatus::kFailed);
  EXPECT_EQ(finished[0].exit_code, 2) << finished[0].reason;
}

TEST_F(RunTrackerAdoptTest, RunningRunNobodyKnowsIsLost) {
  RunRecord run = SubmitCommand();
  ASSERT_TRUE(ws_->store().TransitionRun(run.id, RunStatus::kStarting, {}));
  ASSERT_TRUE(ws_->store().TransitionRun(run.id, RunStatus::kRunning, {}));
  FakeExecutor executor(cluster_);
  RunTracker tracker(*ws_, executor);
  ASSERT_TRUE(tracker.Adopt(Reload(run.id)));
  EXPECT_TRUE(executor.submitted().empty());
  RunRecord stored = Reload(run.id);
  EXPECT_EQ(stored.status, RunStatus::kFailed);
  EXPECT_EQ(stored.status_reason.rfind(kLostPrefix, 0), 0u) << stored.status_reason;
  EXPECT_TRUE(IsLost(stored));  // the flag decides, the text is for people
}

}  // namespace
}  // namespace overdrive
