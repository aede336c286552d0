// How runs are shown: JSON documents for scripts and text for people.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "store/records.hpp"
#include "sweep/sweep_state.hpp"
#include "sweep/run_views.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

Result<void> PrintRun(Workspace& ws, const RunRecord& run, std::ostream& out);
// "running" / "running (controller gone: overdrive job resume ID)"
std::string StatusText(const RunRecord& run);
// A trial's id at its executor for a table column ("slurm 1234", "pgid 4242"); "" for none.
std::string TrialExecutorId(const nlohmann::json& described);

}  // namespace overdrive
