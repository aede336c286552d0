// Samplers propose hyperparameter assignments. They are pure: the history of trials and a seed
// in, suggestions out — no clocks, no I/O, no globals — so a sweep is reproducible for a seed and
// a resumed controller (whose history includes every trial already created) never repeats one.
//
// Contract (tests/sampler/sampler_conformance.cpp):
// - Suggest(history, n, seed) returns at most n assignments of the space's active parameters,
//   each value inside its distribution's support; fewer only when the space is exhausted (grid).
// - Same history + same n + same seed => same suggestions.
// - Pending trials (queued/running) are in the history without a value; model-based samplers
//   avoid proposing them again (constant liar or similar).
// - Values are always MINIMISED: the controller negates the metric for goal: maximize.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "space/search_space.hpp"

namespace overdrive {

enum class TrialState { kPending, kCompleted, kPruned, kFailed };

struct TrialObservation {
  Assignment params;
  TrialState state = TrialState::kPending;
  // The objective to minimise: for kCompleted the trial's final value (best-so-far semantics are
  // the controller's choice); for kPruned the last reported value; empty when unknown.
  std::optional<double> value;
  // Number of intervals reported (a pruned trial's budget, for multi-fidelity use).
  int intervals = 0;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::string Name() const = 0;
  virtual std::vector<Assignment> Suggest(const std::vector<TrialObservation>& history, int n,
                                          std::uint64_t seed) = 0;
  // Total number of distinct assignments, when finite (grid); nullopt otherwise.
  virtual std::optional<std::int64_t> Capacity() const { return std::nullopt; }
};

struct SamplerOptions {
  std::string type = "random";  // random | grid | bayesian | tpe
  std::string rule = "random";  // random | sobol
  // The sweep's max_total_trials when known (0: unknown). tpe starts modelling earlier on small
  // budgets (n_startup = clamp(budget / 5, 2, 10)).
  int budget = 0;
};

// Types and their parameters (rule) are checked against spec/component_params.cpp, as the job
// parser checked them at submit; unknown types list every valid one. grid/bayesian refuse spaces
// they cannot handle, naming the parameter and the allowed distribution types.
Result<std::unique_ptr<Sampler>> MakeSampler(const SamplerOptions& options,
                                             const SearchSpace& space);

}  // namespace overdrive
