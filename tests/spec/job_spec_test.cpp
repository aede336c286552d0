#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/strings.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

// A job folder "proj" with a code folder, a data file and a data folder.
class JobSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "od_spec_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "proj";
    fs::create_directories(dir_ / "src");
    fs::create_directories(dir_ / "data");
    std::ofstream(dir_ / "train.csv") << "a,b\n1,2\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  Result<JobSpec> Parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return ParseJobText(yaml, "job.yml", dir_, overrides);
  }
  JobSpec ParseOk(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    auto r = Parse(yaml, overrides);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : JobSpec{};
  }
  std::string ParseErr(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    auto r = Parse(yaml, overrides);
    EXPECT_FALSE(r.has_value()) << "parsed but should not have:\n" << yaml;
    if (r) return "";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
    return r.error().message;
  }

  fs::path root_, dir_;
};

const char* kSweep = R"(type: sweep
sampling_algorithm: random
search_space:
  lr:
    type: loguniform
    min_value: -9
    max_value: -1
objective:
  goal: maximize
  primary_metric: accuracy
trial:
  command: python train.py --lr ${{search_space.lr}}
)";

TEST_F(JobSpecTest, CommandJobWithEveryKey) {
  JobSpec job = ParseOk(R"($schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: job-1
display_name: First job
experiment_name: exp
description: trains a model
tags: {team: ml, priority: 2}
command: python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}} --out ${{outputs.model}}
code: src
environment: python-local
environment_variables:
  OMP_NUM_THREADS: 4
  MODE: fast
compute: local
resources:
  instance_count: 2
  shm_size: 8g
  cpus: 2.5
  gpus: 1
  memory: 4g
distribution:
  type: pytorch
  process_count_per_instance: 4
limits:
  timeout: 3600
inputs:
  data:
    type: uri_file
    path: ./train.csv
  folder:
    type: uri_folder
    path: data
  epochs: 10
  rate: 0.5
  flag: true
  label: "7"
outputs:
  model:
    type: uri_folder
  empty:
overdrive:
  stdout_metrics: false
  metrics_pattern: '(\w+):(\S+)'
)");
  EXPECT_EQ(job.type, JobType::kCommand);
  EXPECT_EQ(job.name, "job-1");
  EXPECT_EQ(job.display_name, "First job");
  EXPECT_EQ(job.experiment_name, "exp");
  EXPECT_EQ(job.description, "trains a model");
  EXPECT_EQ(job.tags.at("team"), "ml");
  EXPECT_EQ(job.tags.at("priority"), "2");
  EXPECT_EQ(job.command.command,
            "python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}} --out ${{outputs.model}}");
  EXPECT_EQ(job.command.command_pos.line, 8);
  EXPECT_EQ(job.command.command_pos.column, 10);
  ASSERT_TRUE(job.command.code.has_value());
  EXPECT_EQ(*job.command.code, dir_ / "src");
  EXPECT_EQ(job.command.environment, "python-local");
  EXPECT_EQ(job.command.environment_variables.at("OMP_NUM_THREADS"), "4");
  EXPECT_EQ(job.compute, "local");
  EXPECT_EQ(job.command.resources.instance_count, 2);
  EXPECT_EQ(job.command.resources.shm_size, "8g");
  EXPECT_DOUBLE_EQ(job.command.resources.cpus, 2.5);
  EXPECT_DOUBLE_EQ(job.command.resources.gpus, 1);
  EXPECT_EQ(job.command.resources.memory_mb, 4096);
  EXPECT_EQ(job.command.distribution.type, "pytorch");
  EXPECT_EQ(job.command.distribution.process_count_per_instance, 4);
  ASSERT_TRUE(job.command.timeout_s.has_value());
  EXPECT_DOUBLE_EQ(*job.command.timeout_s, 3600);

  const InputSpec& data = job.command.inputs.at("data");
  EXPECT_EQ(data.kind, InputSpec::Kind::kUriFile);
  EXPECT_EQ(data.path, "./train.csv");
  EXPECT_EQ(data.local_path, dir_ / "train.csv");
  EXPECT_EQ(job.command.inputs.at("folder").kind, InputSpec::Kind::kUriFolder);
  EXPECT_EQ(job.command.inputs.at("folder").local_path, dir_ / "data");
  EXPECT_EQ(job.command.inputs.at("epochs").literal, ParamValue(std::int64_t{10}));
  EXPECT_EQ(job.command.inputs.at("rate").literal, ParamValue(0.5));
  EXPECT_EQ(job.command.inputs.at("flag").literal, ParamValue(true));
  EXPECT_EQ(job.command.inputs.at("label").literal, ParamValue(std::string("7")));  // quoted
  EXPECT_EQ(job.command.outputs.at("model").type, "uri_folder");
  EXPECT_EQ(job.command.outputs.count("empty"), 1u);
  EXPECT_FALSE(job.extensions.stdout_metrics);
  EXPECT_EQ(job.extensions.metrics_pattern, R"((\w+):(\S+))");
  EXPECT_EQ(job.extensions.metrics_pattern_pos.line, 43);
  EXPECT_TRUE(job.ignored.empty());
  EXPECT_EQ(job.source_file, dir_ / "job.yml");
  EXPECT_FALSE(job.sweep.has_value());
}

