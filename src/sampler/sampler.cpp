#include "sampler/sampler.hpp"

#include "common/strings.hpp"
#include "sampler/gp_sampler.hpp"
#include "sampler/sampler_internal.hpp"
#include "space/space_ops.hpp"

namespace overdrive {

Result<std::unique_ptr<Sampler>> MakeSampler(const SamplerOptions& options,
                                             const SearchSpace& space) {
  static const std::vector<std::string> kTypes = {"random", "grid", "bayesian", "tpe"};
  static const std::vector<std::string> kRules = {"random", "sobol"};
  OD_TRY(ValidateSpace(space));
  const std::string& type = options.type;
  if (type == "random") {
    if (options.rule != "random" && options.rule != "sobol") {
      return MakeError(ErrorCode::kInvalidInput,
                       "unknown rule '" + options.rule + "' for sampling_algorithm: random; valid " +
                           "rules are " + Join(kRules, ", ") +
                           DidYouMeanSuffix(options.rule, kRules));
    }
    return sampler_internal::MakeRandomSampler(space, options.rule == "sobol");
  }
  if (type == "grid") return sampler_internal::MakeGridSampler(space);
  if (type == "bayesian") return MakeGpSampler(space);
  if (type == "tpe") {
    sampler_internal::TpeOptions tpe;
    if (options.budget > 0) {
      // Small budgets cannot afford ten random trials before the model starts to help.
      tpe.n_startup = std::clamp(options.budget / 5, 2, tpe.n_startup);
    }
    return sampler_internal::MakeTpeSampler(space, tpe);
  }
  return MakeError(ErrorCode::kInvalidInput,
                   "unknown sampling_algorithm '" + type + "'; valid types are " +
                       Join(kTypes, ", ") + DidYouMeanSuffix(type, kTypes));
}

}  // namespace overdrive
