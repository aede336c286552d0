// The sampler and policy parameter declarations (spec/component_params.cpp): every parameter's
// bounds at and just past each edge, through the declaration itself and through the job parser
// (which must refuse with the value's file:line:col); the joint checks; the plan's JSON form;
// and the generated reference in docs/sweep-parameters.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "spec/component_params.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

const char* kHead = R"(type: sweep
search_space:
  x: {type: choice, values: [1, 2]}
objective: {goal: maximize, primary_metric: acc}
trial:
  command: python train.py
# the line under test:
)";
constexpr int kLastLine = 8;  // the line appended after kHead

// kHead, then `line` as line 8, then a sampler unless `line` is the sampler.
Result<JobSpec> ParseWithLine(const std::string& line) {
  std::string text = std::string(kHead) + line + "\n";
  if (!line.starts_with("sampling_algorithm")) text += "sampling_algorithm: random\n";
  return ParseJobText(text, "job.yml", fs::temp_directory_path());
}

// The 1-based column of `needle` in `line` (its last occurrence, which is the value under test).
int Col(const std::string& line, const std::string& needle) {
  const auto at = line.rfind(needle);
  EXPECT_NE(at, std::string::npos) << needle << " not in " << line;
  return static_cast<int>(at) + 1;
}

// ---------- explicit table: what a user writes, what they are told ----------

struct Case {
  const char* line;   // appended as line 8
  const char* error;  // "" = accepted; else the message after "job.yml:8:COL: "
  const char* at;     // where COL points: the last occurrence of this text in `line`
};

class DeclaredBoundsTest : public ::testing::TestWithParam<Case> {};

TEST_P(DeclaredBoundsTest, ParserAcceptsOrRefusesAtTheValue) {
  const Case& c = GetParam();
  auto r = ParseWithLine(c.line);
  if (std::string(c.error).empty()) {
    EXPECT_TRUE(r.has_value()) << c.line << ": " << r.error().message;
    return;
  }
  ASSERT_FALSE(r.has_value()) << c.line << " parsed but should not have";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  const std::string where =
      "job.yml:" + std::to_string(kLastLine) + ":" + std::to_string(Col(c.line, c.at)) + ": ";
  EXPECT_EQ(r.error().message, where + c.error);
}

