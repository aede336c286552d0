// What a run's executor handle (the opaque JSON an executor gives for Reattach, stored as
// RunRecord::executor_handle) tells a person: which executor runs it and the ids that
// executor's own tools know. Read by `job show` and the REST API; the formats stay private to
// src/executor.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace overdrive {

// {"type": "slurm", "slurm_job_id": 123, "job_name": "od-<run id>", "summary": ...} for a Slurm
// run (the id for scontrol/sacct); {"type": "local", "pid": shim pid, "process_group": pgid,
// "summary": ...} for a local one, the process group being the command's (from the run
// folder's group.json; left out before the command started). "summary" is the same in one
// line for people: "slurm job 123 (od-...)", "local process group 4242 (supervisor pid 4240)".
// Null for no handle; {"type": "unknown", "summary": the handle} for one it cannot read.
nlohmann::json DescribeHandle(const std::string& handle, const std::filesystem::path& run_dir);

}  // namespace overdrive
