#pragma once

#include <string>

namespace overdrive {

// Seconds since the Unix epoch (UTC), with sub-millisecond resolution. Records store this.
double WallSeconds();
// A monotonic clock in seconds, for measuring durations and deadlines.
double MonotonicSeconds();
// "2026-11-22 03:12:58" in local time, for tables. 0 gives "-".
std::string FormatTimestamp(double wall_seconds);

}  // namespace overdrive
