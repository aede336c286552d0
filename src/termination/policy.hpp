// Early-termination policies decide, after each reported interval of the primary metric, whether
// a trial should stop. They are pure: the trials' interval values in, a decision out.
//
// Interval semantics follow Azure ML: each report of the primary metric by a trial is one
// interval (1-based). A policy acts at interval k when k % evaluation_interval == 0 and
// k >= delay_evaluation (evaluation_interval 0 is read as 1). asha ignores evaluation_interval
// (its rungs decide) but respects delay_evaluation.
//
// Shared definitions:
// - The deciding trial is at interval k = trial.values.size().
// - "best so far" of a trial at k = max (maximize) or min (minimize) of its values 1..k.
// - A reference trial "reached k" when it has at least k values; running and finished trials
//   count alike (finished ones keep their values as reference).
// - Non-finite values (NaN, inf) are ignored; a trial with no finite value up to k is no
//   reference, and a deciding trial without one continues.
//
// Policies (a decision is always kContinue unless the rule below says kStop):
// - bandit: best = the best of all best-so-far values at k over the trials that reached k (the
//   deciding trial included, so the leader is never stopped). Stop when the trial's best so far
//   is strictly worse than the cut-off:
//     maximize, slack_factor f: cut-off = best - |best| * f / (1+f)   (= best/(1+f) for best > 0)
//     minimize, slack_factor f: cut-off = best + |best| * f           (= best*(1+f) for best > 0)
//     slack_amount a:           cut-off = best - a (maximize), best + a (minimize)
//   Using |best| keeps the cut-off on the worse side of best for negative metrics (the plain
//   Azure formula best/(1+f) would put it above a negative best and stop the leader). The
//   minimize rule is the mirror of Azure's (its docs only spell out maximize).
// - median_stopping: stop when the trial's best so far at k is strictly worse than the median
//   of the running averages (mean of values 1..k) of the OTHER trials that reached k; the trial
//   itself does not count (its own average should not move its bar). Needs >= 2 other trials.
//   With an even count the median is the mean of the two middle averages.
// - truncation_selection: the trials that reached k (the deciding one included) are ranked by
//   their best so far at k (robust to one noisy report). n = their count, cut =
//   floor(n * truncation_percentage / 100). The trial stops when it lies in the worst `cut`
//   places even if ties are ranked in its favour (trials tied with it never push it out).
//   Needs n >= 3 (the trial and 2 others); with fewer nothing is stopped.
// - asha (Overdrive extension, asynchronous successive halving, Li et al. 2020): resource =
//   interval count. The trial's bracket s = FNV-1a(trial_id) % brackets; its rungs are
//   min_resource * eta^(s+i), i = 0, 1, ... (eta = reduction_factor), each < max_resource when
//   max_resource > 0 (the top of the budget is the trial's own end, not a decision point),
//   and >= delay_evaluation. When the trial reaches a rung r (k == r) it is ranked by its value
//   AT interval r among the values at r of every trial of the same bracket that reached r (itself
//   included). With n values and n >= eta, the top floor(n/eta) continue (ties in its favour);
//   the rest stop. With n < eta it continues. A trial is only judged on reaching a rung: one that
//   passed a rung is not stopped later because better trials arrived there after it.
//
// Reasons are one line with the numbers, e.g.
//   "best 0.61 < cut-off 0.6667 = 0.8/(1+0.2) at interval 4 (bandit, maximize)"
//   "best 0.55 < median 0.6 of 3 other trials' running averages at interval 3 (median_stopping, maximize)"
//   "best 0.05 ranks 10 of 10 at interval 2: in the worst 2 (20%) (truncation_selection, maximize)"
//   "value 0.6 at rung 2 ranks 4 of 4; only the top 2 (1/2) continue (asha, bracket 0, maximize)"
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
  std::string reason;  // for kStop: one line with the numbers (see the examples above)
};

class TerminationPolicy {
 public:
  virtual ~TerminationPolicy() = default;
  virtual std::string Name() const = 0;
  // Decides for `trial` (whose latest interval is values.size()) against `all` trials (which
  // include `trial`, matched by trial_id). Called once per new interval of a running trial.
  virtual PolicyDecision Decide(const TrialProgress& trial,
                                const std::vector<TrialProgress>& all) const = 0;
};

// spec.type "" gives nullptr (no early termination).
// Errors (kInvalidInput, "file:line:col: early_termination ..." at spec.pos): an unknown type
// (listing the valid ones, with a did-you-mean hint), or a parameter the policy's declaration in
// spec/component_params.cpp refuses (a bound, a missing required one, bandit without exactly one
// of slack_factor / slack_amount, asha with 0 < max_resource <= min_resource) — the very checks
// the job parser made at submit.
Result<std::unique_ptr<TerminationPolicy>> MakeTerminationPolicy(const EarlyTerminationSpec& spec,
                                                                 Goal goal);

}  // namespace overdrive
