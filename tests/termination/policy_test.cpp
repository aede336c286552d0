#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "termination/policies.hpp"
#include "termination/policy.hpp"

namespace overdrive {
namespace {

constexpr Decision kStop = Decision::kStop;
constexpr Decision kGo = Decision::kContinue;
constexpr Goal kMax = Goal::kMaximize;
constexpr Goal kMin = Goal::kMinimize;

EarlyTerminationSpec Bandit(std::optional<double> factor, std::optional<double> amount,
                            int interval = 1, int delay = 0) {
  EarlyTerminationSpec s;
  s.type = "bandit";
  s.slack_factor = factor;
  s.slack_amount = amount;
  s.evaluation_interval = interval;
  s.delay_evaluation = delay;
  return s;
}

EarlyTerminationSpec Median(int interval = 1, int delay = 0) {
  EarlyTerminationSpec s;
  s.type = "median_stopping";
  s.evaluation_interval = interval;
  s.delay_evaluation = delay;
  return s;
}

EarlyTerminationSpec Truncation(int percentage, int interval = 1, int delay = 0) {
  EarlyTerminationSpec s;
  s.type = "truncation_selection";
  s.truncation_percentage = percentage;
  s.evaluation_interval = interval;
  s.delay_evaluation = delay;
  return s;
}

EarlyTerminationSpec Asha(double eta, int min_resource = 1, int max_resource = 0, int brackets = 1,
                          int delay = 0, int interval = 1) {
  EarlyTerminationSpec s;
  s.type = "asha";
  s.reduction_factor = eta;
  s.min_resource = min_resource;
  s.max_resource = max_resource;
  s.brackets = brackets;
  s.delay_evaluation = delay;
  s.evaluation_interval = interval;
  return s;
}

// One row: the other trials (ids o0, o1, ...), the deciding trial's values, the expectation.
struct Case {
  std::string name;
  EarlyTerminationSpec spec;
  Goal goal;
  std::vector<std::vector<double>> others;
  std::vector<double> trial;
  Decision expected;
  std::string reason_contains = "";
};

std::vector<TrialProgress> Trials(const std::vector<std::vector<double>>& values,
                                  const std::string& prefix = "o") {
  std::vector<TrialProgress> all;
  for (std::size_t i = 0; i < values.size(); ++i) {
    all.push_back({prefix + std::to_string(i), values[i], false});
  }
  return all;
}

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto policy = MakeTerminationPolicy(c.spec, c.goal);
    ASSERT_TRUE(policy.has_value()) << policy.error().message;
    ASSERT_NE(*policy, nullptr);
    std::vector<TrialProgress> all = Trials(c.others);
    TrialProgress me{"me", c.trial, false};
    all.push_back(me);
    const PolicyDecision d = (*policy)->Decide(me, all);
    EXPECT_EQ(d.decision, c.expected) << d.reason;
    if (c.expected == kStop) {
      EXPECT_FALSE(d.reason.empty());
      EXPECT_NE(d.reason.find(c.reason_contains), std::string::npos) << d.reason;
      EXPECT_EQ(d.reason.find('\n'), std::string::npos) << "reason must be one line";
    }
  }
}

TEST(BanditPolicyTest, AzureDocExampleCutOff) {
  auto policy = MakeTerminationPolicy(Bandit(0.2, std::nullopt), kMax);
  ASSERT_TRUE(policy.has_value());
  std::vector<TrialProgress> all = {{"leader", {0.5, 0.6, 0.8, 0.7}, false},
                                    {"me", {0.5, 0.55, 0.61, 0.6}, false}};
  PolicyDecision d = (*policy)->Decide(all[1], all);
  EXPECT_EQ(d.decision, kStop);
  EXPECT_EQ(d.reason, "best 0.61 < cut-off 0.6667 = 0.8/(1+0.2) at interval 4 (bandit, maximize)");
  EXPECT_EQ((*policy)->Decide(all[0], all).decision, kGo) << "the leader is never stopped";
}

