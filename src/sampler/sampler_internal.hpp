// Building blocks shared by the built-in samplers (not part of the sampler interface).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sampler/sampler.hpp"
#include "space/space_ops.hpp"

namespace overdrive::sampler_internal {

// SplitMix64 finaliser: a cheap, well-mixed hash of 64 bits.
std::uint64_t Mix64(std::uint64_t x);
// Seed for one suggestion: depends on the user's seed, the history size (so a resumed sweep draws
// what an uninterrupted one would) and the suggestion's position in the batch.
std::uint64_t DeriveSeed(std::uint64_t seed, std::uint64_t history_size, std::uint64_t slot);

// mt19937_64 with distributions written out here: std:: distributions differ between standard
// libraries, which would make a seed mean different sweeps on different machines.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  std::uint64_t Bits() { return engine_(); }
  // Uniform integer in [0, n), n > 0 (multiply-shift; bias below 2^-32 for any n we use).
  std::size_t Index(std::size_t n) {
    return static_cast<std::size_t>((static_cast<unsigned __int128>(engine_()) * n) >> 64);
  }

 private:
  std::mt19937_64 engine_;
};

// Canonical text of an assignment ("a=1;b=x;"), insensitive to 3 vs 3.0: grid and duplicate
// checks compare trials read back from the store with fresh suggestions.
std::string AssignmentKey(const Assignment& a);

// Fills an assignment top-down from unit coordinates, one per flat index (`unit[i]` for
// flat[i]); inactive conditional parameters are left out.
Assignment BuildAssignment(const std::vector<FlatParam>& flat, const std::vector<double>& unit);

// Scrambled Sobol points: Joe-Kuo (new-joe-kuo-6.21201) direction numbers, 32 bits, with a
// random digital shift per dimension drawn from the seed. Dimensions past the table fall back
// to hashed pseudo-random coordinates.
class SobolSequence {
 public:
  static constexpr int kTableDims = 64;
  explicit SobolSequence(std::uint64_t seed);
  // Coordinate `dim` of point `index`, in [0, 1).
  double Coordinate(std::uint64_t index, int dim) const;

 private:
  std::uint64_t seed_;
  std::vector<std::uint32_t> shift_;  // per table dimension
};

std::unique_ptr<Sampler> MakeRandomSampler(const SearchSpace& space, bool sobol);
Result<std::unique_ptr<Sampler>> MakeGridSampler(const SearchSpace& space);
struct TpeOptions {
  int n_startup = 10;
  int n_candidates = 24;
};
std::unique_ptr<Sampler> MakeTpeSampler(const SearchSpace& space, const TpeOptions& options);

}  // namespace overdrive::sampler_internal
