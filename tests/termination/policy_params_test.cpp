// Submit and start agree: every early_termination the job parser accepts builds a policy, and
// every one it refuses is refused by MakeTerminationPolicy too — over a grid of values around
// each declared bound and the combinations the joint checks judge (asha's min/max_resource,
// bandit's two slacks). Before the declarations were shared, `asha` with max_resource equal to
// min_resource passed submit and was refused when the sweep started, leaving it queued forever.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "spec/component_params.hpp"
#include "termination/policy.hpp"

namespace overdrive {
namespace {

const char* kHead = R"(type: sweep
sampling_algorithm: random
search_space:
  x: {type: uniform, min_value: 0, max_value: 1}
objective: {goal: minimize, primary_metric: loss}
trial:
  command: python train.py
early_termination: )";

std::string Text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

struct Setting {
  std::string name;
  double value;
};

// Parses `early_termination: {type, settings...}` and builds the same settings by hand; the
// parser and the factory must give the same verdict.
void ExpectAgreement(const std::string& type, const std::vector<Setting>& settings) {
  const PolicyDecl* decl = FindPolicyDecl(type);
  ASSERT_NE(decl, nullptr);
  std::string line = "{type: " + type;
  EarlyTerminationSpec by_hand;
  by_hand.type = type;
  for (const auto& s : settings) {
    const auto* p = decl->Find(s.name);
    ASSERT_NE(p, nullptr) << s.name;
    line += ", " + s.name + ": " + Text(s.value);
    if (p->type() == ParamType::kInt) {
      p->Set(by_hand, static_cast<std::int64_t>(s.value));
    } else {
      p->Set(by_hand, s.value);
    }
  }
  line += "}";
  auto parsed = ParseJobText(std::string(kHead) + line + "\n", "job.yml",
                             std::filesystem::temp_directory_path());
  auto built = MakeTerminationPolicy(by_hand, Goal::kMinimize);
  EXPECT_EQ(parsed.has_value(), built.has_value())
      << line << "\n  parser:  " << (parsed ? "accepted" : parsed.error().message)
      << "\n  factory: " << (built ? "accepted" : built.error().message);
  if (parsed) {
    auto from_parsed = MakeTerminationPolicy(parsed->sweep->early_termination, Goal::kMinimize);
    EXPECT_TRUE(from_parsed.has_value()) << line << ": " << from_parsed.error().message;
  }
}

// Integers around every bound any policy declares, and numbers around the real-valued ones.
const std::vector<double> kInts = {-1, 0, 1, 2, 3, 4, 98, 99, 100, 101, 1000000, 1000001,
                                   1000000000, 1000000001};
const std::vector<double> kNumbers = {-1, -0.001, 0, 1e-9, 0.5, 1, 1.5, 1.999, 2, 2.001, 3, 1e6};

// Parameters another one needs beside it to be valid (so each is judged on its own).
std::vector<Setting> Companions(const std::string& type, const std::string& param) {
  if (type == "bandit" && param != "slack_factor" && param != "slack_amount") {
    return {{"slack_amount", 0.1}};
  }
  if (type == "truncation_selection" && param != "truncation_percentage") {
    return {{"truncation_percentage", 10}};
  }
  return {};
}

TEST(PolicyParamsTest, ParserAndFactoryAgreeOnEveryParameterValue) {
  int cases = 0;
  for (const PolicyDecl& d : PolicyDecls()) {
    for (const auto& p : d.params) {
      for (double v : p.type() == ParamType::kInt ? kInts : kNumbers) {
        std::vector<Setting> settings = Companions(d.type, p.name);
        settings.push_back({p.name, v});
        ExpectAgreement(d.type, settings);
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 100);
}

TEST(PolicyParamsTest, ParserAndFactoryAgreeOnJointChecks) {
  for (double min_resource : {1, 2, 3, 9}) {
    for (double max_resource : {0, 1, 2, 3, 4, 9, 10}) {
      ExpectAgreement("asha", {{"min_resource", min_resource}, {"max_resource", max_resource}});
    }
    ExpectAgreement("asha", {{"max_resource", min_resource}});  // against the default min
  }
  ExpectAgreement("bandit", {});
  ExpectAgreement("bandit", {{"slack_factor", 0.1}, {"slack_amount", 0.1}});
  ExpectAgreement("bandit", {{"slack_factor", 0.1}});
  ExpectAgreement("truncation_selection", {});
}

// The issue's reproduction, spelled out.
TEST(PolicyParamsTest, AshaWithMaxEqualToMinIsRefusedAtSubmitAndAtStart) {
  auto parsed = ParseJobText(std::string(kHead) + "{type: asha, min_resource: 3, max_resource: 3}\n",
                             "job.yml", std::filesystem::temp_directory_path());
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message,
            "job.yml:8:64: 'max_resource' (3) must be greater than 'min_resource' (3), or 0 for "
            "no limit");
  EarlyTerminationSpec s;
  s.type = "asha";
  s.min_resource = 3;
  s.max_resource = 3;
  EXPECT_FALSE(MakeTerminationPolicy(s, Goal::kMaximize).has_value());
}

}  // namespace
}  // namespace overdrive
