// A sweep's plan is stored with the sweep run and read back by `job resume`: the round trip must
// keep every field the controller uses.
#include <gtest/gtest.h>

#include "sweep/sweep_plan.hpp"

namespace overdrive {
namespace {

TEST(SweepPlanTest, RoundTripKeepsSpaceLimitsPolicyAndTrialSettings) {
  SweepPlan p;
  Distribution lr;
  lr.type = DistributionType::kLoguniform;
  lr.min_value = -9;
  lr.max_value = -2;
  Distribution depth;
  depth.type = DistributionType::kRandint;
  depth.upper = 5;
  Distribution model;
  model.type = DistributionType::kChoice;
  model.values = {std::string("tree"), std::int64_t{3}, true};
  model.sub_spaces.resize(3);
  model.sub_spaces[0].params.emplace_back("depth", depth);
  p.sweep.search_space.params = {{"lr", lr}, {"model", model}};
  p.sweep.sampling.type = "tpe";
  p.sweep.objective = {"val_auc", Goal::kMinimize};
  p.sweep.limits.max_total_trials = 40;
  p.sweep.limits.max_concurrent_trials = 4;
  p.sweep.limits.trial_timeout_s = 60;
  p.sweep.early_termination.type = "bandit";
  p.sweep.early_termination.slack_factor = 0.2;
  p.sweep.early_termination.delay_evaluation = 5;
  p.sweep.register_best_model = RegisterBestModelSpec{"churn", "outputs/m", {}};
  p.command_template = "python train.py --lr ${{search_space.lr}}";
  p.command_pos = {"sweep.yml", 7, 12};
  p.inputs = {{"data", "/abs/data.csv"}};
  p.seed = 123456789012345ULL;
  p.trial.cpus = 2;
  p.trial.timeout_s = 60;
  p.trial.env = {{"SEED", "1"}};

  auto back = SweepPlan::FromJson(p.ToJson());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->ToJson(), p.ToJson());
  const auto& space = back->sweep.search_space.params;
  ASSERT_EQ(space.size(), 2u);
  EXPECT_EQ(space[0].second.type, DistributionType::kLoguniform);
  EXPECT_EQ(space[0].second.min_value, -9);
  const Distribution& m = space[1].second;
  ASSERT_EQ(m.values.size(), 3u);
  EXPECT_EQ(std::get<std::string>(m.values[0]), "tree");
  EXPECT_EQ(std::get<std::int64_t>(m.values[1]), 3);
  EXPECT_EQ(std::get<bool>(m.values[2]), true);
  ASSERT_EQ(m.sub_spaces.size(), 3u);
  EXPECT_EQ(m.sub_spaces[0].params[0].second.upper, 5);
  EXPECT_EQ(back->sweep.objective.goal, Goal::kMinimize);
  EXPECT_EQ(*back->sweep.early_termination.slack_factor, 0.2);
  EXPECT_EQ(back->sweep.register_best_model->path, "outputs/m");
  EXPECT_EQ(back->seed, 123456789012345ULL);
  EXPECT_EQ(back->command_pos.line, 7);
  EXPECT_EQ(back->trial.env.at("SEED"), "1");
}

TEST(SweepPlanTest, CorruptRecordIsAStorageError) {
  auto r = SweepPlan::FromJson(R"({"search_space": 3})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kStorage);
}

}  // namespace
}  // namespace overdrive
