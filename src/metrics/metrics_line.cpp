#include "metrics/metrics_line.hpp"

#include <cmath>

namespace overdrive {

namespace {

// A line is one JSON object; invalid UTF-8 (which callers should have refused) must not throw.
std::string Line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

nlohmann::json MetricValueJson(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

std::string FormatMetricLine(const MetricPoint& point) {
  nlohmann::json j = {{"name", point.name}, {"value", MetricValueJson(point.value)}};
  if (point.step >= 0) j["step"] = point.step;
  if (point.timestamp > 0) j["timestamp"] = point.timestamp;
  return Line(j);
}

std::string FormatParamLine(const Param& param) {
  nlohmann::json j = {{"kind", "param"}, {"name", param.name}};
  nlohmann::json value = nlohmann::json::parse(param.value_json, nullptr, false);
  j["value"] = value.is_discarded() ? nlohmann::json(param.value_json) : std::move(value);
  return Line(j);
}

}  // namespace overdrive
