// Runs clients/python/overdrive with real interpreters and reads back what it wrote, so the
// client and the collectors cannot drift apart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "common/strings.hpp"
#include "metrics/collector.hpp"
#include "test_files.hpp"

namespace overdrive {
namespace {

using ::testing::HasSubstr;
using testing_metrics::TempFolder;
using testing_metrics::WriteFile;

const std::string kSourceDir = OVERDRIVE_SOURCE_DIR;
const std::string kScript = kSourceDir + "/tests/metrics/python_client_script.py";

struct Output {
  int exit_code = -1;
  std::string text;  // stdout and stderr
};

Output RunShell(const std::string& command) {
  Output out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.text.append(buf, n);
  const int status = ::pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// The interpreters a user is likely to have: Debian's, and whichever python3 is first on PATH.
std::vector<std::string> Interpreters() {
  std::vector<std::string> found;
  std::error_code ec;
  if (std::filesystem::exists("/usr/bin/python3")) found.push_back("/usr/bin/python3");
  Output which = RunShell("command -v python3");
  const std::string on_path = Trim(which.text);
  if (which.exit_code == 0 && !on_path.empty() && on_path != "/usr/bin/python3") {
    found.push_back(on_path);
  }
  return found;
}

std::string Env(const std::string& metrics_file) {
  std::string env = "env -u OVERDRIVE_METRICS_FILE -u OVERDRIVE_RUN_ID -u OVERDRIVE_RUN_DIR "
                    "PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=" +
                    ShellQuote(kSourceDir + "/clients/python");
  if (!metrics_file.empty()) {
    env += " OVERDRIVE_METRICS_FILE=" + ShellQuote(metrics_file) +
           " OVERDRIVE_RUN_ID=run-42 OVERDRIVE_RUN_DIR=/tmp/run-42";
  }
  return env;
}

class PythonClientTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const auto interpreters = Interpreters();
    if (GetParam() >= static_cast<int>(interpreters.size())) {
      GTEST_SKIP() << "no second python3 on PATH";
    }
    python_ = interpreters[GetParam()];
  }
  std::string python_;
};

TEST_P(PythonClientTest, JsonLinesReadBackExactly) {
  TempFolder dir;
  const auto file = dir / "metrics.jsonl";
  Output out = RunShell(Env(file.string()) + " " + ShellQuote(python_) + " " + ShellQuote(kScript));
  ASSERT_EQ(out.exit_code, 0) << python_ << ":\n" << out.text;
  EXPECT_THAT(out.text, HasSubstr("run_id=run-42"));
  EXPECT_THAT(out.text, HasSubstr("run_dir=/tmp/run-42"));
  EXPECT_THAT(out.text, ::testing::Not(HasSubstr("loss=")));  // nothing printed when logging to a file

  StepCounter steps;
  auto r = CollectJsonl(file, 0, steps);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->warnings.empty()) << ::testing::PrintToString(r->warnings);
  EXPECT_EQ(r->new_offset, static_cast<std::int64_t>(std::filesystem::file_size(file)));

  std::map<std::string, std::string> params;
  for (const auto& p : r->params) params[p.name] = p.value_json;
  EXPECT_EQ(params, (std::map<std::string, std::string>{{"lr", "0.01"},
                                                         {"optimizer", "\"adam\""},
                                                         {"layers", "[64,32]"},
                                                         {"nan_param", "\"NaN\""}}));

  // The first points in order, then the threads' points counted per name.
  ASSERT_EQ(r->points.size(), 11u + 800u);
  struct Want {
    const char* name;
    double value;
    std::int64_t step;
  };
  const Want want[] = {{"loss", 0.5, 0},  {"loss", 0.25, 1},   {"loss", 0.125, 10},
                       {"acc", 0.9, 2},   {"epoch", 3, 2},     {"flag", 1, 0},
                       {"scalar", 1.5, 7}, {"bad", NAN, 0},    {"up", INFINITY, 0},
                       {"down", -INFINITY, 0}, {"unicode_\xc3\xa9", 1, 0}};
  for (std::size_t i = 0; i < std::size(want); ++i) {
    const auto& p = r->points[i];
    EXPECT_EQ(p.name, want[i].name) << "point " << i;
    if (std::isnan(want[i].value)) {
      EXPECT_TRUE(std::isnan(p.value)) << "point " << i;
    } else {
      EXPECT_EQ(p.value, want[i].value) << "point " << i;
    }
    EXPECT_EQ(p.step, want[i].step) << "point " << i;
    EXPECT_GT(p.timestamp, 1.7e9) << "the client's time.time(), point " << i;
  }
  std::map<std::string, int> per_thread;
  std::map<std::string, std::int64_t> max_step;
  for (std::size_t i = std::size(want); i < r->points.size(); ++i) {
    const auto& p = r->points[i];
    ++per_thread[p.name];
    max_step[p.name] = std::max(max_step[p.name], p.step);
  }
  EXPECT_EQ(per_thread, (std::map<std::string, int>{
                            {"thread0", 200}, {"thread1", 200}, {"thread2", 200}, {"thread3", 200}}));
  EXPECT_EQ(max_step["thread3"], 199);
}

TEST_P(PythonClientTest, WithoutTheVariableMetricsArePrintedForTheStdoutCollector) {
  TempFolder dir;
  const std::string code =
      "import overdrive\n"
      "overdrive.log_metric('loss', 0.25)\n"
      "overdrive.log_metric('epoch', 3)\n"
      "overdrive.log_metrics({'acc': 0.5, 'lr': 1e-05}, step=4)\n"
      "overdrive.log_param('batch', 32)\n"
      "print('run', overdrive.get_run_id(), overdrive.get_run_dir(), overdrive.get_metrics_file())\n";
  WriteFile(dir / "train.py", code);
  Output out = RunShell(Env("") + " " + ShellQuote(python_) + " " + ShellQuote((dir / "train.py").string()));
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_EQ(out.text,
            "loss=0.25\n"
            "epoch=3\n"
            "acc=0.5 lr=1e-05\n"
            "[overdrive] param batch: 32\n"
            "run None None None\n");

  // The printed lines are exactly what the default stdout collector understands; the param
  // line is not taken for a metric.
  WriteFile(dir / "stdout.log", out.text);
  auto collector = StdoutCollector::Make("");
  ASSERT_TRUE(collector.has_value());
  StepCounter steps;
  auto r = (*collector)->Collect(dir / "stdout.log", 0, steps);
  ASSERT_TRUE(r.has_value());
  std::vector<std::pair<std::string, double>> got;
  for (const auto& p : r->points) got.emplace_back(p.name, p.value);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, double>>{
                     {"loss", 0.25}, {"epoch", 3}, {"acc", 0.5}, {"lr", 1e-05}}));
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PythonClientTest, ::testing::Values(0, 1),
                         [](const auto& info) {
                           return info.param == 0 ? std::string("UsrBinPython3")
                                                  : std::string("Python3OnPath");
                         });

}  // namespace
}  // namespace overdrive
