// How runs are shown: JSON documents for scripts and text for people.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "store/records.hpp"
#include "sweep/sweep_state.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// A sweep with its trials ranked by the primary metric.
struct SweepView {
  std::string metric;
  Goal goal = Goal::kMaximize;
  int max_total_trials = 0;
  std::string sampling, early_termination;
  std::vector<TrialInfo> trials;  // best first
  std::string best_trial_id;
  SweepCost cost;
};
Result<SweepView> LoadSweepView(Workspace& ws, const RunRecord& sweep);
Result<nlohmann::json> SweepToJson(Workspace& ws, const RunRecord& sweep);

// {"id", "type", "status", "experiment", "params": {...}, "metrics": {name: {last, min, max,
//  count, last_step}}, "artifacts": [...], "created_at", ...}
Result<nlohmann::json> RunToJson(Workspace& ws, const RunRecord& run, bool details);
Result<void> PrintRun(Workspace& ws, const RunRecord& run, std::ostream& out);
// "running" / "running (controller gone: overdrive job resume ID)"
std::string StatusText(const RunRecord& run);
double RunDuration(const RunRecord& run);

}  // namespace overdrive
