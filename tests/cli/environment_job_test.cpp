// Jobs run in their `environment:` (issue 13): an inline conda file becomes a venv built once
// and shared, a named asset serves a whole sweep, a curated Azure name must be mapped, a failed
// build fails the job before any run, and `overdrive: {environment: host}` keeps the node's own
// Python. Real venvs and real pip; requirements come from a wheel built here (no package index).
#include <gtest/gtest.h>

#include <cstdlib>

#include "cli_test_util.hpp"
#include "http_test_util.hpp"
#include "../executor/podman_test_util.hpp"

namespace overdrive::testing {
namespace {

class EnvironmentJobTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    // A wheel of `odtestpkg`, found through pip's own variables only.
    fs::path pkg = dir_ / "pkg";
    WriteFile(pkg / "setup.py",
              "from setuptools import setup\n"
              "setup(name='odtestpkg', version='0.1', py_modules=['odtestpkg'])\n");
    WriteFile(pkg / "odtestpkg.py", "VALUE = 0.75\n");
    std::string cmd = "cd " + pkg.string() +
                      " && /usr/bin/python3 -m pip wheel --no-index --no-build-isolation "
                      "--no-deps -q -w " + (dir_ / "wheels").string() + " . >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    setenv("PIP_CONFIG_FILE", "/dev/null", 1);
    setenv("PIP_NO_INDEX", "1", 1);
    setenv("PIP_FIND_LINKS", (dir_ / "wheels").c_str(), 1);
    WriteFile(dir_ / "conda.yml",
              "name: test\ndependencies:\n  - python=3\n  - pip\n  - pip:\n    - odtestpkg==0.1\n");
  }
  // Submits sweep.yml, whose environment cannot be built: the submit fails, and the one job it
  // made is failed with no trial. Its `job show --json`.
  nlohmann::json SubmitSweepThatFailsPreparing(double timeout_s) {
    CommandResult r = Run({"job", "submit", "sweep.yml"}, timeout_s);
    EXPECT_NE(r.exit_code, 0);
    nlohmann::json runs = Json({"job", "list", "--json"});
    EXPECT_EQ(runs.size(), 1u);
    if (runs.empty()) return {{"status_reason", ""}, {"trials", nlohmann::json::array()}};
    nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
    EXPECT_EQ(sweep["status"], "failed");
    EXPECT_TRUE(sweep["trials"].empty()) << "no trial ran";
    return sweep;
  }
  void TearDown() override {
    unsetenv("PIP_CONFIG_FILE");
    unsetenv("PIP_NO_INDEX");
    unsetenv("PIP_FIND_LINKS");
    CliTest::TearDown();
  }
};

// Prints the module's value as a metric and where Python runs from.
constexpr const char* kProbe =
    "python3 -c \"import odtestpkg, sys; print('acc=%s' % odtestpkg.VALUE); "
    "print('prefix', sys.prefix)\"";

TEST_F(EnvironmentJobTest, AnInlineCondaEnvironmentIsBuiltOnceAndRecordedOnTheRun) {
  WriteFile(dir_ / "job.yml", std::string("command: ") + kProbe +
                                  "\nenvironment:\n  conda_file: conda.yml\n");
  CommandResult first = Run({"job", "submit", "job.yml"}, 180);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("environment inline built in"), std::string::npos) << first.err;
  EXPECT_NE(first.out.find("prefix " + (workspace_ / "environments").string()), std::string::npos)
      << first.out;
  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_EQ(runs.size(), 1u);
  nlohmann::json run = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(run["metrics"]["acc"]["last"], 0.75);
  ASSERT_TRUE(run["environment"].is_object()) << run.dump();
  EXPECT_EQ(run["environment"]["kind"], "venv");
  std::string hash = run["environment"]["hash"];
  EXPECT_EQ(hash.size(), 64u);
  bool log_kept = false;
  for (const auto& a : run["artifacts"]) log_kept |= a["path"] == "logs/environment-build.log";
  EXPECT_TRUE(log_kept) << run["artifacts"].dump();
  CommandResult shown = Run({"job", "show", runs[0]["id"]});
  EXPECT_NE(shown.out.find("environment inline (venv, " + hash.substr(0, 12)), std::string::npos)
      << shown.out;

  // Another job with the same content: found in the cache, not built again.
  CommandResult second = Run({"job", "submit", "job.yml"}, 120);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err.find("built in"), std::string::npos) << second.err;
  runs = Json({"job", "list", "--json"});
  nlohmann::json again = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(again["environment"]["hash"], hash);
}