TEST_F(JobSpecTest, CommandIsTheDefaultTypeAndDefaultsApply) {
  JobSpec job = ParseOk("command: echo hi\n");
  EXPECT_EQ(job.type, JobType::kCommand);
  EXPECT_EQ(job.experiment_name, "proj");  // the folder holding the YAML
  EXPECT_EQ(job.compute, "local");
  EXPECT_FALSE(job.command.code.has_value());
  EXPECT_FALSE(job.command.timeout_s.has_value());
  EXPECT_EQ(job.command.resources.instance_count, 1);
  EXPECT_DOUBLE_EQ(job.command.resources.cpus, 1);
  EXPECT_TRUE(job.extensions.stdout_metrics);
}

TEST_F(JobSpecTest, AzureComputeNameIsKeptWithoutPrefix) {
  JobSpec job = ParseOk("command: echo\ncompute: azureml:cpu-cluster\n");
  EXPECT_EQ(job.compute, "cpu-cluster");
  EXPECT_EQ(job.compute_pos.ToString(), "job.yml:2:10");
}

TEST_F(JobSpecTest, AzureOnlyKeysAreReportedOnceEachWithPositions) {
  JobSpec job = ParseOk(R"(command: python train.py ${{inputs.remote}} ${{inputs.blob}} ${{outputs.out}}
environment: azureml:AzureML-sklearn-1.0@latest
identity:
  type: user_identity
services:
  jupyter: {type: jupyter_lab}
queue_settings:
  job_tier: spot
resources:
  instance_type: Standard_NC6
  properties: {x: 1}
  docker_args: --ipc=host
  locations: [westus]
inputs:
  remote:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/data
  blob:
    type: uri_file
    path: https://example.com/data.csv
    mode: download
outputs:
  out:
    mode: rw_mount
)");
  // Data inputs and outputs are honoured now (issue 14): nothing about them is ignored.
  std::vector<std::string> expected = {
      "job.yml:3:1: 'identity' is Azure-only; ignored when running here",
      "job.yml:7:1: 'queue_settings' is Azure-only; ignored when running here",
      "job.yml:5:1: 'services' is Azure-only; ignored when running here",
      "job.yml:10:3: 'resources.instance_type' is Azure-only; ignored when running here",
      "job.yml:11:3: 'resources.properties' is Azure-only; ignored when running here",
      "job.yml:12:3: 'resources.docker_args' is Azure-only; ignored when running here",
      "job.yml:13:3: 'resources.locations' is Azure-only; ignored when running here",
  };
  std::vector<std::string> got = job.ignored;
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(job.command.resources.instance_type, "Standard_NC6");
  EXPECT_EQ(job.command.environment, "azureml:AzureML-sklearn-1.0@latest");
  const InputSpec& remote = job.command.inputs.at("remote");
  EXPECT_EQ(remote.kind, InputSpec::Kind::kUriFolder);
  EXPECT_TRUE(remote.local_path.empty());
  EXPECT_EQ(job.command.inputs.at("blob").mode, "download");
  EXPECT_EQ(job.command.outputs.at("out").mode, "rw_mount");
}

TEST_F(JobSpecTest, InlineEnvironmentIsParsedAndHonouredNotIgnored) {
  std::ofstream(dir_ / "env.yml") << "dependencies:\n  - python=3.11\n";
  JobSpec job = ParseOk("command: echo\nenvironment:\n  image: python:3.11\n  conda_file: env.yml\n");
  EXPECT_EQ(job.command.environment, "python:3.11");
  ASSERT_EQ(job.command.environment_ref.kind, EnvironmentRef::Kind::kInline);
  EXPECT_EQ(job.command.environment_ref.inline_spec->image, "python:3.11");
  EXPECT_TRUE(job.ignored.empty());  // environments are built and used now (issue 13)
}

TEST_F(JobSpecTest, InputKindMismatchesAreErrors) {
  EXPECT_EQ(ParseErr("command: echo\ninputs:\n  d:\n    type: uri_file\n    path: data\n"),
            "job.yml:5:11: input 'd' is uri_file but 'data' is a folder (resolved to " +
                (dir_ / "data").string() + ")");
  EXPECT_EQ(ParseErr("command: echo\ninputs:\n  d:\n    type: uri_folder\n    path: train.csv\n"),
            "job.yml:5:11: input 'd' is uri_folder but 'train.csv' is not a folder (resolved to " +
                (dir_ / "train.csv").string() + ")");
  EXPECT_EQ(ParseErr("command: echo\ninputs:\n  d:\n    type: uri_file\n"),
            "job.yml:4:5: input 'd' needs a 'path'");
}

TEST_F(JobSpecTest, CodeMustBeAnExistingFolder) {
  EXPECT_EQ(ParseErr("command: echo\ncode: src2\n"),
            "job.yml:2:7: code folder 'src2' does not exist (resolved to " + (dir_ / "src2").string() +
                ")");
  EXPECT_EQ(ParseErr("command: echo\ncode: train.csv\n"),
            "job.yml:2:7: code 'train.csv' is not a folder (resolved to " +
                (dir_ / "train.csv").string() + ")");
  JobSpec job = ParseOk("command: echo\ncode: ../proj/./src\n");
  EXPECT_EQ(*job.command.code, dir_ / "src");
}

