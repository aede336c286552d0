#include "common/input_limits.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <cstdlib>

namespace overdrive {

int JsonNestingDepth(std::string_view text, int stop_at) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stop_at) return deepest;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

namespace {

// Refuses numbers a double cannot hold instead of letting them become inf (and then null).
bool AllFinite(const nlohmann::json& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>());
  if (j.is_structured()) {
    for (const auto& v : j) {
      if (!AllFinite(v)) return false;
    }
  }
  return true;
}

}  // namespace

constexpr const char* kOutOfRange =
    "a number is outside the range of a double (e.g. 1e400); send \"NaN\", \"Infinity\" or "
    "\"-Infinity\" as strings where they are meant";

Result<nlohmann::json> ParseJsonBounded(std::string_view text, int max_depth) {
  // nlohmann stops at a NUL and ignores the rest; JSON text never holds a raw one.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidInput,
                     "not valid JSON: a NUL byte at offset " + std::to_string(nul));
  }
  if (JsonNestingDepth(text, max_depth) > max_depth) {
    return MakeError(ErrorCode::kInvalidInput,
                     "JSON nests deeper than " + std::to_string(max_depth) + " levels");
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again only to get nlohmann's description of where it fails.
    try {
      auto unused = nlohmann::json::parse(text);
      (void)unused;
    } catch (const nlohmann::json::exception& e) {
      if (e.id == 406) return MakeError(ErrorCode::kInvalidInput, kOutOfRange);  // 1e400
      return MakeError(ErrorCode::kInvalidInput, std::string("not valid JSON: ") + e.what());
    }
    return MakeError(ErrorCode::kInvalidInput, "not valid JSON");
  }
  if (!AllFinite(j)) return MakeError(ErrorCode::kInvalidInput, kOutOfRange);
  return j;
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0, n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string Printable(std::string_view s, std::size_t max_bytes) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size() && out.size() < max_bytes) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (i + len <= s.size() && IsValidUtf8(s.substr(i, len))) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

Result<void> ValidateName(std::string_view what, std::string_view name) {
  std::string prefix = std::string(what) + " '" + Printable(name) + "' ";
  if (name.empty()) return MakeError(ErrorCode::kInvalidInput, std::string(what) + " is empty");
  if (name.size() > kMaxNameBytes) {
    return MakeError(ErrorCode::kInvalidInput, prefix + "is longer than " +
                                                   std::to_string(kMaxNameBytes) + " bytes");
  }
  if (!IsValidUtf8(name)) {
    return MakeError(ErrorCode::kInvalidInput, prefix + "is not valid UTF-8");
  }
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      return MakeError(ErrorCode::kInvalidInput,
                       prefix + "holds a control character (NUL, tab, newline, escape...)");
    }
  }
  return {};
}

std::optional<double> NonFiniteValue(std::string_view text) {
  if (text == "NaN" || text == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity" || text == "inf") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity" || text == "-inf") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

bool IsValidEnvName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Result<std::int64_t> EnvLimit(const char* env_var, std::int64_t default_value) {
  const char* raw = std::getenv(env_var);
  if (raw == nullptr || *raw == '\0') return default_value;
  std::string_view text(raw);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v <= 0) {
    return MakeError(ErrorCode::kInvalidInput, std::string(env_var) + "='" + Printable(text) +
                                                   "' is not a positive whole number");
  }
  return v;
}

}  // namespace overdrive
