// Search quality and overhead of Overdrive's samplers on standard test functions.
//
// Quality: each sampler runs sequentially (one Suggest(history, 1, seed) per trial, the history
// growing by one evaluated trial each time, as a sweep with max_concurrent_trials 1 would, one
// seed per run) for
// --trials trials and --seeds seeds; the best value after 50/100/200 trials is summarised as
// median and IQR over the seeds.
// Overhead: time of one Suggest with 1,000 and 10,000 completed trials in the history (random
// points evaluated on Hartmann6).
//
// Output: one JSON object per line on stdout (kind "quality" or "overhead"); progress on stderr.
// bench/run_sampler_bench.sh turns these lines, with those of optuna_quality.py, into tables.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/value.hpp"
#include "sampler/sampler.hpp"
#include "space/search_space.hpp"

namespace overdrive {
namespace {

struct TestFunction {
  std::string name;
  int dims;
  double lo, hi;  // the same box in every dimension, except Branin
  double optimum;
  std::function<double(const std::vector<double>&)> f;
};

double Branin(const std::vector<double>& x) {
  const double pi = 3.14159265358979323846;
  const double a = 1, b = 5.1 / (4 * pi * pi), c = 5 / pi, r = 6, s = 10, t = 1 / (8 * pi);
  const double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
  return a * u * u + s * (1 - t) * std::cos(x[0]) + s;
}

double Hartmann6(const std::vector<double>& x) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double P[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                 {2329, 4135, 8307, 3736, 1004, 9991},
                                 {2348, 1451, 3522, 2883, 3047, 6650},
                                 {4047, 8828, 8732, 5743, 1091, 381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j) {
      const double d = x[j] - P[i][j] * 1e-4;
      inner += A[i][j] * d * d;
    }
    sum += alpha[i] * std::exp(-inner);
  }
  return -sum;
}

double Rosenbrock(const std::vector<double>& x) {
  double sum = 0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    sum += 100 * a * a + b * b;
  }
  return sum;
}

std::vector<TestFunction> Functions() {
  return {{"branin", 2, -5, 10, 0.397887, Branin},
          {"hartmann6", 6, 0, 1, -3.32237, Hartmann6},
          {"rosenbrock10", 10, -5, 10, 0, Rosenbrock}};
}

SearchSpace SpaceOf(const TestFunction& fn) {
  SearchSpace space;
  for (int i = 0; i < fn.dims; ++i) {
    Distribution d;
    d.type = DistributionType::kUniform;
    d.min_value = fn.lo;
    d.max_value = fn.hi;
    if (fn.name == "branin" && i == 1) d.min_value = 0, d.max_value = 15;
    space.params.emplace_back("x" + std::to_string(i), d);
  }
  return space;
}

std::vector<double> PointOf(const TestFunction& fn, const Assignment& a) {
  std::vector<double> x(fn.dims);
  for (int i = 0; i < fn.dims; ++i) x[i] = ParamToDouble(a.at("x" + std::to_string(i)));
  return x;
}

