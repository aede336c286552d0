// libFuzzer target for the JSONL metrics collector (CollectJsonl): what a run writes to
// OVERDRIVE_METRICS_FILE, and what the server appends for metrics logged over HTTP.
//
// Input: three knob bytes (final_read, split point, small max_bytes: see collector_checks.hpp),
// then the file's content.
//
// Invariants: the collector contract of collector_checks.hpp (offsets, exactly once, truncation,
// small reads; at most one record per line), and
// - every point has a non-empty name and a non-negative step; every param's value is JSON text
//   (it is stored and served as such); names are valid UTF-8 (they are dumped as JSON strings,
//   which throws on invalid UTF-8). The UTF-8 and JSON-text checks are off under
//   OVERDRIVE_FUZZ_LENIENT=1.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/input_limits.hpp"
#include "fuzz_util.hpp"
#include "collector_checks.hpp"
#include "metrics/collector.hpp"

namespace {

using overdrive::CollectJsonl;
using overdrive::CollectResult;
using overdrive::StepCounter;

void CheckRecords(const CollectResult& r) {
  for (const auto& p : r.points) {
    FUZZ_CHECK(!p.name.empty(), "a point without a name");
    FUZZ_CHECK(p.step >= 0, "point '%s' has step %lld", p.name.c_str(),
               static_cast<long long>(p.step));
    FUZZ_CHECK(std::isfinite(p.timestamp), "point '%s' has a non-finite timestamp",
               p.name.c_str());
    if (!fuzz::Lenient()) {
      FUZZ_CHECK(overdrive::IsValidUtf8(p.name), "metric name is not valid UTF-8: %s",
                 fuzz::Hex(p.name).c_str());
    }
  }
  for (const auto& p : r.params) {
    FUZZ_CHECK(!p.name.empty(), "a param without a name");
    if (!fuzz::Lenient()) {
      FUZZ_CHECK(overdrive::IsValidUtf8(p.name), "param name is not valid UTF-8: %s",
                 fuzz::Hex(p.name).c_str());
      FUZZ_CHECK(nlohmann::json::accept(p.value_json),
                 "param '%s' value is not JSON text: %s", p.name.c_str(),
                 fuzz::Hex(p.value_json).c_str());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string content(reinterpret_cast<const char*>(data) + 3, size - 3);
  fuzz::CheckCollector(
      data, content, /*one_record_per_line=*/true,
      [](const std::filesystem::path& file, std::int64_t offset, StepCounter& steps,
         std::int64_t max_bytes, bool final_read) {
        return CollectJsonl(file, offset, steps, max_bytes, final_read);
      },
      CheckRecords);
  return 0;
}
