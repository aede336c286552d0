// The one writer of OVERDRIVE_METRICS_FILE lines on the C++ side (`overdrive log`, the server's
// logging into a live run), so that what is written is exactly what CollectJsonl reads back.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "store/records.hpp"

namespace overdrive {

// A metric value as JSON: a number, or the strings "NaN", "Infinity", "-Infinity" for what JSON
// has no number for (as MLflow's protobuf JSON and the Python client write them). nlohmann
// would write all three as null.
nlohmann::json MetricValueJson(double value);

// One '\n'-terminated JSON line for `point`: {"name", "value", "step", "timestamp"}. A negative
// step is left out (the collector numbers the point), and so is a timestamp <= 0 (it gets the
// time of collection). Names are not checked here: callers validate them (ValidateName), and the
// collector refuses a line whose name is invalid anyway.
std::string FormatMetricLine(const MetricPoint& point);

// One '\n'-terminated line {"kind": "param", "name", "value"}: the value is `value_json` as
// JSON, or that text as a JSON string when it is not valid JSON.
std::string FormatParamLine(const Param& param);

}  // namespace overdrive
