// Search spaces: the ten distributions of Azure ML sweep jobs, plus conditional parameters
// (an Overdrive extension: a choice value may carry its own sub-space, active only when that
// value is chosen). Samplers work in the unit cube; this part maps between the two.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/value.hpp"

namespace overdrive {

enum class DistributionType {
  kChoice,       // values[i]
  kRandint,      // integer in [0, upper)
  kUniform,      // U(min_value, max_value)
  kLoguniform,   // exp(U(min_value, max_value)) — bounds are natural-log exponents
  kQuniform,     // round(U(min, max) / q) * q
  kQloguniform,  // round(exp(U(min, max)) / q) * q
  kNormal,       // N(mu, sigma)
  kLognormal,    // exp(N(mu, sigma))
  kQnormal,      // round(N(mu, sigma) / q) * q
  kQlognormal,   // round(exp(N(mu, sigma)) / q) * q
};

// "choice", "randint", ... as written in job files.
const char* DistributionTypeName(DistributionType t);

struct SearchSpace;

struct Distribution {
  DistributionType type = DistributionType::kUniform;
  std::vector<ParamValue> values;         // choice
  std::vector<SearchSpace> sub_spaces;    // choice: empty, or one (possibly empty) per value
  std::int64_t upper = 0;                 // randint
  double min_value = 0, max_value = 1;    // uniform family
  double mu = 0, sigma = 1;               // normal family
  double q = 1;                           // q* types
};

struct SearchSpace {
  // In file order; names are unique across the whole tree (conditional sub-spaces included).
  std::vector<std::pair<std::string, Distribution>> params;
};

// One assignment of values to the active parameters of a space.
using Assignment = std::map<std::string, ParamValue>;

}  // namespace overdrive
