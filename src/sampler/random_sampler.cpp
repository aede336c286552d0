// Random search and its quasi-random variant (sampling_algorithm: random, rule: sobol).
#include <memory>

#include "sampler/sampler_internal.hpp"

namespace overdrive::sampler_internal {

namespace {

class RandomSampler final : public Sampler {
 public:
  RandomSampler(const SearchSpace& space, bool sobol)
      : space_(space), flat_(FlattenSpace(space_)), sobol_(sobol) {}
  RandomSampler(const RandomSampler&) = delete;  // flat_ points into space_
  RandomSampler& operator=(const RandomSampler&) = delete;

  std::string Name() const override { return sobol_ ? "sobol" : "random"; }

  std::vector<Assignment> Suggest(const std::vector<TrialObservation>& history, int n,
                                  std::uint64_t seed) override {
    std::vector<Assignment> out;
    std::vector<double> unit(flat_.size());
    // The shift depends on the seed alone: every call continues the same scrambled sequence.
    SobolSequence sequence(seed);
    for (int i = 0; i < n; ++i) {
      if (sobol_) {
        // A resumed sweep continues the sequence where the history ends.
        std::uint64_t index = history.size() + static_cast<std::uint64_t>(i);
        for (std::size_t d = 0; d < flat_.size(); ++d) {
          unit[d] = sequence.Coordinate(index, static_cast<int>(d));
        }
      } else {
        // Keyed by the trial's index alone: batched or one by one, trial k gets the same point.
        Rng rng(DeriveSeed(seed, history.size() + static_cast<std::uint64_t>(i), 0));
        for (auto& u : unit) u = rng.Uniform();
      }
      out.push_back(BuildAssignment(flat_, unit));
    }
    return out;
  }

 private:
  SearchSpace space_;
  std::vector<FlatParam> flat_;
  bool sobol_;
};

}  // namespace

std::unique_ptr<Sampler> MakeRandomSampler(const SearchSpace& space, bool sobol) {
  return std::make_unique<RandomSampler>(space, sobol);
}

}  // namespace overdrive::sampler_internal
