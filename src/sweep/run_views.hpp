// Runs and sweeps as JSON documents: what `job show --json` prints and what the server's REST
// API returns, built from one workspace's stores.
#pragma once

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

// {"id", "type", "status", "experiment", "executor": DescribeHandle (null before the executor
//  has the run), "params": {...}, "metrics": {name: {last, min, max, count, last_step}},
//  "artifacts": [...], "created_at", ...}; a sweep's trials each carry "executor" too.
// The data a run read (lineage): its own inputs, or for a trial its sweep's.
Result<std::vector<RunInputRecord>> DataInputsRead(Workspace& ws, const RunRecord& run);
Result<nlohmann::json> RunToJson(Workspace& ws, const RunRecord& run, bool details);
// Where the run executes or executed: DescribeHandle (executor/handle_info.hpp), and for an
// ended local run whose folder was emptied, the process group its final transition kept in the
// handle (kHandleProcessGroupKey). Null before the executor has the run.
nlohmann::json DescribeRunExecutor(const RunRecord& run);
// The run's fields without params, metrics or details (no store reads): for long lists.
nlohmann::json RunSummaryJson(const RunRecord& run);
double RunDuration(const RunRecord& run);
// JSON of stored param values ({"lr": 0.01}); unparsable values as strings.
nlohmann::json ParamsJson(const std::vector<Param>& params);
// NaN and infinities as strings ("nan", "inf"), which JSON cannot hold as numbers.
nlohmann::json JsonNumber(double v);

}  // namespace overdrive