const Case kCases[] = {
    // evaluation_interval / delay_evaluation: 0..1,000,000 for every policy.
    {"early_termination: {type: median_stopping, evaluation_interval: 0}", "", ""},
    {"early_termination: {type: median_stopping, evaluation_interval: -1}",
     "'evaluation_interval' must be between 0 and 1000000, got -1", "-1"},
    {"early_termination: {type: median_stopping, evaluation_interval: 1000000}", "", ""},
    {"early_termination: {type: median_stopping, evaluation_interval: 1000001}",
     "'evaluation_interval' must be between 0 and 1000000, got 1000001", "1000001"},
    {"early_termination: {type: median_stopping, evaluation_interval: 2.5}",
     "'evaluation_interval' must be an integer, got '2.5'", "2.5"},
    {"early_termination: {type: median_stopping, delay_evaluation: 0}", "", ""},
    {"early_termination: {type: median_stopping, delay_evaluation: -1}",
     "'delay_evaluation' must be between 0 and 1000000, got -1", "-1"},
    {"early_termination: {type: median_stopping, delay_evaluation: 1000000}", "", ""},
    {"early_termination: {type: median_stopping, delay_evaluation: 1000001}",
     "'delay_evaluation' must be between 0 and 1000000, got 1000001", "1000001"},
    // bandit: slack_factor / slack_amount > 0, exactly one of them.
    {"early_termination: {type: bandit, slack_factor: 0.000001}", "", ""},
    {"early_termination: {type: bandit, slack_factor: 0}",
     "'slack_factor' must be greater than 0, got 0", "0"},
    {"early_termination: {type: bandit, slack_amount: 0.000001}", "", ""},
    {"early_termination: {type: bandit, slack_amount: -0.5}",
     "'slack_amount' must be greater than 0, got -0.5", "-0.5"},
    {"early_termination: {type: bandit, slack_factor: 0.1, slack_amount: 0.2}",
     "bandit takes either 'slack_factor' or 'slack_amount', not both", "0.2"},
    {"early_termination: {type: bandit, delay_evaluation: 2}",
     "bandit needs 'slack_factor' or 'slack_amount'", "{"},
    // truncation_selection: 1..99, required.
    {"early_termination: {type: truncation_selection, truncation_percentage: 1}", "", ""},
    {"early_termination: {type: truncation_selection, truncation_percentage: 0}",
     "'truncation_percentage' must be between 1 and 99, got 0", "0"},
    {"early_termination: {type: truncation_selection, truncation_percentage: 99}", "", ""},
    {"early_termination: {type: truncation_selection, truncation_percentage: 100}",
     "'truncation_percentage' must be between 1 and 99, got 100", "100"},
    {"early_termination: {type: truncation_selection}",
     "truncation_selection needs 'truncation_percentage' (between 1 and 99)", "{"},
    // asha: min_resource 1..1e9, max_resource 0 or min_resource < it <= 1e9, eta >= 2,
    // brackets 1..100.
    {"early_termination: {type: asha, min_resource: 1}", "", ""},
    {"early_termination: {type: asha, min_resource: 0}",
     "'min_resource' must be between 1 and 1000000000, got 0", "0"},
    {"early_termination: {type: asha, min_resource: 1000000000}", "", ""},
    {"early_termination: {type: asha, min_resource: 1000000001}",
     "'min_resource' must be between 1 and 1000000000, got 1000000001", "1000000001"},
    {"early_termination: {type: asha, max_resource: 0}", "", ""},
    {"early_termination: {type: asha, max_resource: -1}",
     "'max_resource' must be between 0 and 1000000000, got -1", "-1"},
    {"early_termination: {type: asha, max_resource: 1000000000}", "", ""},
    {"early_termination: {type: asha, max_resource: 1000000001}",
     "'max_resource' must be between 0 and 1000000000, got 1000000001", "1000000001"},
    {"early_termination: {type: asha, min_resource: 3, max_resource: 4}", "", ""},
    // The issue's reproduction: accepted at submit before, refused by the controller.
    {"early_termination: {type: asha, min_resource: 3, max_resource: 3}",
     "'max_resource' (3) must be greater than 'min_resource' (3), or 0 for no limit", "3"},
    {"early_termination: {type: asha, max_resource: 1}",
     "'max_resource' (1) must be greater than 'min_resource' (1), or 0 for no limit", "1"},
    {"early_termination: {type: asha, reduction_factor: 2}", "", ""},
    {"early_termination: {type: asha, reduction_factor: 1.999}",
     "'reduction_factor' must be at least 2, got 1.999", "1.999"},
    {"early_termination: {type: asha, reduction_factor: 1.5}",
     "'reduction_factor' must be at least 2, got 1.5", "1.5"},
    {"early_termination: {type: asha, brackets: 1}", "", ""},
    {"early_termination: {type: asha, brackets: 0}",
     "'brackets' must be between 1 and 100, got 0", "0"},
    {"early_termination: {type: asha, brackets: 100}", "", ""},
    {"early_termination: {type: asha, brackets: 101}",
     "'brackets' must be between 1 and 100, got 101", "101"},
    {"early_termination: {type: asha, slack_factor: 0.1}",
     "unknown key 'slack_factor' in early_termination (asha)", "slack_factor"},
    // Samplers: seed >= 0 for all, rule for random only.
    {"sampling_algorithm: {type: tpe, seed: 0}", "", ""},
    {"sampling_algorithm: {type: tpe, seed: 9223372036854775807}", "", ""},
    {"sampling_algorithm: {type: grid, seed: -1}", "'seed' must be at least 0, got -1", "-1"},
    {"sampling_algorithm: {type: random, rule: sobol}", "", ""},
    {"sampling_algorithm: {type: random, rule: halton}",
     "'rule' must be one of random, sobol, got 'halton'", "halton"},
    {"sampling_algorithm: {type: bayesian, rule: sobol}",
     "unknown key 'rule' in sampling_algorithm (bayesian)", "rule"},
    {"sampling_algorithm: {type: tpe, sed: 1}",
     "unknown key 'sed' in sampling_algorithm (tpe) (did you mean 'seed'?)", "sed"},
};

