// libFuzzer target for JSON from the network: ParseJsonBounded and JsonNestingDepth
// (common/input_limits), which every REST and MLflow request body goes through; plus the UTF-8
// and name checks of the same file, on the same bytes.
//
// Input: byte 0 picks max_depth (0..71); the rest is the request body.
//
// Invariants:
// - JsonNestingDepth(text, stop_at) is the true bracket depth when that is <= stop_at, and a value
//   in (stop_at, true depth] otherwise; for valid JSON it equals the parsed value's depth.
// - A successful parse nests at most max_depth deep, holds only finite numbers, dumps without
//   throwing and round-trips (parse(dump(v)) == v, same dump), and its strings are valid UTF-8
//   by IsValidUtf8.
// - A refusal is kInvalidInput with a message, and has a reason: the text is not JSON, nests too
//   deep, or holds a number a double cannot hold (valid, shallow, finite JSON is never refused).
// - IsValidUtf8 agrees with nlohmann's UTF-8 check; Printable always gives valid UTF-8 without
//   control characters; ValidateName accepts only what its comment promises.
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/input_limits.hpp"
#include "fuzz_util.hpp"

namespace {

using nlohmann::json;

int Depth(const json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& v : j) deepest = std::max(deepest, Depth(v));
  return deepest + 1;
}

bool AllFinite(const json& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>());
  if (!j.is_structured()) return true;
  for (const auto& v : j) {
    if (!AllFinite(v)) return false;
  }
  return true;
}

void CheckStrings(const json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    FUZZ_CHECK(overdrive::IsValidUtf8(s), "parsed string fails IsValidUtf8: %s",
               fuzz::Hex(s).c_str());
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      FUZZ_CHECK(overdrive::IsValidUtf8(k), "parsed key fails IsValidUtf8: %s",
                 fuzz::Hex(k).c_str());
      CheckStrings(v);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) CheckStrings(v);
  }
}

// nlohmann's own UTF-8 check: dumping a string throws type_error 316 on invalid UTF-8.
bool NlohmannSaysUtf8(std::string_view s) {
  try {
    (void)json(std::string(s)).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

bool HasControl(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int max_depth = data[0] % 72;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  const int full = overdrive::JsonNestingDepth(text, INT_MAX);
  const int stopped = overdrive::JsonNestingDepth(text, max_depth);
  if (full <= max_depth) {
    FUZZ_CHECK(stopped == full, "depth %d, but %d when stopping at %d", full, stopped, max_depth);
  } else {
    FUZZ_CHECK(stopped > max_depth && stopped <= full, "depth %d, but %d when stopping at %d",
               full, stopped, max_depth);
  }

  auto parsed = overdrive::ParseJsonBounded(text, max_depth);
  // nlohmann stops at a NUL and accepts what came before; JSON text never holds a raw NUL, and
  // ParseJsonBounded refuses it, so the oracle does too.
  const bool valid = json::accept(text) && text.find('\0') == std::string_view::npos;
  if (parsed) {
    FUZZ_CHECK(valid, "ParseJsonBounded accepted what json::accept refuses");
    FUZZ_CHECK(full <= max_depth, "accepted depth %d > max %d", full, max_depth);
    FUZZ_CHECK(Depth(*parsed) == full, "value depth %d, JsonNestingDepth %d", Depth(*parsed),
               full);
    FUZZ_CHECK(AllFinite(*parsed), "accepted a non-finite number");
    CheckStrings(*parsed);
    std::string dumped;
    try {
      dumped = parsed->dump();
    } catch (const json::exception& e) {
      FUZZ_CHECK(false, "accepted value does not dump: %s", e.what());
    }
    json again = json::parse(dumped, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(!again.is_discarded() && again == *parsed && again.dump() == dumped,
               "does not round-trip: %s", dumped.substr(0, 200).c_str());
  } else {
    FUZZ_CHECK(parsed.error().code == overdrive::ErrorCode::kInvalidInput &&
                   !parsed.error().message.empty(),
               "refusal without a kInvalidInput message");
    if (valid && full <= max_depth) {
      json j = json::parse(text, nullptr, false);
      FUZZ_CHECK(!AllFinite(j), "refused valid JSON of depth %d <= %d with finite numbers: %s",
                 full, max_depth, parsed.error().message.c_str());
    }
  }

  // The UTF-8 and name helpers on the same bytes.
  const bool utf8 = overdrive::IsValidUtf8(text);
  FUZZ_CHECK(utf8 == NlohmannSaysUtf8(text), "IsValidUtf8 says %d, nlohmann disagrees: %s",
             int(utf8), fuzz::Hex(text).c_str());
  const std::string printable = overdrive::Printable(text);
  FUZZ_CHECK(overdrive::IsValidUtf8(printable) && !HasControl(printable),
             "Printable gave %s", fuzz::Hex(printable).c_str());
  if (overdrive::ValidateName("name", text)) {
    FUZZ_CHECK(!text.empty() && text.size() <= overdrive::kMaxNameBytes && utf8 &&
                   !HasControl(text),
               "ValidateName accepted %s", fuzz::Hex(text).c_str());
  } else {
    FUZZ_CHECK(text.empty() || text.size() > overdrive::kMaxNameBytes || !utf8 || HasControl(text),
               "ValidateName refused %s", fuzz::Hex(text).c_str());
  }
  return 0;
}
