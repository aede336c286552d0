#include <gtest/gtest.h>

#include "metrics/collector.hpp"

namespace overdrive {
namespace {

TEST(StepCounterTest, AutoStepsStartAtZeroPerName) {
  StepCounter steps;
  EXPECT_EQ(steps.Next("loss"), 0);
  EXPECT_EQ(steps.Next("loss"), 1);
  EXPECT_EQ(steps.Next("acc"), 0);
  EXPECT_EQ(steps.Next("loss"), 2);
}

TEST(StepCounterTest, ExplicitStepMovesCounterPastTheLargestSeen) {
  StepCounter steps;
  steps.Observe("loss", 10);
  EXPECT_EQ(steps.Next("loss"), 11);
  steps.Observe("loss", 3);  // an older step does not move the counter back
  EXPECT_EQ(steps.Next("loss"), 12);
  EXPECT_EQ(steps.Next("acc"), 0);
}

TEST(StepCounterTest, SeedContinuesAfterAResumedRun) {
  StepCounter steps;
  steps.Seed("loss", 41);
  EXPECT_EQ(steps.Next("loss"), 42);
  steps.Seed("loss", 5);  // a stale seed never rewinds
  EXPECT_EQ(steps.Next("loss"), 43);
}

}  // namespace
}  // namespace overdrive
