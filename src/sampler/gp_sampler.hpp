// Bayesian optimisation with a Gaussian process (sampling_algorithm: bayesian).
#pragma once

#include <memory>

#include "common/result.hpp"
#include "sampler/sampler.hpp"

namespace overdrive {

// Accepts only choice, uniform and quniform parameters (as Azure does), without conditional
// sub-spaces; any other type is an error naming the parameter and the allowed types.
Result<std::unique_ptr<Sampler>> MakeGpSampler(const SearchSpace& space);

}  // namespace overdrive
