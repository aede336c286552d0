// Checks on input that comes from users and networks, kept in one place so that every entry
// point (job files, `overdrive log`, the metrics collectors, the REST and MLflow APIs) applies
// the same rules and says the same thing when one is broken.
#pragma once

#include <cstddef>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace overdrive {

// How deeply JSON from a network may nest. nlohmann::json builds a value per bracket: without
// a bound, 10 MB of '[' becomes ~700 MB of nested arrays before it is refused.
inline constexpr int kDefaultMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count),
// stopping early once `stop_at` is passed. Linear, allocation-free.
int JsonNestingDepth(std::string_view text, int stop_at);

// Parses JSON that came from outside: kInvalidInput naming the problem when it is not valid
// JSON, nests deeper than `max_depth`, or holds a number outside a double's range (1e400).
Result<nlohmann::json> ParseJsonBounded(std::string_view text, int max_depth = kDefaultMaxJsonDepth);

// True when `s` is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(std::string_view s);

// A name a user chose for a metric, param, tag, experiment, ...: non-empty, at most 250 bytes
// (MLflow's limit), valid UTF-8 and free of control characters (NUL, newlines, escapes), so it
// prints, stores and round-trips through JSON. kInvalidInput "<what> '<name>' ..." otherwise.
inline constexpr std::size_t kMaxNameBytes = 250;
Result<void> ValidateName(std::string_view what, std::string_view name);

// The largest metric step: steps are stored as integers and read back through doubles.
inline constexpr double kMaxStep = 9007199254740992.0;  // 2^53

// "NaN", "Infinity", "-Infinity" (MLflow's protobuf JSON; also "nan", "inf", "-inf") as the
// value they name; nullopt for any other text.
std::optional<double> NonFiniteValue(std::string_view text);

// An environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool IsValidEnvName(std::string_view name);

// A limit a user may raise through the environment: `env_var` unset or empty gives
// `default_value`; otherwise it must be a positive whole number (kInvalidInput naming the
// variable when not). Used for the job-file and code-snapshot limits (README: "Limits").
Result<std::int64_t> EnvLimit(const char* env_var, std::int64_t default_value);

// `s` with invalid UTF-8 and control characters replaced, for quoting it in a message.
std::string Printable(std::string_view s, std::size_t max_bytes = 80);

}  // namespace overdrive
