#include "store/records.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/name_table.hpp"
#include "common/strings.hpp"

namespace overdrive {
namespace {

constexpr NameTable<RunStatus, 8> kStatusNames = {{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kStarting, "starting"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kCompleted, "completed"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCanceled, "canceled"},
    {RunStatus::kEarlyTerminated, "early_terminated"},
    {RunStatus::kTimedOut, "timed_out"},
}};

constexpr NameTable<ComputeType, 2> kComputeTypeNames = {{
    {ComputeType::kLocal, "local"},
    {ComputeType::kSlurm, "slurm"},
}};

}  // namespace

bool IsLost(const RunRecord& run) { return run.lost; }

namespace {
constexpr std::string_view kOldStopPrefix = "stop:";  // "stop:<status>", before StopIntent
}  // namespace

RunEvent EncodeStopIntent(const StopIntent& stop, double timestamp) {
  nlohmann::json j = {{"status", RunStatusName(stop.status)}, {"reason", stop.reason}};
  return {timestamp, kStopEventKind, j.dump()};
}

std::optional<StopIntent> DecodeStopIntent(const RunEvent& e) {
  StopIntent out;
  std::string status;
  if (e.kind == kStopEventKind) {
    nlohmann::json j = nlohmann::json::parse(e.message, nullptr, false);
    if (!j.is_object() || !j.contains("status") || !j["status"].is_string()) return std::nullopt;
    status = j["status"].get<std::string>();
    if (j.contains("reason")) {
      if (!j["reason"].is_string()) return std::nullopt;
      out.reason = j["reason"].get<std::string>();
    }
  } else if (StartsWith(e.kind, kOldStopPrefix)) {
    status = e.kind.substr(kOldStopPrefix.size());
    out.reason = e.message;
  } else {
    return std::nullopt;
  }
  auto parsed = ParseRunStatus(status);
  if (!parsed || !IsFinal(*parsed)) return std::nullopt;
  out.status = *parsed;
  return out;
}

bool IsStopIntentEvent(const RunEvent& e) {
  return e.kind == kStopEventKind || StartsWith(e.kind, kOldStopPrefix);
}

const char* ComputeTypeName(ComputeType t) { return NameOf(kComputeTypeNames, t); }

std::optional<ComputeType> ParseComputeType(std::string_view name) {
  return FromName(kComputeTypeNames, name);
}

Result<ComputeTarget> ReadComputeTarget(std::string name, std::string_view type,
                                        std::string config_json) {
  auto t = ParseComputeType(type);
  if (!t) {
    return MakeError(ErrorCode::kInvalidInput,
                     "compute '" + name + "' has type '" + std::string(type) +
                         "', which this version cannot run (supported: local, slurm)");
  }
  return ComputeTarget{std::move(name), *t, std::move(config_json)};
}

std::string NextIntegerVersion(const std::vector<std::string>& versions) {
  std::int64_t highest = 0;
  for (const auto& v : versions) {
    if (v.empty() || v.size() > 18 ||
        !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    highest = std::max(highest, static_cast<std::int64_t>(std::stoll(v)));
  }
  return std::to_string(highest + 1);
}

Error EnvironmentVersionTaken(const std::string& name, const std::string& version) {
  return Error{ErrorCode::kAlreadyExists,
               "environment '" + name + "' version '" + version +
                   "' already exists with a different spec; versions are immutable: create a "
                   "new version (leave out --version for the next number)"};
}

Error DataAssetVersionTaken(const std::string& name, const std::string& version) {
  return Error{ErrorCode::kAlreadyExists,
               "data asset '" + name + "' version '" + version +
                   "' already exists with a different path or content; versions are immutable: "
                   "create a new version"};
}

const char* RunStatusName(RunStatus s) { return NameOf(kStatusNames, s); }

std::optional<RunStatus> ParseRunStatus(std::string_view name) {
  return FromName(kStatusNames, name);
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

namespace {
// min/max that skip NaN: NaN only when both are.
double MinSkipNan(double a, double b) { return std::isnan(a) ? b : (std::isnan(b) || a <= b ? a : b); }
double MaxSkipNan(double a, double b) { return std::isnan(a) ? b : (std::isnan(b) || a >= b ? a : b); }
}  // namespace

std::map<std::pair<std::string, std::int64_t>, MetricBlock> SummarizeBlocks(
    const std::vector<MetricPoint>& points) {
  std::map<std::pair<std::string, std::int64_t>, MetricBlock> out;
  for (const auto& p : points) {
    const std::int64_t block = p.step >> kMetricBlockShift;  // floor, also for negative steps
    auto [it, fresh] = out.try_emplace({p.name, block});
    MetricBucket& b = it->second.summary;
    if (fresh) {
      it->second.name = p.name;
      it->second.block = block;
      b = MetricBucket{p.step, p.step, p.value, p.value, p.value, 0};
    } else {
      b.step_first = std::min(b.step_first, p.step);
      if (p.step >= b.step_last) {
        b.step_last = p.step;
        b.value = p.value;
      }
      b.min_value = MinSkipNan(b.min_value, p.value);
      b.max_value = MaxSkipNan(b.max_value, p.value);
    }
    ++b.count;
  }
  return out;
}

std::vector<MetricBucket> MergeBlocks(const std::vector<MetricBucket>& blocks, int max_buckets) {
  std::vector<MetricBucket> out;
  const auto n = static_cast<std::int64_t>(blocks.size());
  std::int64_t current = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const MetricBucket& b = blocks[static_cast<size_t>(i)];
    std::int64_t bucket = i * max_buckets / n;
    if (bucket != current) {
      current = bucket;
      out.push_back(b);
      continue;
    }
    MetricBucket& m = out.back();
    m.step_last = b.step_last;
    m.value = b.value;
    m.min_value = MinSkipNan(m.min_value, b.min_value);
    m.max_value = MaxSkipNan(m.max_value, b.max_value);
    m.count += b.count;
  }
  return out;
}

Result<std::string> PickRunId(const std::string& prefix, std::vector<std::string> ids) {
  if (std::find(ids.begin(), ids.end(), prefix) != ids.end()) return prefix;
  if (ids.empty()) return MakeError(ErrorCode::kNotFound, "no run id starts with '" + prefix + "'");
  if (ids.size() == 1) return ids.front();
  bool more = ids.size() > 5;
  if (more) ids.resize(5);
  return MakeError(ErrorCode::kInvalidInput, "run id prefix '" + prefix +
                                                 "' is ambiguous: it matches " + Join(ids, ", ") +
                                                 (more ? ", ..." : "") + "; give more characters");
}

}  // namespace overdrive
