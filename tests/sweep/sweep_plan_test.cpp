// A sweep's plan is stored with the sweep run and read back by `job resume`: the round trip must
// keep every field the controller uses.
#include <gtest/gtest.h>

#include "spec/component_params.hpp"
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

// Each component's parameters travel as its declaration lists them, every policy and sampler
// alike: what is stored is what the controller gets back.
TEST(SweepPlanTest, RoundTripKeepsEveryDeclaredParameter) {
  for (const PolicyDecl& policy : PolicyDecls()) {
    SweepPlan p;
    p.sweep.objective.primary_metric = "acc";
    p.sweep.sampling.type = "random";
    p.sweep.sampling.rule = "sobol";
    p.sweep.sampling.seed = 42;
    auto& et = p.sweep.early_termination;
    et = EarlyTerminationSpec{};
    et.type = policy.type;
    et.evaluation_interval = 2;
    et.delay_evaluation = 3;
    et.slack_amount = 0.5;
    et.truncation_percentage = 30;
    et.min_resource = 2;
    et.max_resource = 50;
    et.reduction_factor = 4;
    et.brackets = 3;
    auto back = SweepPlan::FromJson(p.ToJson());
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->ToJson(), p.ToJson());
    for (const auto& param : policy.params) {
      EXPECT_EQ(param.Get(back->sweep.early_termination), param.Get(et))
          << policy.type << "." << param.name;
    }
    EXPECT_EQ(back->sweep.sampling.rule, "sobol");
    EXPECT_EQ(back->sweep.sampling.seed, 42u);
  }
}

// Plans stored before the declarations held every policy field whatever the type, and the
// sampling rule for every sampler: they still read, with the type's own parameters.
TEST(SweepPlanTest, ReadsPlansStoredBeforeTheDeclarations) {
  SweepPlan p;
  p.sweep.objective.primary_metric = "acc";
  nlohmann::json j = nlohmann::json::parse(p.ToJson());
  j["sampling"] = {{"type", "grid"}, {"rule", "random"}};
  j["early_termination"] = {{"type", "asha"},          {"evaluation_interval", 1},
                            {"delay_evaluation", 2},    {"truncation_percentage", 0},
                            {"min_resource", 3},        {"max_resource", 27},
                            {"reduction_factor", 3.0},  {"brackets", 2}};
  auto back = SweepPlan::FromJson(j.dump());
  ASSERT_TRUE(back) << back.error().message;
  const auto& et = back->sweep.early_termination;
  EXPECT_EQ(et.type, "asha");
  EXPECT_EQ(et.delay_evaluation, 2);
  EXPECT_EQ(et.min_resource, 3);
  EXPECT_EQ(et.max_resource, 27);
  EXPECT_EQ(et.brackets, 2);
  EXPECT_EQ(back->sweep.sampling.type, "grid");
}

// FromJson decodes and never judges bounds, so `job show` can still show an old sweep that
// the controller refuses; CheckStartable is where it is refused.
TEST(SweepPlanTest, OutOfBoundsPlanReadsButIsNotStartable) {
  SweepPlan p;
  p.sweep.objective.primary_metric = "acc";
  Distribution x;
  x.type = DistributionType::kChoice;
  x.values = {std::int64_t{1}};
  p.sweep.search_space.params = {{"x", x}};
  p.sweep.early_termination.type = "asha";
  p.sweep.early_termination.min_resource = 3;
  p.sweep.early_termination.max_resource = 3;
  auto back = SweepPlan::FromJson(p.ToJson());
  ASSERT_TRUE(back) << back.error().message;
  auto startable = back->CheckStartable();
  ASSERT_FALSE(startable);
  EXPECT_EQ(startable.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(startable.error().message.find("'max_resource' (3) must be greater than"),
            std::string::npos)
      << startable.error().message;
  p.sweep.early_termination.max_resource = 9;
  EXPECT_TRUE(SweepPlan::FromJson(p.ToJson())->CheckStartable());
}

TEST(SweepPlanTest, WrongJsonTypeOfAParameterIsCorrupt) {
  SweepPlan p;
  p.sweep.objective.primary_metric = "acc";
  nlohmann::json j = nlohmann::json::parse(p.ToJson());
  j["early_termination"] = {{"type", "bandit"}, {"slack_factor", "ten percent"}};
  auto r = SweepPlan::FromJson(j.dump());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kStorage);
}

TEST(SweepPlanTest, CorruptRecordIsAStorageError) {
  auto r = SweepPlan::FromJson(R"({"search_space": 3})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kStorage);
}

}  // namespace
}  // namespace overdrive
