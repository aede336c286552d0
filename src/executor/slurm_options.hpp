// SlurmOptions: the settings of a compute target of type slurm (`overdrive compute add --type
// slurm`), kept as the target's config_json. The CLI builds and shows them; the Slurm executor
// (slurm_executor.hpp) runs with them.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace overdrive {

struct SlurmOptions {
  std::string target;                   // the compute target's name, for error messages
  std::string partition;                // "" = the cluster's default partition
  std::string account;                  // "" = the user's default account
  std::string qos;                      // "" = the default QOS
  std::vector<std::string> sbatch_args; // passed to sbatch as they are, before the script
  double poll_interval_s = 1.0;         // at most one squeue per interval
  double command_timeout_s = 60;        // a Slurm command that hangs longer is killed

  // The compute target's config_json: {"partition", "account", "qos", "sbatch_args": [...],
  // "poll_interval_s"}; unknown keys are refused (a typo would otherwise be ignored).
  static Result<SlurmOptions> FromJson(const std::string& target, const std::string& config_json);
  std::string ToJson() const;
};

}  // namespace overdrive
