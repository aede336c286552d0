// The job shell with a real store (SQLite workspace) and a FakeExecutor: a sweep driven end to
// end with no processes — launches within limits, a controller that detaches and another that
// resumes on the same "cluster", a lost trial replaced, launches the executor refuses.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "../executor/fake_executor.hpp"
#include "spec/job_spec.hpp"
#include "sweep/controller.hpp"
#include "sweep/submission.hpp"
#include "sweep/workspace.hpp"
#include "temp_workspace.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

std::string SweepText(int total, int concurrent, const std::string& command) {
  return "type: sweep\n"
         "sampling_algorithm: random\n"
         "search_space:\n"
         "  x: {type: uniform, min_value: 0, max_value: 1}\n"
         "objective: {goal: maximize, primary_metric: acc}\n"
         "limits: {max_total_trials: " + std::to_string(total) +
         ", max_concurrent_trials: " + std::to_string(concurrent) + "}\n"
         "trial:\n"
         "  command: " + command + "\n";
}

class JobShellTest : public TempWorkspaceTest {
 protected:
  std::string Submit(const std::string& text) { return SubmitText(text, "sweep.yml").id; }

  Result<ControllerResult> Drive(const std::string& id, Executor& executor,
                                 const std::atomic<int>* interrupts = nullptr) {
    ControllerOptions options;
    options.out = &out_;
    options.use_executor = &executor;
    options.interrupts = interrupts;
    return DriveJob(*ws_, id, options);
  }

  std::vector<RunRecord> Trials(const std::string& sweep_id) {
    RunFilter filter;
    filter.parent_id = sweep_id;
    auto children = ws_->store().ListRuns(filter);
    EXPECT_TRUE(children) << children.error().message;
    return children ? *children : std::vector<RunRecord>{};
  }

  std::ostringstream out_;
};

TEST_F(JobShellTest, SweepRunsEveryTrialOnTheExecutorOnce) {
  std::string id = Submit(SweepText(5, 2, "sleep 0.05"));
  FakeExecutor fake(std::make_shared<FakeCluster>(), {.auto_finish = true});
  auto result = Drive(id, fake);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, RunStatus::kCompleted) << result->reason << "\n" << out_.str();
  auto trials = Trials(id);
  ASSERT_EQ(trials.size(), 5u);
  std::set<std::string> submitted;
  for (const auto& spec : fake.submitted()) submitted.insert(spec.run_id);
  EXPECT_EQ(submitted.size(), 5u);
  EXPECT_EQ(fake.submitted().size(), 5u);  // each trial reached the executor once
  for (const auto& t : trials) {
    EXPECT_EQ(t.status, RunStatus::kCompleted) << t.status_reason;
    EXPECT_TRUE(submitted.count(t.id));
    EXPECT_NE(t.command.find("sleep 0.05"), std::string::npos);
  }
  EXPECT_NE(out_.str().find("sweep " + id + " completed: 5 trials"), std::string::npos) << out_.str();
}

TEST_F(JobShellTest, ADetachedSweepResumesOnANewExecutorAndReplacesItsLostTrial) {
  std::string id = Submit(SweepText(6, 2, "sleep 0.3"));
  auto cluster = std::make_shared<FakeCluster>();
  std::atomic<int> interrupts{0};
  size_t first_submitted = 0;
  {
    FakeExecutor first(cluster, {.auto_finish = true});
    std::thread detach([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(450));
      interrupts = 2;  // the second Ctrl-C: leave the trials running
    });
    auto result = Drive(id, first, &interrupts);
    detach.join();
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_TRUE(result->detached);
    first_submitted = first.submitted().size();
  }
  // While no controller watched, one running trial was lost (its node went away).
  std::string lost;
  for (const auto& t : Trials(id)) {
    if (!IsFinal(t.status) && lost.empty()) lost = t.id;
  }
  ASSERT_FALSE(lost.empty()) << "no trial was running when the controller detached";
  cluster->Lose(lost);

  FakeExecutor second(cluster, {.auto_finish = true});
  auto result = Drive(id, second);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, RunStatus::kCompleted) << result->reason << "\n" << out_.str();
  auto trials = Trials(id);
  ASSERT_EQ(trials.size(), 7u) << out_.str();  // 6 counted + the lost one
  int replacements = 0, completed = 0;
  for (const auto& t : trials) {
    EXPECT_TRUE(IsFinal(t.status));
    completed += t.status == RunStatus::kCompleted;
    if (t.id == lost) {
      EXPECT_TRUE(IsLost(t));
      EXPECT_EQ(t.status, RunStatus::kFailed);
    }
    replacements += t.tags_json.find(lost) != std::string::npos;
  }
  EXPECT_EQ(completed, 6);
  EXPECT_EQ(replacements, 1);
  // Nothing was submitted twice: the second executor re-attached to what the first started.
  EXPECT_EQ(first_submitted + second.submitted().size(), trials.size());
}

TEST_F(JobShellTest, LaunchesTheExecutorRefusesFailTheTrialsAndTheSweepSaysWhy) {
  std::string id = Submit(SweepText(20, 2, "true"));
  FakeExecutor fake(std::make_shared<FakeCluster>(), {.cpus = 0.5, .auto_finish = true});
  auto result = Drive(id, fake);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, RunStatus::kFailed);
  EXPECT_NE(result->reason.find("trials all failed"), std::string::npos) << result->reason;
  auto trials = Trials(id);
  EXPECT_LE(trials.size(), 4u);  // alike failures name each trial's id: still alike
  for (const auto& t : trials) EXPECT_EQ(t.status, RunStatus::kFailed) << t.status_reason;
  EXPECT_NE(out_.str().find("could not start"), std::string::npos) << out_.str();
}

TEST_F(JobShellTest, CancelRequestedInTheStoreStopsTheRunningTrials) {
  std::string id = Submit(SweepText(10, 3, "sleep 100"));
  FakeExecutor fake(std::make_shared<FakeCluster>(), {.auto_finish = true});
  ASSERT_TRUE(ws_->store().RequestCancel(id));
  auto result = Drive(id, fake);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, RunStatus::kCanceled);
  EXPECT_EQ(result->reason, "canceled by user");
  for (const auto& t : Trials(id)) EXPECT_EQ(t.status, RunStatus::kCanceled);
  for (const auto& c : fake.cancels()) EXPECT_TRUE(fake.cluster().Ended(c));
}

}  // namespace
}  // namespace overdrive