TEST_F(JobSpecTest, MemorySizes) {
  struct Case {
    std::string text;
    std::int64_t mb;
  } cases[] = {{"4g", 4096}, {"512m", 512}, {"1024", 1024}, {"2GiB", 2048}, {"2GB", 2048},
               {"1.5g", 1536}, {"512Mi", 512}, {"1t", 1048576}, {"100k", 1}};
  for (const auto& c : cases) {
    JobSpec job = ParseOk("command: echo\nresources:\n  memory: " + c.text + "\n");
    EXPECT_EQ(job.command.resources.memory_mb, c.mb) << c.text;
  }
  for (std::string bad : {"12x", "g", "-4g", "0", "[1]"}) {
    std::string msg = ParseErr("command: echo\nresources:\n  memory: " + bad + "\n");
    EXPECT_NE(msg.find("job.yml:3:11: 'memory' must be a size like 4g"), std::string::npos) << msg;
  }
}

TEST_F(JobSpecTest, ResourceNumbersAreChecked) {
  EXPECT_EQ(ParseErr("command: echo\nresources:\n  cpus: 0\n"),
            "job.yml:3:9: 'cpus' must be greater than 0, got 0");
  EXPECT_EQ(ParseErr("command: echo\nresources:\n  gpus: -1\n"),
            "job.yml:3:9: 'gpus' must be 0 or more, got -1");
  EXPECT_EQ(ParseErr("command: echo\nresources:\n  instance_count: two\n"),
            "job.yml:3:19: 'instance_count' must be an integer, got 'two'");
  JobSpec job = ParseOk("command: echo\nresources:\n  gpus: 0.5\n");
  EXPECT_DOUBLE_EQ(job.command.resources.gpus, 0.5);
}

TEST_F(JobSpecTest, DistributionTypesAndTheirMistakes) {
  // Overdrive starts pytorch and mpi process groups; tensorflow is refused where it is written.
  EXPECT_EQ(ParseErr("command: echo\ndistribution:\n  type: tensorflow\n  worker_count: 3\n")
                .rfind("job.yml:3:9: distribution type 'tensorflow' is not supported", 0),
            0u);
  EXPECT_EQ(ParseErr("command: echo\ndistribution:\n  process_count_per_instance: 2\n"),
            "job.yml:3:3: distribution needs a 'type' (pytorch or mpi)");
  EXPECT_EQ(ParseErr("command: echo\ndistribution:\n  type: pytorch\n  worker_count: 2\n"),
            "job.yml:4:3: 'worker_count' belongs to type: tensorflow; with type: pytorch use "
            "'process_count_per_instance' (processes per instance)");
  JobSpec job = ParseOk(
      "command: echo\ndistribution: {type: mpi, process_count_per_instance: 3}\n"
      "resources: {instance_count: 2, gpus: 1}\n");
  EXPECT_EQ(job.command.distribution.type, "mpi");
  EXPECT_EQ(job.command.distribution.process_count_per_instance, 3);
  EXPECT_EQ(job.command.distribution.pos.ToString(), "job.yml:2:22");
  EXPECT_EQ(job.command.resources.instance_count, 2);
  EXPECT_TRUE(job.ignored.empty());
  // Without a distribution, instance_count > 1 runs the command once, and says so.
  JobSpec once = ParseOk("command: echo\nresources: {instance_count: 2}\n");
  ASSERT_EQ(once.ignored.size(), 1u);
  EXPECT_NE(once.ignored[0].find("job.yml:2:29: 'resources.instance_count: 2' without a "
                                 "'distribution' runs the command once"),
            std::string::npos)
      << once.ignored[0];
}

TEST_F(JobSpecTest, FractionalGpusBelowOneOnly) {
  EXPECT_DOUBLE_EQ(ParseOk("command: echo\nresources: {gpus: 0.25}\n").command.resources.gpus, 0.25);
  EXPECT_DOUBLE_EQ(ParseOk("command: echo\nresources: {gpus: 2}\n").command.resources.gpus, 2);
  EXPECT_EQ(ParseErr("command: echo\nresources: {gpus: 1.5}\n").rfind(
                "job.yml:2:19: 'gpus' above 1 must be a whole number, got 1.5", 0),
            0u);
  EXPECT_EQ(ParseErr("command: echo\ndistribution: {type: pytorch}\nresources: {gpus: 0.5}\n")
                .rfind("job.yml:3:19: a distributed run takes whole GPUs per process", 0),
            0u);
}

TEST_F(JobSpecTest, TyposAndBadDocumentsAreExplained) {
  EXPECT_EQ(ParseErr("comand: echo\n"),
            "job.yml:1:1: unknown key 'comand' in the job file (did you mean 'command'?)");
  EXPECT_EQ(ParseErr("- command: echo\n"),
            "job.yml:1:1: a job file must be a mapping of keys (type, command, ...)");
  EXPECT_EQ(ParseErr("command: echo\nresources:\n\tgpus: 1\n"),
            "job.yml:3:1: tab character in indentation; YAML indentation must use spaces");
  EXPECT_EQ(ParseErr("command: echo\nlimits: {timeout: 10, trial_timeout: 5}\n"),
            "job.yml:2:23: unknown key 'trial_timeout' in limits");
}

TEST_F(JobSpecTest, AliasBombsAreRefused) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c, ++prev) {
    yaml += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  EXPECT_EQ(ParseErr(yaml),
            "job.yml:1:1: the document is too large or too deeply nested once aliases are expanded");
}

