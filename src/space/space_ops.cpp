#include "space/space_ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "common/strings.hpp"

namespace overdrive {

namespace {

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kSqrt2Pi = 2.50662827463100050242;
// Largest double below 1: keeps floor(u * k) < k and the quantile finite.
constexpr double kBelowOne = 1.0 - 0x1.0p-53;
// Normal-family quantiles are taken at p in [kTail, 1 - kTail] (about +-7 sigma) so that u = 0
// still gives a usable, finite value.
constexpr double kTail = 1e-12;

bool IsNumber(const ParamValue& v) {
  return std::holds_alternative<std::int64_t>(v) || std::holds_alternative<double>(v);
}

bool IsIntegralQ(double q) { return q >= 1 && std::floor(q) == q && q < 9e15; }

// round(x / q) * q, as an integer when q is integral (so "batch_size: 32" is not "32.0").
ParamValue QRound(double x, double q) {
  double k = std::round(x / q);
  if (IsIntegralQ(q) && std::abs(k * q) < 9e18) {
    return static_cast<std::int64_t>(k) * static_cast<std::int64_t>(q);
  }
  return k * q;
}

bool IsMultipleOf(double x, double q) {
  double k = x / q;
  return std::abs(k - std::round(k)) <= 1e-9 * std::max(1.0, std::abs(k));
}

bool Between(double x, double lo, double hi) {
  double tol = 1e-12 * std::max({1.0, std::abs(lo), std::abs(hi)});
  return x >= lo - tol && x <= hi + tol;
}

double Clamp01(double u) { return std::clamp(u, 0.0, 1.0); }

void Flatten(const SearchSpace& space, const std::string& parent, int parent_index,
             std::vector<FlatParam>& out) {
  for (const auto& [name, dist] : space.params) {
    out.push_back(FlatParam{name, &dist, parent, parent_index});
    if (dist.type == DistributionType::kChoice) {
      for (std::size_t v = 0; v < dist.sub_spaces.size(); ++v) {
        Flatten(dist.sub_spaces[v], name, static_cast<int>(v), out);
      }
    }
  }
}

Result<void> Validate(const SearchSpace& space, std::set<std::string>& names) {
  for (const auto& [name, d] : space.params) {
    auto bad = [&](const std::string& why) {
      return MakeError(ErrorCode::kInvalidInput,
                       "search_space." + name + " (" + DistributionTypeName(d.type) + "): " + why);
    };
    if (!names.insert(name).second) {
      return MakeError(ErrorCode::kInvalidInput,
                       "search_space." + name +
                           ": the name is used twice (names must be unique across conditional "
                           "sub-spaces too)");
    }
    switch (d.type) {
      case DistributionType::kChoice:
        if (d.values.empty()) return bad("needs at least one value");
        if (!d.sub_spaces.empty() && d.sub_spaces.size() != d.values.size()) {
          return bad("needs one sub-space per value (or none)");
        }
        for (const auto& sub : d.sub_spaces) OD_TRY(Validate(sub, names));
        break;
      case DistributionType::kRandint:
        if (d.upper < 1) return bad("upper must be at least 1 (values are in [0, upper))");
        break;
      case DistributionType::kUniform:
      case DistributionType::kLoguniform:
      case DistributionType::kQuniform:
      case DistributionType::kQloguniform:
        if (!std::isfinite(d.min_value) || !std::isfinite(d.max_value)) {
          return bad("min_value and max_value must be finite");
        }
        if (d.min_value > d.max_value) return bad("min_value must not exceed max_value");
        break;
      case DistributionType::kNormal:
      case DistributionType::kLognormal:
      case DistributionType::kQnormal:
      case DistributionType::kQlognormal:
        if (!std::isfinite(d.mu) || !std::isfinite(d.sigma)) return bad("mu and sigma must be finite");
        if (d.sigma < 0) return bad("sigma must not be negative");
        break;
    }
    bool has_q = d.type == DistributionType::kQuniform || d.type == DistributionType::kQloguniform ||
                 d.type == DistributionType::kQnormal || d.type == DistributionType::kQlognormal;
    if (has_q && !(d.q > 0 && std::isfinite(d.q))) return bad("q must be positive");
  }
  return {};
}

std::optional<std::int64_t> SpaceGridSize(const SearchSpace& space) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 1;
  for (const auto& [name, d] : space.params) {
    if (d.type != DistributionType::kChoice) return std::nullopt;
    std::int64_t param = 0;
    for (std::size_t v = 0; v < d.values.size(); ++v) {
      std::int64_t sub = 1;
      if (v < d.sub_spaces.size()) {
        auto s = SpaceGridSize(d.sub_spaces[v]);
        if (!s) return std::nullopt;
        sub = *s;
      }
      param = (param > kMax - sub) ? kMax : param + sub;
    }
    if (param != 0 && total > kMax / param) {
      total = kMax;  // saturate: such a grid cannot be run anyway
    } else {
      total *= param;
    }
  }
  return total;
}

}  // namespace

