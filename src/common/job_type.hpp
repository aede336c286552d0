// What kind of job a run is. Stored as TEXT (runs.job_type) and shown in JSON, the REST API and
// tables by the names of JobTypeName; those names are part of the API and never change.
#pragma once

#include <optional>
#include <string_view>

namespace overdrive {

enum class JobType {
  kCommand,   // "command": one process, from a job file
  kSweep,     // "sweep": the parent of trials, driven by the sweep controller
  kTrial,     // "trial": one process of a sweep (parent_id = the sweep)
  kExternal,  // "external": created through the MLflow API; Overdrive never drives it
};

const char* JobTypeName(JobType t);  // "command", "sweep", "trial", "external"
// nullopt for any other text. Stores read an unknown value as kExternal (see ReadJobType).
std::optional<JobType> ParseJobType(std::string_view name);
// A stored value: an unknown name (a newer version's kind, a hand-edited row) reads as kExternal,
// so no controller ever launches, resumes or drives a run it does not understand; it is still
// listed and shown. Warns on stderr once per process.
JobType ReadJobType(std::string_view stored);

}  // namespace overdrive