// A big file of plain keys is refused for its size, counted before its tree is built (yaml-cpp
// takes ~60 bytes of memory per byte of such a file); aliases are mentioned only when present.
TEST_F(JobSpecTest, HugeDocumentsAreRefusedForWhatTheyAreNotForAliases) {
  std::string yaml = "command: echo\nextra:\n";
  for (int i = 0; i < 120000; ++i) yaml += "  k" + std::to_string(i) + ": v\n";
  std::string err = ParseErr(yaml);
  EXPECT_TRUE(err.starts_with("job.yml:")) << err;
  EXPECT_NE(err.find("the job file has more than 200000 values"), std::string::npos) << err;
  EXPECT_EQ(err.find("alias"), std::string::npos) << err;

  err = ParseErr("command: echo\nx: " + std::string(300, '[') + std::string(300, ']') + "\n");
  EXPECT_TRUE(err.starts_with("job.yml:2:2")) << err;  // at the brackets, around the 200th
  EXPECT_TRUE(err.ends_with(": the job file nests deeper than 200 levels")) << err;
}

TEST_F(JobSpecTest, NulIsRefusedWhereverItComesFrom) {
  std::string err = ParseErr("command: echo ok\n", {"command=\"echo a\\0b\""});
  EXPECT_NE(err.find("holds a NUL character"), std::string::npos) << err;
  err = ParseErr("command: echo ok\ntags: {\"k\\0\": v}\n");
  EXPECT_EQ(err, "job.yml:2:8: 'k\\x00' holds a NUL character (\\0), which no command, path or "
                 "variable can pass to a program; remove it");
  // Names that are valid are kept as they are.
  JobSpec ok = ParseOk("command: echo\nenvironment_variables: {_A1: x, lower_case: y}\n");
  EXPECT_EQ(ok.command.environment_variables.at("_A1"), "x");
  EXPECT_EQ(ok.command.environment_variables.at("lower_case"), "y");
}

// The file is checked before it is read: a device is never read, a big file never loaded.
TEST_F(JobSpecTest, JobFilesMustBeRegularAndWithinTheSizeLimit) {
  auto dev = ParseJobFile("/dev/zero");
  ASSERT_FALSE(dev.has_value());
  EXPECT_EQ(dev.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(dev.error().message,
            "/dev/zero: is not a regular file (a device, pipe or socket); a job file must be a "
            "regular file");

  fs::path big = dir_ / "big.yml";
  {
    std::ofstream out(big);
    out << "command: echo\n";
    for (int i = 0; i < 110000; ++i) out << "# a comment line to make it large\n";  // ~3.7 MB
  }
  ASSERT_EQ(setenv("OVERDRIVE_MAX_JOB_FILE_MB", "1", 1), 0);
  auto r = ParseJobFile(big);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(r.error().message, big.string() +
                                   ": the job file is larger than the limit of 1 MiB; a job file "
                                   "is a few KiB (raise the limit with OVERDRIVE_MAX_JOB_FILE_MB=N)");
  ASSERT_EQ(setenv("OVERDRIVE_MAX_JOB_FILE_MB", "lots", 1), 0);
  r = ParseJobFile(big);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "OVERDRIVE_MAX_JOB_FILE_MB='lots' is not a positive whole number");
  ASSERT_EQ(unsetenv("OVERDRIVE_MAX_JOB_FILE_MB"), 0);
  r = ParseJobFile(big);  // within the default 4 MiB
  EXPECT_TRUE(r.has_value()) << r.error().message;
}

TEST_F(JobSpecTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(ParseErr("command: echo\nname: a\nname: b\n"),
            "job.yml:3:1: duplicate key 'name' in the job file (first at job.yml:2:1)");
}

TEST_F(JobSpecTest, KeysOfTheOtherJobTypeAreExplained) {
  EXPECT_EQ(ParseErr("command: echo\nsearch_space: {}\ntype: command\n"),
            "job.yml:2:1: 'search_space' is only valid in a sweep job (type: sweep)");
  std::string sweep = kSweep;
  EXPECT_EQ(ParseErr(sweep + "command: echo\n"),
            "job.yml:13:1: 'command' is not a top-level key of a sweep job; put it under 'trial'");
}

