#include "sampler/sampler_internal.hpp"

#include <unordered_map>

namespace overdrive::sampler_internal {

std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t DeriveSeed(std::uint64_t seed, std::uint64_t history_size, std::uint64_t slot) {
  return Mix64(Mix64(seed) ^ Mix64(history_size * 0x100000001b3ULL + 0x1234567ULL) ^
               (slot * 0xd6e8feb86659fd93ULL));
}

std::string AssignmentKey(const Assignment& a) {
  std::string key;
  for (const auto& [name, value] : a) {
    key += name;
    key += '=';
    // Numbers of either kind print the same when equal (3 and 3.0 both as "3").
    key += ParamToString(value);
    key += '\x1f';
  }
  return key;
}

Assignment BuildAssignment(const std::vector<FlatParam>& flat, const std::vector<double>& unit) {
  Assignment a;
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const FlatParam& p = flat[i];
    if (!p.parent.empty()) {
      // Parents precede their children in flat order, so the parent is already decided here.
      auto it = a.find(p.parent);
      if (it == a.end()) continue;
      const Distribution* parent_dist = nullptr;
      for (std::size_t j = 0; j < i; ++j) {
        if (flat[j].name == p.parent) parent_dist = flat[j].dist;
      }
      if (parent_dist == nullptr || ChoiceIndex(*parent_dist, it->second) != p.parent_value_index) {
        continue;
      }
    }
    a[p.name] = FromUnit(*p.dist, unit[i]);
  }
  return a;
}

}  // namespace overdrive::sampler_internal