TEST_F(EnvironmentJobTest, ANamedEnvironmentIsBuiltAheadPrunedAroundAndServesEveryTrialOfASweep) {
  WriteFile(dir_ / "env.yml", "name: probe-env\nconda_file: conda.yml\n");
  CommandResult created = Run({"environment", "create", "-f", "env.yml"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x: {type: choice, values: [1, 2, 3, 4]}\n"
            "objective: {goal: maximize, primary_metric: acc}\n"
            "limits: {max_total_trials: 4, max_concurrent_trials: 2}\n"
            "trial:\n"
            "  command: " + std::string(kProbe) + "\n"
            "  environment: azureml:probe-env@latest\n");
  // Built ahead of time: the sweep then finds it in the cache.
  CommandResult ahead = Run({"environment", "build", "probe-env"}, 120);
  ASSERT_EQ(ahead.exit_code, 0) << ahead.err;
  EXPECT_NE(ahead.out.find("environment probe-env:1 built in"), std::string::npos) << ahead.out;
  CommandResult again = Run({"environment", "build", "probe-env:1"});
  EXPECT_NE(again.out.find("already built"), std::string::npos) << again.out;
  // An unused build (another content) is pruned; the one a version names is kept.
  WriteFile(dir_ / "other.yml", "dependencies: [pip]\n");
  WriteFile(dir_ / "job-other.yml", "command: 'true'\nenvironment: {conda_file: other.yml}\n");
  ASSERT_EQ(Run({"job", "submit", "job-other.yml"}, 120).exit_code, 0);
  CommandResult dry = Run({"environment", "prune", "--dry-run"});
  EXPECT_NE(dry.out.find("would free"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("1 cached build;"), std::string::npos) << dry.out;
  ASSERT_EQ(Run({"environment", "prune"}).exit_code, 0);
  EXPECT_NE(Run({"environment", "build", "probe-env"}).out.find("already built"),
            std::string::npos);

  CommandResult r = Run({"job", "submit", "sweep.yml"}, 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("built in"), std::string::npos) << "built ahead: " << r.err;
  size_t built = 0;
  for (size_t at = 0; (at = r.err.find("environment probe-env:1 built in", at)) != std::string::npos;
       ++at) {
    ++built;
  }
  EXPECT_EQ(built, 0u) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(sweep["status"], "completed");
  EXPECT_EQ(sweep["environment"]["label"], "probe-env:1");
  ASSERT_EQ(sweep["trials"].size(), 4u);
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    nlohmann::json trial = Json({"job", "show", t["id"], "--json"});
    EXPECT_EQ(trial["environment"]["hash"], sweep["environment"]["hash"]);
  }
}

TEST_F(EnvironmentJobTest, ACuratedAzureNameMustBeMappedAndNothingIsStoredUntilItIs) {
  WriteFile(dir_ / "job.yml",
            "command: python3 -c 'print(1)'\n"
            "environment: azureml:AzureML-sklearn-1.5@latest\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("job.yml:2:14"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("curated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("overdrive environment create -f env.yml --name AzureML-sklearn-1.5"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(Json({"job", "list", "--json"}).empty());

  // Mapped explicitly, the same file runs unchanged.
  CommandResult mapped = Run({"environment", "create", "-f",
                              (fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "environments" /
                               "sklearn-1.5.yml")
                                  .string()});
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  CommandResult ran = Run({"job", "submit", "job.yml"}, 180);
  EXPECT_EQ(ran.exit_code, 0) << ran.err;

  // Or the node's own Python, chosen explicitly.
  WriteFile(dir_ / "host.yml",
            "command: sh -c 'test -z \"$VIRTUAL_ENV\"'\n"
            "environment: azureml:AzureML-sklearn-1.0@latest\n"
            "overdrive: {environment: host}\n");
  CommandResult host = Run({"job", "submit", "host.yml"});
  EXPECT_EQ(host.exit_code, 0) << host.err;
}

TEST_F(EnvironmentJobTest, AFailedBuildFailsTheJobBeforeAnyTrialWithTheFailingRequirement) {
  WriteFile(dir_ / "bad-conda.yml",
            "dependencies:\n  - pip:\n    - not-a-package-here==1.0\n");
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\n"
            "sampling_algorithm: random\n"
            "search_space:\n  x: {type: choice, values: [1, 2]}\n"
            "objective: {goal: maximize, primary_metric: acc}\n"
            "limits: {max_total_trials: 2}\n"
            "trial:\n"
            "  command: echo acc=1\n"
            "  environment: {conda_file: bad-conda.yml}\n");
  nlohmann::json sweep = SubmitSweepThatFailsPreparing(120);
  std::string reason = sweep["status_reason"];
  EXPECT_NE(reason.find("preparing environment inline failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("not-a-package-here"), std::string::npos) << reason;
}

// examples/container-sweep: an `image:` environment runs each trial in a Podman container of the
// local base image (scripts/podman.sh base-image, which `make test` runs).
TEST_F(EnvironmentJobTest, TheContainerExampleRunsEveryTrialInItsImage) {
  OD_REQUIRE_PODMAN();
  fs::path example = fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "container-sweep" / "sweep.yml";
  CommandResult r = Run({"job", "submit", example.string(), "--set", "limits.max_total_trials=3"},
                        240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(sweep["status"], "completed");
  EXPECT_EQ(sweep["environment"]["kind"], "image");
  ASSERT_EQ(sweep["trials"].size(), 3u);
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    CommandResult logs = Run({"job", "logs", t["id"]});
    EXPECT_NE(logs.out.find("running in a container of Debian"), std::string::npos) << logs.out;
  }
}

// examples/container-conda: Azure's `environment: {image, conda_file}` runs unchanged — in a
// container of the image, with the venv the image's Python made from the conda file.
TEST_F(EnvironmentJobTest, TheImageAndCondaFileExampleRunsUnchangedInTheImagesVenv) {
  OD_REQUIRE_PODMAN();
  fs::path example = fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "container-conda" / "job.yml";
  CommandResult r = Run({"job", "submit", example.string()}, 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("running in a container, Python 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("from " + (workspace_ / "environments").string()), std::string::npos)
      << r.out;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json run = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(run["status"], "completed");
  EXPECT_EQ(run["environment"]["kind"], "image");
  EXPECT_LT(run["metrics"]["loss"]["last"].get<double>(), 0.1);
}

// The conda file's pip packages come from the host's wheelhouse (PIP_FIND_LINKS, mounted into
// the build), once for the whole sweep; every trial imports them inside the container.
TEST_F(EnvironmentJobTest, AnImageWithACondaFileIsBuiltOnceForASweepFromTheWheelhouse) {
  OD_REQUIRE_PODMAN();
  WriteFile(dir_ / "sweep.yml",
            std::string("type: sweep\nsampling_algorithm: grid\n"
                        "search_space: {x: {type: choice, values: [1, 2, 3]}}\n"
                        "objective: {goal: maximize, primary_metric: acc}\n"
                        "limits: {max_total_trials: 3, max_concurrent_trials: 2}\n"
                        "trial:\n  command: ") + kProbe +
                "\n  environment:\n    image: " + kTestImage + "\n    conda_file: conda.yml\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"}, 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t built = r.err.find("environment inline built in");
  ASSERT_NE(built, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("environment inline built in", built + 1), std::string::npos) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(sweep["environment"]["kind"], "image");
  ASSERT_EQ(sweep["trials"].size(), 3u);
  for (const auto& t : sweep["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    nlohmann::json trial = Json({"job", "show", t["id"], "--json"});
    EXPECT_EQ(trial["metrics"]["acc"]["last"], 0.75) << trial.dump();
    EXPECT_EQ(trial["environment"]["hash"], sweep["environment"]["hash"]);
  }
}

// A Containerfile that fails fails the job while preparing, with the failing step, before any
// trial; the build log is the job's artifact.
TEST_F(EnvironmentJobTest, AFailingContainerfileFailsTheJobBeforeAnyTrial) {
  OD_REQUIRE_PODMAN();
  WriteFile(dir_ / "context" / "Dockerfile",
            std::string("FROM ") + kTestImage + "\nRUN echo about to fail && exit 3\n");
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\nsampling_algorithm: random\n"
            "search_space: {x: {type: uniform, min_value: 0, max_value: 1}}\n"
            "objective: {goal: maximize, primary_metric: acc}\n"
            "limits: {max_total_trials: 4}\n"
            "trial:\n  command: echo acc=1\n  environment:\n    build:\n      path: context\n");
  nlohmann::json sweep = SubmitSweepThatFailsPreparing(180);
  std::string reason = sweep["status_reason"];
  EXPECT_NE(reason.find("sweep.yml:10:7: building the image of"), std::string::npos) << reason;
  EXPECT_NE(reason.find("exit 3"), std::string::npos) << reason;
  EXPECT_NE(sweep.dump().find("logs/environment-build.log"), std::string::npos) << sweep.dump();
}

// `overdrive serve` runs a registered model's scoring script in the environment of the run that
// made it: here the score needs the wheel only that environment has. `where` is "venv" or
// "image" (a container of the base image with a venv made in it).
class ServeInEnvironmentTest : public EnvironmentJobTest,
                               public ::testing::WithParamInterface<std::string> {};

TEST_P(ServeInEnvironmentTest, AModelsScoringScriptRunsInItsRunsEnvironment) {
  const bool image = GetParam() == "image";
  if (image) OD_REQUIRE_PODMAN();
  WriteFile(dir_ / "src" / "score.py",
            "import json, os, sys\n"
            "import odtestpkg\n"
            "def init():\n    pass\n"
            "def run(raw):\n    rows = json.loads(raw)['data']\n"
            "    return {'scores': [sum(r) * odtestpkg.VALUE for r in rows], 'prefix': sys.prefix,\n"
            "            'container': os.path.exists('/run/.containerenv')}\n");
  WriteFile(dir_ / "src" / "train.sh", "mkdir -p outputs/model && cp score.py outputs/model/\n");
  WriteFile(dir_ / "job.yml", std::string("code: src\ncommand: sh train.sh\nenvironment:\n") +
                                  (image ? std::string("  image: ") + kTestImage + "\n" : "") +
                                  "  conda_file: conda.yml\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--json"}, 240);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string run = nlohmann::json::parse(r.out)["id"];
  ASSERT_EQ(Run({"model", "register", "scorer", "--run", run}).exit_code, 0);
  // Pruned meanwhile: serve builds it again rather than fall back to the node's Python.
  ASSERT_EQ(Run({"environment", "prune"}).exit_code, 0);

  ServeProcess server(
      [&](const auto& args) { return Spawn(args, dir_ / "serve.out", dir_ / "serve.err"); },
      {"scorer:1", "--workers", "1"});
  ASSERT_TRUE(server.WaitReady(120)) << ReadFile(dir_ / "serve.err");
  HttpReply res = Http(server.port(), "POST", "/score", R"({"data": [[1, 3]]})");
  ASSERT_EQ(res.status, 200) << res.body << ReadFile(dir_ / "serve.err");
  nlohmann::json body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["scores"], nlohmann::json::parse("[3.0]"));
  EXPECT_EQ(body["prefix"].get<std::string>().rfind((workspace_ / "environments").string(), 0), 0u)
      << body.dump();
  EXPECT_EQ(body["container"], image);
  EXPECT_NE(ReadFile(dir_ / "serve.out").find("in environment inline (" + GetParam()),
            std::string::npos)
      << ReadFile(dir_ / "serve.out");
  server.Stop();
  if (image) {
    // Its workers' containers went with it.
    std::string left;
    if (FILE* p = ::popen("CONTAINERS_CONF=$(" OVERDRIVE_SOURCE_DIR "/scripts/podman.sh conf) "
                          "podman ps -a --format '{{.Names}}' | grep '^od-serve-' ", "r")) {
      char buf[256];
      while (fgets(buf, sizeof buf, p)) left += buf;
      ::pclose(p);
    }
    EXPECT_EQ(left, "");
  }

  // --python chooses this machine's interpreter instead: there the wheel is missing.
  CommandResult host = Run({"serve", "scorer:1", "--port", "0", "--workers", "1", "--python",
                            "/usr/bin/python3"},
                           60);
  EXPECT_NE(host.exit_code, 0);
  EXPECT_NE(host.err.find("No module named 'odtestpkg'"), std::string::npos) << host.err;
}

INSTANTIATE_TEST_SUITE_P(Environments, ServeInEnvironmentTest, ::testing::Values("venv", "image"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace overdrive::testing
