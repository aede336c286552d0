// Internal to the spec part: what its YAML parsers (environment, conda, datastore and data asset
// files) share: typed accessors with positions from a position function, bounded loading of a
// small YAML file, and errors as "file:line:col: message".
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "common/input_limits.hpp"
#include "common/result.hpp"
#include "common/strings.hpp"
#include "spec/environment_yaml.hpp"
#include "spec/source_pos.hpp"
#include "spec/yaml_fields.hpp"

namespace overdrive::spec_yaml {

using Keys = std::vector<std::string>;

inline std::unexpected<Error> Fail(const SourcePos& pos, const std::string& message) {
  return std::unexpected(InputError(pos, message));
}

// The typed accessors, with positions from the caller's position function.
class Walker {
 public:
  explicit Walker(const YamlPosFn& pos) : pos_(pos) {}

  SourcePos Pos(const YAML::Node& n) const { return pos_(n); }
  SourcePos ValuePos(const Field& f) const {
    SourcePos p = f.present() ? Pos(f.value) : SourcePos{};
    return p.line > 0 ? p : Pos(f.key);
  }

  Result<void> CheckText(const YAML::Node& n) const {
    if (n.IsScalar()) {
      const std::string& text = n.Scalar();
      if (text.find('\0') != std::string::npos) {
        return Fail(Pos(n), "'" + Printable(text) + "' holds a NUL character (\\0); remove it");
      }
      if (!IsValidUtf8(text)) return Fail(Pos(n), "'" + Printable(text) + "' is not valid UTF-8");
    } else if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        OD_TRY(CheckText(it->first));
        OD_TRY(CheckText(it->second));
      }
    } else if (n.IsSequence()) {
      for (auto it = n.begin(); it != n.end(); ++it) OD_TRY(CheckText(*it));
    }
    return {};
  }

  Result<Fields> Map(const YAML::Node& node, const SourcePos& where, const std::string& context,
                     const Keys& allowed) const {
    Fields out;
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!node.IsMap()) return Fail(where, context + " must be a mapping of keys");
    for (auto it = node.begin(); it != node.end(); ++it) {
      YAML::Node key = it->first;
      if (!key.IsScalar()) return Fail(Pos(key), "keys in " + context + " must be plain names");
      std::string name = key.Scalar();
      for (const auto& prev : out.list) {
        if (prev.name == name) {
          return Fail(Pos(key), "duplicate key '" + name + "' in " + context + " (first at " +
                                    Pos(prev.key).ToString() + ")");
        }
      }
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        return Fail(Pos(key),
                    "unknown key '" + name + "' in " + context + DidYouMeanSuffix(name, allowed));
      }
      out.list.push_back(Field{name, key, it->second});
    }
    return out;
  }

  Result<std::string> String(const Field& f) const {
    if (!f.present()) return std::string();
    if (!f.value.IsScalar()) return Fail(ValuePos(f), "'" + f.name + "' must be a string");
    return f.value.Scalar();
  }

  Result<std::string> NonEmptyString(const Field& f) const {
    OD_ASSIGN_OR_RETURN(std::string s, String(f));
    if (Trim(s).empty()) return Fail(ValuePos(f), "'" + f.name + "' must not be empty");
    return s;
  }

  Result<bool> Bool(const Field& f) const {
    std::string s = f.present() && f.value.IsScalar() ? f.value.Scalar() : "";
    std::string l;
    for (char c : s) l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (l == "true" || l == "yes" || l == "on") return true;
    if (l == "false" || l == "no" || l == "off") return false;
    return Fail(ValuePos(f), "'" + f.name + "' must be true or false" +
                                 (s.empty() ? std::string() : ", got '" + s + "'"));
  }

  Result<std::vector<std::string>> StringList(const Field& f, const std::string& what) const {
    std::vector<std::string> out;
    if (!f.present()) return out;
    if (!f.value.IsSequence()) return Fail(ValuePos(f), "'" + what + "' must be a list");
    for (auto it = f.value.begin(); it != f.value.end(); ++it) {
      if (!it->IsScalar() || Trim(it->Scalar()).empty()) {
        return Fail(Pos(*it), "items of '" + what + "' must be non-empty strings");
      }
      out.push_back(Trim(it->Scalar()));
    }
    return out;
  }

 private:
  const YamlPosFn& pos_;
};

// Reads a small text file (at most 1 MiB); messages name `what` and the path as the user wrote
// it.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, const SourcePos& pos,
                                  const std::string& what, const std::string& written);
// Loads one YAML document; syntax errors and oversized trees are errors in `file`.
Result<YAML::Node> LoadYaml(const std::string& text, const std::string& file,
                            const std::string& what);
// A name of `what` (an environment, a data asset, a version): at most `max` bytes of letters,
// digits, '-', '_' and '.' (`letter_first`: not starting with punctuation).
Result<void> CheckName(const std::string& s, size_t max, bool letter_first,
                       const std::string& what);
// Positions from yaml-cpp's marks, in `file`.
YamlPosFn MarkPos(const std::string& file);

}  // namespace overdrive::spec_yaml
