#include "sampler/sampler.hpp"

#include "common/check.hpp"
#include "common/strings.hpp"
#include "sampler/gp_sampler.hpp"
#include "sampler/sampler_internal.hpp"
#include "space/space_ops.hpp"
#include "spec/component_params.hpp"

namespace overdrive {

Result<std::unique_ptr<Sampler>> MakeSampler(const SamplerOptions& options,
                                             const SearchSpace& space) {
  const SamplerDecl* decl = FindSamplerDecl(options.type);
  if (!decl) {
    return MakeError(ErrorCode::kInvalidInput,
                     "sampling_algorithm: " + UnknownComponentMessage(options.type, SamplerTypes()));
  }
  // The declaration the parser checked at submit; only the parameters this type declares count.
  SamplingSpec sampling;
  sampling.type = options.type;
  if (decl->Find("rule")) sampling.rule = options.rule;
  if (auto issue = decl->Validate(sampling)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "sampling_algorithm (" + options.type + "): " + issue->message);
  }
  OD_TRY(ValidateSpace(space));
  const std::string& type = options.type;
  if (type == "random") return sampler_internal::MakeRandomSampler(space, sampling.rule == "sobol");
  if (type == "grid") return sampler_internal::MakeGridSampler(space);
  if (type == "bayesian") return MakeGpSampler(space);
  OD_CHECK(type == "tpe", "a declared sampler type has no constructor here");
  sampler_internal::TpeOptions tpe;
  if (options.budget > 0) {
    // Small budgets cannot afford ten random trials before the model starts to help.
    tpe.n_startup = std::clamp(options.budget / 5, 2, tpe.n_startup);
  }
  return sampler_internal::MakeTpeSampler(space, tpe);
}

}  // namespace overdrive