std::uint64_t Mix(std::uint64_t a, std::uint64_t b) {  // splitmix64 of a combined seed
  std::uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E5BBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct SamplerChoice {
  std::string label;
  SamplerOptions options;
};

std::vector<SamplerChoice> AllSamplers() {
  std::vector<SamplerChoice> all(4);
  all[0] = {"random", {}};
  all[1] = {"sobol", {}};
  all[1].options.rule = "sobol";
  all[2] = {"tpe", {}};
  all[2].options.type = "tpe";
  all[3] = {"bayesian", {}};
  all[3].options.type = "bayesian";
  return all;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const std::size_t i = static_cast<std::size_t>(pos);
  const double frac = pos - i;
  return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

struct RunResult {
  std::vector<double> best_at;  // per budget
  double seconds = 0;
  std::string error;
};

RunResult RunOne(const TestFunction& fn, const SamplerChoice& choice, int seed, int trials,
                 const std::vector<int>& budgets) {
  RunResult result;
  SamplerOptions options = choice.options;
  options.budget = trials;  // what the controller passes: max_total_trials
  auto sampler = MakeSampler(options, SpaceOf(fn));
  if (!sampler) {
    result.error = sampler.error().message;
    return result;
  }
  std::vector<TrialObservation> history;
  double best = INFINITY;
  const auto start = std::chrono::steady_clock::now();
  // One seed for the whole run, as a sweep passes its own: the samplers mix in the history size
  // (a scrambled Sobol sequence, or a Latin hypercube, must stay the same across calls).
  const std::uint64_t sweep_seed = Mix(seed, 0);
  for (int t = 0; t < trials; ++t) {
    auto suggestion = (*sampler)->Suggest(history, 1, sweep_seed);
    if (suggestion.size() != 1) {
      result.error = "Suggest returned " + std::to_string(suggestion.size()) + " assignments";
      return result;
    }
    const double y = fn.f(PointOf(fn, suggestion[0]));
    best = std::min(best, y);
    history.push_back({suggestion[0], TrialState::kCompleted, y, 1});
    for (std::size_t b = 0; b < budgets.size(); ++b) {
      if (t + 1 == budgets[b]) result.best_at.push_back(best);
    }
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// Random points evaluated on the function, as completed trials.
std::vector<TrialObservation> RandomHistory(const TestFunction& fn, int n, std::uint64_t seed) {
  std::vector<TrialObservation> history;
  history.reserve(n);
  for (int i = 0; i < n; ++i) {
    Assignment a;
    std::vector<double> x(fn.dims);
    for (int d = 0; d < fn.dims; ++d) {
      const double u = static_cast<double>(Mix(seed, i * 64 + d) >> 11) / 9007199254740992.0;
      x[d] = fn.lo + u * (fn.hi - fn.lo);
      a["x" + std::to_string(d)] = x[d];
    }
    history.push_back({a, TrialState::kCompleted, fn.f(x), 1});
  }
  return history;
}

struct Args {
  int seeds = 10;
  int trials = 200;
  int jobs = 2;
  int bayesian_seeds = -1;  // -1: same as seeds
  int bayesian_trials = -1; // -1: same as trials
  std::vector<std::string> samplers = {"random", "sobol", "tpe", "bayesian"};
  std::vector<std::string> functions = {"branin", "hartmann6", "rosenbrock10"};
  bool quality = true;
  bool overhead = true;
  double overhead_cap_s = 60;  // per sampler and history size
};

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void Emit(const nlohmann::json& j) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::cout << j.dump() << std::endl;
}

void RunQuality(const Args& args) {
  const std::vector<int> all_budgets = {50, 100, 200};
  for (const TestFunction& fn : Functions()) {
    if (!Contains(args.functions, fn.name)) continue;
    for (const SamplerChoice& choice : AllSamplers()) {
      if (!Contains(args.samplers, choice.label)) continue;
      const bool bayes = choice.label == "bayesian";
      const int seeds = bayes && args.bayesian_seeds >= 0 ? args.bayesian_seeds : args.seeds;
      const int trials = bayes && args.bayesian_trials >= 0 ? args.bayesian_trials : args.trials;
      std::vector<int> budgets;
      for (int b : all_budgets) {
        if (b <= trials) budgets.push_back(b);
      }
      if (seeds <= 0 || budgets.empty()) continue;
      std::vector<RunResult> results(seeds);
      std::atomic<int> next{0};
      std::vector<std::thread> pool;
      for (int w = 0; w < std::max(1, args.jobs); ++w) {
        pool.emplace_back([&] {
          for (int s; (s = next++) < seeds;) results[s] = RunOne(fn, choice, s, trials, budgets);
        });
      }
      for (std::thread& t : pool) t.join();
      nlohmann::json line = {{"kind", "quality"}, {"impl", "overdrive"},
                             {"sampler", choice.label}, {"function", fn.name},
                             {"optimum", fn.optimum}, {"seeds", seeds}, {"trials", trials}};
      double seconds = 0;
      for (const RunResult& r : results) {
        if (!r.error.empty()) line["error"] = r.error;
        seconds += r.seconds;
      }
      line["seconds_per_run"] = seconds / seeds;
      for (std::size_t b = 0; b < budgets.size(); ++b) {
        std::vector<double> v;
        for (const RunResult& r : results) {
          if (r.best_at.size() > b) v.push_back(r.best_at[b]);
        }
        line["best"][std::to_string(budgets[b])] = {
            {"median", Quantile(v, 0.5)}, {"q1", Quantile(v, 0.25)}, {"q3", Quantile(v, 0.75)},
            {"values", v}};
      }
      Emit(line);
      std::cerr << "quality " << fn.name << " " << choice.label << " done ("
                << seconds / seeds << " s/run)\n";
    }
  }
}

void RunOverhead(const Args& args) {
  const TestFunction fn = Functions()[1];  // hartmann6: a typical 6-parameter sweep
  for (const SamplerChoice& choice : AllSamplers()) {
    if (!Contains(args.samplers, choice.label)) continue;
    for (int n : {1000, 10000}) {
      if (choice.label == "bayesian" && n > 1000) continue;  // cubic in n: out of reach
      auto sampler = MakeSampler(choice.options, SpaceOf(fn));
      nlohmann::json line = {{"kind", "overhead"}, {"impl", "overdrive"},
                             {"sampler", choice.label}, {"history", n}};
      if (!sampler) {
        line["error"] = sampler.error().message;
        Emit(line);
        continue;
      }
      const std::vector<TrialObservation> history = RandomHistory(fn, n, 7);
      int reps = 0;
      double total = 0;
      // At least one call; more while they are cheap, for a stable mean.
      while (reps < 20 && (reps == 0 || total < std::min(2.0, args.overhead_cap_s))) {
        const auto start = std::chrono::steady_clock::now();
        auto s = (*sampler)->Suggest(history, 1, Mix(99, reps));  // fresh draws per repetition
        total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        ++reps;
        if (s.size() != 1) line["error"] = "Suggest returned " + std::to_string(s.size());
      }
      line["ms_per_suggestion"] = 1000 * total / reps;
      line["reps"] = reps;
      Emit(line);
      std::cerr << "overhead " << choice.label << " n=" << n << " done\n";
    }
  }
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      const std::string prefix = std::string(name) + "=";
      return a.rfind(prefix, 0) == 0 ? a.substr(prefix.size()) : std::string();
    };
    if (a == "--help") {
      std::puts("sampler_quality [--seeds=10] [--trials=200] [--jobs=2] [--bayesian-seeds=N]\n"
                "  [--bayesian-trials=N] [--samplers=random,sobol,tpe,bayesian]\n"
                "  [--functions=branin,hartmann6,rosenbrock10] [--no-quality] [--no-overhead]");
      return 0;
    } else if (!value("--seeds").empty()) {
      args.seeds = std::stoi(value("--seeds"));
    } else if (!value("--trials").empty()) {
      args.trials = std::stoi(value("--trials"));
    } else if (!value("--jobs").empty()) {
      args.jobs = std::stoi(value("--jobs"));
    } else if (!value("--bayesian-seeds").empty()) {
      args.bayesian_seeds = std::stoi(value("--bayesian-seeds"));
    } else if (!value("--bayesian-trials").empty()) {
      args.bayesian_trials = std::stoi(value("--bayesian-trials"));
    } else if (!value("--samplers").empty()) {
      args.samplers = SplitCommas(value("--samplers"));
    } else if (!value("--functions").empty()) {
      args.functions = SplitCommas(value("--functions"));
    } else if (a == "--no-quality") {
      args.quality = false;
    } else if (a == "--no-overhead") {
      args.overhead = false;
    } else {
      std::fprintf(stderr, "sampler_quality: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (args.quality) RunQuality(args);
  if (args.overhead) RunOverhead(args);
  return 0;
}

}  // namespace
}  // namespace overdrive

int main(int argc, char** argv) {
  try {
    return overdrive::Main(argc, argv);
  } catch (const std::exception& e) {  // a malformed number in a flag (std::stoi)
    std::fprintf(stderr, "sampler_quality: %s\n", e.what());
    return 2;
  }
}
