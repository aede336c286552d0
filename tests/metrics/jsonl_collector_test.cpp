#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/input_limits.hpp"
#include "metrics/collector.hpp"
#include "test_files.hpp"

namespace overdrive {
namespace {

using ::testing::HasSubstr;
using testing_metrics::AppendFile;
using testing_metrics::TempFolder;
using testing_metrics::WriteFile;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Point {
  std::string name;
  double value;
  std::int64_t step;
  double timestamp;  // 0 = "time of collection"
};

struct JsonlCase {
  const char* label;
  std::string content;
  std::vector<Point> points;
  std::vector<Param> params;
  std::vector<std::string> warnings;  // a substring of each warning, in order
};

void ExpectSameValue(double got, double want, std::size_t i) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << "point " << i << " got " << got;
  } else {
    EXPECT_DOUBLE_EQ(got, want) << "point " << i;
  }
}

class JsonlTableTest : public ::testing::TestWithParam<JsonlCase> {};

TEST_P(JsonlTableTest, CollectsExpectedPointsParamsAndWarnings) {
  const auto& c = GetParam();
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  WriteFile(file, c.content);
  StepCounter steps;
  const double before = WallSeconds();
  auto r = CollectJsonl(file, 0, steps);
  const double after = WallSeconds();
  ASSERT_TRUE(r.has_value()) << r.error().message;

  ASSERT_EQ(r->points.size(), c.points.size());
  for (std::size_t i = 0; i < c.points.size(); ++i) {
    EXPECT_EQ(r->points[i].name, c.points[i].name) << "point " << i;
    ExpectSameValue(r->points[i].value, c.points[i].value, i);
    EXPECT_EQ(r->points[i].step, c.points[i].step) << "point " << i;
    if (c.points[i].timestamp == 0) {
      EXPECT_GE(r->points[i].timestamp, before) << "point " << i;
      EXPECT_LE(r->points[i].timestamp, after) << "point " << i;
    } else {
      EXPECT_DOUBLE_EQ(r->points[i].timestamp, c.points[i].timestamp) << "point " << i;
    }
  }
  ASSERT_EQ(r->params.size(), c.params.size());
  for (std::size_t i = 0; i < c.params.size(); ++i) {
    EXPECT_EQ(r->params[i].name, c.params[i].name);
    EXPECT_EQ(r->params[i].value_json, c.params[i].value_json);
  }
  ASSERT_EQ(r->warnings.size(), c.warnings.size()) << ::testing::PrintToString(r->warnings);
  for (std::size_t i = 0; i < c.warnings.size(); ++i) {
    EXPECT_THAT(r->warnings[i], HasSubstr(c.warnings[i]));
    // Warnings quote the run's bytes and end up in `job show --json`: whatever the run wrote,
    // they are valid UTF-8 without control characters.
    EXPECT_TRUE(IsValidUtf8(r->warnings[i])) << r->warnings[i];
    for (char ch : r->warnings[i]) EXPECT_GE(static_cast<unsigned char>(ch), 0x20) << r->warnings[i];
  }
  const auto last_nl = c.content.rfind('\n');
  EXPECT_EQ(r->new_offset, last_nl == std::string::npos ? 0 : std::int64_t(last_nl + 1));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonlTableTest,
    ::testing::Values(
        // Found by the fuzzer: "1." passed from_chars and was stored as param text that is not
        // JSON; a NUL ended nlohmann's input and hid the rest of the line.
        JsonlCase{"param_numbers_that_are_not_json",
                  "{\"kind\":\"param\",\"name\":\"p\",\"value\":1.}\n"
                  "{\"kind\":\"param\",\"name\":\"q\",\"value\":2.5}\n",
                  {}, {{"q", "2.5"}}, {"line 1"}},
        JsonlCase{"nul_inside_a_line",
                  std::string("{\"name\":\"a\",\"value\":1}\0garbage\n", 31),
                  {}, {}, {"NUL"}},
        JsonlCase{"full_metric",
                  R"({"name": "acc", "value": 0.9, "step": 3, "timestamp": 1732250000.5})"
                  "\n",
                  {{"acc", 0.9, 3, 1732250000.5}}, {}, {}},
        JsonlCase{"auto_steps_per_name",
                  "{\"name\":\"loss\",\"value\":3}\n{\"name\":\"acc\",\"value\":1}\n"
                  "{\"name\":\"loss\",\"value\":2}\n",
                  {{"loss", 3, 0, 0}, {"acc", 1, 0, 0}, {"loss", 2, 1, 0}}, {}, {}},
        JsonlCase{"explicit_step_moves_auto_counter",
                  "{\"name\":\"loss\",\"value\":1,\"step\":10}\n{\"name\":\"loss\",\"value\":2}\n"
                  "{\"name\":\"loss\",\"value\":3,\"step\":4}\n{\"name\":\"loss\",\"value\":4}\n",
                  {{"loss", 1, 10, 0}, {"loss", 2, 11, 0}, {"loss", 3, 4, 0}, {"loss", 4, 12, 0}},
                  {}, {}},
        JsonlCase{"integral_float_step_and_null_step",
                  "{\"name\":\"a\",\"value\":1,\"step\":5.0}\n{\"name\":\"a\",\"value\":2,\"step\":null}\n",
                  {{"a", 1, 5, 0}, {"a", 2, 6, 0}}, {}, {}},
        JsonlCase{"non_finite_strings",
                  "{\"name\":\"a\",\"value\":\"NaN\"}\n{\"name\":\"b\",\"value\":\"Infinity\"}\n"
                  "{\"name\":\"c\",\"value\":\"-Infinity\"}\n{\"name\":\"d\",\"value\":\"inf\"}\n",
                  {{"a", kNaN, 0, 0}, {"b", kInf, 0, 0}, {"c", -kInf, 0, 0}, {"d", kInf, 0, 0}},
                  {}, {}},
        JsonlCase{"bare_non_finite_tokens_from_python_json_dumps",
                  "{\"name\": \"a\", \"value\": NaN}\n{\"name\": \"b\", \"value\": -Infinity}\n",
                  {{"a", kNaN, 0, 0}, {"b", -kInf, 0, 0}}, {}, {}},
        JsonlCase{"params",
                  "{\"kind\":\"param\",\"name\":\"lr\",\"value\":0.01}\n"
                  "{\"kind\": \"param\", \"name\": \"opt\", \"value\": \"adam\"}\n"
                  "{\"kind\":\"param\",\"name\":\"layers\",\"value\":[64, 32]}\n"
                  "{\"kind\":\"param\",\"name\":\"flag\",\"value\":true}\n"
                  "{\"kind\":\"param\",\"name\":\"cfg\",\"value\":{\"a\":\"x\\\"y\"}}\n",
                  {},
                  {{"lr", "0.01"}, {"opt", "\"adam\""}, {"layers", "[64,32]"}, {"flag", "true"},
                   {"cfg", "{\"a\":\"x\\\"y\"}"}},
                  {}},
        JsonlCase{"escaped_name_and_unknown_keys",
                  "{\"name\":\"val\\/acc\",\"value\":0.5,\"epoch\":2,\"extra\":{\"k\":[1]}}\n",
                  {{"val/acc", 0.5, 0, 0}}, {}, {}},
        JsonlCase{"explicit_metric_kind", "{\"kind\":\"metric\",\"name\":\"a\",\"value\":-1e-3}\n",
                  {{"a", -1e-3, 0, 0}}, {}, {}},
        JsonlCase{"blank_lines_and_crlf", "\n  \n{\"name\":\"a\",\"value\":1}\r\n",
                  {{"a", 1, 0, 0}}, {}, {}},
        JsonlCase{"malformed_lines_skipped_with_line_numbers",
                  "{\"name\":\"a\",\"value\":1}\n"
                  "{not json}\n"
                  "{\"value\":1}\n"
                  "{\"name\":\"b\",\"value\":\"high\"}\n"
                  "{\"name\":\"c\"}\n"
                  "[1,2]\n"
                  "{\"name\":\"d\",\"value\":2,\"step\":-1}\n"
                  "{\"name\":\"e\",\"value\":2,\"step\":1.5}\n"
                  "{\"kind\":\"artifact\",\"name\":\"f\",\"value\":2}\n"
                  "{\"name\":\"a\",\"value\":3}\n",
                  {{"a", 1, 0, 0}, {"a", 3, 1, 0}},
                  {},
                  {"line 2 of the new data (byte 23): not valid JSON", "line 3 ", "line 4 ", "line 5 ",
                   "line 6 ", "... and 3 more malformed line(s)"}},
        JsonlCase{"each_kind_of_problem_explained",
                  "{\"value\":1}\n{\"name\":\"b\",\"value\":\"x\"}\n{\"name\":\"c\"}\n"
                  "{\"kind\":\"param\",\"name\":\"p\"}\n{\"name\":\"t\",\"value\":1,\"timestamp\":\"now\"}\n",
                  {}, {},
                  {"no \"name\" string", "\"value\" is not a number", "no \"value\"",
                   "param without a \"value\"", "\"timestamp\" must be"}},
        JsonlCase{"partial_last_line_not_consumed", "{\"name\":\"a\",\"value\":1}\n{\"name\":\"a\",",
                  {{"a", 1, 0, 0}}, {}, {}},
        // Names are checked once, here: nothing a view could not print or dump as JSON is stored.
        JsonlCase{"invalid_utf8_name_refused",
                  "{\"name\":\"acc\xff\",\"value\":1}\n{\"name\":\"ok\",\"value\":2}\n",
                  {{"ok", 2, 0, 0}}, {}, {"line 1 of the new data (byte 0): not valid JSON"}},
        JsonlCase{"invalid_utf8_param_name_and_value_refused",
                  "{\"kind\":\"param\",\"name\":\"p\\u00e9\xc3\",\"value\":1}\n"
                  "{\"kind\":\"param\",\"name\":\"q\",\"value\":\"\xc3(\"}\n",
                  {}, {}, {"line 1 ", "line 2 "}},
        JsonlCase{"control_character_in_escaped_name_refused",
                  "{\"name\":\"a\\u0007b\",\"value\":1}\n{\"name\":\"a\\nb\",\"value\":1}\n",
                  {}, {}, {"holds a control character", "holds a control character"}},
        JsonlCase{"name_over_250_bytes_refused",
                  "{\"name\":\"" + std::string(251, 'n') + "\",\"value\":1}\n",
                  {}, {}, {"is longer than 250 bytes"}},
        JsonlCase{"unprintable_bytes_quoted_printably",
                  "{\"name\":\"\xff\xfe\",\"value\":1}\n\x01\x1b[31m\xc3\n"
                  "{\"name\":\"x\",\"value\":\"\xe2\x82\"}\n",
                  {}, {}, {"line 1 ", "line 2 ", "line 3 "}},
        JsonlCase{"non_ascii_utf8_name_kept", "{\"name\":\"pr\xc3\xa9" "cision\",\"value\":1}\n",
                  {{"pr\xc3\xa9" "cision", 1, 0, 0}}, {}, {}}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(JsonlCollectorTest, ResumesAcrossCallsAndFinishesPartialLines) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  StepCounter steps;
  auto r0 = CollectJsonl(file, 0, steps);  // the run has not written yet
  ASSERT_TRUE(r0.has_value());
  EXPECT_EQ(r0->new_offset, 0);
  EXPECT_TRUE(r0->points.empty());

  const std::string first = "{\"name\":\"loss\",\"value\":1}\n";
  WriteFile(file, first + "{\"name\":\"lo");
  auto r1 = CollectJsonl(file, 0, steps);
  ASSERT_TRUE(r1.has_value());
  ASSERT_EQ(r1->points.size(), 1u);
  EXPECT_EQ(r1->new_offset, static_cast<std::int64_t>(first.size()));
  EXPECT_TRUE(r1->warnings.empty());

  AppendFile(file, "ss\",\"value\":2}\n");
  auto r2 = CollectJsonl(file, r1->new_offset, steps);
  ASSERT_TRUE(r2.has_value());
  ASSERT_EQ(r2->points.size(), 1u);
  EXPECT_EQ(r2->points[0].name, "loss");
  EXPECT_EQ(r2->points[0].value, 2);
  EXPECT_EQ(r2->points[0].step, 1);  // the counter carried over between calls
  EXPECT_EQ(r2->new_offset, static_cast<std::int64_t>(std::filesystem::file_size(file)));

  auto r3 = CollectJsonl(file, r2->new_offset, steps);
  ASSERT_TRUE(r3.has_value());
  EXPECT_TRUE(r3->points.empty());
  EXPECT_EQ(r3->new_offset, r2->new_offset);
}

// A run that ended mid-line (killed, or no trailing newline): once it is over, its last line is
// whole, and the final read ingests it without touching the file.
TEST(JsonlCollectorTest, FinalReadTakesTheLastLineWithoutNewline) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  const std::string text = "{\"name\":\"a\",\"value\":1}\n{\"name\":\"a\",\"value\":2}";
  WriteFile(file, text);
  StepCounter steps;
  auto live = CollectJsonl(file, 0, steps);
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->points.size(), 1u);
  auto last = CollectJsonl(file, live->new_offset, steps, 64 << 20, /*final_read=*/true);
  ASSERT_TRUE(last.has_value());
  ASSERT_EQ(last->points.size(), 1u);
  EXPECT_EQ(last->points[0].value, 2);
  EXPECT_EQ(last->new_offset, static_cast<std::int64_t>(text.size()));
  EXPECT_EQ(testing_metrics::ReadFile(file), text) << "the run's file is left as it was";

  WriteFile(dir / "stdout.log", "acc=0.5\nacc=0.75");
  auto out = StdoutCollector::Make("").value()->Collect(dir / "stdout.log", 0, steps, 64 << 20, true);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->points.size(), 2u);
}

