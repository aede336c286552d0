// Executor: where runs execute. The local executor runs processes on this machine; the Slurm
// executor (slurm_executor.hpp) submits batch jobs. The controller drives one executor from one
// thread.
//
// Contract:
// - Submit never blocks on the run itself: a launch that does not fit the free slots is queued
//   inside the executor and started by a later Poll when slots free up.
// - Every submitted run is reported by Poll exactly once with a final state.
// - A run's processes outlive the controller (their own session). After a controller restart,
//   Reattach(handle) adopts a run started by an earlier executor instance; Poll then reports it
//   like any other, including a run that ended while nobody watched (exit status read from the
//   run folder) or that vanished without a trace (kLost).
// - Cancel asks a run to stop: SIGTERM to its process group, SIGKILL after the grace period.
//   Poll then reports kCanceled (or the run's own end if it won the race).
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

namespace overdrive {

// A path of the host seen inside a run's container (podman run -v SOURCE:TARGET[:ro]).
struct ContainerMount {
  std::string source;                        // absolute path on the machine that runs the run
  std::string target;                        // absolute path inside the container
  bool read_only = false;
};

// Run the command inside a container (executor/container.hpp builds the podman command). The
// run folder and the working directory are always mounted at their own paths, so paths in the
// command, OVERDRIVE_RUN_DIR, metrics.jsonl and outputs/ work unchanged; the command runs as the
// submitting user with only LaunchSpec::env (and CUDA_VISIBLE_DEVICES) from outside.
struct ContainerSpec {
  std::string image;                         // a name in the local image store of the machine
                                             // that runs the run (never pulled), e.g.
                                             // localhost/overdrive-base:latest
  std::string network = "none";             // podman's --network: "none" (no network but
                                             // loopback), "host" (the machine's), or the name of
                                             // a podman network
  std::vector<ContainerMount> mounts;        // more paths to see inside (inputs, caches)
  std::map<std::string, std::string> env;    // set inside the container only, over LaunchSpec::env
                                             // (an environment's PATH, VIRTUAL_ENV; on the
                                             // podman command line, so never a secret)
};

struct LaunchSpec {
  std::string run_id;
  std::string command;                       // run by /bin/sh -c
  std::filesystem::path working_dir;         // exists
  std::filesystem::path run_dir;             // exists; stdout.log, stderr.log, exit.json go here
  std::map<std::string, std::string> env;    // added to (and overriding) the inherited env
  // Resources of one process (a distributed run takes nodes x processes_per_node times these).
  double cpus = 1;
  double gpus = 0;                           // whole GPUs, or (single-process runs on the
                                             // local executor) a fraction below 1 that shares
                                             // one GPU; CUDA_VISIBLE_DEVICES is set
  std::int64_t memory_mb = 0;                // 0 = not accounted
  std::optional<double> timeout_s;           // limits.timeout -> kTimedOut
  double grace_s = 10;                       // SIGTERM -> SIGKILL delay on cancel, timeout or
                                             // a failed rank
  // Distributed runs (`distribution:` in the job file): "" = one process; "pytorch" starts
  // nodes x processes_per_node copies of the command with torch.distributed's env://
  // variables (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK,
  // LOCAL_WORLD_SIZE); "mpi" starts them through mpirun (local) or srun (Slurm) with the same
  // variables. Rank 0 writes stdout.log / stderr.log, rank r rank-<r>.stdout.log / .stderr.log.
  // The first rank that fails ends the run: its siblings get SIGTERM, then SIGKILL after
  // grace_s, and the run reports that rank's exit (ExecUpdate::rank). On the local executor the
  // "nodes" are all this machine; each node's ranks see that node's GPUs.
  std::string distribution;
  int nodes = 1;
  int processes_per_node = 1;
  int WorldSize() const { return distribution.empty() ? 1 : nodes * processes_per_node; }
  // Unset: the command runs on the machine as it is. Set: inside this container (not yet for
  // distributed runs: Submit refuses them). GPUs go in as CDI devices, nvidia.com/gpu=<id> for
  // each GPU the run got, and CUDA_VISIBLE_DEVICES inside counts them from 0.
  std::optional<ContainerSpec> container;
};

enum class ExecState {
  kQueued,     // waiting for slots
  kRunning,
  kExited,     // exit_code set (0 = success)
  kSignaled,   // killed by a signal it did not ask for (signal set)
  kTimedOut,
  kCanceled,
  kLost,       // the process vanished and left no exit record
};

const char* ExecStateName(ExecState s);

struct ExecUpdate {
  std::string run_id;
  ExecState state = ExecState::kQueued;
  int exit_code = 0;
  int signal = 0;
  double started_at = 0;  // wall seconds, when kRunning was reached
  double ended_at = 0;
  std::string handle;     // JSON to store for Reattach (set when the run starts; an executor
                          // that knows it earlier may send it with a kQueued update)
  std::string reason;     // human-readable, for failures
  std::string detail;     // what the infrastructure adds to the run's status reason (Slurm's
                          // state and reason); "" = nothing
  int rank = -1;          // distributed runs: the rank whose failure ended the run; -1 = none
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string Name() const = 0;
  // Validates the request against capacity (a run asking for 4 GPUs on a 2-GPU machine is an
  // error now, not a run queued forever) and queues or starts it.
  virtual Result<void> Submit(const LaunchSpec& spec) = 0;
  // State changes since the last call: kRunning when a run starts, then one final state.
  virtual std::vector<ExecUpdate> Poll() = 0;
  virtual Result<void> Cancel(const std::string& run_id) = 0;
  // `handle` is ExecUpdate::handle from the run's kRunning update. The run's slots count as busy
  // until it ends. No second kRunning is reported: Poll reports only its final state.
  virtual Result<void> Reattach(const std::string& run_id, const std::string& handle) = 0;
  // For a run that may have reached the executor although no handle was stored (its controller
  // died between submitting and recording): the handle to Reattach if the executor still knows
  // the run, "" if it never got it (then it is safe to Submit again). Executors whose runs leave
  // their own record in the run folder before anything starts need not look further.
  virtual Result<std::string> FindSubmitted(const std::string& /*run_id*/,
                                            const std::filesystem::path& /*run_dir*/) {
    return std::string();
  }
  // Blocks until something may have changed (a child exited) or `max_wait` passed. Returns at
  // once when Poll has something to report. With re-attached runs it wakes every ~100 ms.
  virtual void Wait(std::chrono::milliseconds max_wait) = 0;
  // Runs submitted and not yet reported final.
  virtual int ActiveCount() const = 0;
};

struct LocalExecutorOptions {
  double cpu_slots = 0;             // 0 = number of CPU cores (or OVERDRIVE_CPUS)
  std::vector<std::string> gpus;    // empty = OVERDRIVE_GPUS, else nvidia-smi -L, else none
  std::int64_t memory_mb = 0;       // 0 = physical memory
  std::string shim_path;            // executable that implements `_shim`; "" = /proc/self/exe
  bool detect = true;               // read OVERDRIVE_CPUS / OVERDRIVE_GPUS / nvidia-smi
};

Result<std::unique_ptr<Executor>> MakeLocalExecutor(const LocalExecutorOptions& options);

// The local executor (local_executor.cpp) reads slots from the options, else OVERDRIVE_CPUS /
// OVERDRIVE_GPUS ("0,1"; "" = none) / `nvidia-smi -L`, else the machine. Each run is started as
// `<shim_path> _shim RUN_DIR`; run_dir then holds launch.json (written by the executor),
// shim.json, stdout.log, stderr.log, shim.log and, when the run has ended, exit.json.
// A distributed run is one shim starting every rank (all on this machine, in one process group;
// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT) and takes cpus / gpus / memory slots for each.
// GPU slots: a run asking for a fraction (0 < gpus < 1) shares a GPU with other fractional runs
// as long as their fractions add up to at most 1 (best fit: the fullest GPU that still has
// room); a whole request takes GPUs nobody uses.
// The handle of a local run is {"pid", "start_time", "run_dir"} (the shim's pid).

// The `_shim` entry point: the process that owns one run (see shim.cpp). The program's main()
// must dispatch `argv[1] == "_shim"` here before anything else; returns the process exit code.
int RunShim(int argc, char** argv);

}  // namespace overdrive
