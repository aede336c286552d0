// The contract of sampler.hpp, checked for every built-in sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "sampler/sampler.hpp"
#include "space/space_ops.hpp"

namespace overdrive {
namespace {

using DT = DistributionType;

Distribution Make(DT t, double a, double b, double q = 1) {
  Distribution d;
  d.type = t;
  d.min_value = a;
  d.max_value = b;
  d.mu = a;
  d.sigma = b;
  d.q = q;
  return d;
}

Distribution Choice(std::vector<ParamValue> values) {
  Distribution d;
  d.type = DT::kChoice;
  d.values = std::move(values);
  return d;
}

// Every distribution type, and a conditional sub-space.
SearchSpace FullSpace() {
  SearchSpace sgd, adam;
  sgd.params.push_back({"momentum", Make(DT::kUniform, 0, 0.99)});
  sgd.params.push_back({"nesterov", Choice({true, false})});
  adam.params.push_back({"beta2", Make(DT::kLoguniform, -7, -2)});
  Distribution opt = Choice({std::string("sgd"), std::string("adam"), std::string("rmsprop")});
  opt.sub_spaces = {sgd, adam, SearchSpace{}};
  Distribution randint;
  randint.type = DT::kRandint;
  randint.upper = 7;
  SearchSpace s;
  s.params.push_back({"lr", Make(DT::kLoguniform, std::log(1e-5), std::log(1e-1))});
  s.params.push_back({"optimizer", opt});
  s.params.push_back({"layers", randint});
  s.params.push_back({"dropout", Make(DT::kUniform, 0, 0.5)});
  s.params.push_back({"batch", Make(DT::kQuniform, 16, 256, 16)});
  s.params.push_back({"hidden", Make(DT::kQloguniform, std::log(16), std::log(1024), 8)});
  s.params.push_back({"bias", Make(DT::kNormal, 0, 1)});
  s.params.push_back({"scale", Make(DT::kLognormal, 0, 0.5)});
  s.params.push_back({"offset", Make(DT::kQnormal, 10, 4, 0.5)});
  s.params.push_back({"width", Make(DT::kQlognormal, 3, 0.7, 2)});
  return s;
}

SearchSpace ChoiceSpace() {
  SearchSpace sgd;
  sgd.params.push_back({"momentum", Choice({0.0, 0.5, 0.9})});
  Distribution opt = Choice({std::string("sgd"), std::string("adam")});
  opt.sub_spaces = {sgd, SearchSpace{}};
  SearchSpace s;
  s.params.push_back({"optimizer", opt});
  s.params.push_back({"lr", Choice({0.1, 0.01, 0.001})});
  s.params.push_back({"batch", Choice({std::int64_t{32}, std::int64_t{64}, std::int64_t{128}})});
  return s;  // (3 + 1) * 3 * 3 = 36 points
}

SearchSpace GpSpace() {
  SearchSpace s;
  s.params.push_back({"lr", Make(DT::kUniform, 0.001, 0.1)});
  s.params.push_back({"batch", Make(DT::kQuniform, 16, 128, 16)});
  s.params.push_back({"act", Choice({std::string("relu"), std::string("tanh")})});
  return s;
}

struct Case {
  const char* label;
  SamplerOptions options;
  SearchSpace (*space)();
  bool finite = false;  // grid: exhausts its space, never repeats
};

// A deterministic objective over whatever parameters are present.
double Objective(const Assignment& a) {
  double v = 0;
  for (const auto& [name, value] : a) {
    double x = ParamToDouble(value);
    if (std::isnan(x)) x = static_cast<double>(ParamToString(value).size());
    v += std::sin(x * 1.7 + static_cast<double>(name.size()));
  }
  return v;
}

std::vector<TrialObservation> History(Sampler& s, int completed, int pending, std::uint64_t seed) {
  std::vector<TrialObservation> h;
  for (int i = 0; i < completed + pending; ++i) {
    auto next = s.Suggest(h, 1, seed);
    if (next.empty()) break;
    TrialObservation t;
    t.params = next[0];
    if (i < completed) {
      t.state = (i % 7 == 3) ? TrialState::kPruned : TrialState::kCompleted;
      t.value = Objective(t.params);
      t.intervals = 3;
    }
    h.push_back(std::move(t));
  }
  return h;
}

class SamplerConformance : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    space_ = GetParam().space();
    auto made = MakeSampler(GetParam().options, space_);
    ASSERT_TRUE(made.has_value()) << made.error().message;
    sampler_ = std::move(*made);
  }
  SearchSpace space_;
  std::unique_ptr<Sampler> sampler_;
};

