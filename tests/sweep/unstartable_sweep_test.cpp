// A sweep the controller cannot start ends `failed` with the reason, never stays `queued`.
// The job parser now refuses such a plan at submit, so these store one directly, as a version
// before the shared parameter declarations did (asha with max_resource == min_resource passed
// its parser and was refused by the policy), or as a damaged record would.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>

#include "common/ids.hpp"
#include "spec/job_spec.hpp"
#include "sweep/controller.hpp"
#include "sweep/submission.hpp"
#include "sweep/sweep_plan.hpp"
#include "sweep/workspace.hpp"
#include "temp_workspace.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

const char* kSweep = R"(type: sweep
sampling_algorithm: random
search_space:
  x: {type: choice, values: [1, 2]}
objective: {goal: maximize, primary_metric: acc}
limits: {max_total_trials: 2}
early_termination: {type: asha, min_resource: 3, max_resource: 4}
trial:
  command: true
)";

class UnstartableSweepTest : public TempWorkspaceTest {
 protected:
  // Submits the valid sweep above, then overwrites its stored plan as `damage` says.
  std::string StoreSweep(const std::function<void(nlohmann::json&)>& damage) {
    RunRecord run = SubmitText(kSweep, "sweep.yml");
    auto plan = nlohmann::json::parse(run.launch_json);
    damage(plan);
    // Rewrite the record as an older version would have stored it.
    run.id = NewRunId();
    run.run_dir = ws_->RunDir(run.id).string();
    run.launch_json = plan.dump();
    EXPECT_TRUE(ws_->store().CreateRun(run, {}, {}));
    return run.id;
  }

  void ExpectFailedWith(const std::string& id, const std::string& reason_part) {
    std::ostringstream out;
    ControllerOptions options;
    options.out = &out;
    auto result = DriveJob(*ws_, id, options);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->status, RunStatus::kFailed);
    EXPECT_NE(result->reason.find(reason_part), std::string::npos) << result->reason;
    auto run = ws_->store().GetRun(id);
    ASSERT_TRUE(run);
    EXPECT_EQ(run->status, RunStatus::kFailed) << "left " << RunStatusName(run->status);
    EXPECT_EQ(run->status_reason, result->reason);
    EXPECT_GT(run->ended_at, 0);
    EXPECT_NE(out.str().find("failed: cannot start the sweep"), std::string::npos) << out.str();
    // Not "controller gone": there is nothing left for `job resume` to pick up.
    EXPECT_FALSE(ControllerGone(*run, run->created_at + 3600));
    // Driving it again is a no-op on a final job.
    auto again = DriveJob(*ws_, id, options);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, RunStatus::kFailed);
  }

};

TEST_F(UnstartableSweepTest, PolicyTheFactoryRefusesEndsFailedWithTheReason) {
  const std::string id = StoreSweep([](nlohmann::json& plan) {
    plan["early_termination"]["max_resource"] = 3;  // == min_resource: never a rung
  });
  ExpectFailedWith(id, "'max_resource' (3) must be greater than 'min_resource' (3)");
}

TEST_F(UnstartableSweepTest, ReductionFactorBelowTwoEndsFailed) {
  const std::string id = StoreSweep([](nlohmann::json& plan) {
    plan["early_termination"]["reduction_factor"] = 1.5;  // the old parser took > 1
  });
  ExpectFailedWith(id, "'reduction_factor' must be at least 2, got 1.5");
}

TEST_F(UnstartableSweepTest, UnknownSamplerEndsFailed) {
  const std::string id = StoreSweep([](nlohmann::json& plan) { plan["sampling"]["type"] = "hyperopt"; });
  ExpectFailedWith(id, "unknown type 'hyperopt'");
}

TEST_F(UnstartableSweepTest, CorruptPlanEndsFailed) {
  const std::string id = StoreSweep([](nlohmann::json& plan) { plan.erase("search_space"); });
  ExpectFailedWith(id, "corrupt sweep record");
}

TEST_F(UnstartableSweepTest, ValidPlanPassesCheckStartable) {
  auto spec = ParseJobText(kSweep, "sweep.yml", root_);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_TRUE(SweepPlan::FromSpec(*spec).CheckStartable());
}

}  // namespace
}  // namespace overdrive
