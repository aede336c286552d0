#include "store/records.hpp"

#include <array>
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

}  // namespace overdrive
