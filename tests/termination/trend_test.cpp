#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "termination/trend.hpp"

namespace overdrive {
namespace {

// A loss curve: falls in 9 of 10 steps (one small bump).
const std::vector<double> kLoss = {2.3, 1.5, 1.1, 0.9, 0.8, 0.7, 0.72, 0.6, 0.55, 0.5, 0.48};

TEST(TrendWarningTest, MaximizeALossWarns) {
  auto w = TrendWarning(Goal::kMaximize, kLoss, "loss");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w, "objective says maximize 'loss' but it fell in 9 of 10 intervals (2.3 -> 0.48): "
                "is the goal right?");
  EXPECT_FALSE(TrendWarning(Goal::kMinimize, kLoss, "loss").has_value());
}

TEST(TrendWarningTest, MinimizeAnAccuracyWarns) {
  const std::vector<double> accuracy = {0.50, 0.61, 0.70, 0.74, 0.78, 0.80, 0.83};
  auto w = TrendWarning(Goal::kMinimize, accuracy, "accuracy");
  ASSERT_TRUE(w.has_value());
  EXPECT_NE(w->find("minimize 'accuracy' but it rose in 6 of 6 intervals"), std::string::npos) << *w;
  EXPECT_FALSE(TrendWarning(Goal::kMaximize, accuracy, "accuracy").has_value());
}

TEST(TrendWarningTest, NeedsFiveValues) {
  EXPECT_FALSE(TrendWarning(Goal::kMaximize, {2.0, 1.5, 1.0, 0.5}, "loss").has_value());
  EXPECT_TRUE(TrendWarning(Goal::kMaximize, {2.5, 2.0, 1.5, 1.0, 0.5}, "loss").has_value());
}

TEST(TrendWarningTest, TooManyStepsTheOtherWayIsNoClearTrend) {
  // Falls overall, but only in 6 of 10 steps.
  const std::vector<double> v = {1.0, 0.9, 0.95, 0.8, 0.85, 0.7, 0.75, 0.6, 0.65, 0.5, 0.45};
  EXPECT_FALSE(TrendWarning(Goal::kMaximize, v, "score").has_value());
}

TEST(TrendWarningTest, TinyDriftIsNotSignificant) {
  // Monotone but 1% in total: a plateau, not a contradiction.
  const std::vector<double> v = {0.900, 0.899, 0.898, 0.897, 0.896, 0.895, 0.894, 0.893, 0.892};
  EXPECT_FALSE(TrendWarning(Goal::kMaximize, v, "accuracy").has_value());
}

TEST(TrendWarningTest, NoFalseAlarmOnNoisyFlatCurves) {
  std::mt19937_64 rng(20240611);
  auto uniform = [&] { return static_cast<double>(rng() >> 11) / 9007199254740992.0; };
  int alarms = 0;
  for (int series = 0; series < 500; ++series) {
    const int n = 5 + series % 40;
    const double level = 0.2 + uniform();
    const double noise = level * (0.02 + 0.2 * uniform());
    std::vector<double> v;
    for (int i = 0; i < n; ++i) v.push_back(level + noise * (2 * uniform() - 1));
    if (TrendWarning(Goal::kMaximize, v, "m") || TrendWarning(Goal::kMinimize, v, "m")) ++alarms;
  }
  // A strictly monotone run of 5 i.i.d. values happens 1 time in 60 (either way); the noise
  // check must keep longer series quiet.
  EXPECT_LE(alarms, 3);
}

TEST(TrendWarningTest, IgnoresNonFiniteValuesAndDefaultsTheName) {
  std::vector<double> v = kLoss;
  v.insert(v.begin() + 3, NAN);
  auto w = TrendWarning(Goal::kMaximize, v);
  ASSERT_TRUE(w.has_value());
  EXPECT_NE(w->find("maximize the primary metric but it fell in 9 of 10"), std::string::npos) << *w;
}

}  // namespace
}  // namespace overdrive