double NormalCdf(double x) { return 0.5 * std::erfc(-x / kSqrt2); }

double NormalQuantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  if (std::isnan(p)) return p;
  p = std::clamp(p, 1e-300, kBelowOne);
  double x;
  if (p < kLow) {
    double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    double q = p - 0.5;
    double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step on CDF(x) - p brings the ~1e-9 approximation to full double precision.
  // In the upper tail work with the complement so the residual is not lost to cancellation.
  double e = (x > 0) ? (1 - p) - 0.5 * std::erfc(x / kSqrt2) : 0.5 * std::erfc(-x / kSqrt2) - p;
  double u = e * kSqrt2Pi * std::exp(x * x / 2);
  x = x - u / (1 + x * u / 2);
  return x;
}

ParamValue FromUnit(const Distribution& d, double u) {
  u = std::clamp(std::isnan(u) ? 0.0 : u, 0.0, kBelowOne);
  auto uniform = [&] { return d.min_value + u * (d.max_value - d.min_value); };
  auto normal = [&] { return d.mu + d.sigma * NormalQuantile(std::clamp(u, kTail, 1 - kTail)); };
  switch (d.type) {
    case DistributionType::kChoice: {
      if (d.values.empty()) return ParamValue{};
      auto k = static_cast<std::size_t>(u * static_cast<double>(d.values.size()));
      return d.values[std::min(k, d.values.size() - 1)];
    }
    case DistributionType::kRandint: {
      if (d.upper <= 0) return std::int64_t{0};
      auto k = static_cast<std::int64_t>(u * static_cast<double>(d.upper));
      return std::min(k, d.upper - 1);
    }
    case DistributionType::kUniform: return uniform();
    case DistributionType::kLoguniform: return std::exp(uniform());
    case DistributionType::kQuniform: return QRound(uniform(), d.q);
    case DistributionType::kQloguniform: return QRound(std::exp(uniform()), d.q);
    case DistributionType::kNormal: return normal();
    case DistributionType::kLognormal: return std::exp(normal());
    case DistributionType::kQnormal: return QRound(normal(), d.q);
    case DistributionType::kQlognormal: return QRound(std::exp(normal()), d.q);
  }
  return ParamValue{};
}

