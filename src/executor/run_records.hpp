// The records an executor keeps in a run folder (and the handles it gives out), each a typed
// struct with one codec. Internal to the executor part, like run_files.hpp: the other parts go
// through the Executor interface (FindSubmitted, Reattach) and DescribeHandle.
//
// Decoding is tolerant: a missing optional field takes its default; a field of the wrong type,
// text that is not JSON, or JSON that is not an object is an error (kInvalidInput) naming what
// is wrong. Encoding leaves out fields at their "none" value where the format always has.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"

namespace overdrive {

// ---- exit.json: how a run ended. Written by the shim (WriteExitRecord) and by the Slurm batch
// script (ExitRecordShellWriter, the same fields in POSIX sh); read by both executors.
struct ExitRecord {
  int exit_code = 0;
  int signal = 0;             // the signal that ended the command; 0 = none
  bool timed_out = false;     // stopped for exceeding its time limit
  bool canceled = false;      // stopped because someone asked (SIGTERM/SIGINT to the shim)
  double started_at = 0;      // wall seconds; 0 = not recorded
  double ended_at = 0;        // wall seconds; 0 = not recorded
  int rank = -1;              // distributed runs: the rank whose failure ended the run; -1 = none
  std::string error;          // why the command could not start; "" = none
  std::string slurm_job_id;   // the batch script's $SLURM_JOB_ID; "" = none (or the shim)
};

std::string EncodeExitRecord(const ExitRecord& r);
Result<ExitRecord> DecodeExitRecord(std::string_view text);

// The one writer of exit.json: written atomically (temporary file + rename); when the disk is
// full it frees the run's exit.reserve (taken by ReserveExitRoom) and tries once more. The
// reserve is removed in any case: the record is written, or it never will be.
Result<void> WriteExitRecord(const std::filesystem::path& run_dir, const ExitRecord& r);
// The one reader: nothing when the run folder has no exit record or an unreadable one.
std::optional<ExitRecord> ReadExitRecord(const std::filesystem::path& run_dir);
// A record from an earlier attempt must not answer for this one.
void RemoveExitRecord(const std::filesystem::path& run_dir);
// Room for the exit record (64 KiB in exit.reserve), taken when a run starts: a command that
// fills the disk must not leave a run whose end nobody can tell.
void ReserveExitRoom(const std::filesystem::path& run_dir);

// A POSIX sh function definition, `write_exit EXIT_CODE SIGNAL RANK ERROR`, that writes the
// record EncodeExitRecord would (timed_out, canceled and started_at from the shell variables of
// those names, ended_at from `date`, slurm_job_id from $SLURM_JOB_ID) to "$exit_file" through a
// temporary file and `mv -f`. RANK "" or negative = none; ERROR "" = none, any other text is
// escaped for JSON. For the Slurm batch script, which runs where nothing of Overdrive is
// installed; built from the same field names as the codec.
std::string ExitRecordShellWriter();

// How an exit record reads as a final ExecUpdate. One rule for every executor; what differs
// between them is in `ExitContext`.
struct ExitContext {
  std::string run_id;
  std::filesystem::path run_dir;  // for the log file a failure message points at
  // The executor's own idea of when the run started (0 = none). The local executor's wins (it
  // is when the run took its slots); the Slurm executor's (when squeue first said RUNNING)
  // only stands in for a record without one: `record_start_first`.
  double started_at = 0;
  bool record_start_first = false;
  bool cancel_requested = false;
  // Slurm: scancel may signal only some of the job's processes, so a command can carry on and
  // exit 0 after being canceled; with this set, a run that ended at or after this wall time
  // while a cancel was requested counts as canceled whatever its exit. Unset (local), only a
  // signal does.
  std::optional<double> cancel_requested_at;
};
ExecUpdate InterpretExitRecord(const ExitRecord& r, const ExitContext& c);

// ---- launch.json: everything the shim needs, written by the local executor before it starts
// the shim; read by the shim, and by a re-attaching local executor (which slots the run holds).
struct LaunchRecord {
  std::string run_id;
  std::string command;
  std::string working_dir;
  std::map<std::string, std::string> env;
  double cpus = 0;                          // all ranks together
  double gpus = 0;
  std::vector<std::string> gpu_ids;
  double gpu_share = 1;                     // 1, or a fraction of one shared GPU
  std::int64_t memory_mb = 0;
  double grace_s = 10;
  double started_at = 0;                    // when the executor started it (wall seconds)
  std::optional<double> timeout_s;
  std::optional<std::string> cuda_visible_devices;  // unset = leave CUDA_VISIBLE_DEVICES alone
  std::string distribution;                 // "" (one process), "pytorch", "mpi"
  int nodes = 1;
  int processes_per_node = 1;
  std::vector<std::string> cuda_visible_devices_per_node;  // distributed: each node's GPUs
  std::optional<ContainerSpec> container;   // "container": {"image", "network", "mounts":
                                            // [{"source", "target", "read_only"}]}
};

std::string EncodeLaunchRecord(const LaunchRecord& r);
// `command` and `working_dir` are required.
Result<LaunchRecord> DecodeLaunchRecord(std::string_view text);

// ---- shim.json: the shim's own pid and start time (clock ticks since boot, /proc), written
// when it starts.
struct ShimRecord {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
};
std::string EncodeShimRecord(const ShimRecord& r);
Result<ShimRecord> DecodeShimRecord(std::string_view text);  // `pid` is required

// ---- group.json: the command's process group leader, written by the shim once the command
// runs, so a run whose shim was killed can still have its processes stopped.
struct GroupRecord {
  pid_t pgid = 0;
  std::uint64_t start_time = 0;
};
std::string EncodeGroupRecord(const GroupRecord& r);
Result<GroupRecord> DecodeGroupRecord(std::string_view text);  // `pgid` is required

// ---- handles (ExecUpdate::handle) -------------------------------------------------------------

// The local executor's: the shim's pid and start time, and the run folder.
struct LocalHandle {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  std::string run_dir;
};
std::string EncodeLocalHandle(const LocalHandle& h);
Result<LocalHandle> DecodeLocalHandle(std::string_view text);  // `pid`, `run_dir` required

// The Slurm executor's, also kept in the run folder as SlurmExecutor::kHandleFile
// (slurm_job.json) so a job whose id never reached the store is found again.
struct SlurmHandle {
  std::int64_t slurm_job_id = 0;
  std::string job_name;         // "" = od-<run id>
  std::string run_dir;
  bool running = true;          // "phase": "running" (the default) or "queued"
};
std::string EncodeSlurmHandle(const SlurmHandle& h);
Result<SlurmHandle> DecodeSlurmHandle(std::string_view text);  // `slurm_job_id`, `run_dir` required

}  // namespace overdrive