void ExpectValid(const SearchSpace& space, const Assignment& a) {
  auto flat = FlattenSpace(space);
  for (const auto& p : flat) {
    bool active = IsActive(p, flat, a);
    auto it = a.find(p.name);
    if (!active) {
      EXPECT_EQ(it, a.end()) << p.name << " is inactive but present";
      continue;
    }
    ASSERT_NE(it, a.end()) << p.name << " is active but missing";
    EXPECT_TRUE(InSupport(*p.dist, it->second))
        << p.name << " = " << ParamToString(it->second) << " outside "
        << DistributionTypeName(p.dist->type);
  }
  for (const auto& [name, value] : a) {
    bool known = std::any_of(flat.begin(), flat.end(), [&](const auto& p) { return p.name == name; });
    EXPECT_TRUE(known) << "unknown parameter " << name;
  }
}

TEST_P(SamplerConformance, ValuesInSupportAndOnlyActiveParams) {
  // Before and after the model-based samplers leave their start-up phase.
  auto history = History(*sampler_, 14, 2, 11);
  for (const auto& t : history) ExpectValid(space_, t.params);
  for (const auto& a : sampler_->Suggest(history, 8, 5)) ExpectValid(space_, a);
}

TEST_P(SamplerConformance, SameSeedAndHistoryGiveSameSuggestions) {
  auto history = History(*sampler_, 12, 1, 3);
  auto first = sampler_->Suggest(history, 3, 42);
  auto again = sampler_->Suggest(history, 3, 42);
  EXPECT_EQ(first, again);
  // A fresh instance too: nothing is carried between calls.
  auto other = MakeSampler(GetParam().options, space_);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ((*other)->Suggest(history, 3, 42), first);
}

TEST_P(SamplerConformance, DifferentSeedsDiffer) {
  if (GetParam().finite) GTEST_SKIP() << "grid order does not depend on the seed";
  std::vector<TrialObservation> empty;
  auto a = sampler_->Suggest(empty, 4, 1);
  auto b = sampler_->Suggest(empty, 4, 2);
  EXPECT_NE(a, b);
  auto history = History(*sampler_, 12, 0, 9);
  EXPECT_NE(sampler_->Suggest(history, 2, 1), sampler_->Suggest(history, 2, 2));
}

TEST_P(SamplerConformance, RespectsN) {
  std::vector<TrialObservation> empty;
  EXPECT_EQ(sampler_->Suggest(empty, 0, 1).size(), 0u);
  EXPECT_EQ(sampler_->Suggest(empty, 1, 1).size(), 1u);
  EXPECT_EQ(sampler_->Suggest(empty, 5, 1).size(), 5u);
  auto history = History(*sampler_, 12, 0, 4);
  EXPECT_EQ(sampler_->Suggest(history, 3, 1).size(), 3u);
}

TEST_P(SamplerConformance, PendingAndBatchNotRepeated) {
  auto history = History(*sampler_, 12, 3, 8);
  std::set<Assignment> seen;
  if (GetParam().finite) {
    for (const auto& t : history) seen.insert(t.params);
  }
  // Grid: all that is left, never a duplicate; others: a batch of 50 without exact duplicates.
  int n = GetParam().finite ? 1000 : 50;
  auto batch = sampler_->Suggest(history, n, 8);
  if (GetParam().finite) {
    EXPECT_EQ(static_cast<std::int64_t>(batch.size() + history.size()), *sampler_->Capacity());
  } else {
    EXPECT_EQ(batch.size(), 50u);
  }
  for (const auto& a : batch) EXPECT_TRUE(seen.insert(a).second) << "repeated suggestion";
}

SamplerOptions Options(const char* type, const char* rule = "random") {
  SamplerOptions o;
  o.type = type;
  o.rule = rule;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Builtin, SamplerConformance,
    ::testing::Values(Case{"random", Options("random"), FullSpace},
                      Case{"sobol", Options("random", "sobol"), FullSpace},
                      Case{"tpe", Options("tpe"), FullSpace},
                      Case{"grid", Options("grid"), ChoiceSpace, true},
                      Case{"bayesian", Options("bayesian"), GpSpace}),
    [](const auto& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace overdrive