TEST(BanditPolicyTest, Table) {
  RunCases({
      {"max factor: 0.67 is inside the slack of 0.8", Bandit(0.2, {}), kMax,
       {{0.5, 0.6, 0.8, 0.7}}, {0.5, 0.6, 0.67, 0.6}, kGo},
      {"max amount: exactly at the cut-off continues", Bandit({}, 0.25), kMax,
       {{1.0, 1.0}}, {0.5, 0.75}, kGo},
      {"max amount: just below the cut-off stops", Bandit({}, 0.25), kMax, {{1.0, 1.0}},
       {0.5, 0.74}, kStop, "cut-off 0.75 = 1 - 0.25 at interval 2"},
      {"min factor: mirror cut-off best*(1+f)", Bandit(0.2, {}), kMin, {{0.9, 0.5}},
       {0.8, 0.65}, kStop, "best 0.65 > cut-off 0.6 = 0.5*(1+0.2)"},
      {"min factor: inside the slack", Bandit(0.2, {}), kMin, {{0.9, 0.5}}, {0.8, 0.59}, kGo},
      {"min amount: best + a", Bandit({}, 0.25), kMin, {{0.5}}, {0.8}, kStop,
       "cut-off 0.75 = 0.5 + 0.25"},
      {"min amount: inside", Bandit({}, 0.25), kMin, {{0.5}}, {0.7}, kGo},
      {"max negative metric: leader at -0.8 is not stopped", Bandit(0.25, {}), kMax,
       {{-1.5}}, {-0.8}, kGo},
      {"max negative metric: cut-off -0.96 stops -1.0", Bandit(0.25, {}), kMax, {{-0.8}},
       {-1.0}, kStop, "cut-off -0.96"},
      {"max negative metric: -0.9 is inside", Bandit(0.25, {}), kMax, {{-0.8}}, {-0.9}, kGo},
      {"min negative metric: cut-off -0.5 stops -0.4", Bandit(0.5, {}), kMin, {{-1.0}}, {-0.4},
       kStop, "cut-off -0.5"},
      {"min negative metric: -0.6 is inside", Bandit(0.5, {}), kMin, {{-1.0}}, {-0.6}, kGo},
      {"uses the trial's best so far, not its latest value", Bandit(0.2, {}), kMax,
       {{0.8, 0.8, 0.8, 0.8}}, {0.9, 0.1, 0.1, 0.1}, kGo},
      {"the others' best only up to the same interval", Bandit(0.2, {}), kMax,
       {{0.5, 0.5, 0.5, 0.5, 0.99, 0.99}}, {0.45, 0.4, 0.4, 0.45}, kGo},
      {"a later report of another trial counts once reached", Bandit(0.2, {}), kMax,
       {{0.5, 0.5, 0.5, 0.5, 0.99, 0.99}}, {0.45, 0.4, 0.4, 0.45, 0.45}, kStop},
      {"evaluation_interval 2: interval 3 is not evaluated", Bandit(0.2, {}, 2), kMax,
       {{0.9, 0.9, 0.9, 0.9}}, {0.1, 0.1, 0.1}, kGo},
      {"evaluation_interval 2: interval 4 is", Bandit(0.2, {}, 2), kMax,
       {{0.9, 0.9, 0.9, 0.9}}, {0.1, 0.1, 0.1, 0.1}, kStop, "at interval 4"},
      {"delay_evaluation 5: interval 4 is too early", Bandit(0.2, {}, 1, 5), kMax,
       {{0.9, 0.9, 0.9, 0.9, 0.9}}, {0.1, 0.1, 0.1, 0.1}, kGo},
      {"evaluation_interval 0 is read as 1", Bandit(0.2, {}, 0, 5), kMax,
       {{0.9, 0.9, 0.9, 0.9, 0.9}}, {0.1, 0.1, 0.1, 0.1, 0.1}, kStop, "at interval 5"},
      {"alone: nothing to compare with", Bandit(0.2, {}), kMax, {}, {0.1}, kGo},
      {"NaN reports are ignored", Bandit(0.2, {}), kMax, {{0.8, NAN}}, {0.7, NAN}, kGo},
  });
}

