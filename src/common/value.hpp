// ParamValue: the value of a parameter (a hyperparameter, an input literal). Choice values in Azure
// job files may be numbers, strings or booleans; sampled values are doubles or integers.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace overdrive {

using ParamValue = std::variant<bool, std::int64_t, double, std::string>;

// How the value is written into a command line or an environment variable: "3", "0.01", "adam",
// "True"/"False" for booleans (what Python's argparse users and Azure expect).
std::string ParamToString(const ParamValue& v);
// For people: doubles with 4 significant digits ("2.595e-05", "0.002"); others as ParamToString.
std::string ParamToDisplay(const ParamValue& v);
nlohmann::json ParamToJson(const ParamValue& v);
ParamValue ParamFromJson(const nlohmann::json& j);
// The number a model-based sampler or a table sorts by; strings give NaN.
double ParamToDouble(const ParamValue& v);

}  // namespace overdrive
