// The sweep's derived state: what the sampler sees, which trial is best, what early termination
// saved. Pure functions over trial records, tested on tables.
#include <gtest/gtest.h>

#include "sweep/sweep_state.hpp"

namespace overdrive {
namespace {

TrialInfo Trial(const std::string& id, RunStatus status, std::vector<double> intervals,
                double started, double ended, double x = 0) {
  TrialInfo t;
  t.run.id = id;
  t.run.status = status;
  t.run.started_at = started;
  t.run.ended_at = ended;
  t.intervals = std::move(intervals);
  t.best = BestOf(Goal::kMaximize, t.intervals);
  t.params["x"] = x;
  return t;
}

TEST(SweepStateTest, BestOfIgnoresNaNAndFollowsTheGoal) {
  std::vector<double> v = {0.3, std::nan(""), 0.9, 0.5};
  EXPECT_EQ(*BestOf(Goal::kMaximize, v), 0.9);
  EXPECT_EQ(*BestOf(Goal::kMinimize, v), 0.3);
  EXPECT_FALSE(BestOf(Goal::kMaximize, {std::nan("")}).has_value());
}

TEST(SweepStateTest, BestTrialCountsCompletedAndStoppedTrialsOnly) {
  std::vector<TrialInfo> trials = {
      Trial("a", RunStatus::kCompleted, {0.5, 0.7}, 0, 10),
      Trial("b", RunStatus::kFailed, {0.99}, 0, 1),          // failed: never the best
      Trial("c", RunStatus::kEarlyTerminated, {0.8}, 0, 2),  // stopped, but its value counts
      Trial("d", RunStatus::kRunning, {0.95}, 0, 0),         // still running
  };
  ASSERT_NE(BestTrial(trials, Goal::kMaximize), nullptr);
  EXPECT_EQ(BestTrial(trials, Goal::kMaximize)->run.id, "c");
  // Minimising, the smallest best-so-far wins (bests were computed for maximize: recompute).
  for (auto& t : trials) t.best = BestOf(Goal::kMinimize, t.intervals);
  EXPECT_EQ(BestTrial(trials, Goal::kMinimize)->run.id, "a");
}

TEST(SweepStateTest, ObservationsAreNegatedForMaximizeAndKeepStates) {
  std::vector<TrialInfo> trials = {
      Trial("a", RunStatus::kCompleted, {0.5, 0.7}, 0, 10, 1),
      Trial("b", RunStatus::kEarlyTerminated, {0.2, 0.3}, 0, 4, 2),
      Trial("c", RunStatus::kFailed, {}, 0, 1, 3),
      Trial("d", RunStatus::kRunning, {0.1}, 0, 0, 4),
  };
  auto obs = ToObservations(trials, Goal::kMaximize);
  ASSERT_EQ(obs.size(), 4u);
  EXPECT_EQ(obs[0].state, TrialState::kCompleted);
  EXPECT_DOUBLE_EQ(*obs[0].value, -0.7);  // samplers minimise
  EXPECT_EQ(obs[1].state, TrialState::kPruned);
  EXPECT_DOUBLE_EQ(*obs[1].value, -0.3);  // a pruned trial's last value
  EXPECT_EQ(obs[1].intervals, 2);
  EXPECT_EQ(obs[2].state, TrialState::kFailed);
  EXPECT_EQ(obs[3].state, TrialState::kPending);
  EXPECT_FALSE(obs[3].value.has_value());
  EXPECT_EQ(ParamToDouble(obs[3].params["x"]), 4);
}

TEST(SweepStateTest, CostCountsTrialTimeAndEstimatesWhatStoppingSaved) {
  std::vector<TrialInfo> trials = {
      Trial("full", RunStatus::kCompleted, std::vector<double>(10, 0.9), 100, 120),   // 20 s, 10
      Trial("stopped", RunStatus::kEarlyTerminated, {0.1, 0.2}, 100, 104),         // 4 s, 2
      Trial("failed", RunStatus::kFailed, {}, 100, 101),                           // 1 s
  };
  SweepCost c = EstimateCost(trials);
  EXPECT_DOUBLE_EQ(c.used_s, 25);
  EXPECT_EQ(c.stopped, 1);
  // The stopped trial ran 2 of the 10 intervals at 2 s each: 8 intervals (16 s) saved.
  EXPECT_DOUBLE_EQ(c.saved_s, 16);
}

}  // namespace
}  // namespace overdrive