TEST(MedianStoppingPolicyTest, Table) {
  // Running averages of the others at interval 3 below: 0.5, 0.6, 0.7 (median 0.6).
  const std::vector<std::vector<double>> odd = {{0.4, 0.5, 0.6}, {0.9, 0.5, 0.4}, {0.7, 0.7, 0.7}};
  // 0.4, 0.5, 0.7, 0.9 (median 0.6).
  const std::vector<std::vector<double>> even = {{0.4, 0.4}, {0.5, 0.5}, {0.7, 0.7}, {0.9, 0.9}};
  RunCases({
      {"odd count: below the median stops", Median(), kMax, odd, {0.5, 0.55, 0.5}, kStop,
       "best 0.55 < median 0.6 of 3 other trials' running averages at interval 3"},
      {"odd count: equal to the median continues", Median(), kMax, odd, {0.5, 0.6, 0.5}, kGo},
      {"odd count: above continues", Median(), kMax, odd, {0.65, 0.5, 0.5}, kGo},
      {"even count: median is the mean of the middle two", Median(), kMax, even, {0.1, 0.59},
       kStop, "median 0.6 of 4"},
      {"even count: 0.61 continues", Median(), kMax, even, {0.1, 0.61}, kGo},
      {"the trial's best so far, not its average, is compared", Median(), kMax, odd,
       {0.1, 0.1, 0.62}, kGo},
      {"minimize: above the median stops", Median(), kMin, odd, {0.7, 0.65, 0.9}, kStop,
       "best 0.65 > median 0.6"},
      {"minimize: below continues", Median(), kMin, odd, {0.7, 0.55, 0.9}, kGo},
      {"finished longer trials count with their first k values only", Median(), kMax,
       {{0.4, 0.5, 0.6, 5, 5}, {0.9, 0.5, 0.4, 5, 5}, {0.7, 0.7, 0.7, 5, 5}}, {0.5, 0.55, 0.5},
       kStop, "median 0.6"},
      {"younger trials do not count", Median(), kMax, {{0.9, 0.9, 0.9}, {0.9}, {0.9}},
       {0.1, 0.1, 0.1}, kGo},
      {"one other trial is not enough", Median(), kMax, {{0.9, 0.9}}, {0.1, 0.1}, kGo},
      {"delay_evaluation", Median(1, 4), kMax, odd, {0.1, 0.1, 0.1}, kGo},
      {"evaluation_interval 3 evaluates interval 3", Median(3), kMax, odd, {0.1, 0.1, 0.1},
       kStop},
      {"evaluation_interval 2 skips interval 3", Median(2), kMax, odd, {0.1, 0.1, 0.1}, kGo},
  });
}

TEST(MedianStoppingPolicyTest, TrialItselfDoesNotMoveTheMedian) {
  // Others' averages 0.5 and 0.7: median 0.6. Counting the trial's own average (0.1) would give
  // median 0.5 and let a best of 0.55 through.
  auto policy = MakeTerminationPolicy(Median(), kMax);
  ASSERT_TRUE(policy.has_value());
  std::vector<TrialProgress> all = {{"a", {0.5}, true}, {"b", {0.7}, false}, {"me", {0.55}, false}};
  EXPECT_EQ((*policy)->Decide(all[2], all).decision, kStop);
}

