// The names of distributions as job files write them. A file of its own so that the parser's
// fuzz target (built with clang) can take it without the rest of the part.
#include "space/search_space.hpp"

namespace overdrive {

const char* DistributionTypeName(DistributionType t) {
  switch (t) {
    case DistributionType::kChoice: return "choice";
    case DistributionType::kRandint: return "randint";
    case DistributionType::kUniform: return "uniform";
    case DistributionType::kLoguniform: return "loguniform";
    case DistributionType::kQuniform: return "quniform";
    case DistributionType::kQloguniform: return "qloguniform";
    case DistributionType::kNormal: return "normal";
    case DistributionType::kLognormal: return "lognormal";
    case DistributionType::kQnormal: return "qnormal";
    case DistributionType::kQlognormal: return "qlognormal";
  }
  return "unknown";
}

}  // namespace overdrive
