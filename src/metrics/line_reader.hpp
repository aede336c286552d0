// Internal to the metrics part: reads the complete lines of a growing file from a byte offset.
// Shared by the collectors so that every one of them has the same exactly-once offset rules.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace overdrive::metrics_internal {

// Keeps the first few warnings of one collection and counts the rest, so a file full of garbage
// cannot flood the run's event log.
class WarningSink {
 public:
  static constexpr int kMaxWarnings = 5;
  void Add(std::string message);
  // Moves the kept warnings (plus a "... N more" line when some were dropped) into `out`.
  void MoveTo(std::vector<std::string>& out);
 private:
  std::vector<std::string> kept_;
  std::int64_t dropped_ = 0;
};

struct LineInfo {
  std::int64_t byte_offset = 0;  // where the line starts in the file
  std::int64_t index = 0;        // 1-based line number counted from the collection's offset
};

// Calls `on_line` for every complete line ('\n'-terminated; the '\n' and a trailing '\r' are
// stripped) in [offset, offset + max_bytes), and returns the offset just past the last complete
// line. A missing file returns `offset`. A file shorter than `offset` (truncated or replaced)
// adds a warning and returns `offset`: lines are never ingested twice. A single line longer than
// `max_bytes` is skipped with a warning, or the collector could never move past it.
Result<std::int64_t> ForEachCompleteLine(
    const std::filesystem::path& file, std::int64_t offset, std::int64_t max_bytes,
    WarningSink& warnings, const std::function<void(std::string_view, const LineInfo&)>& on_line,
    bool final_read = false);

// "a long line..." cut to a readable length for warnings.
std::string Snippet(std::string_view line);

}  // namespace overdrive::metrics_internal