TEST(TruncationSelectionPolicyTest, Table) {
  // Nine others with best-so-far 0.1 .. 0.9 at interval 2; with the trial n = 10.
  std::vector<std::vector<double>> nine;
  for (int i = 1; i <= 9; ++i) nine.push_back({0.0, i / 10.0});
  std::vector<std::vector<double>> nine_min;
  for (int i = 1; i <= 9; ++i) nine_min.push_back({2.0, i / 10.0});
  RunCases({
      {"20% of 10: the worst stops", Truncation(20), kMax, nine, {0.0, 0.05}, kStop,
       "ranks 10 of 10 at interval 2: in the worst 2 (20%)"},
      {"20% of 10: second worst stops", Truncation(20), kMax, nine, {0.0, 0.15}, kStop,
       "ranks 9 of 10"},
      {"20% of 10: third worst continues", Truncation(20), kMax, nine, {0.0, 0.25}, kGo},
      {"a tie at the boundary is in the trial's favour", Truncation(20), kMax, nine, {0.0, 0.2},
       kGo},
      {"30% of 10: third worst stops", Truncation(30), kMax, nine, {0.0, 0.25}, kStop},
      {"minimize: the highest loss stops", Truncation(20), kMin, nine_min, {2.0, 0.95}, kStop},
      {"minimize: the lowest loss continues", Truncation(20), kMin, nine_min, {2.0, 0.05}, kGo},
      {"minimize: third highest continues", Truncation(20), kMin, nine_min, {2.0, 0.75}, kGo},
      {"best so far ranks, not the latest value", Truncation(20), kMax, nine, {0.95, 0.0}, kGo},
      {"a young trial is compared with the others' first k values", Truncation(50), kMax,
       {{0.5, 0.9, 0.9}, {0.6, 0.9, 0.9}, {0.7, 0.9, 0.9}}, {0.4}, kStop, "at interval 1"},
      {"25% of 4: the worst stops", Truncation(25), kMax, {{0.5}, {0.6}, {0.7}}, {0.4}, kStop},
      {"25% of 3 cuts none", Truncation(25), kMax, {{0.5}, {0.6}}, {0.4}, kGo},
      {"50% needs 2 others: 1 is not enough", Truncation(50), kMax, {{0.9}}, {0.1}, kGo},
      {"all tied: nobody stops", Truncation(50), kMax, {{0.5}, {0.5}, {0.5}}, {0.5}, kGo},
      {"delay_evaluation", Truncation(20, 1, 3), kMax, nine, {0.0, 0.05}, kGo},
      {"evaluation_interval 2 evaluates interval 2", Truncation(20, 2), kMax, nine, {0.0, 0.05},
       kStop},
  });
}

TEST(AshaPolicyTest, Table) {
  RunCases({
      {"eta 2: rung 2, 4 values, ranks 4: stops", Asha(2), kMax,
       {{0, 0.9}, {0, 0.8}, {0, 0.7}}, {0, 0.6}, kStop,
       "value 0.6 at rung 2 ranks 4 of 4; only the top 2 (1/2) continue"},
      {"eta 2: rung 2, ranks 2 of 4: continues", Asha(2), kMax, {{0, 0.9}, {0, 0.8}, {0, 0.7}},
       {0, 0.85}, kGo},
      {"eta 2: interval 3 is not a rung", Asha(2), kMax,
       {{0, 0, 0.9}, {0, 0, 0.8}, {0, 0, 0.7}}, {0, 0, 0.1}, kGo},
      {"eta 2: rung 4", Asha(2), kMax, {{0, 0, 0, 0.9}}, {0, 0, 0, 0.1}, kStop, "rung 4"},
      {"eta 3: fewer than 3 values at the rung continue", Asha(3), kMax, {{0.9}}, {0.1}, kGo},
      {"eta 3: 3 values, keep 1: second stops", Asha(3), kMax, {{0.9}, {0.1}}, {0.5}, kStop,
       "ranks 2 of 3; only the top 1 (1/3)"},
      {"eta 3: rung 3 of 6 values keeps 2", Asha(3), kMax,
       {{0, 0, 0.9}, {0, 0, 0.8}, {0, 0, 0.5}, {0, 0, 0.4}, {0, 0, 0.3}}, {0, 0, 0.85}, kGo},
      {"eta 3: rung 3, ranks 3 of 6 stops", Asha(3), kMax,
       {{0, 0, 0.9}, {0, 0, 0.8}, {0, 0, 0.5}, {0, 0, 0.4}, {0, 0, 0.3}}, {0, 0, 0.7}, kStop},
      {"eta 3: interval 2 is not a rung", Asha(3), kMax, {{0, 0.9}, {0, 0.9}}, {0, 0.1}, kGo},
      {"eta 3: rung 9", Asha(3), kMax,
       {std::vector<double>(9, 0.9), std::vector<double>(9, 0.8)}, std::vector<double>(9, 0.1),
       kStop, "rung 9"},
      {"the value at the rung, not the best so far", Asha(2), kMax, {{0.5, 0.5}}, {0.9, 0.1},
       kStop},
      {"minimize: the larger loss stops", Asha(2), kMin, {{0.3}}, {0.4}, kStop},
      {"minimize: the smaller loss continues", Asha(2), kMin, {{0.3}}, {0.2}, kGo},
      {"tie: in the trial's favour", Asha(2), kMax, {{0.5}}, {0.5}, kGo},
      {"min_resource 3, eta 2: rungs 3, 6; 1 is not a rung", Asha(2, 3), kMax, {{0.9}}, {0.1},
       kGo},
      {"min_resource 3, eta 2: 6 is a rung", Asha(2, 3), kMax, {std::vector<double>(6, 0.9)},
       std::vector<double>(6, 0.1), kStop, "rung 6"},
      {"max_resource 4: rung 4 is the end of the budget, not a decision", Asha(2, 1, 4), kMax,
       {{0, 0, 0, 0.9}}, {0, 0, 0, 0.1}, kGo},
      {"max_resource 4: rung 2 still decides", Asha(2, 1, 4), kMax, {{0, 0.9}}, {0, 0.1}, kStop},
      {"delay_evaluation 3 skips rung 2", Asha(2, 1, 0, 1, 3), kMax, {{0, 0.9}}, {0, 0.1}, kGo},
      {"delay_evaluation 3 keeps rung 4", Asha(2, 1, 0, 1, 3), kMax, {{0, 0, 0, 0.9}},
       {0, 0, 0, 0.1}, kStop},
      {"evaluation_interval is ignored", Asha(2, 1, 0, 1, 0, 3), kMax, {{0, 0.9}}, {0, 0.1},
       kStop},
  });
}

