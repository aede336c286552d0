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

// What stopping saved, on a table. The claim is an estimate, but it must be plausible: never
// more than the longest completed trial ran beyond the stopped one, whatever the interval counts.
struct CostCase {
  const char* label;
  std::vector<TrialInfo> trials;
  double used_s;
  double saved_s;
  int stopped;
};

class SweepCostTest : public ::testing::TestWithParam<CostCase> {};

TEST_P(SweepCostTest, SavedTimeIsBasedOnObservedDurations) {
  const auto& c = GetParam();
  SweepCost cost = EstimateCost(c.trials);
  EXPECT_NEAR(cost.used_s, c.used_s, 1e-9);
  EXPECT_NEAR(cost.saved_s, c.saved_s, 1e-9);
  EXPECT_EQ(cost.stopped, c.stopped);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SweepCostTest,
    ::testing::Values(
        // The sweep: 3.6 s in all, one trial logged 200,010 intervals. By interval count
        // the stopped trial "saved" 0.3 s x 200,007 = ~16.7 h; it cannot have saved more than
        // the 3.6 s the longest trial ran, less the 0.9 s it ran itself.
        CostCase{"many_intervals_in_a_short_trial",
                 {Trial("chatty", RunStatus::kCompleted, std::vector<double>(200010, 0.5), 100,
                        103.6),
                  Trial("stopped", RunStatus::kEarlyTerminated, {0.1, 0.2, 0.3}, 100, 100.9)},
                 4.5, 2.7, 1},
        // Trials at the same pace: the interval estimate is within the cap and stands.
        CostCase{"same_pace",
                 {Trial("full", RunStatus::kCompleted, std::vector<double>(10, 0.9), 100, 120),
                  Trial("stopped", RunStatus::kEarlyTerminated, {0.1, 0.2}, 100, 104),
                  Trial("failed", RunStatus::kFailed, {}, 100, 101)},
                 25, 16, 1},
        // A stopped trial slower per interval than any completed one: capped by the longest.
        CostCase{"slow_stopped_trial_capped",
                 {Trial("full", RunStatus::kCompleted, std::vector<double>(10, 0.9), 1000, 1010),
                  Trial("slow", RunStatus::kEarlyTerminated, {0.1}, 1000, 1005)},
                 15, 5, 1},
        // It already ran longer than any completed trial: nothing is claimed.
        CostCase{"stopped_after_the_longest_completed",
                 {Trial("full", RunStatus::kCompleted, std::vector<double>(10, 0.9), 1000, 1010),
                  Trial("late", RunStatus::kEarlyTerminated, {0.1, 0.2}, 1000, 1012)},
                 22, 0, 1},
        CostCase{"no_completed_trial_no_claim",
                 {Trial("a", RunStatus::kEarlyTerminated, {0.1}, 1000, 1001),
                  Trial("b", RunStatus::kEarlyTerminated, {0.1, 0.2}, 1000, 1002)},
                 3, 0, 2},
        CostCase{"stopped_without_intervals",
                 {Trial("full", RunStatus::kCompleted, {0.5, 0.6}, 1000, 1010),
                  Trial("silent", RunStatus::kEarlyTerminated, {}, 1000, 1001)},
                 11, 0, 1},
        CostCase{"several_stopped_each_capped",
                 {Trial("full", RunStatus::kCompleted, std::vector<double>(100, 0.9), 1000, 1010),
                  Trial("s1", RunStatus::kEarlyTerminated, {0.1}, 1000, 1002),        // pace: 198 s
                  Trial("s2", RunStatus::kEarlyTerminated, std::vector<double>(50, 0.1), 1000, 1005)},
                 17, 8 + 5, 2},
        CostCase{"never_started_trials_cost_nothing",
                 {Trial("queued", RunStatus::kQueued, {}, 0, 0)}, 0, 0, 0}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(SweepCostTest, SavedNeverExceedsWhatTheLongestTrialCouldHaveRun) {
  // Whatever the interval counts, each stopped trial's saving is at most the longest completed
  // trial's duration: the "100%" of the issue cannot happen.
  for (std::size_t intervals : {1u, 10u, 1000u, 200010u}) {
    std::vector<TrialInfo> trials = {
        Trial("full", RunStatus::kCompleted, std::vector<double>(intervals, 0.5), 100, 103.6)};
    for (int i = 0; i < 5; ++i) {
      trials.push_back(Trial("s" + std::to_string(i), RunStatus::kEarlyTerminated, {0.1}, 100, 100.5));
    }
    SweepCost c = EstimateCost(trials);
    EXPECT_LE(c.saved_s, 5 * (3.6 - 0.5) + 1e-9) << intervals << " intervals";
  }
}

}  // namespace
}  // namespace overdrive
