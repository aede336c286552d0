// Operations on search spaces shared by samplers: mapping unit-cube coordinates to values,
// which parameters are active under conditional sub-spaces, and validation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "space/search_space.hpp"

namespace overdrive {

// Maps u in [0, 1) to a value of `d`: the inverse CDF for the continuous families (normal ones
// through the normal quantile), index floor(u * k) for choice (k values) and randint (k = upper).
// Then applies exp / q-rounding as the type says. Integers come back as int64 for randint and
// for q* types whose q is integral; doubles otherwise.
ParamValue FromUnit(const Distribution& d, double u);

// Whether `v` lies in the support of `d` (for conformance tests and resume checks).
bool InSupport(const Distribution& d, const ParamValue& v);

// Flattens a (conditional) space into the parameters active for an assignment built top-down:
// calls `visit(name, distribution)` for every active parameter in order, where a sub-space of a
// choice value is visited right after its choice once `chosen(name)` tells which value it took.
// Samplers use this to fill an assignment parameter by parameter.
struct FlatParam {
  std::string name;
  const Distribution* dist = nullptr;
  std::string parent;           // "" for top-level; otherwise the choice parameter it hangs on
  int parent_value_index = -1;  // which value of the parent activates it
};
std::vector<FlatParam> FlattenSpace(const SearchSpace& space);
// Whether `p` is active in assignment `a` (its parent chain took the activating values).
bool IsActive(const FlatParam& p, const std::vector<FlatParam>& flat, const Assignment& a);

// Index of `v` among a choice's values, or -1.
int ChoiceIndex(const Distribution& d, const ParamValue& v);

// The inverse of FromUnit, for model-based samplers that fit densities in the unit cube: the CDF
// position of `v` (for choice/randint the centre of its cell, so FromUnit(ToUnit(v)) == v),
// clamped to [0, 1]. nullopt when `v` is not a number (or, for choice, not one of the values).
std::optional<double> ToUnit(const Distribution& d, const ParamValue& v);

// Standard normal CDF and quantile. NormalQuantile uses Acklam's rational approximation with one
// Halley refinement step (relative error ~1e-15); p is clamped to [1e-300, 1 - 2^-53].
double NormalCdf(double x);
double NormalQuantile(double p);

// Checks what every sampler relies on: non-empty choices, sub_spaces one per value, randint
// upper >= 1, min <= max, sigma >= 0, q > 0, finite bounds, unique names across the tree. The
// message names the parameter.
Result<void> ValidateSpace(const SearchSpace& space);

// Number of grid points (product of choice sizes, conditional sub-spaces summed per value);
// nullopt when some parameter is not a choice.
std::optional<std::int64_t> GridSize(const SearchSpace& space);

}  // namespace overdrive
