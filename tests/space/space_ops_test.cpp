#include "space/space_ops.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace overdrive {
namespace {

constexpr double kAlmostOne = 1.0 - 1e-12;

Distribution Dist(DistributionType t) {
  Distribution d;
  d.type = t;
  return d;
}

Distribution Uniform(DistributionType t, double lo, double hi, double q = 1) {
  Distribution d = Dist(t);
  d.min_value = lo;
  d.max_value = hi;
  d.q = q;
  return d;
}

Distribution Normal(DistributionType t, double mu, double sigma, double q = 1) {
  Distribution d = Dist(t);
  d.mu = mu;
  d.sigma = sigma;
  d.q = q;
  return d;
}

Distribution Choice(std::vector<ParamValue> values) {
  Distribution d = Dist(DistributionType::kChoice);
  d.values = std::move(values);
  return d;
}

double Num(const ParamValue& v) { return ParamToDouble(v); }

TEST(DistributionTypeNameTest, NamesAsInJobFiles) {
  EXPECT_STREQ(DistributionTypeName(DistributionType::kChoice), "choice");
  EXPECT_STREQ(DistributionTypeName(DistributionType::kQloguniform), "qloguniform");
  EXPECT_STREQ(DistributionTypeName(DistributionType::kQlognormal), "qlognormal");
}

TEST(NormalQuantileTest, MatchesKnownQuantilesAndInvertsCdf) {
  EXPECT_DOUBLE_EQ(NormalQuantile(0.5), 0.0);
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_NEAR(NormalQuantile(0.025), -1.959963984540054, 1e-13);
  EXPECT_NEAR(NormalQuantile(0.8413447460685429), 1.0, 1e-12);
  for (double p : {1e-12, 1e-6, 0.01, 0.3, 0.7, 0.99, 1 - 1e-9}) {
    EXPECT_NEAR(NormalCdf(NormalQuantile(p)) / p, 1.0, 1e-11) << p;
  }
}

struct FromUnitCase {
  const char* label;
  Distribution dist;
  double u;
  double expected;
  bool integer;  // whether an int64 must come back
};

class FromUnitTable : public ::testing::TestWithParam<FromUnitCase> {};

TEST_P(FromUnitTable, MapsUnitToValue) {
  const auto& c = GetParam();
  ParamValue v = FromUnit(c.dist, c.u);
  EXPECT_EQ(std::holds_alternative<std::int64_t>(v), c.integer) << ParamToString(v);
  EXPECT_NEAR(Num(v), c.expected, 1e-9 * std::max(1.0, std::abs(c.expected))) << ParamToString(v);
  EXPECT_TRUE(InSupport(c.dist, v)) << ParamToString(v);
}

using DT = DistributionType;
INSTANTIATE_TEST_SUITE_P(
    AllTypes, FromUnitTable,
    ::testing::Values(
        FromUnitCase{"choice_lo", Choice({1.5, std::int64_t{7}, 9.0}), 0.0, 1.5, false},
        FromUnitCase{"choice_mid", Choice({1.5, std::int64_t{7}, 9.0}), 0.5, 7, true},
        FromUnitCase{"choice_hi", Choice({1.5, std::int64_t{7}, 9.0}), kAlmostOne, 9, false},
        FromUnitCase{"randint_lo", [] { auto d = Dist(DT::kRandint); d.upper = 5; return d; }(), 0.0, 0, true},
        FromUnitCase{"randint_mid", [] { auto d = Dist(DT::kRandint); d.upper = 5; return d; }(), 0.5, 2, true},
        // upper is exclusive: the top of the unit interval gives upper - 1.
        FromUnitCase{"randint_hi", [] { auto d = Dist(DT::kRandint); d.upper = 5; return d; }(), kAlmostOne, 4, true},
        FromUnitCase{"uniform_lo", Uniform(DT::kUniform, -2, 6), 0.0, -2, false},
        FromUnitCase{"uniform_mid", Uniform(DT::kUniform, -2, 6), 0.5, 2, false},
        FromUnitCase{"uniform_hi", Uniform(DT::kUniform, -2, 6), kAlmostOne, 6, false},
        // loguniform bounds are exponents: exp(U(log 1e-4, log 1)).
        FromUnitCase{"loguniform_lo", Uniform(DT::kLoguniform, std::log(1e-4), 0), 0.0, 1e-4, false},
        FromUnitCase{"loguniform_mid", Uniform(DT::kLoguniform, std::log(1e-4), 0), 0.5, 1e-2, false},
        FromUnitCase{"loguniform_hi", Uniform(DT::kLoguniform, std::log(1e-4), 0), kAlmostOne, 1, false},
        FromUnitCase{"quniform_int_q", Uniform(DT::kQuniform, 0, 100, 8), 0.5, 48, true},
        FromUnitCase{"quniform_round_down", Uniform(DT::kQuniform, 0, 100, 8), 0.51, 48, true},
        FromUnitCase{"quniform_round_up", Uniform(DT::kQuniform, 0, 100, 8), 0.53, 56, true},
        FromUnitCase{"quniform_frac_q", Uniform(DT::kQuniform, 0, 1, 0.25), 0.3, 0.25, false},
        FromUnitCase{"quniform_hi", Uniform(DT::kQuniform, 0, 100, 8), kAlmostOne, 96, true},
        FromUnitCase{"qloguniform_mid", Uniform(DT::kQloguniform, 0, std::log(10000), 10), 0.5, 100, true},
        FromUnitCase{"qloguniform_lo", Uniform(DT::kQloguniform, 0, std::log(10000), 10), 0.0, 0, true},
        FromUnitCase{"normal_mid", Normal(DT::kNormal, 3, 2), 0.5, 3, false},
        FromUnitCase{"normal_q975", Normal(DT::kNormal, 3, 2), 0.975, 3 + 2 * 1.959963984540054, false},
        FromUnitCase{"lognormal_mid", Normal(DT::kLognormal, 1, 0.5), 0.5, std::exp(1.0), false},
        FromUnitCase{"qnormal_mid", Normal(DT::kQnormal, 10, 3, 4), 0.5, 12, true},
        FromUnitCase{"qnormal_q975", Normal(DT::kQnormal, 10, 3, 4), 0.975, 16, true},
        FromUnitCase{"qlognormal_mid", Normal(DT::kQlognormal, std::log(55), 1, 20), 0.5, 60, true}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(FromUnitTest, NormalFamiliesStayFiniteAtTheEdges) {
  for (DT t : {DT::kNormal, DT::kLognormal, DT::kQnormal, DT::kQlognormal}) {
    Distribution d = Normal(t, 0, 1, 0.5);
    double lo = Num(FromUnit(d, 0.0));
    double hi = Num(FromUnit(d, kAlmostOne));
    EXPECT_TRUE(std::isfinite(lo) && std::isfinite(hi)) << DistributionTypeName(t);
    EXPECT_LT(lo, hi) << DistributionTypeName(t);
  }
  EXPECT_LT(Num(FromUnit(Normal(DT::kNormal, 0, 1), 0.0)), -6);
}

TEST(InSupportTest, RejectsValuesOutsideTheDistribution) {
  Distribution randint = Dist(DT::kRandint);
  randint.upper = 3;
  EXPECT_TRUE(InSupport(randint, std::int64_t{2}));
  EXPECT_FALSE(InSupport(randint, std::int64_t{3}));
  EXPECT_FALSE(InSupport(randint, std::int64_t{-1}));
  EXPECT_FALSE(InSupport(randint, 1.5));
  EXPECT_FALSE(InSupport(Uniform(DT::kUniform, 0, 1), 1.5));
  EXPECT_FALSE(InSupport(Uniform(DT::kUniform, 0, 1), std::string("a")));
  EXPECT_TRUE(InSupport(Uniform(DT::kLoguniform, 0, 2), std::exp(1.0)));
  EXPECT_FALSE(InSupport(Uniform(DT::kLoguniform, 0, 2), 0.5));  // below exp(0)
  EXPECT_FALSE(InSupport(Uniform(DT::kQuniform, 0, 100, 8), std::int64_t{12}));
  EXPECT_TRUE(InSupport(Uniform(DT::kQuniform, 0, 100, 8), std::int64_t{16}));
  EXPECT_FALSE(InSupport(Normal(DT::kLognormal, 0, 1), -1.0));
  EXPECT_FALSE(InSupport(Normal(DT::kQnormal, 0, 1, 0.5), 0.3));
  Distribution choice = Choice({std::string("adam"), std::int64_t{3}, true});
  EXPECT_TRUE(InSupport(choice, std::string("adam")));
  EXPECT_TRUE(InSupport(choice, 3.0));  // read back from JSON as a double
  EXPECT_FALSE(InSupport(choice, std::string("sgd")));
  EXPECT_EQ(ChoiceIndex(choice, true), 2);
}

TEST(ToUnitTest, InvertsFromUnit) {
  std::vector<Distribution> dists = {Uniform(DT::kUniform, -2, 6),
                                     Uniform(DT::kLoguniform, -5, 1), Normal(DT::kNormal, 1, 3),
                                     Normal(DT::kLognormal, 0, 1)};
  for (const auto& d : dists) {
    for (double u : {0.1, 0.5, 0.9}) {
      auto back = ToUnit(d, FromUnit(d, u));
      ASSERT_TRUE(back.has_value());
      EXPECT_NEAR(*back, u, 1e-9) << DistributionTypeName(d.type);
    }
  }
  Distribution choice = Choice({std::string("a"), std::string("b")});
  EXPECT_EQ(FromUnit(choice, *ToUnit(choice, std::string("b"))), ParamValue(std::string("b")));
  EXPECT_FALSE(ToUnit(choice, std::string("z")).has_value());
  EXPECT_FALSE(ToUnit(Uniform(DT::kUniform, 0, 1), std::string("x")).has_value());
}

// optimizer: choice(sgd -> {momentum: uniform, nesterov: choice}, adam -> {beta1: uniform}, lbfgs)
SearchSpace ConditionalSpace() {
  SearchSpace sgd, adam;
  sgd.params.push_back({"momentum", Uniform(DT::kUniform, 0, 1)});
  sgd.params.push_back({"nesterov", Choice({true, false})});
  adam.params.push_back({"beta1", Uniform(DT::kUniform, 0.8, 1)});
  Distribution opt = Choice({std::string("sgd"), std::string("adam"), std::string("lbfgs")});
  opt.sub_spaces = {sgd, adam, SearchSpace{}};
  SearchSpace space;
  space.params.push_back({"lr", Uniform(DT::kLoguniform, -9, -1)});
  space.params.push_back({"optimizer", opt});
  space.params.push_back({"batch", Choice({std::int64_t{32}, std::int64_t{64}})});
  return space;
}

TEST(FlattenSpaceTest, ChildrenFollowTheirChoice) {
  SearchSpace space = ConditionalSpace();
  auto flat = FlattenSpace(space);
  std::vector<std::string> names;
  for (const auto& p : flat) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"lr", "optimizer", "momentum", "nesterov", "beta1",
                                             "batch"}));
  EXPECT_EQ(flat[2].parent, "optimizer");
  EXPECT_EQ(flat[2].parent_value_index, 0);
  EXPECT_EQ(flat[4].parent_value_index, 1);
  EXPECT_EQ(flat[5].parent, "");
}

