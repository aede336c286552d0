// Grid search: every combination of choice values, in a fixed order (first parameter slowest,
// values in file order; a value with a conditional sub-space expands into that sub-space's grid).
#include <unordered_set>

#include "sampler/sampler_internal.hpp"

namespace overdrive::sampler_internal {

namespace {

std::int64_t ValueSize(const Distribution& d, std::size_t v) {
  return v < d.sub_spaces.size() ? GridSize(d.sub_spaces[v]).value_or(0) : 1;
}

std::int64_t ParamSize(const Distribution& d) {
  std::int64_t total = 0;
  for (std::size_t v = 0; v < d.values.size(); ++v) total += ValueSize(d, v);
  return total;
}

// Writes grid point `k` (0 <= k < GridSize(space)) of `space` into `a`.
void Decode(const SearchSpace& space, std::int64_t k, Assignment& a) {
  std::vector<std::int64_t> sizes;
  for (const auto& [name, d] : space.params) sizes.push_back(ParamSize(d));
  // Mixed radix, first parameter most significant, so the last parameter varies fastest.
  std::vector<std::int64_t> digits(sizes.size());
  for (std::size_t i = sizes.size(); i-- > 0;) {
    digits[i] = k % sizes[i];
    k /= sizes[i];
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto& [name, d] = space.params[i];
    std::int64_t r = digits[i];
    for (std::size_t v = 0; v < d.values.size(); ++v) {
      std::int64_t size = ValueSize(d, v);
      if (r < size) {
        a[name] = d.values[v];
        if (v < d.sub_spaces.size()) Decode(d.sub_spaces[v], r, a);
        break;
      }
      r -= size;
    }
  }
}

class GridSampler final : public Sampler {
 public:
  GridSampler(const SearchSpace& space, std::int64_t size) : space_(space), size_(size) {}

  std::string Name() const override { return "grid"; }
  std::optional<std::int64_t> Capacity() const override { return size_; }

  // The seed is unused: the grid order is fixed, which is what makes resume continue in order.
  std::vector<Assignment> Suggest(const std::vector<TrialObservation>& history, int n,
                                  std::uint64_t /*seed*/) override {
    std::unordered_set<std::string> seen;
    seen.reserve(history.size() * 2);
    for (const auto& t : history) seen.insert(AssignmentKey(t.params));
    std::vector<Assignment> out;
    for (std::int64_t k = 0; k < size_ && static_cast<int>(out.size()) < n; ++k) {
      Assignment a;
      Decode(space_, k, a);
      if (seen.insert(AssignmentKey(a)).second) out.push_back(std::move(a));
    }
    return out;
  }

 private:
  SearchSpace space_;
  std::int64_t size_;
};

}  // namespace

Result<std::unique_ptr<Sampler>> MakeGridSampler(const SearchSpace& space) {
  for (const FlatParam& p : FlattenSpace(space)) {
    if (p.dist->type != DistributionType::kChoice) {
      return MakeError(ErrorCode::kInvalidInput,
                       "search_space." + p.name + " is " + DistributionTypeName(p.dist->type) +
                           ", but sampling_algorithm: grid accepts only choice parameters");
    }
  }
  std::int64_t size = GridSize(space).value_or(0);
  return std::unique_ptr<Sampler>(std::make_unique<GridSampler>(space, size));
}

}  // namespace overdrive::sampler_internal