TEST_F(JobSpecTest, SweepWithEverything) {
  JobSpec job = ParseOk(R"(type: sweep
experiment_name: tune
compute: azureml:gpu-cluster
sampling_algorithm:
  type: random
  seed: 42
  rule: sobol
search_space:
  c: {type: choice, values: [1, 2.5, "three", true]}
  r: {type: randint, upper: 10}
  u: {type: uniform, min_value: -1, max_value: 1}
  lu: {type: loguniform, min_value: -9, max_value: -2}
  qu: {type: quniform, min_value: 0, max_value: 100, q: 5}
  qlu: {type: qloguniform, min_value: 1, max_value: 5, q: 2}
  n: {type: normal, mu: 0.5, sigma: 0.1}
  ln: {type: lognormal, mu: 1, sigma: 2}
  qn: {type: qnormal, mu: 10, sigma: 3, q: 1}
  qln: {type: qlognormal, mu: 2, sigma: 0.5, q: 4}
objective:
  goal: minimize
  primary_metric: val_loss
limits:
  max_total_trials: 40
  max_concurrent_trials: 4
  timeout: 7200
  trial_timeout: 600
early_termination:
  type: bandit
  slack_factor: 0.2
  evaluation_interval: 0
  delay_evaluation: 5
inputs:
  data: {type: uri_folder, path: data}
outputs:
  model: {}
trial:
  command: >-
    python train.py --c ${{search_space.c}} --r ${{ search_space.r }}
    --data ${{inputs.data}} --out ${{outputs.model}}
  code: ./src
  environment_variables: {A: "1"}
  resources: {gpus: 1, memory: 2GiB}
  distribution: {type: mpi, process_count_per_instance: 2}
)");
  EXPECT_EQ(job.type, JobType::kSweep);
  EXPECT_EQ(job.experiment_name, "tune");
  EXPECT_EQ(job.compute, "gpu-cluster");
  ASSERT_TRUE(job.sweep.has_value());
  const SweepSpec& s = *job.sweep;
  EXPECT_EQ(s.sampling.type, "random");
  EXPECT_EQ(s.sampling.rule, "sobol");
  EXPECT_EQ(s.sampling.seed, 42u);
  EXPECT_EQ(s.sampling.pos.ToString(), "job.yml:5:3");
  ASSERT_EQ(s.search_space.params.size(), 10u);
  std::vector<std::string> names;
  for (const auto& [name, d] : s.search_space.params) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"c", "r", "u", "lu", "qu", "qlu", "n", "ln", "qn", "qln"}));
  const auto& p = s.search_space.params;
  EXPECT_EQ(p[0].second.type, DistributionType::kChoice);
  EXPECT_EQ(p[0].second.values, (std::vector<ParamValue>{std::int64_t{1}, 2.5, std::string("three"), true}));
  EXPECT_TRUE(p[0].second.sub_spaces.empty());
  EXPECT_EQ(p[1].second.type, DistributionType::kRandint);
  EXPECT_EQ(p[1].second.upper, 10);
  EXPECT_EQ(p[2].second.type, DistributionType::kUniform);
  EXPECT_DOUBLE_EQ(p[2].second.min_value, -1);
  EXPECT_DOUBLE_EQ(p[2].second.max_value, 1);
  EXPECT_EQ(p[3].second.type, DistributionType::kLoguniform);
  EXPECT_DOUBLE_EQ(p[3].second.min_value, -9);
  EXPECT_EQ(p[4].second.type, DistributionType::kQuniform);
  EXPECT_DOUBLE_EQ(p[4].second.q, 5);
  EXPECT_EQ(p[5].second.type, DistributionType::kQloguniform);
  EXPECT_DOUBLE_EQ(p[5].second.q, 2);
  EXPECT_EQ(p[6].second.type, DistributionType::kNormal);
  EXPECT_DOUBLE_EQ(p[6].second.mu, 0.5);
  EXPECT_DOUBLE_EQ(p[6].second.sigma, 0.1);
  EXPECT_EQ(p[7].second.type, DistributionType::kLognormal);
  EXPECT_EQ(p[8].second.type, DistributionType::kQnormal);
  EXPECT_DOUBLE_EQ(p[8].second.q, 1);
  EXPECT_EQ(p[9].second.type, DistributionType::kQlognormal);
  EXPECT_DOUBLE_EQ(p[9].second.sigma, 0.5);
  EXPECT_DOUBLE_EQ(p[9].second.q, 4);
  EXPECT_EQ(s.param_pos.at("qn").ToString(), "job.yml:17:3");
  EXPECT_EQ(s.objective.goal, Goal::kMinimize);
  EXPECT_EQ(s.objective.primary_metric, "val_loss");
  EXPECT_EQ(s.limits.max_total_trials, 40);
  EXPECT_EQ(s.limits.max_concurrent_trials, 4);
  EXPECT_DOUBLE_EQ(s.limits.timeout_s, 7200);
  EXPECT_EQ(s.limits.trial_timeout_s, 600);
  EXPECT_EQ(job.command.timeout_s, 600);  // the trial template carries the per-trial timeout
  EXPECT_EQ(s.early_termination.type, "bandit");
  EXPECT_EQ(s.early_termination.slack_factor, 0.2);
  EXPECT_FALSE(s.early_termination.slack_amount.has_value());
  EXPECT_EQ(s.early_termination.evaluation_interval, 0);  // kept; the policy reads 0 as 1
  EXPECT_EQ(s.early_termination.delay_evaluation, 5);
  EXPECT_EQ(job.command.inputs.at("data").local_path, dir_ / "data");
  EXPECT_EQ(job.command.outputs.count("model"), 1u);
  EXPECT_EQ(*job.command.code, dir_ / "src");
  EXPECT_EQ(job.command.environment_variables.at("A"), "1");
  EXPECT_DOUBLE_EQ(job.command.resources.gpus, 1);
  EXPECT_EQ(job.command.resources.memory_mb, 2048);
  EXPECT_EQ(job.command.distribution.type, "mpi");
  EXPECT_EQ(job.command.distribution.process_count_per_instance, 2);
}