INSTANTIATE_TEST_SUITE_P(Table, DeclaredBoundsTest, ::testing::ValuesIn(kCases));

// ---------- derived from the declarations: every bound, at and past its edge ----------

// A value past a bound: the next integer, or the next representable double.
ParamValue Past(ParamType type, const ParamBound& b, double direction) {
  if (type == ParamType::kInt) {
    const double v = b.inclusive ? b.value + direction : b.value;
    return static_cast<std::int64_t>(v);
  }
  return b.inclusive ? std::nextafter(b.value, direction * INFINITY) : b.value;
}
ParamValue At(ParamType type, const ParamBound& b, double direction) {
  if (type == ParamType::kInt) {
    return static_cast<std::int64_t>(b.inclusive ? b.value : b.value - direction);
  }
  // Just inside an exclusive bound, by a margin the parser reads back exactly (no subnormals).
  return b.inclusive ? b.value : b.value - direction * (b.value == 0 ? 1e-9 : std::fabs(b.value) * 1e-9);
}

std::string Yaml(const ParamValue& v) {
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  return ParamToString(v);
}

// The other parameters a policy needs to be valid without the one under test.
std::string Companions(const std::string& type, const std::string& param) {
  if (type == "bandit" && param != "slack_factor" && param != "slack_amount") {
    return ", slack_factor: 0.1";
  }
  if (type == "truncation_selection" && param != "truncation_percentage") {
    return ", truncation_percentage: 10";
  }
  return "";
}

