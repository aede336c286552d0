#include <array>
#include <cstdint>
#include <vector>

#include "sampler/sampler_internal.hpp"

namespace overdrive::sampler_internal {

namespace {

// Primitive polynomial degree s, its coefficients a (s-1 bits, highest first) and the initial
// direction numbers m_1..m_s, from Joe & Kuo's new-joe-kuo-6.21201 data (dimensions 2..64;
// dimension 1 is the van der Corput sequence, all m_k = 1).
struct JoeKuoRow {
  int s;
  std::uint32_t a;
  std::array<std::uint32_t, 9> m;
};
constexpr JoeKuoRow kJoeKuo[] = {
    {1, 0, {1}},  // dim 2
    {2, 1, {1, 3}},  // dim 3
    {3, 1, {1, 3, 1}},  // dim 4
    {3, 2, {1, 1, 1}},  // dim 5
    {4, 1, {1, 1, 3, 3}},  // dim 6
    {4, 4, {1, 3, 5, 13}},  // dim 7
    {5, 2, {1, 1, 5, 5, 17}},  // dim 8
    {5, 4, {1, 1, 5, 5, 5}},  // dim 9
    {5, 7, {1, 1, 7, 11, 19}},  // dim 10
    {5, 11, {1, 1, 5, 1, 1}},  // dim 11
    {5, 13, {1, 1, 1, 3, 11}},  // dim 12
    {5, 14, {1, 3, 5, 5, 31}},  // dim 13
    {6, 1, {1, 3, 3, 9, 7, 49}},  // dim 14
    {6, 13, {1, 1, 1, 15, 21, 21}},  // dim 15
    {6, 16, {1, 3, 1, 13, 27, 49}},  // dim 16
    {6, 19, {1, 1, 1, 15, 7, 5}},  // dim 17
    {6, 22, {1, 3, 1, 15, 13, 25}},  // dim 18
    {6, 25, {1, 1, 5, 5, 19, 61}},  // dim 19
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},  // dim 20
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},  // dim 21
    {7, 7, {1, 1, 3, 13, 7, 35, 63}},  // dim 22
    {7, 8, {1, 3, 5, 9, 1, 25, 53}},  // dim 23
    {7, 14, {1, 3, 1, 13, 9, 35, 107}},  // dim 24
    {7, 19, {1, 3, 1, 5, 27, 61, 31}},  // dim 25
    {7, 21, {1, 1, 5, 11, 19, 41, 61}},  // dim 26
    {7, 28, {1, 3, 5, 3, 3, 13, 69}},  // dim 27
    {7, 31, {1, 1, 7, 13, 1, 19, 1}},  // dim 28
    {7, 32, {1, 3, 7, 5, 13, 19, 59}},  // dim 29
    {7, 37, {1, 1, 3, 9, 25, 29, 41}},  // dim 30
    {7, 41, {1, 3, 5, 13, 23, 1, 55}},  // dim 31
    {7, 42, {1, 3, 7, 3, 13, 59, 17}},  // dim 32
    {7, 50, {1, 3, 1, 3, 5, 53, 69}},  // dim 33
    {7, 55, {1, 1, 5, 5, 23, 33, 13}},  // dim 34
    {7, 56, {1, 1, 7, 7, 1, 61, 123}},  // dim 35
    {7, 59, {1, 1, 7, 9, 13, 61, 49}},  // dim 36
    {7, 62, {1, 3, 3, 5, 3, 55, 33}},  // dim 37
    {8, 14, {1, 3, 1, 15, 31, 13, 49, 245}},  // dim 38
    {8, 21, {1, 3, 5, 15, 31, 59, 63, 97}},  // dim 39
    {8, 22, {1, 3, 1, 11, 11, 11, 77, 249}},  // dim 40
    {8, 38, {1, 3, 1, 11, 27, 43, 71, 9}},  // dim 41
    {8, 47, {1, 1, 7, 15, 21, 11, 81, 45}},  // dim 42
    {8, 49, {1, 3, 7, 3, 25, 31, 65, 79}},  // dim 43
    {8, 50, {1, 3, 1, 1, 19, 11, 3, 205}},  // dim 44
    {8, 52, {1, 1, 5, 9, 19, 21, 29, 157}},  // dim 45
    {8, 56, {1, 3, 7, 11, 1, 33, 89, 185}},  // dim 46
    {8, 67, {1, 3, 3, 3, 15, 9, 79, 71}},  // dim 47
    {8, 70, {1, 3, 7, 11, 15, 39, 119, 27}},  // dim 48
    {8, 84, {1, 1, 3, 1, 11, 31, 97, 225}},  // dim 49
    {8, 97, {1, 1, 1, 3, 23, 43, 57, 177}},  // dim 50
    {8, 103, {1, 3, 7, 7, 17, 17, 37, 71}},  // dim 51
    {8, 115, {1, 3, 1, 5, 27, 63, 123, 213}},  // dim 52
    {8, 122, {1, 1, 3, 5, 11, 43, 53, 133}},  // dim 53
    {9, 8, {1, 3, 5, 5, 29, 17, 47, 173, 479}},  // dim 54
    {9, 13, {1, 3, 3, 11, 3, 1, 109, 9, 69}},  // dim 55
    {9, 16, {1, 1, 1, 5, 17, 39, 23, 5, 343}},  // dim 56
    {9, 22, {1, 3, 1, 5, 25, 15, 31, 103, 499}},  // dim 57
    {9, 25, {1, 1, 1, 11, 11, 17, 63, 105, 183}},  // dim 58
    {9, 44, {1, 1, 5, 11, 9, 29, 97, 231, 363}},  // dim 59
    {9, 47, {1, 1, 5, 15, 19, 45, 41, 7, 383}},  // dim 60
    {9, 52, {1, 3, 7, 7, 31, 19, 83, 137, 221}},  // dim 61
    {9, 55, {1, 1, 1, 3, 23, 15, 111, 223, 83}},  // dim 62
    {9, 59, {1, 1, 5, 13, 31, 15, 55, 25, 161}},  // dim 63
    {9, 62, {1, 1, 3, 13, 25, 47, 39, 87, 257}},  // dim 64
};
static_assert(sizeof(kJoeKuo) / sizeof(kJoeKuo[0]) + 1 == SobolSequence::kTableDims);

