// Collectors turn what a run writes into metric points and params, without the run ever opening
// the database. Each collector reads a file from a byte offset and consumes only complete lines,
// returning the new offset; the controller stores points and offsets in one batch (exactly once).
//
// Contract shared by every collector:
// - Only '\n'-terminated lines are consumed; new_offset is just past the last one, so a line still
//   being written is read whole on a later call. A trailing '\r' is ignored.
// - A missing file is not an error: no points, new_offset == offset.
// - A file shorter than `offset` (truncated or replaced) adds a warning and keeps `offset`: lines
//   are never ingested twice. A single line longer than `max_bytes` is skipped with a warning.
// - Malformed input is never an error, only a warning (at most 5 kept, then a count). Errors are
//   reserved for a negative offset (kInvalidInput) and an unreadable file (kIo).
// - Points without a step take one from the StepCounter; points without a timestamp get the
//   time of collection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/records.hpp"

namespace overdrive {

struct CollectResult {
  std::vector<MetricPoint> points;
  std::vector<Param> params;
  std::int64_t new_offset = 0;
  // Malformed lines (first few), with line context; always valid UTF-8 without control
  // characters, whatever the file held.
  std::vector<std::string> warnings;
};

// Assigns steps to points reported without one: per metric name, one more than the last step
// (0 for the first point). Seeded from the store's summaries when a controller resumes.
class StepCounter {
 public:
  void Seed(const std::string& name, std::int64_t last_step);
  std::int64_t Next(const std::string& name);           // for a point without a step
  void Observe(const std::string& name, std::int64_t step);  // a point with an explicit step
 private:
  std::map<std::string, std::int64_t> next_;
};

// name=value lines on stdout (Katib's pattern by default; any RE2 pattern whose first group is
// the name and second the value). Every match in a line is a point ("epoch=3 loss=0.25" gives
// two); a value that is not entirely a finite number ("a=", "x=-", "nan") is skipped silently. A
// name that ValidateName refuses (invalid UTF-8, control characters, over 250 bytes: only a custom
// pattern can capture one) is skipped with a warning.
class StdoutCollector {
 public:
  // "" means Katib's default. kInvalidInput when the pattern does not compile or has fewer than
  // two capturing groups. A collector is not thread-safe; use one per thread.
  static Result<std::unique_ptr<StdoutCollector>> Make(const std::string& pattern);
  // Reads `file` from `offset` up to the last complete line (at most `max_bytes`). With
  // `final_read` (the run has ended, the file will not grow) a last line without '\n' counts too.
  Result<CollectResult> Collect(const std::filesystem::path& file, std::int64_t offset,
                                StepCounter& steps, std::int64_t max_bytes = 64 << 20,
                                bool final_read = false);
  ~StdoutCollector();
 private:
  StdoutCollector() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// JSON lines from OVERDRIVE_METRICS_FILE:
//   {"name": "acc", "value": 0.9, "step": 3, "timestamp": 1732250000.5}   (step, timestamp optional)
//   {"kind": "param", "name": "lr", "value": 0.01}
// A metric value may also be the string "NaN", "Infinity" or "-Infinity" (what the Python client
// writes, JSON having no such numbers), or the bare tokens Python's json.dumps writes. A param's
// value is any JSON value, kept as JSON text. Unknown keys are ignored; a line that is not valid
// JSON (invalid UTF-8 included), without a name or with one ValidateName refuses, with a
// non-numeric value, a step that is not a non-negative integer or an unknown "kind" is skipped
// with a warning naming its line (counted from `offset`) and byte position.
Result<CollectResult> CollectJsonl(const std::filesystem::path& file, std::int64_t offset,
                                   StepCounter& steps, std::int64_t max_bytes = 64 << 20,
                                   bool final_read = false);

}  // namespace overdrive
