// The policy classes behind MakeTerminationPolicy, and the interval arithmetic they share.
// Internal to the termination part: other parts use policy.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spec/job_spec.hpp"
#include "termination/policy.hpp"

namespace overdrive::termination_internal {

// The schedule every Azure policy shares.
struct Schedule {
  int evaluation_interval = 1;  // >= 1 (0 from the file already mapped to 1)
  int delay_evaluation = 0;
  bool Evaluates(int k) const { return k >= 1 && k % evaluation_interval == 0 && k >= delay_evaluation; }
};

// True when a is strictly better than b for the goal.
bool Better(Goal goal, double a, double b);

// Best finite value among values[0..k), or nullopt when there is none (or fewer than k values).
std::optional<double> BestSoFar(Goal goal, const std::vector<double>& values, int k);

// Mean of the finite values among values[0..k), or nullopt.
std::optional<double> RunningAverage(const std::vector<double>& values, int k);

// Compact number for reasons: 4 significant digits ("0.6667", "1.2e-05").
std::string Num(double v);

const char* GoalWord(Goal goal);

// 64-bit FNV-1a: a bracket assignment that is the same on every machine and every run.
std::uint64_t StableHash(std::string_view s);

class BanditPolicy final : public TerminationPolicy {
 public:
  BanditPolicy(Goal goal, Schedule schedule, std::optional<double> slack_factor,
               std::optional<double> slack_amount);
  std::string Name() const override { return "bandit"; }
  PolicyDecision Decide(const TrialProgress& trial,
                        const std::vector<TrialProgress>& all) const override;

 private:
  Goal goal_;
  Schedule schedule_;
  std::optional<double> slack_factor_;
  std::optional<double> slack_amount_;
};

class MedianStoppingPolicy final : public TerminationPolicy {
 public:
  static constexpr int kMinOthers = 2;
  MedianStoppingPolicy(Goal goal, Schedule schedule);
  std::string Name() const override { return "median_stopping"; }
  PolicyDecision Decide(const TrialProgress& trial,
                        const std::vector<TrialProgress>& all) const override;

 private:
  Goal goal_;
  Schedule schedule_;
};

class TruncationSelectionPolicy final : public TerminationPolicy {
 public:
  static constexpr int kMinTrials = 3;  // the deciding trial and 2 others
  TruncationSelectionPolicy(Goal goal, Schedule schedule, int truncation_percentage);
  std::string Name() const override { return "truncation_selection"; }
  PolicyDecision Decide(const TrialProgress& trial,
                        const std::vector<TrialProgress>& all) const override;

 private:
  Goal goal_;
  Schedule schedule_;
  int percentage_;
};

class AshaPolicy final : public TerminationPolicy {
 public:
  AshaPolicy(Goal goal, int delay_evaluation, int min_resource, int max_resource,
             double reduction_factor, int brackets);
  std::string Name() const override { return "asha"; }
  PolicyDecision Decide(const TrialProgress& trial,
                        const std::vector<TrialProgress>& all) const override;

  int BracketOf(std::string_view trial_id) const;
  // Whether interval k is a decision rung of `bracket` (delay_evaluation and max_resource applied).
  bool IsRung(int bracket, int k) const;

 private:
  Goal goal_;
  int delay_evaluation_;
  int min_resource_;
  int max_resource_;
  double eta_;
  int brackets_;
};

}  // namespace overdrive::termination_internal
