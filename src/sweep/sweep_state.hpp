// What a sweep's trials have done, derived from the store: the input of the sampler (history),
// the termination policy (interval series) and the views (ranking, costs).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sampler/sampler.hpp"
#include "spec/job_spec.hpp"
#include "store/metadata_store.hpp"
#include "termination/policy.hpp"

namespace overdrive {

struct TrialInfo {
  RunRecord run;
  Assignment params;
  std::vector<double> intervals;  // the primary metric, one value per report
  std::optional<double> best;     // best primary value for the goal
  std::string replaces;           // the lost trial this one runs again ("" for a new sample)
};

// Best of `values` for the goal, ignoring NaN.
std::optional<double> BestOf(Goal goal, const std::vector<double>& values);
bool IsBetter(Goal goal, double a, double b);

// Loads every trial of `sweep_id` (oldest first) with its params and primary-metric series.
Result<std::vector<TrialInfo>> LoadTrials(MetadataStore& store, const std::string& sweep_id,
                                          const std::string& primary_metric, Goal goal);

// The sampler's view of the trials: values negated for goal maximize (samplers minimise).
std::vector<TrialObservation> ToObservations(const std::vector<TrialInfo>& trials, Goal goal);
TrialObservation ToObservation(const TrialInfo& trial, Goal goal);

// The best finished trial (completed or early-terminated) with a value; nullptr when none.
const TrialInfo* BestTrial(const std::vector<TrialInfo>& trials, Goal goal);

// Trial-seconds used, and trial-seconds saved by early termination: for each stopped trial, the
// intervals it did not run (up to the most intervals any completed trial ran) at its own
// seconds-per-interval, capped by the longest completed trial's duration less the time the
// stopped trial ran. Without a completed trial nothing is claimed saved.
struct SweepCost {
  double used_s = 0;
  double saved_s = 0;
  int stopped = 0;
};
SweepCost EstimateCost(const std::vector<TrialInfo>& trials);

}  // namespace overdrive