constexpr int kBits = 32;

// V[dim][k] = m_{k+1} * 2^(31-k), extended past s by the polynomial recurrence.
using DirectionTable = std::vector<std::array<std::uint32_t, kBits>>;

DirectionTable BuildDirections() {
  DirectionTable v(SobolSequence::kTableDims);
  for (int k = 0; k < kBits; ++k) v[0][k] = std::uint32_t{1} << (kBits - 1 - k);
  for (int dim = 1; dim < SobolSequence::kTableDims; ++dim) {
    const JoeKuoRow& row = kJoeKuo[dim - 1];
    auto& dir = v[dim];
    for (int k = 0; k < kBits; ++k) {
      if (k < row.s) {
        dir[k] = row.m[k] << (kBits - 1 - k);
        continue;
      }
      std::uint32_t x = dir[k - row.s] ^ (dir[k - row.s] >> row.s);
      for (int j = 1; j < row.s; ++j) {
        if ((row.a >> (row.s - 1 - j)) & 1u) x ^= dir[k - j];
      }
      dir[k] = x;
    }
  }
  return v;
}

const DirectionTable& Directions() {
  static const DirectionTable table = BuildDirections();
  return table;
}

}  // namespace

SobolSequence::SobolSequence(std::uint64_t seed) : seed_(seed), shift_(kTableDims) {
  Rng rng(Mix64(seed ^ 0x5eed50b01ULL));
  for (auto& s : shift_) s = static_cast<std::uint32_t>(rng.Bits() >> 32);
}

double SobolSequence::Coordinate(std::uint64_t index, int dim) const {
  if (dim >= kTableDims) {
    std::uint64_t h = Mix64(seed_ ^ Mix64(index * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(dim)));
    return static_cast<double>(h >> 11) * 0x1.0p-53;
  }
  const auto& dir = Directions()[dim];
  std::uint32_t x = 0;
  auto bits = static_cast<std::uint32_t>(index);  // the table covers 2^32 points
  for (int k = 0; bits != 0; ++k, bits >>= 1) {
    if (bits & 1u) x ^= dir[k];
  }
  x ^= shift_[dim];
  return static_cast<double>(x) * 0x1.0p-32;
}

}  // namespace overdrive::sampler_internal