TEST(IsActiveTest, FollowsTheChosenValue) {
  SearchSpace space = ConditionalSpace();
  auto flat = FlattenSpace(space);
  Assignment sgd = {{"optimizer", std::string("sgd")}};
  Assignment adam = {{"optimizer", std::string("adam")}};
  EXPECT_TRUE(IsActive(flat[0], flat, sgd));
  EXPECT_TRUE(IsActive(flat[2], flat, sgd));
  EXPECT_TRUE(IsActive(flat[3], flat, sgd));
  EXPECT_FALSE(IsActive(flat[4], flat, sgd));
  EXPECT_FALSE(IsActive(flat[2], flat, adam));
  EXPECT_TRUE(IsActive(flat[4], flat, adam));
  EXPECT_FALSE(IsActive(flat[4], flat, Assignment{}));  // parent not decided yet
}

TEST(GridSizeTest, ProductOfChoicesWithSubGridsSummed) {
  SearchSpace space;
  space.params.push_back({"a", Choice({1.0, 2.0, 3.0})});
  space.params.push_back({"b", Choice({std::string("x"), std::string("y")})});
  EXPECT_EQ(GridSize(space), 6);

  SearchSpace sgd;
  sgd.params.push_back({"momentum", Choice({0.0, 0.9})});
  sgd.params.push_back({"nesterov", Choice({true, false})});
  Distribution opt = Choice({std::string("sgd"), std::string("adam")});
  opt.sub_spaces = {sgd, SearchSpace{}};
  SearchSpace conditional;
  conditional.params.push_back({"optimizer", opt});
  conditional.params.push_back({"batch", Choice({std::int64_t{32}, std::int64_t{64}})});
  EXPECT_EQ(GridSize(conditional), (4 + 1) * 2);

  EXPECT_EQ(GridSize(ConditionalSpace()), std::nullopt);  // has uniform parameters
}

TEST(ValidateSpaceTest, NamesTheOffendingParameter) {
  EXPECT_TRUE(ValidateSpace(ConditionalSpace()).has_value());
  SearchSpace empty_choice;
  empty_choice.params.push_back({"opt", Choice({})});
  auto r = ValidateSpace(empty_choice);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("opt"), std::string::npos);

  SearchSpace bad_bounds;
  bad_bounds.params.push_back({"lr", Uniform(DT::kUniform, 1, 0)});
  EXPECT_FALSE(ValidateSpace(bad_bounds).has_value());

  SearchSpace duplicate = ConditionalSpace();
  duplicate.params.push_back({"beta1", Uniform(DT::kUniform, 0, 1)});
  r = ValidateSpace(duplicate);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("beta1"), std::string::npos);
}

}  // namespace
}  // namespace overdrive
