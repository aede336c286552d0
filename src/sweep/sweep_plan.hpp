// SweepPlan: what a sweep controller needs, stored with the sweep run at submit (in its launch
// record) so that `job resume` never re-reads the job file, which may have changed or moved.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "spec/job_spec.hpp"
#include "sweep/launch_config.hpp"

namespace overdrive {

struct SweepPlan {
  SweepSpec sweep;
  std::string command_template;                // the trial command, ${{...}} references in it
  SourcePos command_pos;
  std::map<std::string, std::string> inputs;   // ${{inputs.x}} values, fixed for all trials
  std::uint64_t seed = 0;                      // the file's seed, or one drawn at submit
  LaunchConfig trial;                          // environment, resources, timeout of each trial

  std::string ToJson() const;
  static Result<SweepPlan> FromJson(const std::string& text);
  static SweepPlan FromSpec(const JobSpec& spec);
  // Whether a controller can start this plan: its sampler and policy can be made (the checks the
  // job parser made at submit; a plan stored by an older version may fail them). kInvalidInput
  // with the factory's message otherwise.
  Result<void> CheckStartable() const;
};

// JSON forms of search spaces (also what the API and the dashboard show).
nlohmann::json SearchSpaceToJson(const SearchSpace& space);
Result<SearchSpace> SearchSpaceFromJson(const nlohmann::json& j);

}  // namespace overdrive