template <class Decl>
void CheckEveryEdge(const std::vector<Decl>& decls, const std::string& section) {
  int checked = 0;
  for (const auto& d : decls) {
    for (const auto& p : d.params) {
      const ParamType t = p.type();
      for (const auto& [bound, dir] : {std::pair{p.min, -1.0}, std::pair{p.max, 1.0}}) {
        if (!bound) continue;
        for (bool past : {false, true}) {
          const ParamValue v = past ? Past(t, *bound, dir) : At(t, *bound, dir);
          SCOPED_TRACE(d.type + "." + p.name + " = " + Yaml(v));
          EXPECT_EQ(p.Check(v).has_value(), past);
          const std::string line = section + ": {type: " + d.type +
                                   Companions(d.type, p.name) + ", " + p.name + ": " + Yaml(v) +
                                   "}";
          auto r = ParseWithLine(line);
          EXPECT_EQ(r.has_value(), !past) << line << (r ? "" : "\n" + r.error().message);
          if (past && !r) {
            const std::string at = "job.yml:" + std::to_string(kLastLine) + ":" +
                                   std::to_string(Col(line, Yaml(v))) + ": ";
            EXPECT_EQ(r.error().message, at + *p.Check(v));
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(ComponentParamsTest, EveryPolicyBoundHoldsAtItsEdgeAndFailsPastIt) {
  CheckEveryEdge(PolicyDecls(), "early_termination");
}

TEST(ComponentParamsTest, EverySamplerBoundHoldsAtItsEdgeAndFailsPastIt) {
  CheckEveryEdge(SamplerDecls(), "sampling_algorithm");
}

TEST(ComponentParamsTest, DefaultsAreAllowedUnlessRequired) {
  for (const auto& d : PolicyDecls()) {
    for (const auto& p : d.params) {
      auto v = p.Default();
      if (!v) continue;
      EXPECT_EQ(p.Check(*v).has_value(), p.required) << d.type << "." << p.name;
    }
  }
  for (const auto& d : SamplerDecls()) {
    for (const auto& p : d.params) {
      if (auto v = p.Default()) EXPECT_FALSE(p.Check(*v)) << d.type << "." << p.name;
    }
  }
}

TEST(ComponentParamsTest, ChecksRefuseWrongKindsAndNonFiniteNumbers) {
  const auto* asha = FindPolicyDecl("asha");
  ASSERT_NE(asha, nullptr);
  EXPECT_EQ(*asha->Find("brackets")->Check(2.5), "'brackets' must be an integer, got 2.5");
  EXPECT_EQ(*asha->Find("reduction_factor")->Check(std::nan("")), "'reduction_factor' must be a number, got nan");
  EXPECT_EQ(*asha->Find("reduction_factor")->Check(std::string("x")),
            "'reduction_factor' must be a number, got 'x'");
  EXPECT_FALSE(asha->Find("reduction_factor")->Check(std::int64_t{3}));
}

TEST(ComponentParamsTest, ValidateNamesTheParameterToPointAt) {
  EarlyTerminationSpec s;
  s.type = "asha";
  s.min_resource = 3;
  s.max_resource = 3;
  auto issue = FindPolicyDecl("asha")->Validate(s);
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->param, "max_resource");
  s.type = "truncation_selection";
  issue = FindPolicyDecl("truncation_selection")->Validate(s);
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->param, "");
  EXPECT_EQ(issue->message, "truncation_selection needs 'truncation_percentage' (between 1 and 99)");
}

TEST(ComponentParamsTest, JsonHoldsOnlyTheTypesOwnParametersAndRoundTrips) {
  EarlyTerminationSpec s;
  s.type = "bandit";
  s.slack_amount = 0.25;
  s.delay_evaluation = 4;
  s.min_resource = 7;  // not bandit's
  const auto* bandit = FindPolicyDecl("bandit");
  nlohmann::json j = bandit->ToJson(s);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"type": "bandit", "evaluation_interval": 1,
                                         "delay_evaluation": 4, "slack_amount": 0.25})"));
  EarlyTerminationSpec back;
  back.type = "bandit";
  bandit->FromJson(j, back);
  EXPECT_EQ(bandit->ToJson(back), j);
  EXPECT_FALSE(back.slack_factor);
  EXPECT_EQ(back.min_resource, 1);

  EXPECT_THROW(bandit->FromJson(nlohmann::json{{"delay_evaluation", 1.5}}, back),
               std::exception);
  EXPECT_THROW(bandit->FromJson(nlohmann::json{{"delay_evaluation", 1LL << 40}}, back),
               std::exception);
  EXPECT_THROW(bandit->FromJson(nlohmann::json{{"slack_factor", "x"}}, back), std::exception);
}

TEST(ComponentParamsTest, TypeListsAndUnknownTypeMessage) {
  EXPECT_EQ(SamplerTypes(), (std::vector<std::string>{"random", "grid", "bayesian", "tpe"}));
  EXPECT_EQ(PolicyTypes(), (std::vector<std::string>{"bandit", "median_stopping",
                                                     "truncation_selection", "asha"}));
  EXPECT_EQ(UnknownComponentMessage("tpee", SamplerTypes()),
            "unknown type 'tpee' (did you mean 'tpe'?); valid types: random, grid, bayesian, tpe");
  EXPECT_EQ(FindPolicyDecl("hyperband"), nullptr);
}

// docs/sweep-parameters.md is the rendered declarations; OVERDRIVE_UPDATE_DOCS=1 rewrites it.
TEST(ComponentParamsTest, DocsReferenceIsTheRenderedDeclarations) {
  const fs::path doc = fs::path(OVERDRIVE_SOURCE_DIR) / "docs" / "sweep-parameters.md";
  const std::string rendered = RenderParamReference();
  if (const char* update = std::getenv("OVERDRIVE_UPDATE_DOCS"); update && *update == '1') {
    std::ofstream(doc) << rendered;
  }
  std::ifstream in(doc);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), rendered)
      << doc << " is out of date: run this test with OVERDRIVE_UPDATE_DOCS=1 to rewrite it";
}

}  // namespace
}  // namespace overdrive
