#include "executor/slurm_options.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/strings.hpp"

namespace overdrive {

Result<SlurmOptions> SlurmOptions::FromJson(const std::string& target,
                                            const std::string& config_json) {
  SlurmOptions o;
  o.target = target;
  try {
    auto j = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    static const std::vector<std::string> known = {"partition", "account", "qos", "sbatch_args",
                                                   "poll_interval_s"};
    for (const auto& [key, value] : j.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "compute target '" + target + "': unknown Slurm setting '" + key + "'" +
                             DidYouMeanSuffix(key, known));
      }
    }
    o.partition = j.value("partition", std::string());
    o.account = j.value("account", std::string());
    o.qos = j.value("qos", std::string());
    o.sbatch_args = j.value("sbatch_args", std::vector<std::string>{});
    o.poll_interval_s = j.value("poll_interval_s", 1.0);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInvalidInput, "compute target '" + target +
                                                   "': unreadable Slurm settings '" +
                                                   config_json + "': " + e.what());
  }
  if (!(o.poll_interval_s > 0)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "compute target '" + target + "': poll_interval_s must be more than 0");
  }
  return o;
}

std::string SlurmOptions::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  if (!partition.empty()) j["partition"] = partition;
  if (!account.empty()) j["account"] = account;
  if (!qos.empty()) j["qos"] = qos;
  if (!sbatch_args.empty()) j["sbatch_args"] = sbatch_args;
  if (std::abs(poll_interval_s - 1.0) > 1e-9) j["poll_interval_s"] = poll_interval_s;
  return j.dump();
}

}  // namespace overdrive
