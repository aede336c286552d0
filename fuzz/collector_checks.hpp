// The collector contract (metrics/collector.hpp) checked on any input, for every collector:
// offsets, exactly-once across two collections, truncation, small reads. Each target adds the
// checks on the records its format promises.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "metrics/collector.hpp"

namespace fuzz {

using overdrive::CollectResult;
using overdrive::StepCounter;

inline bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

inline void CheckSame(const CollectResult& whole, const std::vector<overdrive::MetricPoint>& points,
               const std::vector<overdrive::Param>& params, std::size_t split) {
  FUZZ_CHECK(points.size() == whole.points.size(), "split at %zu: %zu points, whole file %zu",
             split, points.size(), whole.points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& a = points[i];
    const auto& b = whole.points[i];
    FUZZ_CHECK(a.name == b.name && a.step == b.step && SameBits(a.value, b.value),
               "split at %zu: point %zu differs: %s@%lld=%g vs %s@%lld=%g", split, i,
               a.name.c_str(), static_cast<long long>(a.step), a.value, b.name.c_str(),
               static_cast<long long>(b.step), b.value);
  }
  FUZZ_CHECK(params.size() == whole.params.size(), "split at %zu: %zu params, whole file %zu",
             split, params.size(), whole.params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    FUZZ_CHECK(params[i].name == whole.params[i].name &&
                   params[i].value_json == whole.params[i].value_json,
               "split at %zu: param %zu differs", split, i);
  }
}

// Runs the contract checks on a file holding `content`. `knobs` are three fuzzer-chosen bytes:
// knobs[0] bit 0 = final_read, knobs[1] = where to split the file for the two-step collection,
// knobs[2] = a small max_bytes (1..64). `collect(file, offset, steps, max_bytes, final_read)` is
// the collector, `check(result)` checks its records; with `one_record_per_line` a line yields at
// most one point or param. Returns the whole-file collection.
template <class Collect, class Check>
CollectResult CheckCollector(const std::uint8_t* knobs, const std::string& content,
                             bool one_record_per_line, Collect collect, Check check) {
  const std::uint8_t* data = knobs;
  const bool final_read = (data[0] & 1) != 0;
  const auto n = static_cast<std::int64_t>(content.size());
  const auto file = ScratchDir() / "metrics.jsonl";

  // The whole file at once.
  WriteFile(file, content);
  StepCounter whole_steps;
  auto whole = collect(file, 0, whole_steps, 64 << 20, final_read);
  FUZZ_CHECK(whole.has_value(), "collection failed: %s", whole.error().message.c_str());
  const std::size_t last_nl = content.rfind('\n');
  const std::int64_t complete = last_nl == std::string::npos ? 0 : std::int64_t(last_nl) + 1;
  const std::int64_t expected = final_read ? n : complete;
  FUZZ_CHECK(whole->new_offset == expected, "new_offset %lld, expected %lld (size %lld)",
             static_cast<long long>(whole->new_offset), static_cast<long long>(expected),
             static_cast<long long>(n));
  FUZZ_CHECK(whole->warnings.size() <= 6, "%zu warnings kept", whole->warnings.size());
  std::size_t lines = 0;
  for (std::int64_t i = 0; i < whole->new_offset; ++i) lines += content[i] == '\n';
  if (whole->new_offset > complete) ++lines;  // final_read's unterminated last line
  FUZZ_CHECK(!one_record_per_line || whole->points.size() + whole->params.size() <= lines,
             "%zu points and %zu params from %zu lines", whole->points.size(),
             whole->params.size(), lines);
  check(*whole);

  // The same file written in two parts, collected after each: nothing lost, nothing twice.
  const std::size_t split = content.size() * data[1] / 255;
  WriteFile(file, std::string_view(content).substr(0, split));
  StepCounter steps;
  auto first = collect(file, 0, steps, 64 << 20, false);
  FUZZ_CHECK(first.has_value(), "first collection failed: %s", first.error().message.c_str());
  const std::size_t prefix_nl = split == 0 ? std::string::npos : content.rfind('\n', split - 1);
  const std::int64_t prefix_complete =
      prefix_nl == std::string::npos ? 0 : std::int64_t(prefix_nl) + 1;
  FUZZ_CHECK(first->new_offset == prefix_complete, "prefix of %zu: new_offset %lld, expected %lld",
             split, static_cast<long long>(first->new_offset),
             static_cast<long long>(prefix_complete));
  WriteFile(file, std::string_view(content).substr(split), /*append=*/true);
  auto second = collect(file, first->new_offset, steps, 64 << 20, final_read);
  FUZZ_CHECK(second.has_value(), "second collection failed: %s", second.error().message.c_str());
  FUZZ_CHECK(second->new_offset == expected, "two-step new_offset %lld, expected %lld",
             static_cast<long long>(second->new_offset), static_cast<long long>(expected));
  std::vector<overdrive::MetricPoint> points = std::move(first->points);
  points.insert(points.end(), second->points.begin(), second->points.end());
  std::vector<overdrive::Param> params = std::move(first->params);
  params.insert(params.end(), second->params.begin(), second->params.end());
  CheckSame(*whole, points, params, split);

  // An offset past the end (the file was truncated or replaced) is kept and warned about.
  {
    StepCounter s;
    const std::int64_t past = n + 1 + data[2];
    auto r = collect(file, past, s, 64 << 20, final_read);
    FUZZ_CHECK(r.has_value(), "collection past the end failed");
    FUZZ_CHECK(r->new_offset == past && r->points.empty() && r->params.empty() &&
                   !r->warnings.empty(),
               "offset past the end: new_offset %lld, %zu points, %zu warnings",
               static_cast<long long>(r->new_offset), r->points.size(), r->warnings.size());
  }

  // Small reads: every call moves forward by at most max_bytes and never passes the file.
  {
    const std::int64_t max_bytes = 1 + data[2] % 64;
    StepCounter s;
    std::int64_t offset = 0;
    for (std::int64_t calls = 0;; ++calls) {
      FUZZ_CHECK(calls <= n + 1, "no progress after %lld calls", static_cast<long long>(calls));
      auto r = collect(file, offset, s, max_bytes, final_read);
      FUZZ_CHECK(r.has_value(), "collection with max_bytes %lld failed",
                 static_cast<long long>(max_bytes));
      FUZZ_CHECK(r->new_offset >= offset && r->new_offset - offset <= max_bytes &&
                     r->new_offset <= n,
                 "max_bytes %lld: offset %lld -> %lld (size %lld)",
                 static_cast<long long>(max_bytes), static_cast<long long>(offset),
                 static_cast<long long>(r->new_offset), static_cast<long long>(n));
      check(*r);
      if (r->new_offset == offset) break;
      offset = r->new_offset;
    }
    // Everything complete was read (long lines skipped in pieces); with final_read, all of it.
    FUZZ_CHECK(final_read ? offset == n : offset >= complete,
               "small reads stopped at %lld (size %lld, complete lines end at %lld)",
               static_cast<long long>(offset), static_cast<long long>(n),
               static_cast<long long>(complete));
  }
  return std::move(*whole);
}

}  // namespace fuzz
