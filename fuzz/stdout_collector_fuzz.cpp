// libFuzzer target for the stdout `name=value` collector (StdoutCollector): a run's stdout, and
// the RE2 pattern a job file may set for it.
//
// Input: three knob bytes (final_read, split point, small max_bytes: see collector_checks.hpp);
// knobs[0] bit 1 set means the first line of the rest is the job's pattern (else Katib's
// default); the rest is the stdout file.
//
// Invariants: the collector contract of collector_checks.hpp (offsets, exactly once, truncation,
// small reads), and
// - Make either compiles the pattern or says why (kInvalidInput, non-empty message);
// - every point has a non-empty name and a finite value; with a fresh StepCounter each name's
//   steps are 0, 1, 2, ... in order;
// - with the default pattern, names are [A-Za-z0-9_|-]+ and each point's name occurs in the file;
// - names are valid UTF-8 (off under OVERDRIVE_FUZZ_LENIENT=1: a custom pattern can capture
//   anything).
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

#include "collector_checks.hpp"
#include "common/input_limits.hpp"
#include "fuzz_util.hpp"
#include "metrics/collector.hpp"

namespace {

using overdrive::StdoutCollector;
using overdrive::StepCounter;

bool IsKatibNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '|' || c == '-';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  std::string pattern;
  const bool custom = (data[0] & 2) != 0;
  if (custom) {
    const std::size_t nl = rest.find('\n');
    pattern = rest.substr(0, nl);
    rest = nl == std::string::npos ? "" : rest.substr(nl + 1);
    if (pattern.empty() || pattern.size() > 256) return 0;  // "" means the default
  }
  auto made = StdoutCollector::Make(pattern);
  if (!made) {
    FUZZ_CHECK(custom, "Katib's default pattern was refused: %s", made.error().message.c_str());
    FUZZ_CHECK(made.error().code == overdrive::ErrorCode::kInvalidInput &&
                   !made.error().message.empty(),
               "pattern refused without a kInvalidInput message");
    return 0;
  }
  StdoutCollector& collector = **made;

  auto check = [&](const overdrive::CollectResult& r) {
    for (const auto& p : r.points) {
      FUZZ_CHECK(!p.name.empty(), "a point without a name");
      FUZZ_CHECK(std::isfinite(p.value), "point '%s' has value %g", p.name.c_str(), p.value);
      FUZZ_CHECK(std::isfinite(p.timestamp), "point '%s' has a non-finite timestamp",
                 p.name.c_str());
      if (!custom) {
        for (char c : p.name) {
          FUZZ_CHECK(IsKatibNameChar(c), "default pattern captured name %s",
                     fuzz::Hex(p.name).c_str());
        }
        FUZZ_CHECK(rest.find(p.name) != std::string::npos, "name '%s' is not in the file",
                   p.name.c_str());
      }
      if (!fuzz::Lenient()) {
        FUZZ_CHECK(overdrive::IsValidUtf8(p.name), "metric name is not valid UTF-8: %s",
                   fuzz::Hex(p.name).c_str());
      }
    }
    FUZZ_CHECK(r.params.empty(), "stdout gave params");
  };
  auto whole = fuzz::CheckCollector(
      data, rest, /*one_record_per_line=*/false,
      [&](const std::filesystem::path& file, std::int64_t offset, StepCounter& steps,
          std::int64_t max_bytes, bool final_read) {
        return collector.Collect(file, offset, steps, max_bytes, final_read);
      },
      check);
  // Steps of a fresh counter: 0, 1, 2, ... per name, in file order.
  std::map<std::string, std::int64_t> next_step;
  for (const auto& p : whole.points) {
    const std::int64_t want = next_step[p.name]++;
    FUZZ_CHECK(p.step == want, "point '%s' has step %lld, expected %lld", p.name.c_str(),
               static_cast<long long>(p.step), static_cast<long long>(want));
  }
  return 0;
}