TEST_F(JobSpecTest, SweepDefaultsAndSamplerNames) {
  JobSpec job = ParseOk(kSweep);
  ASSERT_TRUE(job.sweep);
  EXPECT_EQ(job.sweep->sampling.type, "random");
  EXPECT_EQ(job.sweep->sampling.rule, "random");
  EXPECT_FALSE(job.sweep->sampling.seed.has_value());
  EXPECT_EQ(job.sweep->limits.max_total_trials, 1000);
  EXPECT_EQ(job.sweep->limits.max_concurrent_trials, 0);
  EXPECT_DOUBLE_EQ(job.sweep->limits.timeout_s, 5184000);
  EXPECT_EQ(job.sweep->early_termination.type, "");
  EXPECT_EQ(job.sweep->objective.goal, Goal::kMaximize);
  EXPECT_FALSE(job.command.timeout_s.has_value());
  // tpe (extension) takes any distribution; bayesian takes uniform.
  JobSpec tpe = ParseOk(kSweep, {"sampling_algorithm=tpe"});
  EXPECT_EQ(tpe.sweep->sampling.type, "tpe");
  JobSpec bayes = ParseOk(kSweep, {"sampling_algorithm={type: bayesian}", "search_space.lr.type=uniform"});
  EXPECT_EQ(bayes.sweep->sampling.type, "bayesian");
  EXPECT_EQ(ParseErr(kSweep, {"sampling_algorithm={type: grid, rule: sobol}"}),
            "--set:1:33: unknown key 'rule' in sampling_algorithm (grid)");
}

TEST_F(JobSpecTest, EarlyTerminationPolicies) {
  JobSpec m = ParseOk(kSweep, {"early_termination={type: median_stopping, evaluation_interval: 2, delay_evaluation: 3}"});
  EXPECT_EQ(m.sweep->early_termination.type, "median_stopping");
  EXPECT_EQ(m.sweep->early_termination.evaluation_interval, 2);
  EXPECT_EQ(m.sweep->early_termination.delay_evaluation, 3);
  JobSpec t = ParseOk(kSweep, {"early_termination={type: truncation_selection, truncation_percentage: 20}"});
  EXPECT_EQ(t.sweep->early_termination.truncation_percentage, 20);
  JobSpec b = ParseOk(kSweep, {"early_termination={type: bandit, slack_amount: 0.05}"});
  EXPECT_EQ(b.sweep->early_termination.slack_amount, 0.05);
  JobSpec a = ParseOk(kSweep, {"early_termination={type: asha, min_resource: 2, max_resource: 27, "
                               "reduction_factor: 3, brackets: 2}"});
  const auto& e = a.sweep->early_termination;
  EXPECT_EQ(e.type, "asha");
  EXPECT_EQ(e.min_resource, 2);
  EXPECT_EQ(e.max_resource, 27);
  EXPECT_DOUBLE_EQ(e.reduction_factor, 3);
  EXPECT_EQ(e.brackets, 2);
  EXPECT_EQ(ParseErr(kSweep, {"early_termination={type: asha, reduction_factor: 1}"}),
            "--set:1:50: 'reduction_factor' must be at least 2, got 1");
  EXPECT_EQ(ParseErr(kSweep, {"early_termination={type: bandit}"}),
            "--set:1:19: bandit needs 'slack_factor' or 'slack_amount'");
  EXPECT_EQ(ParseErr(kSweep, {"early_termination={type: median_stopping, slack_factor: 0.1}"}),
            "--set:1:43: unknown key 'slack_factor' in early_termination (median_stopping)");
}

TEST_F(JobSpecTest, ConditionalChoiceBuildsSubSpaces) {
  JobSpec job = ParseOk(R"(type: sweep
sampling_algorithm: tpe
search_space:
  optimizer:
    type: choice
    values:
      - value: sgd
        search_space:
          momentum: {type: uniform, min_value: 0, max_value: 0.99}
      - value: adam
        search_space:
          beta1: {type: uniform, min_value: 0.8, max_value: 0.999}
          schedule:
            type: choice
            values:
              - cosine
              - value: step
                search_space:
                  step_size: {type: randint, upper: 10}
      - rmsprop
objective: {goal: maximize, primary_metric: acc}
trial:
  command: python train.py --opt ${{search_space.optimizer}} --m ${{search_space.momentum}} --s ${{search_space.step_size}}
)");
  const auto& params = job.sweep->search_space.params;
  ASSERT_EQ(params.size(), 1u);
  const Distribution& opt = params[0].second;
  EXPECT_EQ(opt.values, (std::vector<ParamValue>{std::string("sgd"), std::string("adam"), std::string("rmsprop")}));
  ASSERT_EQ(opt.sub_spaces.size(), 3u);
  ASSERT_EQ(opt.sub_spaces[0].params.size(), 1u);
  EXPECT_EQ(opt.sub_spaces[0].params[0].first, "momentum");
  ASSERT_EQ(opt.sub_spaces[1].params.size(), 2u);
  const Distribution& schedule = opt.sub_spaces[1].params[1].second;
  ASSERT_EQ(schedule.sub_spaces.size(), 2u);
  EXPECT_TRUE(schedule.sub_spaces[0].params.empty());
  EXPECT_EQ(schedule.sub_spaces[1].params[0].first, "step_size");
  EXPECT_TRUE(opt.sub_spaces[2].params.empty());
  EXPECT_EQ(job.sweep->param_pos.size(), 5u);
  EXPECT_EQ(job.sweep->param_pos.at("step_size").ToString(), "job.yml:19:19");
}

