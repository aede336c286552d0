// The job shell: the I/O half of a controller. It loads a job's children from the store,
// re-attaches to or launches those still owed, then loops: turns the world (Ctrl-C, the clock,
// cancel requests, metric lines, executor updates) into events for the job's core
// (job_core.hpp) and performs the actions the core returns through the store and the Executor,
// writing each decision to the store before acting on it. The core decides; the shell never
// does. A job kind brings its core plus a JobKind: how a launch becomes a child run record and
// how the job's end is recorded. Sweeps are one kind (sweep_controller.cpp); a pipeline's DAG
// of steps is meant to be a second core on the same shell.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "environment/environment_cache.hpp"
#include "sweep/controller.hpp"
#include "sweep/job_core.hpp"

namespace overdrive {

// A child to store and launch: its record and its parameters as stored.
struct NewChild {
  RunRecord run;
  std::vector<Param> params;
};

class JobKind {
 public:
  virtual ~JobKind() = default;
  // Every child recorded so far (oldest first), as the core needs them.
  virtual Result<std::vector<TrialInfo>> LoadChildren() = 0;
  // The record of the child a kLaunch asks for. `name` is the core's name for it; the shell
  // has chosen its id and creation time (strictly increasing: creation order is child order).
  virtual Result<NewChild> BuildChild(const JobAction& launch, const std::string& id,
                                      const std::string& name, double created_at) = 0;
  // The job ends (kFinish): record summaries and the job's final status, tell the user.
  virtual Result<void> Finish(const JobAction& finish, const JobCore& core, JobView& view) = 0;
};

// Plain lines on a stream (a log, a pipe): each line as it comes, where the job stands every
// 10 seconds on one line. The live view for a terminal is the CLI's (src/cli/live_view.hpp).
std::unique_ptr<JobView> MakeLineView(std::ostream& out);

// Drives `job` to its end (or until detached). `core` has not been resumed yet. `run_env`:
// what every child run gets from the job's environment (environment_prep.hpp).
Result<ControllerResult> RunJobShell(Workspace& ws, const RunRecord& job, JobCore& core,
                                     JobKind& kind, const ControllerOptions& options,
                                     const RunPlacement& run_env = {});

}  // namespace overdrive
