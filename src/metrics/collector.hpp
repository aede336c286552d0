// Collectors turn what a run writes into metric points and params, without the run ever opening
// the database. Each collector reads a file from a byte offset and consumes only complete lines,
// returning the new offset; the controller stores points and offsets in one batch (exactly once).
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
  std::vector<std::string> warnings;  // malformed lines (first few), with line context
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
// the name and second the value). Values that do not parse as numbers are skipped.
class StdoutCollector {
 public:
  static Result<std::unique_ptr<StdoutCollector>> Make(const std::string& pattern);
  // Reads `file` from `offset` up to the last complete line (at most `max_bytes`).
  Result<CollectResult> Collect(const std::filesystem::path& file, std::int64_t offset,
                                StepCounter& steps, std::int64_t max_bytes = 64 << 20);
  ~StdoutCollector();
 private:
  StdoutCollector() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// JSON lines from OVERDRIVE_METRICS_FILE:
//   {"name": "acc", "value": 0.9, "step": 3, "timestamp": 1732250000.5}   (step, timestamp optional)
//   {"kind": "param", "name": "lr", "value": 0.01}
Result<CollectResult> CollectJsonl(const std::filesystem::path& file, std::int64_t offset,
                                   StepCounter& steps, std::int64_t max_bytes = 64 << 20);

}  // namespace overdrive