// Finds trial ids that land in a given bracket, so the tests do not hard-code hash values.
std::vector<std::string> IdsInBracket(const termination_internal::AshaPolicy& asha, int bracket,
                                      int count, const std::string& prefix) {
  std::vector<std::string> ids;
  for (int i = 0; static_cast<int>(ids.size()) < count; ++i) {
    std::string id = prefix + std::to_string(i);
    if (asha.BracketOf(id) == bracket) ids.push_back(id);
  }
  return ids;
}

TEST(AshaPolicyTest, BracketsShiftTheFirstRungAndJudgeSeparately) {
  termination_internal::AshaPolicy asha(kMax, 0, 1, 0, 2, 2);
  EXPECT_TRUE(asha.IsRung(0, 1));
  EXPECT_TRUE(asha.IsRung(0, 2));
  EXPECT_FALSE(asha.IsRung(1, 1)) << "bracket 1 starts at min_resource*eta = 2";
  EXPECT_TRUE(asha.IsRung(1, 2));
  EXPECT_TRUE(asha.IsRung(1, 8));
  EXPECT_FALSE(asha.IsRung(1, 6));

  // Both brackets get used, and the assignment is stable.
  int in_one = 0;
  for (int i = 0; i < 100; ++i) in_one += asha.BracketOf("trial-" + std::to_string(i));
  EXPECT_GT(in_one, 25);
  EXPECT_LT(in_one, 75);
  EXPECT_EQ(asha.BracketOf("trial-7"), asha.BracketOf(std::string("trial-") + "7"));

  const auto zero = IdsInBracket(asha, 0, 4, "t");
  const auto one = IdsInBracket(asha, 1, 4, "t");
  auto make = [](const std::string& id, std::vector<double> v) {
    return TrialProgress{id, std::move(v), false};
  };
  // At interval 1 the bracket-0 trial is judged against bracket 0 only.
  std::vector<TrialProgress> all = {make(zero[0], {0.1}), make(zero[1], {0.9}),
                                    make(one[0], {0.01}), make(one[1], {0.02})};
  EXPECT_EQ(asha.Decide(all[0], all).decision, kStop);
  EXPECT_EQ(asha.Decide(all[2], all).decision, kGo) << "interval 1 is no rung of bracket 1";
  // At interval 2 the worst bracket-1 trial has only bracket-1 company.
  all = {make(one[0], {0, 0.1}), make(one[1], {0, 0.9}), make(zero[0], {0, 5}),
         make(zero[1], {0, 6})};
  PolicyDecision d = asha.Decide(all[0], all);
  EXPECT_EQ(d.decision, kStop);
  EXPECT_NE(d.reason.find("ranks 2 of 2"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("bracket 1"), std::string::npos) << d.reason;
  all = {make(one[0], {0, 0.1}), make(zero[0], {0, 5}), make(zero[1], {0, 6})};
  EXPECT_EQ(asha.Decide(all[0], all).decision, kGo) << "alone in its bracket at rung 2";
}

TEST(AshaPolicyTest, HalvesAPopulationAtEachRung) {
  // 16 trials whose quality is their index, reaching rung 1 in order; eta 2 keeps about half.
  auto policy = MakeTerminationPolicy(Asha(2), kMax);
  ASSERT_TRUE(policy.has_value());
  std::vector<TrialProgress> all;
  int stopped = 0;
  for (int i = 0; i < 16; ++i) {
    all.push_back({"t" + std::to_string(i), {static_cast<double>((i * 7) % 16)}, false});
    if ((*policy)->Decide(all.back(), all).decision == kStop) ++stopped;
  }
  EXPECT_GE(stopped, 5);
  EXPECT_LE(stopped, 11);
}

TEST(MakeTerminationPolicyTest, NamesAndNone) {
  auto none = MakeTerminationPolicy(EarlyTerminationSpec{}, kMax);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(*none, nullptr);
  EXPECT_EQ((*MakeTerminationPolicy(Bandit(0.1, {}), kMax))->Name(), "bandit");
  EXPECT_EQ((*MakeTerminationPolicy(Median(), kMax))->Name(), "median_stopping");
  EXPECT_EQ((*MakeTerminationPolicy(Truncation(10), kMax))->Name(), "truncation_selection");
  EXPECT_EQ((*MakeTerminationPolicy(Asha(3), kMax))->Name(), "asha");
}

TEST(MakeTerminationPolicyTest, RejectsBadSpecsWithActionableMessages) {
  struct Bad {
    EarlyTerminationSpec spec;
    std::string message_contains;
  };
  EarlyTerminationSpec typo;
  typo.type = "bandti";
  typo.pos = {"job.yml", 12, 3};
  EarlyTerminationSpec negative_interval = Median(-1);
  EarlyTerminationSpec negative_delay = Median(1, -2);
  const std::vector<Bad> cases = {
      {typo, "job.yml:12:3: early_termination: unknown type 'bandti' (did you mean 'bandit'?)"},
      {typo, "median_stopping, truncation_selection, asha"},
      {Bandit({}, {}), "(bandit) bandit needs 'slack_factor' or 'slack_amount'"},
      {Bandit(0.1, 0.1), "bandit takes either 'slack_factor' or 'slack_amount', not both"},
      {Bandit(-0.1, {}), "'slack_factor' must be greater than 0, got -0.1"},
      {Bandit({}, 0), "'slack_amount' must be greater than 0, got 0"},
      {Truncation(0), "truncation_selection needs 'truncation_percentage' (between 1 and 99)"},
      {Truncation(100), "between 1 and 99, got 100"},
      {negative_interval, "'evaluation_interval' must be between 0 and 1000000, got -1"},
      {negative_delay, "'delay_evaluation' must be between 0 and 1000000, got -2"},
      {Asha(1.5), "early_termination: (asha) 'reduction_factor' must be at least 2, got 1.5"},
      {Asha(2, 0), "'min_resource' must be between 1 and 1000000000, got 0"},
      {Asha(2, 1, 0, 0), "'brackets' must be between 1 and 100, got 0"},
      {Asha(2, 4, 4), "'max_resource' (4) must be greater than 'min_resource' (4), or 0 for no limit"},
      {Asha(std::nan("")), "'reduction_factor' must be a number, got nan"},
  };
  for (const Bad& c : cases) {
    auto r = MakeTerminationPolicy(c.spec, kMax);
    ASSERT_FALSE(r.has_value()) << c.message_contains;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
    EXPECT_NE(r.error().message.find(c.message_contains), std::string::npos)
        << r.error().message;
  }
}

}  // namespace
}  // namespace overdrive
