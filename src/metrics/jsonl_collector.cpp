#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/input_limits.hpp"
#include "metrics/collector.hpp"
#include "metrics/line_reader.hpp"

namespace overdrive {

namespace {

using metrics_internal::LineInfo;

// One scalar field of a metrics line, whichever parser produced it.
struct Field {
  enum class Type { kMissing, kString, kNumber, kBool, kNull, kComposite };
  Type type = Type::kMissing;
  std::string text;   // the unescaped string for kString
  double number = 0;  // for kNumber (also NaN/Infinity tokens)
  std::string json;   // the value as JSON text, for params
};

struct Line {
  Field name, value, step, timestamp, kind;
};

Field* Slot(Line& line, std::string_view key) {
  if (key == "name") return &line.name;
  if (key == "value") return &line.value;
  if (key == "step") return &line.step;
  if (key == "timestamp") return &line.timestamp;
  if (key == "kind") return &line.kind;
  return nullptr;  // other keys are allowed and ignored
}

void SkipSpace(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
}

// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. from_chars alone also
// takes "1.", "-.5" and "01", which would then be stored as param text that is not JSON.
bool IsJsonNumber(std::string_view t) {
  std::size_t i = 0, n = t.size();
  auto digits = [&] {
    std::size_t start = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && t[i] == '-') ++i;
  if (i < n && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

bool ParseNumber(std::string_view text, double& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// The fast path: a flat object whose strings have no escapes and whose values are scalars, which
// is what the Python client and almost every hand-written logger emit. Anything else returns
// false and goes through nlohmann::json, which also explains what is wrong.
bool ParseFlat(std::string_view s, Line& out) {
  std::size_t i = 0;
  SkipSpace(s, i);
  if (i >= s.size() || s[i] != '{') return false;
  ++i;
  SkipSpace(s, i);
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    while (true) {
      SkipSpace(s, i);
      if (i >= s.size() || s[i] != '"') return false;
      const std::size_t key_end = s.find('"', i + 1);
      if (key_end == std::string_view::npos) return false;
      const std::string_view key = s.substr(i + 1, key_end - i - 1);
      if (key.find('\\') != std::string_view::npos || !IsValidUtf8(key)) return false;
      i = key_end + 1;
      SkipSpace(s, i);
      if (i >= s.size() || s[i] != ':') return false;
      ++i;
      SkipSpace(s, i);
      if (i >= s.size()) return false;
      Field field;
      const std::size_t vstart = i;
      const char c = s[i];
      if (c == '"') {
        const std::size_t vend = s.find('"', i + 1);
        if (vend == std::string_view::npos) return false;
        const std::string_view text = s.substr(i + 1, vend - i - 1);
        // Invalid UTF-8 is invalid JSON: the slow path says so.
        if (text.find('\\') != std::string_view::npos || !IsValidUtf8(text)) return false;
        for (char ch : text) {
          if (static_cast<unsigned char>(ch) < 0x20) return false;  // invalid JSON
        }
        field.type = Field::Type::kString;
        field.text = text;
        i = vend + 1;
      } else if (c == '{' || c == '[') {
        return false;
      } else {
        std::size_t vend = i;
        while (vend < s.size() && s[vend] != ',' && s[vend] != '}' && s[vend] != ' ' &&
               s[vend] != '\t' && s[vend] != '\r') {
          ++vend;
        }
        const std::string_view token = s.substr(i, vend - i);
        if (token == "true" || token == "false") {
          field.type = Field::Type::kBool;
        } else if (token == "null") {
          field.type = Field::Type::kNull;
        } else if (token == "NaN") {
          // Bare NaN/Infinity are not JSON, but Python's json.dumps writes them by default.
          field.type = Field::Type::kNumber;
          field.number = std::numeric_limits<double>::quiet_NaN();
        } else if (token == "Infinity" || token == "-Infinity") {
          field.type = Field::Type::kNumber;
          field.number = token[0] == '-' ? -std::numeric_limits<double>::infinity()
                                         : std::numeric_limits<double>::infinity();
        } else if (IsJsonNumber(token) && ParseNumber(token, field.number) &&
                   std::isfinite(field.number)) {
          field.type = Field::Type::kNumber;
        } else {
          return false;
        }
        i = vend;
      }
      field.json = s.substr(vstart, i - vstart);
      if (field.type == Field::Type::kNumber && !std::isfinite(field.number)) {
        field.json = std::isnan(field.number) ? "\"NaN\""
                     : field.number > 0       ? "\"Infinity\""
                                              : "\"-Infinity\"";
      }
      if (Field* slot = Slot(out, key)) *slot = std::move(field);
      SkipSpace(s, i);
      if (i >= s.size()) return false;
      if (s[i] == '}') {
        ++i;
        break;
      }
      if (s[i] != ',') return false;
      ++i;
    }
  }
  SkipSpace(s, i);
  return i == s.size();
}

Field FromJson(const nlohmann::json& j) {
  Field f;
  f.json = j.dump();
  if (j.is_string()) {
    f.type = Field::Type::kString;
    f.text = j.get<std::string>();
  } else if (j.is_number()) {
    f.type = Field::Type::kNumber;
    f.number = j.get<double>();
  } else if (j.is_boolean()) {
    f.type = Field::Type::kBool;
  } else if (j.is_null()) {
    f.type = Field::Type::kNull;
  } else {
    f.type = Field::Type::kComposite;
  }
  return f;
}

// Returns an error message, or "" with `out` filled.
std::string ParseSlow(std::string_view s, Line& out) {
  // nlohmann stops at a NUL and would ignore the rest; nesting is bounded before it builds.
  if (s.find('\0') != std::string_view::npos) return "not valid JSON (a NUL byte)";
  if (JsonNestingDepth(s, kDefaultMaxJsonDepth) > kDefaultMaxJsonDepth) {
    return "not valid here (nests deeper than " + std::to_string(kDefaultMaxJsonDepth) +
           " levels)";
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(s);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    // Drop the "[json.exception.parse_error.101] " prefix: it means nothing to a user.
    if (const auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return "not valid JSON (" + what + ")";
  }
  if (!j.is_object()) return "not a JSON object";
  for (const auto& [key, value] : j.items()) {
    if (Field* slot = Slot(out, key)) *slot = FromJson(value);
  }
  return "";
}

// The strings the Python client writes for values JSON cannot represent.
std::optional<double> NonFiniteFromString(std::string_view s) {
  auto lower = [](std::string_view v) {
    std::string r(v);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
  };
  const std::string l = lower(s);
  if (l == "nan" || l == "+nan" || l == "-nan") return std::numeric_limits<double>::quiet_NaN();
  if (l == "infinity" || l == "+infinity" || l == "inf" || l == "+inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (l == "-infinity" || l == "-inf") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

}  // namespace

Result<CollectResult> CollectJsonl(const std::filesystem::path& file, std::int64_t offset,
                                   StepCounter& steps, std::int64_t max_bytes,
                                   bool final_read) {
  CollectResult result;
  metrics_internal::WarningSink warnings;
  const double now = WallSeconds();
  const std::string file_name = file.filename().string();

  auto on_line = [&](std::string_view text, const LineInfo& info) {
    auto warn = [&](const std::string& why) {
      warnings.Add(file_name + ": line " + std::to_string(info.index) + " of the new data (byte " +
                   std::to_string(info.byte_offset) + "): " + why + ": " +
                   metrics_internal::Snippet(text));
    };
    if (text.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are fine
    Line line;
    if (!ParseFlat(text, line)) {
      line = Line{};
      if (std::string error = ParseSlow(text, line); !error.empty()) {
        warn(error);
        return;
      }
    }
    if (line.name.type != Field::Type::kString || line.name.text.empty()) {
      warn("no \"name\" string");
      return;
    }
    // Checked once here, on the way in: a name that does not print or round-trip through JSON
    // would break every view of the run (and `job list --json` of the whole workspace).
    if (auto ok = ValidateName("name", line.name.text); !ok) {
      warn(ok.error().message);
      return;
    }
    std::string kind = "metric";
    if (line.kind.type == Field::Type::kString) {
      kind = line.kind.text;
    } else if (line.kind.type != Field::Type::kMissing) {
      warn("\"kind\" must be \"metric\" or \"param\"");
      return;
    }
    if (kind == "param") {
      if (line.value.type == Field::Type::kMissing) {
        warn("param without a \"value\"");
        return;
      }
      result.params.push_back(Param{std::move(line.name.text), std::move(line.value.json)});
      return;
    }
    if (kind != "metric") {
      warn("unknown \"kind\" '" + kind + "' (expected \"metric\" or \"param\")");
      return;
    }

    MetricPoint point;
    if (line.value.type == Field::Type::kNumber) {
      point.value = line.value.number;
    } else if (line.value.type == Field::Type::kString) {
      auto special = NonFiniteFromString(line.value.text);
      if (!special) {
        warn("\"value\" is not a number");
        return;
      }
      point.value = *special;
    } else {
      warn(line.value.type == Field::Type::kMissing ? "no \"value\"" : "\"value\" is not a number");
      return;
    }

    if (line.step.type == Field::Type::kNumber) {
      const double s = line.step.number;
      if (!(s >= 0) || s != std::floor(s) || s > 9.0e15) {
        warn("\"step\" must be a non-negative integer");
        return;
      }
      point.step = static_cast<std::int64_t>(s);
    } else if (line.step.type != Field::Type::kMissing && line.step.type != Field::Type::kNull) {
      warn("\"step\" must be a non-negative integer");
      return;
    }
    const bool explicit_step = line.step.type == Field::Type::kNumber;

    point.timestamp = now;
    if (line.timestamp.type == Field::Type::kNumber && std::isfinite(line.timestamp.number)) {
      point.timestamp = line.timestamp.number;
    } else if (line.timestamp.type != Field::Type::kMissing &&
               line.timestamp.type != Field::Type::kNull) {
      warn("\"timestamp\" must be seconds since the epoch");
      return;
    }

    point.name = std::move(line.name.text);
    // Steps are assigned only once the line is known to be good, so a bad line leaves no gap.
    if (explicit_step) {
      steps.Observe(point.name, point.step);
    } else {
      point.step = steps.Next(point.name);
    }
    result.points.push_back(std::move(point));
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