TEST_F(JobSpecTest, EveryDistributionRequiresItsKeysAndNoOthers) {
  struct Case {
    std::string space;
    std::string message;
  } cases[] = {
      {"{type: choice}", "parameter 'lr' (choice) needs 'values'"},
      {"{type: randint}", "parameter 'lr' (randint) needs 'upper'"},
      {"{type: randint, upper: 2.5}", "'upper' must be an integer, got '2.5'"},
      {"{type: uniform, min_value: 1}", "parameter 'lr' (uniform) needs 'max_value'"},
      {"{type: loguniform, max_value: 1}", "parameter 'lr' (loguniform) needs 'min_value'"},
      {"{type: quniform, min_value: 1, max_value: 2}", "parameter 'lr' (quniform) needs 'q'"},
      {"{type: qloguniform, min_value: 1, max_value: 2, q: 0}", "'q' must be greater than 0, got 0"},
      {"{type: normal, mu: 1}", "parameter 'lr' (normal) needs 'sigma'"},
      {"{type: lognormal, sigma: 1}", "parameter 'lr' (lognormal) needs 'mu'"},
      {"{type: qnormal, mu: 0, sigma: 1}", "parameter 'lr' (qnormal) needs 'q'"},
      {"{type: qlognormal, mu: 0, sigma: -1, q: 1}", "'sigma' must be greater than 0, got -1"},
      {"{type: uniform, min_value: 0, max_value: 1, q: 1}",
       "unknown key 'q' in parameter 'lr' (uniform)"},
      {"{type: normal, mu: 0, sigma: 1, min_value: 0}",
       "unknown key 'min_value' in parameter 'lr' (normal)"},
      {"{type: unifrom, min_value: 0, max_value: 1}",
       "'type' must be one of choice, randint, uniform, loguniform, quniform, qloguniform, normal, "
       "lognormal, qnormal, qlognormal, got 'unifrom' (did you mean 'uniform'?)"},
      {"{type: quniform, min_value: 3, max_value: 3, q: 1}",
       "'min_value' (3) must be less than 'max_value' (3) in parameter 'lr'"},
      {"{type: normal, mu: abc, sigma: 1}", "'mu' must be a number, got 'abc'"},
      {"{values: [1]}", "parameter 'lr' needs a 'type' (one of choice, randint, uniform, loguniform, "
                        "quniform, qloguniform, normal, lognormal, qnormal, qlognormal)"},
  };
  for (const auto& c : cases) {
    std::string msg = ParseErr(kSweep, {"search_space.lr=" + c.space});
    EXPECT_TRUE(msg.starts_with("--set:1:")) << msg;
    EXPECT_TRUE(msg.ends_with(c.message)) << c.space << "\n  got: " << msg;
  }
}

TEST_F(JobSpecTest, OverridesApplyBeforeValidation) {
  // Changing a parameter's type leaves the old keys: they are errors, not silently dropped.
  std::string msg = ParseErr(kSweep, {"search_space.lr.type=choice", "search_space.lr.values=[1, 2]"});
  EXPECT_EQ(msg, "job.yml:6:5: unknown key 'min_value' in parameter 'lr' (choice)");

  std::string yaml = std::string(kSweep);
  JobSpec ok = ParseOk(yaml, {"limits.max_total_trials=4", "search_space.lr={type: choice, values: [1, 2]}",
                              "overdrive.stdout_metrics=false", "trial.resources.gpus=2", "tags.owner=me"});
  EXPECT_EQ(ok.sweep->limits.max_total_trials, 4);
  EXPECT_EQ(ok.sweep->search_space.params[0].second.values,
            (std::vector<ParamValue>{std::int64_t{1}, std::int64_t{2}}));
  EXPECT_FALSE(ok.extensions.stdout_metrics);
  EXPECT_DOUBLE_EQ(ok.command.resources.gpus, 2);
  EXPECT_EQ(ok.tags.at("owner"), "me");
  EXPECT_NE(ok.resolved_yaml.find("max_total_trials: 4"), std::string::npos) << ok.resolved_yaml;
  EXPECT_NE(ok.resolved_yaml.find("owner: me"), std::string::npos) << ok.resolved_yaml;
  EXPECT_EQ(ok.sweep->param_pos.at("lr").line, 4);  // the key is still the file's
}

TEST_F(JobSpecTest, OverrideErrorsPointAtTheFlag) {
  EXPECT_EQ(ParseErr(kSweep, {"limits.max_total_trails=4"}),
            "--set:1:8: unknown key 'max_total_trails' in limits (did you mean 'max_total_trials'?)");
  EXPECT_EQ(ParseErr(kSweep, {"name=a", "limits.max_total_trials=many"}),
            "--set:2:25: 'max_total_trials' must be an integer, got 'many'");
  EXPECT_EQ(ParseErr(kSweep, {"limits.timeout=[1, 2"}),
            "--set:1:16: bad value for 'limits.timeout': end of sequence flow not found");
  EXPECT_EQ(ParseErr(kSweep, {"trial.command.x=1"}),
            "--set:1:15: cannot set 'trial.command.x': 'trial.command' is a value, not a mapping");
  EXPECT_EQ(ParseErr(kSweep, {"novalue"}), "--set:1:1: expected --set path.to.key=value, got 'novalue'");
  EXPECT_EQ(ParseErr(kSweep, {"a..b=1"}), "--set:1:3: empty key in --set path 'a..b'");
  EXPECT_EQ(ParseErr(kSweep, {"objective.goal=maximise"}),
            "--set:1:16: 'goal' must be one of maximize, minimize, got 'maximise' (did you mean 'maximize'?)");
}

