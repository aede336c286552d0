// Early-termination policies decide, after each reported interval of the primary metric, whether
// a trial should stop. They are pure: the trials' interval values in, a decision out.
//
// Interval semantics follow Azure ML: each report of the primary metric by a trial is one
// interval (1-based). A policy acts at interval k when k % evaluation_interval == 0 and
// k >= delay_evaluation (evaluation_interval 0 is read as 1).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {

struct TrialProgress {
  std::string trial_id;
  std::vector<double> values;  // primary metric at intervals 1..n, as reported (not negated)
  bool finished = false;       // completed (or stopped) trials keep their values as reference
};

enum class Decision { kContinue, kStop };

struct PolicyDecision {
  Decision decision = Decision::kContinue;
  std::string reason;  // for kStop: one line, e.g. "best 0.61 < cut-off 0.667 (bandit, interval 4)"
};

class TerminationPolicy {
 public:
  virtual ~TerminationPolicy() = default;
  virtual std::string Name() const = 0;
  // Decides for `trial` (whose latest interval is values.size()) against `all` trials (which
  // include `trial`). Called once per new interval of a running trial.
  virtual PolicyDecision Decide(const TrialProgress& trial,
                                const std::vector<TrialProgress>& all) const = 0;
};

// spec.type "" gives nullptr (no early termination).
Result<std::unique_ptr<TerminationPolicy>> MakeTerminationPolicy(const EarlyTerminationSpec& spec,
                                                                 Goal goal);

}  // namespace overdrive
