// An enum's names for storage, JSON and messages: one table per enum, read both ways, so the
// names a workspace or an API client sees are written down exactly once.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace overdrive {

template <typename E, std::size_t N>
using NameTable = std::array<std::pair<E, const char*>, N>;

// "unknown" for a value missing from the table (a table that forgot an enumerator).
template <typename E, std::size_t N>
const char* NameOf(const NameTable<E, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
std::optional<E> FromName(const NameTable<E, N>& table, std::string_view name) {
  for (const auto& [v, n] : table) {
    if (name == n) return v;
  }
  return std::nullopt;
}

}  // namespace overdrive
