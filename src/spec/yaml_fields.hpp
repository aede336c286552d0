// Internal to the spec part: a YAML mapping's entries in file order, as the job and environment
// parsers walk them (each checks keys and types with its own messages).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

namespace overdrive {

// One `key: value` entry of a mapping.
struct Field {
  std::string name;
  YAML::Node key;
  YAML::Node value;
  bool present() const { return value.IsDefined() && !value.IsNull(); }
};

struct Fields {
  std::vector<Field> list;
  const Field* Find(std::string_view name) const {
    for (const auto& f : list) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  // Present and not null: `limits:` with nothing after it counts as absent.
  const Field* Get(std::string_view name) const {
    const Field* f = Find(name);
    return f && f->present() ? f : nullptr;
  }
};

}  // namespace overdrive