std::optional<double> ToUnit(const Distribution& d, const ParamValue& v) {
  if (d.type == DistributionType::kChoice) {
    int i = ChoiceIndex(d, v);
    if (i < 0) return std::nullopt;
    return (i + 0.5) / static_cast<double>(d.values.size());
  }
  if (!IsNumber(v)) return std::nullopt;
  double x = ParamToDouble(v);
  if (std::isnan(x)) return std::nullopt;
  auto from_uniform = [&](double y) {
    double width = d.max_value - d.min_value;
    return width > 0 ? Clamp01((y - d.min_value) / width) : 0.5;
  };
  auto from_normal = [&](double y) {
    return d.sigma > 0 ? Clamp01(NormalCdf((y - d.mu) / d.sigma)) : 0.5;
  };
  // log of a non-positive value (possible after q-rounding to 0) maps to the low end.
  auto safe_log = [](double y) { return y > 0 ? std::log(y) : -1e300; };
  switch (d.type) {
    case DistributionType::kChoice: break;
    case DistributionType::kRandint:
      if (d.upper <= 0) return 0.5;
      return Clamp01((std::round(x) + 0.5) / static_cast<double>(d.upper));
    case DistributionType::kUniform:
    case DistributionType::kQuniform: return from_uniform(x);
    case DistributionType::kLoguniform:
    case DistributionType::kQloguniform: return from_uniform(safe_log(x));
    case DistributionType::kNormal:
    case DistributionType::kQnormal: return from_normal(x);
    case DistributionType::kLognormal:
    case DistributionType::kQlognormal: return from_normal(safe_log(x));
  }
  return std::nullopt;
}

bool InSupport(const Distribution& d, const ParamValue& v) {
  if (d.type == DistributionType::kChoice) return ChoiceIndex(d, v) >= 0;
  if (!IsNumber(v)) return false;
  double x = ParamToDouble(v);
  if (!std::isfinite(x)) return false;
  switch (d.type) {
    case DistributionType::kChoice: return false;
    case DistributionType::kRandint: return std::floor(x) == x && x >= 0 && x < static_cast<double>(d.upper);
    case DistributionType::kUniform: return Between(x, d.min_value, d.max_value);
    case DistributionType::kLoguniform:
      return x > 0 && Between(std::log(x), d.min_value, d.max_value);
    case DistributionType::kQuniform:
      return IsMultipleOf(x, d.q) &&
             Between(x, std::round(d.min_value / d.q) * d.q, std::round(d.max_value / d.q) * d.q);
    case DistributionType::kQloguniform:
      return IsMultipleOf(x, d.q) && Between(x, std::round(std::exp(d.min_value) / d.q) * d.q,
                                             std::round(std::exp(d.max_value) / d.q) * d.q);
    case DistributionType::kNormal: return true;
    case DistributionType::kLognormal: return x > 0;
    case DistributionType::kQnormal: return IsMultipleOf(x, d.q);
    case DistributionType::kQlognormal: return x >= 0 && IsMultipleOf(x, d.q);
  }
  return false;
}

std::vector<FlatParam> FlattenSpace(const SearchSpace& space) {
  std::vector<FlatParam> out;
  Flatten(space, "", -1, out);
  return out;
}

bool IsActive(const FlatParam& p, const std::vector<FlatParam>& flat, const Assignment& a) {
  const FlatParam* cur = &p;
  // Walk up the parent chain; depth is tiny, so a linear search per level is fine.
  while (!cur->parent.empty()) {
    auto parent = std::find_if(flat.begin(), flat.end(),
                               [&](const FlatParam& f) { return f.name == cur->parent; });
    if (parent == flat.end()) return false;
    auto it = a.find(parent->name);
    if (it == a.end() || ChoiceIndex(*parent->dist, it->second) != cur->parent_value_index) {
      return false;
    }
    cur = &*parent;
  }
  return true;
}

int ChoiceIndex(const Distribution& d, const ParamValue& v) {
  for (std::size_t i = 0; i < d.values.size(); ++i) {
    if (d.values[i] == v) return static_cast<int>(i);
  }
  // A value read back from JSON may come as 3.0 for a choice of 3 (or the other way round).
  if (IsNumber(v)) {
    double x = ParamToDouble(v);
    for (std::size_t i = 0; i < d.values.size(); ++i) {
      if (IsNumber(d.values[i]) && ParamToDouble(d.values[i]) == x) return static_cast<int>(i);
    }
  }
  return -1;
}

std::optional<std::int64_t> GridSize(const SearchSpace& space) { return SpaceGridSize(space); }

Result<void> ValidateSpace(const SearchSpace& space) {
  std::set<std::string> names;
  return Validate(space, names);
}

}  // namespace overdrive
