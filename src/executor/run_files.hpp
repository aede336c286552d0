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
inline constexpr const char* kStdout = "stdout.log";
inline constexpr const char* kStderr = "stderr.log";
// The shim's own stdout/stderr (its diagnostics), kept apart from the command's logs.
inline constexpr const char* kShimLog = "shim.log";

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
