#include <re2/re2.h>

#include <charconv>
#include <cmath>

#include "common/clock.hpp"
#include "common/input_limits.hpp"
#include "metrics/collector.hpp"
#include "metrics/line_reader.hpp"

namespace overdrive {

namespace {

// Katib's default metrics-collector pattern (kept in sync with ExtensionSpec in spec/job_spec.hpp;
// duplicated so that metrics does not depend on spec).
constexpr std::string_view kKatibPattern =
    R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))";

// A value counts only when the whole captured text is a finite number: "a=" or "x=-" match the
// pattern but carry no value.
bool ParseFiniteDouble(std::string_view text, double& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '+') return false;
  const char* first = text.data();
  const char* last = first + text.size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last && std::isfinite(out);
}

}  // namespace

struct StdoutCollector::Impl {
  explicit Impl(std::string_view pattern) : re(pattern, RE2::Quiet) {}
  RE2 re;
  // True when every match needs an '=' in the line, so lines without one are skipped unseen.
  bool needs_equals = false;
};

StdoutCollector::~StdoutCollector() = default;

Result<std::unique_ptr<StdoutCollector>> StdoutCollector::Make(const std::string& pattern) {
  const std::string_view effective = pattern.empty() ? kKatibPattern : std::string_view(pattern);
  auto impl = std::make_unique<Impl>(effective);
  if (!impl->re.ok()) {
    return MakeError(ErrorCode::kInvalidInput,
                     "metrics pattern '" + std::string(effective) +
                         "' is not a valid RE2 regular expression: " + impl->re.error());
  }
  if (impl->re.NumberOfCapturingGroups() < 2) {
    return MakeError(ErrorCode::kInvalidInput,
                     "metrics pattern '" + std::string(effective) + "' has " +
                         std::to_string(impl->re.NumberOfCapturingGroups()) +
                         " capturing group(s); it needs 2: the metric name, then its value, "
                         "e.g. ([\\w-]+)=([-+.\\dEe]+)");
  }
  impl->needs_equals = effective == kKatibPattern;
  std::unique_ptr<StdoutCollector> collector(new StdoutCollector());
  collector->impl_ = std::move(impl);
  return collector;
}

Result<CollectResult> StdoutCollector::Collect(const std::filesystem::path& file,
                                               std::int64_t offset, StepCounter& steps,
                                               std::int64_t max_bytes,
                                               bool final_read) {
  CollectResult result;
  metrics_internal::WarningSink warnings;
  const double now = WallSeconds();
  const RE2& re = impl_->re;
  const bool needs_equals = impl_->needs_equals;
  re2::StringPiece groups[3];
  const std::string file_name = file.filename().string();

  auto on_line = [&](std::string_view line, const metrics_internal::LineInfo& info) {
    if (needs_equals && line.find('=') == std::string_view::npos) return;
    std::size_t pos = 0;
    while (pos <= line.size()) {
      if (!re.Match(re2::StringPiece(line.data(), line.size()), pos, line.size(), RE2::UNANCHORED,
                    groups, 3)) {
        break;
      }
      const std::size_t match_end =
          static_cast<std::size_t>(groups[0].data() - line.data()) + groups[0].size();
      // An empty match would find itself again forever.
      pos = groups[0].empty() ? match_end + 1 : match_end;
      double value = 0;
      if (groups[1].empty() || groups[2].data() == nullptr ||
          !ParseFiniteDouble(std::string_view(groups[2].data(), groups[2].size()), value)) {
        continue;
      }
      MetricPoint point;
      point.name.assign(groups[1].data(), groups[1].size());
      // A custom pattern can capture bytes no view of the run could print: refused here, once.
      if (auto ok = ValidateName("name", point.name); !ok) {
        warnings.Add(file_name + ": line " + std::to_string(info.index) + " of the new data (byte " +
                     std::to_string(info.byte_offset) + "): " + ok.error().message + ": " +
                     metrics_internal::Snippet(line));
        continue;
      }
      point.value = value;
      point.step = steps.Next(point.name);
      point.timestamp = now;
      result.points.push_back(std::move(point));
    }
  };

  auto new_offset =
      metrics_internal::ForEachCompleteLine(file, offset, max_bytes, warnings, on_line,
                                            final_read);
  if (!new_offset) return std::unexpected(new_offset.error());
  result.new_offset = *new_offset;
  warnings.MoveTo(result.warnings);
  return result;
}

}  // namespace overdrive
