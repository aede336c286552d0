// SlurmExecutor: runs each launch as a Slurm batch job (sbatch), on a cluster whose nodes share
// the run folders' filesystem with this machine.
//
// How it meets the Executor contract (executor.hpp):
// - Submit writes a small POSIX sh batch script into the run folder (slurm_job.sh) and calls
//   `sbatch --parsable`; it does not wait for the job. Slurm queues it; sbatch's refusal
//   (an unknown partition, a request no node can satisfy) is returned at once, Slurm's own words
//   followed by what to change. The job's handle, {"slurm_job_id", "job_name", "run_dir",
//   "phase"}, is reported with a kQueued update right after Submit (so a controller that dies
//   while the job waits in Slurm's queue finds it again) and also kept in slurm_job.json.
// - The batch script runs the command like the local shim does: the run's environment, its
//   working directory, its own process group, stdout.log / stderr.log in the run folder (Slurm's
//   --output / --error, opened for appending), the timeout enforced to the second (Slurm's
//   --time, in whole minutes, is the backstop), and an exit.json record in the shim's format.
// - Poll learns states from at most one `squeue` per poll interval for all runs, plus the runs'
//   exit.json files (no Slurm command at all). PENDING -> queued; RUNNING -> kRunning (once);
//   a job that left an exit record -> its record; TIMEOUT/DEADLINE -> kTimedOut; CANCELLED ->
//   kCanceled when we asked, else a failure naming Slurm's state; PREEMPTED / NODE_FAIL /
//   BOOT_FAIL -> kLost (a sweep replaces the trial); OUT_OF_MEMORY -> killed (SIGKILL). A job
//   Slurm no longer lists is judged by its exit record, else by `scontrol show job`, else kLost.
// - Cancel is `scancel` (Slurm sends SIGTERM, then SIGKILL after the cluster's KillWait).
// - Reattach adopts a job by its id from the handle and never submits again; a job id that now
//   names another job (the cluster's state was reset) counts as gone.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"
#include "executor/slurm_options.hpp"

namespace overdrive {

class SlurmExecutor final : public Executor {
 public:
  explicit SlurmExecutor(SlurmOptions options);
  ~SlurmExecutor() override;

  std::string Name() const override { return "slurm"; }
  Result<void> Submit(const LaunchSpec& spec) override;
  std::vector<ExecUpdate> Poll() override;
  Result<void> Cancel(const std::string& run_id) override;
  Result<void> Reattach(const std::string& run_id, const std::string& handle) override;
  // The job named od-RUN_ID in Slurm's queue (`squeue -t all`), if this run's batch script was
  // written (so sbatch may have been called) but its job id never reached slurm_job.json.
  Result<std::string> FindSubmitted(const std::string& run_id,
                                    const std::filesystem::path& run_dir) override;
  void Wait(std::chrono::milliseconds max_wait) override;
  int ActiveCount() const override { return static_cast<int>(runs_.size()); }

  // How many Slurm commands (sbatch, squeue, scontrol, scancel) this executor has run.
  std::int64_t SlurmCommandCount() const { return commands_run_; }
  const SlurmOptions& options() const { return options_; }

  // The files of a run folder that belong to this executor.
  static constexpr const char* kBatchScript = "slurm_job.sh";
  static constexpr const char* kHandleFile = "slurm_job.json";

 private:
  struct Run;
  struct Snapshot;  // one job's line of squeue output
  struct CommandOutput {
    int exit_code = -1;   // -1: could not run or was killed for taking too long
    std::string out, err;
    std::string failure;  // why it could not run
  };

  CommandOutput RunSlurm(const std::vector<std::string>& argv);
  void QueryQueue();
  void Judge(Run& run, const Snapshot* snapshot);
  void JudgeGone(Run& run);
  std::optional<ExecUpdate> FromExitRecord(const Run& run) const;
  ExecUpdate Final(const Run& run, ExecState state) const;
  void MarkRunning(Run& run, double started_at);
  std::string SubmitError(const LaunchSpec& spec, const CommandOutput& r) const;

  SlurmOptions options_;
  std::map<std::string, std::unique_ptr<Run>> runs_;
  std::vector<ExecUpdate> pending_;  // updates not yet returned by Poll
  double next_query_ = 0;            // monotonic seconds
  std::int64_t commands_run_ = 0;
  bool accounting_disabled_ = false;  // sacct answered that this cluster keeps no accounting
};

}  // namespace overdrive
