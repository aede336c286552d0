#include "store/records.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

namespace overdrive {
namespace {

constexpr std::array<std::pair<RunStatus, const char*>, 8> kStatusNames = {{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kStarting, "starting"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kCompleted, "completed"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCanceled, "canceled"},
    {RunStatus::kEarlyTerminated, "early_terminated"},
    {RunStatus::kTimedOut, "timed_out"},
}};

}  // namespace

const char* RunStatusName(RunStatus s) {
  for (const auto& [status, name] : kStatusNames) {
    if (status == s) return name;
  }
  return "unknown";
}

std::optional<RunStatus> ParseRunStatus(std::string_view name) {
  for (const auto& [status, n] : kStatusNames) {
    if (name == n) return status;
  }
  return std::nullopt;
}

bool IsFinal(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued:
    case RunStatus::kStarting:
    case RunStatus::kRunning:
      return false;
    case RunStatus::kCompleted:
    case RunStatus::kFailed:
    case RunStatus::kCanceled:
    case RunStatus::kEarlyTerminated:
    case RunStatus::kTimedOut:
      return true;
  }
  return false;
}

std::map<std::string, MetricSummary> SummarizePoints(const std::vector<MetricPoint>& points) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, MetricSummary> out;
  for (const auto& p : points) {
    auto [it, fresh] = out.try_emplace(p.name);
    MetricSummary& s = it->second;
    if (fresh) {
      s.name = p.name;
      s.last_step = p.step;
      s.last_value = p.value;
      s.min_value = s.max_value = kNaN;
    } else if (p.step >= s.last_step) {
      s.last_step = p.step;
      s.last_value = p.value;
    }
    ++s.count;
    if (!std::isnan(p.value)) {
      if (std::isnan(s.min_value) || p.value < s.min_value) s.min_value = p.value;
      if (std::isnan(s.max_value) || p.value > s.max_value) s.max_value = p.value;
    }
  }
  return out;
}

}  // namespace overdrive