TEST_F(JobSpecTest, OverridesIndexLists) {
  std::string yaml = "type: sweep\nsampling_algorithm: grid\nsearch_space:\n  b: {type: choice, values: [1, 2]}\n"
                     "objective: {goal: minimize, primary_metric: loss}\ntrial: {command: echo}\n";
  JobSpec job = ParseOk(yaml, {"search_space.b.values.1=5", "search_space.b.values.2=7"});
  EXPECT_EQ(job.sweep->search_space.params[0].second.values,
            (std::vector<ParamValue>{std::int64_t{1}, std::int64_t{5}, std::int64_t{7}}));
  EXPECT_EQ(ParseErr(yaml, {"search_space.b.values.x=5"}),
            "--set:1:23: 'search_space.b.values' is a list; use an index from 0 to 1 instead of 'x'");
}

TEST_F(JobSpecTest, ReferencesMustNameSomething) {
  EXPECT_EQ(ParseErr("command: python t.py ${{inputs.data}}\ninputs:\n  date: 3\n"),
            "job.yml:1:10: unknown reference '${{inputs.data}}' in command (did you mean 'inputs.date'?)");
  EXPECT_EQ(ParseErr("command: python t.py ${{search_space.lr}}\n"),
            "job.yml:1:10: unknown reference '${{search_space.lr}}' in command; the job defines no search_space");
  EXPECT_EQ(ParseErr("command: echo ${{env.HOME}}\n"),
            "job.yml:1:10: unknown reference '${{env.HOME}}' in command; references are ${{inputs.NAME}}, "
            "${{outputs.NAME}} or ${{search_space.NAME}}");
}

TEST(SubstituteCommandTest, QuotesValuesAsOneShellWord) {
  SubstitutionContext ctx;
  ctx.inputs["msg"] = "it's a \"test\" with  spaces; $(echo no)";
  ctx.outputs["model"] = "/runs/r1/outputs/model";
  ctx.search_space["lr"] = "0.01";
  SourcePos pos{"job.yml", 3, 10};
  auto cmd = SubstituteCommand(
      "printf '[%s]' ${{inputs.msg}} ${{ outputs.model }} ${{search_space.lr}}", ctx, pos);
  ASSERT_TRUE(cmd.has_value()) << cmd.error().message;
  EXPECT_EQ(*cmd, "printf '[%s]' 'it'\\''s a \"test\" with  spaces; $(echo no)' /runs/r1/outputs/model 0.01");
  // The shell sees exactly three words after the format, the first one unchanged.
  FILE* p = popen(("/bin/sh -c " + ShellQuote(*cmd)).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(out, "[it's a \"test\" with  spaces; $(echo no)][/runs/r1/outputs/model][0.01]");
}

TEST(SubstituteCommandTest, UnknownAndUnterminatedReferences) {
  SubstitutionContext ctx;
  ctx.search_space["learning_rate"] = "0.1";
  SourcePos pos{"s.yml", 12, 12};
  auto r = SubstituteCommand("python t.py --lr ${{search_space.learning_rat}}", ctx, pos);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(r.error().message,
            "s.yml:12:12: unknown reference '${{search_space.learning_rat}}' in command (did you mean "
            "'search_space.learning_rate'?)");
  r = SubstituteCommand("python t.py ${{search_space.learning_rate", ctx, pos);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "s.yml:12:12: unterminated '${{' in command (expected '}}')");
  EXPECT_EQ(*SubstituteCommand("no refs $HOME {{x}}", ctx, pos), "no refs $HOME {{x}}");
}

TEST(SourcePosTest, Formats) {
  EXPECT_EQ((SourcePos{"a.yml", 3, 7}).ToString(), "a.yml:3:7");
  EXPECT_EQ((SourcePos{"a.yml", 0, 0}).ToString(), "a.yml");
  Error e = InputError(SourcePos{"--set", 2, 5}, "bad");
  EXPECT_EQ(e.code, ErrorCode::kInvalidInput);
  EXPECT_EQ(e.message, "--set:2:5: bad");
}

TEST(ParseJobFileTest, MissingFileIsNotFound) {
  auto r = ParseJobFile("/nonexistent/dir/job.yml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/job.yml"), std::string::npos);
}

TEST(ParseJobFileTest, ExamplesInTheFuzzSeedsParse) {
  fs::path seeds = fs::path(OVERDRIVE_SOURCE_DIR) / "fuzz" / "seeds" / "job_parser";
  int n = 0;
  for (const auto& e : fs::directory_iterator(seeds)) {
    if (e.path().extension() != ".yml") continue;
    auto r = ParseJobFile(e.path());
    EXPECT_TRUE(r.has_value()) << e.path() << ": " << r.error().message;
    if (r) {
      EXPECT_EQ(r->source_file, e.path());
    }
    ++n;
  }
  EXPECT_GE(n, 3);
}

}  // namespace
}  // namespace overdrive
