// The sweep's decision core (job_core.hpp): asks the sampler for trials up to the concurrency
// limit, runs a lost trial's params again before sampling anything new, feeds each new interval
// of the primary metric to the termination policy, and ends the sweep at its limits (trial
// count, timeout, an exhausted space, Ctrl-C, a cancel request, trials that all fail alike).
// Pure: its only inputs are the plan, the children and the signals the shell passes in; the
// sampler is seeded with the plan's seed.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sampler/sampler.hpp"
#include "sweep/job_core.hpp"
#include "sweep/sweep_plan.hpp"
#include "termination/policy.hpp"

namespace overdrive {

class SweepCore : public JobCore {
 public:
  // `started_at`: when the sweep started (wall seconds); its timeout counts from there.
  // `sweep_id` names the sweep in the lines the core says.
  static Result<std::unique_ptr<SweepCore>> Make(const SweepSpec& spec, std::uint64_t seed,
                                                 double started_at, std::string sweep_id);

  void Resume(std::vector<TrialInfo> children) override;
  std::vector<JobAction> Step(const JobSignals& signals) override;
  void Created(TrialInfo child) override;
  void Started(const std::string& child_id) override;
  std::vector<JobAction> Reported(const std::string& child_id,
                                  const std::vector<MetricPoint>& points) override;
  std::vector<JobAction> Ended(TrialInfo child) override;
  const std::vector<TrialInfo>& Children() const override { return trials_; }
  std::vector<std::string> ProgressLines(double now) const override;
  std::string ChildNoun() const override { return "trial"; }
  const std::string& PrimaryMetric() const override { return metric_; }

  // The best finished trial so far (nullptr: none yet).
  const TrialInfo* Best() const;

 private:
  SweepCore(SweepSpec spec, std::uint64_t seed, double started_at, std::string sweep_id);
  void Add(TrialInfo child);
  // Moves trials that became final out of open_: a pass costs the active trials, not the
  // whole sweep (scans of 100,000 trials per pass made a sweep's cost per trial grow).
  void Settle();
  int Active();
  int Counted();  // trials that count toward max_total_trials (lost ones are run again)
  const std::vector<TrialObservation>& Observations();
  std::vector<JobAction> ApplyPolicy(size_t index, size_t new_values);
  std::vector<JobAction> BeginStop(RunStatus status, const std::string& reason);
  std::optional<std::string> AllFailingReason() const;
  std::string Label(const TrialInfo& t) const;

  SweepSpec spec_;
  std::string sweep_id_;
  std::uint64_t seed_ = 0;
  double started_at_ = 0;
  Goal goal_ = Goal::kMaximize;
  std::string metric_;
  int max_total_ = 0;
  int max_concurrent_ = 0;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<TerminationPolicy> policy_;

  std::vector<TrialInfo> trials_;
  // The policy's view of trials_ (same order), kept in step as values arrive so that a decision
  // does not copy every trial's series.
  std::vector<TrialProgress> progress_;
  std::map<std::string, size_t> index_;
  std::vector<size_t> open_;          // trials not final when last looked at
  std::vector<size_t> lost_;          // final trials that were lost
  std::set<std::string> replaced_;    // ids of lost trials already run again
  std::set<std::string> stopping_;    // trials asked to stop, not ended yet
  std::optional<size_t> best_index_;  // the best finished trial so far
  // The sampler's view of trials_ (same order), rebuilt only for the trials that moved since
  // the last suggestion (changed_): a scan of every trial per suggestion made a sweep's cost
  // per trial grow with its size.
  std::vector<TrialObservation> observations_;
  std::vector<size_t> changed_;
  // What AllFailingReason needs, kept as trials end (Settle) rather than counted per pass.
  bool any_succeeded_ = false;
  int failures_ = 0;
  std::set<std::string> failure_reasons_;

  bool exhausted_ = false;
  bool stopping_job_ = false;
  bool finished_ = false;
  RunStatus final_status_ = RunStatus::kCompleted;
  std::string final_reason_;
  int interrupts_seen_ = 0;
  bool trend_warned_ = false;
};

// "name=value name=value" for a line.
std::string FormatParams(const Assignment& a);

}  // namespace overdrive