TEST(JsonlCollectorTest, SeededCounterContinuesAfterControllerRestart) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  WriteFile(file, "{\"name\":\"loss\",\"value\":1}\n");
  StepCounter steps;
  steps.Seed("loss", 7);  // what the store's summary says was the last step
  auto r = CollectJsonl(file, 0, steps);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->points.size(), 1u);
  EXPECT_EQ(r->points[0].step, 8);
}

TEST(JsonlCollectorTest, WarningsCountLinesFromTheOffset) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  const std::string good = "{\"name\":\"a\",\"value\":1}\n";
  WriteFile(file, good + good + "oops\n");
  StepCounter steps;
  auto r = CollectJsonl(file, static_cast<std::int64_t>(good.size()), steps);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0], HasSubstr("metrics.jsonl: line 2 of the new data (byte 46)"));
  EXPECT_THAT(r->warnings[0], HasSubstr("oops"));
}

TEST(JsonlCollectorTest, TruncatedFileWarnsAndNeverReingests) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  WriteFile(file, "{\"name\":\"a\",\"value\":1}\n");
  StepCounter steps;
  auto r = CollectJsonl(file, 1000, steps);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->points.empty());
  EXPECT_EQ(r->new_offset, 1000);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0], HasSubstr("truncated"));
}

// Throughput of the common shape (what the Python client writes). Printed, not asserted.
TEST(JsonlCollectorTest, ThroughputOfTheClientShape) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  constexpr int kLines = 300'000;
  {
    std::string content;
    char line[160];
    for (int i = 0; i < kLines; ++i) {
      std::snprintf(line, sizeof line,
                    "{\"name\": \"%s\", \"value\": %.17g, \"step\": %d, \"timestamp\": %.6f}\n",
                    i % 2 ? "loss" : "accuracy", 1.0 / (i + 1), i / 2, 1732250000.0 + i);
      content += line;
    }
    WriteFile(file, content);
  }
  StepCounter steps;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = CollectJsonl(file, 0, steps);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->points.size(), static_cast<std::size_t>(kLines));
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_EQ(r->points.back().step, (kLines - 1) / 2);
  std::printf("[ metrics  ] jsonl collector: %d lines in %.3f s = %.0f lines/s\n", kLines, secs,
              kLines / secs);
}

}  // namespace
}  // namespace overdrive
