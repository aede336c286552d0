// A job's decision core: what to do next, as a pure function of the job's recorded children
// (trials, later a pipeline's steps), the events the shell reports and a seeded RNG. A core does
// no I/O: no store, no executor, no clock of its own, no terminal. The shell (job_shell.hpp)
// turns the store and the executor into events, asks the core, and performs the actions it
// returns — every decision is written to the store before it is acted on, so a resumed shell
// rebuilds the same core from the store alone.
//
// Contract (the table tests in tests/sweep/sweep_core_test.cpp hold every core to it):
// - Resume(children) is given everything recorded, oldest first, once, before anything else.
// - Step(signals) is called once per loop pass. It returns stops, launches and at most one
//   Finish or Detach. After Finish the shell stops calling.
// - Each kLaunch the shell performs is reported back with Created() before the next call, with
//   the child's status as recorded (a launch the executor refused is already final).
// - Reported(id, points) gives a running child's new metric points in order; Ended(child) gives
//   a child that reached a final status, as recorded (intervals re-read from the store).
// - A core never asks to stop the same child twice, and never launches past its limits.
#pragma once

#include <string>
#include <vector>

#include "store/records.hpp"
#include "sweep/sweep_state.hpp"

namespace overdrive {

struct JobAction {
  enum class Kind {
    kLaunch,  // create a child with `params` (replacing the lost child `replaces`, "" = none)
    kStop,    // stop child `child_id`; it ends with `status` and `reason`
    kSay,     // a line for the user (`text`)
    kWarn,    // a warning: shown and kept as an event on the job (`text`)
    kFinish,  // every child has ended: the job ends with `status` and `reason`
    kDetach,  // leave the children running without a controller (second Ctrl-C)
  };
  Kind kind = Kind::kSay;
  Assignment params;
  std::string replaces;
  std::string child_id;
  RunStatus status = RunStatus::kCompleted;
  std::string reason;
  std::string text;

  static JobAction Launch(Assignment params, std::string replaces = "");
  static JobAction Stop(std::string child_id, RunStatus status, std::string reason);
  static JobAction Say(std::string text);
  static JobAction Warn(std::string text);
  static JobAction Finish(RunStatus status, std::string reason);
  static JobAction Detach();
};

// What the shell observed outside the children since the last Step.
struct JobSignals {
  double now = 0;                 // wall seconds
  int interrupts = 0;             // Ctrl-C presses so far: 1 = stop the job, 2 = detach
  bool cancel_requested = false;  // `job cancel`, the API or the dashboard asked
};

// Children by status. Lost children (the infrastructure lost them; they are run again) are
// counted apart from failed ones.
struct ChildCounts {
  int running = 0, queued = 0, completed = 0, stopped = 0, failed = 0, canceled = 0, lost = 0;
  int Finished() const { return completed + stopped + failed + canceled; }
};
ChildCounts CountChildren(const std::vector<TrialInfo>& children);

class JobCore {
 public:
  virtual ~JobCore() = default;
  virtual void Resume(std::vector<TrialInfo> children) = 0;
  virtual std::vector<JobAction> Step(const JobSignals& signals) = 0;
  virtual void Created(TrialInfo child) = 0;
  virtual void Started(const std::string& child_id) = 0;
  virtual std::vector<JobAction> Reported(const std::string& child_id,
                                          const std::vector<MetricPoint>& points) = 0;
  virtual std::vector<JobAction> Ended(TrialInfo child) = 0;
  // The children as the core sees them (oldest first).
  virtual const std::vector<TrialInfo>& Children() const = 0;
  // One to three lines that say where the job stands (for the live view).
  virtual std::vector<std::string> ProgressLines(double now) const = 0;
  // What a child is called ("trial"), and the name the shell gives the `ordinal`-th child
  // (1-based), e.g. "trial 3".
  virtual std::string ChildNoun() const = 0;
  std::string ChildName(size_t ordinal) const { return ChildNoun() + " " + std::to_string(ordinal); }
  // The metric whose series Ended() children carry (the shell re-reads it from the store).
  virtual const std::string& PrimaryMetric() const = 0;
};

}  // namespace overdrive
