// Process identity that survives pid reuse: a pid plus its start time (field 22 of
// /proc/<pid>/stat, in clock ticks since boot).
#pragma once

#include <cstdint>

namespace overdrive {

// Start time of `pid`, or 0 when no such process exists (or it is a zombie).
std::int64_t ProcessStartTime(int pid);
// Whether `pid` is alive and is the same process that had `start_time`.
bool ProcessAlive(int pid, std::int64_t start_time);

}  // namespace overdrive
