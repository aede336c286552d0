// Internal to the executor part: the files of a run folder and the /proc helpers that the
// executor and the shim share. Not for other parts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace overdrive::run_files {

// Written by the executor before the shim starts: everything the shim needs.
inline constexpr const char* kLaunch = "launch.json";
// Written by the shim when it starts: {"pid", "start_time"}.
inline constexpr const char* kShim = "shim.json";
// Written by the shim once the command runs: {"pgid", "start_time"} of the command's process
// group leader, so a run whose shim was killed can still have its processes stopped.
inline constexpr const char* kGroup = "group.json";
// Written by the shim when the command has ended: the run's exit record.
inline constexpr const char* kExit = "exit.json";
// Allocated by the shim when it starts and given back when it writes kExit: room for the exit
// record on a disk the command filled.
inline constexpr const char* kExitReserve = "exit.reserve";
inline constexpr const char* kStdout = "stdout.log";
inline constexpr const char* kStderr = "stderr.log";
// The shim's own stdout/stderr (its diagnostics), kept apart from the command's logs.
inline constexpr const char* kShimLog = "shim.log";
// Distributed runs started through a launcher (mpirun, srun): "RANK EXIT_CODE" of the first
// rank that failed, written by the rank wrapper below (created exclusively: the first one wins).
inline constexpr const char* kFailedRank = "failed_rank";

// The log files of rank `rank` of a distributed run: rank 0 writes stdout.log / stderr.log,
// rank r rank-<r>.stdout.log / rank-<r>.stderr.log.
std::string RankLog(int rank, bool stderr_log);

// A POSIX sh script that every task started by srun or mpirun runs (as `sh -c SCRIPT
// overdrive-rank LAUNCHER RUN_DIR PROCESSES_PER_NODE COMMAND`, LAUNCHER "slurm" or "mpi"): it
// exports RANK, LOCAL_RANK, NODE_RANK, WORLD_SIZE and LOCAL_WORLD_SIZE from the launcher's own
// variables (SLURM_PROCID, ... / OMPI_COMM_WORLD_RANK, PMI_RANK), sends ranks other than 0 to
// their own log files, runs the command and records the first failure in kFailedRank.
const std::string& RankWrapperScript();

// Writes through a temporary file and rename(), so a reader never sees half a file.
Result<void> WriteFileAtomic(const std::filesystem::path& path, const std::string& content);
Result<std::string> ReadWholeFile(const std::filesystem::path& path);

struct ProcInfo {
  char state = '?';               // R, S, D, Z, ...
  std::uint64_t start_time = 0;   // clock ticks since boot (field 22 of /proc/<pid>/stat)
};
// Nothing when the process does not exist (or /proc cannot be read).
std::optional<ProcInfo> ReadProcInfo(pid_t pid);

}  // namespace overdrive::run_files
