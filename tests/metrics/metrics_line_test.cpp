// The metrics-line writer and the JSONL collector agree: what `overdrive log` (or the server)
// writes is the value, step and timestamp that is read back and stored, NaN and ±inf included.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "metrics/collector.hpp"
#include "metrics/metrics_line.hpp"
#include "test_files.hpp"

namespace overdrive {
namespace {

using testing_metrics::TempFolder;
using testing_metrics::WriteFile;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct RoundTripCase {
  const char* label;
  MetricPoint point;
  const char* written_value;  // how the value appears in the line
};

class MetricLineRoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(MetricLineRoundTripTest, CollectorReadsBackWhatWasWritten) {
  const auto& c = GetParam();
  const std::string line = FormatMetricLine(c.point);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  EXPECT_NE(line.find(std::string("\"value\":") + c.written_value), std::string::npos) << line;
  EXPECT_EQ(line.find("null"), std::string::npos) << "no value is lost as null: " << line;

  TempFolder dir;
  WriteFile(dir / "metrics.jsonl", line);
  StepCounter steps;
  steps.Seed(c.point.name, 41);  // a point without a step gets the next one
  auto r = CollectJsonl(dir / "metrics.jsonl", 0, steps);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->warnings.empty()) << ::testing::PrintToString(r->warnings);
  ASSERT_EQ(r->points.size(), 1u);
  const MetricPoint& got = r->points[0];
  EXPECT_EQ(got.name, c.point.name);
  if (std::isnan(c.point.value)) {
    EXPECT_TRUE(std::isnan(got.value)) << got.value;
  } else {
    EXPECT_EQ(got.value, c.point.value) << "bit-exact, not just close";
  }
  EXPECT_EQ(got.step, c.point.step >= 0 ? c.point.step : 42);
  if (c.point.timestamp > 0) EXPECT_EQ(got.timestamp, c.point.timestamp);
}

INSTANTIATE_TEST_SUITE_P(
    Values, MetricLineRoundTripTest,
    ::testing::Values(
        RoundTripCase{"nan", {"loss", 3, kNaN, 1732250000.25}, "\"NaN\""},
        RoundTripCase{"positive_infinity", {"loss", 0, kInf, 1732250000.5}, "\"Infinity\""},
        RoundTripCase{"negative_infinity", {"loss", 7, -kInf, 1732250000.5}, "\"-Infinity\""},
        RoundTripCase{"ordinary", {"acc", 12, 0.9375, 1732250000.125}, "0.9375"},
        RoundTripCase{"shortest_repr_exact", {"acc", 1, 0.1 + 0.2, 1.5}, "0.30000000000000004"},
        RoundTripCase{"largest_double", {"big", 1, std::numeric_limits<double>::max(), 1.5},
                      "1.7976931348623157e+308"},
        RoundTripCase{"subnormal", {"tiny", 1, 5e-324, 1.5}, "5e-324"},
        RoundTripCase{"negative_zero_and_no_step", {"z", -1, -0.0, 1.5}, "-0.0"},
        RoundTripCase{"utf8_name_no_timestamp", {"pr\xc3\xa9" "cision", 2, 1, 0}, "1.0"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(MetricLineTest, NegativeStepAndZeroTimestampAreLeftOut) {
  const std::string line = FormatMetricLine({"a", -1, 2, 0});
  EXPECT_EQ(line.find("step"), std::string::npos) << line;
  EXPECT_EQ(line.find("timestamp"), std::string::npos) << line;
}

TEST(MetricLineTest, ParamsRoundTripAsJsonOrAsString) {
  const std::vector<Param> params = {
      {"lr", "0.01"}, {"opt", "\"adam\""}, {"layers", "[64,32]"}, {"raw", "not json {"}};
  std::string content;
  for (const auto& p : params) content += FormatParamLine(p);
  TempFolder dir;
  WriteFile(dir / "metrics.jsonl", content);
  StepCounter steps;
  auto r = CollectJsonl(dir / "metrics.jsonl", 0, steps);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->warnings.empty()) << ::testing::PrintToString(r->warnings);
  ASSERT_EQ(r->params.size(), 4u);
  EXPECT_EQ(r->params[0].value_json, "0.01");
  EXPECT_EQ(r->params[1].value_json, "\"adam\"");
  EXPECT_EQ(r->params[2].value_json, "[64,32]");
  EXPECT_EQ(r->params[3].value_json, "\"not json {\"") << "kept as the text it was";
}

TEST(MetricLineTest, MetricValueJsonSpellsNonFiniteAsStrings) {
  EXPECT_EQ(MetricValueJson(kNaN), "NaN");
  EXPECT_EQ(MetricValueJson(kInf), "Infinity");
  EXPECT_EQ(MetricValueJson(-kInf), "-Infinity");
  EXPECT_EQ(MetricValueJson(0.5), 0.5);
}

}  // namespace
}  // namespace overdrive
