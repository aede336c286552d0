// Environment YAML, conda files, `environment:` references and how a job records them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "spec/environment_spec.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

class EnvironmentSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "od_env_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  Result<EnvironmentSpec> Parse(const std::string& yaml) {
    return ParseEnvironmentText(yaml, "env.yml", dir_);
  }
  EnvironmentSpec ParseOk(const std::string& yaml) {
    auto r = Parse(yaml);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : EnvironmentSpec{};
  }
  std::string ParseErr(const std::string& yaml) {
    auto r = Parse(yaml);
    EXPECT_FALSE(r.has_value()) << "parsed but should not have:\n" << yaml;
    if (r) return "";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
    return r.error().message;
  }

  fs::path dir_;
};

const char* kConda = R"(name: sklearn-env
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip=23.3
  - numpy
  - pip:
    - scikit-learn==1.5.0
    - mlflow
)";

TEST_F(EnvironmentSpecTest, AzureEnvironmentFileWithEveryKey) {
  Write("conda.yml", kConda);
  EnvironmentSpec env = ParseOk(R"($schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: sklearn-env
version: 3
description: scikit-learn on Debian
tags: {team: ml}
image: localhost/od-base:latest
conda_file: conda.yml
os_type: linux
inference_config:
  liveness_route: {port: 5001, path: /}
overdrive:
  python: /usr/bin/python3.11
  system_site_packages: false
)");
  EXPECT_EQ(env.name, "sklearn-env");
  EXPECT_EQ(env.version, "3");
  EXPECT_EQ(env.description, "scikit-learn on Debian");
  EXPECT_EQ(env.tags.at("team"), "ml");
  EXPECT_EQ(env.image, "localhost/od-base:latest");
  EXPECT_EQ(env.image_pos.ToString(), "env.yml:6:8");
  ASSERT_TRUE(env.conda_file);
  EXPECT_EQ(*env.conda_file, dir_ / "conda.yml");
  EXPECT_EQ(env.conda_text, kConda);
  EXPECT_EQ(env.conda_file_pos.ToString(), "env.yml:7:13");
  ASSERT_TRUE(env.conda);
  EXPECT_EQ(env.conda->name, "sklearn-env");
  EXPECT_EQ(env.conda->python, "3.11");
  EXPECT_EQ(env.conda->pip, (std::vector<std::string>{"scikit-learn==1.5.0", "mlflow"}));
  EXPECT_EQ(env.conda->conda_dependencies, (std::vector<std::string>{"pip=23.3", "numpy"}));
  EXPECT_EQ(env.conda->channels, (std::vector<std::string>{"conda-forge"}));
  EXPECT_EQ(env.conda->dependency_pos.at("numpy").ToString(), "conda.yml:7:5");
  EXPECT_EQ(env.conda->dependency_pos.at("mlflow").ToString(), "conda.yml:10:7");
  EXPECT_EQ(env.python, "/usr/bin/python3.11");
  EXPECT_FALSE(env.system_site_packages);
  EXPECT_EQ(env.Kind(), "image");
  ASSERT_EQ(env.ignored.size(), 1u);
  EXPECT_EQ(env.ignored[0].substr(0, 30), "env.yml:9:1: 'inference_config");
}

TEST_F(EnvironmentSpecTest, KindsFollowTheSpec) {
  Write("conda.yml", kConda);
  Write("ctx/Dockerfile", "FROM scratch\n");
  Write("ctx2/Containerfile", "FROM scratch\n");
  Write("ctx3/docker/Build.df", "FROM scratch\n");
  EnvironmentSpec venv = ParseOk("name: e\nconda_file: conda.yml\n");
  EXPECT_EQ(venv.Kind(), "venv");
  EXPECT_TRUE(venv.system_site_packages);
  EXPECT_EQ(venv.python, "/usr/bin/python3");
  EXPECT_EQ(ParseOk("image: debian:bookworm\n").Kind(), "image");
  EnvironmentSpec build = ParseOk("build:\n  path: ctx\n");
  EXPECT_EQ(build.Kind(), "build");
  EXPECT_EQ(*build.build_path, dir_ / "ctx");
  EXPECT_EQ(build.dockerfile_path, "Dockerfile");
  EXPECT_EQ(ParseOk("build: {path: ctx2}\n").dockerfile_path, "Containerfile");
  EXPECT_EQ(ParseOk("build: {path: ctx3, dockerfile_path: docker/Build.df}\n").dockerfile_path,
            "docker/Build.df");
}

TEST_F(EnvironmentSpecTest, InlineCondaMappingIsAccepted) {
  EnvironmentSpec env =
      ParseOk("conda_file:\n  dependencies:\n    - python\n    - pip:\n      - requests\n");
  ASSERT_TRUE(env.conda);
  EXPECT_FALSE(env.conda_file);
  EXPECT_EQ(env.conda->python, "");
  EXPECT_EQ(env.conda->pip, std::vector<std::string>{"requests"});
  EXPECT_EQ(env.conda->dependency_pos.at("requests").ToString(), "env.yml:5:9");
  EXPECT_NE(env.conda_text.find("requests"), std::string::npos);
}

TEST_F(EnvironmentSpecTest, ErrorsNameThePlace) {
  Write("ctx/Dockerfile", "FROM scratch\n");
  Write("empty/README", "x\n");
  EXPECT_EQ(ParseErr("name: e\nimages: x\n"),
            "env.yml:2:1: unknown key 'images' in the environment file (did you mean 'image'?)");
  EXPECT_EQ(ParseErr("name: e\nconda_file: nope.yml\n"),
            "env.yml:2:13: conda file 'nope.yml' does not exist (resolved to " +
                (dir_ / "nope.yml").string() + ")");
  EXPECT_EQ(ParseErr("name: e\n"),
            "env.yml:1:1: an environment needs 'image', 'conda_file' or 'build' (a conda_file "
            "alone makes a Python virtual environment)");
  EXPECT_EQ(ParseErr("image: x\nos_type: Windows\n"),
            "env.yml:2:10: os_type 'windows' is not supported: Overdrive runs Linux "
            "environments only (remove os_type or write linux)");
  EXPECT_EQ(ParseErr("image: x\ntags: [a]\n"), "env.yml:2:7: tags must be a mapping of keys");
  EXPECT_EQ(ParseErr("name: my env\nimage: x\n"),
            "env.yml:1:7: environment name 'my env' may contain only letters, digits, '-', '_' "
            "and '.', starting with a letter or digit");
  EXPECT_EQ(ParseErr("image: x\nbuild: {path: ctx}\n"),
            "env.yml:1:8: an environment has either 'image' or 'build', not both");
  EXPECT_EQ(ParseErr("build: {path: empty}\n"),
            "env.yml:1:15: build folder 'empty' has no Dockerfile (or Containerfile); name "
            "another with dockerfile_path (resolved to " + (dir_ / "empty").string() + ")");
  EXPECT_EQ(ParseErr("build: {path: ctx, dockerfile_path: ../Dockerfile}\n"),
            "env.yml:1:37: dockerfile_path '../Dockerfile' must be a path inside the build folder");
  EXPECT_EQ(ParseErr("build: {path: https://github.com/x/y}\n").substr(0, 49),
            "env.yml:1:15: build path 'https://github.com/x/y'");
  EXPECT_EQ(ParseErr("image: x\noverdrive: {system_site_packages: maybe}\n"),
            "env.yml:2:35: 'system_site_packages' must be true or false, got 'maybe'");
  EXPECT_EQ(ParseErr(""), "env.yml:1:1: the environment file is empty");
  EXPECT_EQ(ParseErr("- a\n").substr(0, 50), "env.yml:1:1: an environment file must be a mapping");
}

TEST_F(EnvironmentSpecTest, CondaErrorsPointIntoTheCondaFile) {
  Write("bad.yml", "dependencies:\n  - python=3.11\n  - {pip: requests}\n");
  EXPECT_EQ(ParseErr("conda_file: bad.yml\n"),
            "bad.yml:3:11: 'pip' must be a list of requirements (the conda_file of env.yml:1:13)");
  Write("syntax.yml", "dependencies: [a\n");
  EXPECT_EQ(ParseErr("conda_file: syntax.yml\n").substr(0, 11), "syntax.yml:");
  auto typo = ParseCondaText("dependecies: [a]\n", "c.yml");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message,
            "c.yml:1:1: unknown key 'dependecies' in the conda file (did you mean "
            "'dependencies'?)");
  auto twice = ParseCondaText("dependencies: [python=3.10, python=3.11]\n", "c.yml");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "c.yml:1:29: python is listed twice in 'dependencies' of the conda file");
}

TEST_F(EnvironmentSpecTest, PythonVersionForms) {
  auto version = [](const std::string& entry) {
    auto c = ParseCondaText("dependencies: ['" + entry + "']\n", "c.yml");
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return c && c->python ? *c->python : std::string("<none>");
  };
  EXPECT_EQ(version("python=3.11"), "3.11");
  EXPECT_EQ(version("python==3.11.4"), "3.11.4");
  EXPECT_EQ(version("python>=3.8"), ">=3.8");
  EXPECT_EQ(version("conda-forge::python 3.12"), "3.12");
  EXPECT_EQ(version("python"), "");
  EXPECT_EQ(version("python-dateutil"), "<none>");
}

TEST_F(EnvironmentSpecTest, JsonRoundTripKeepsTheCondaText) {
  Write("conda.yml", kConda);
  Write("ctx/Dockerfile", "FROM scratch\n");
  for (const char* yaml : {"name: a\nversion: '1'\ntags: {k: v}\nimage: x\nconda_file: conda.yml\n",
                           "name: b\nbuild: {path: ctx}\noverdrive: {network: host}\n"}) {
    EnvironmentSpec env = ParseOk(yaml);
    std::string json = env.ToJson();
    auto back = EnvironmentSpec::FromJson(json);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->ToJson(), json);
    EXPECT_EQ(back->Kind(), env.Kind());
    EXPECT_EQ(back->network, env.network);
  }
  EXPECT_EQ(ParseOk("image: x\noverdrive: {network: none}\n").network, "");  // the default
  EXPECT_NE(ParseOk("image: x\nconda_file: conda.yml\n").ToJson().find("scikit-learn==1.5.0"),
            std::string::npos);
  EXPECT_FALSE(EnvironmentSpec::FromJson("[1]"));
  EXPECT_FALSE(EnvironmentSpec::FromJson("{\"name\": 3}"));
}

TEST_F(EnvironmentSpecTest, FileIsReadRelativeToItsFolder) {
  Write("envs/conda.yml", kConda);
  Write("envs/env.yml", "name: e\nconda_file: conda.yml\n");
  auto env = ParseEnvironmentFile(dir_ / "envs" / "env.yml");
  ASSERT_TRUE(env.has_value()) << env.error().message;
  EXPECT_EQ(*env->conda_file, dir_ / "envs" / "conda.yml");
  auto missing = ParseEnvironmentFile(dir_ / "nope.yml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

struct NameCase {
  std::string text;
  std::string name, version, label, registry;
};

TEST(EnvironmentNameTest, AzureReferenceForms) {
  const NameCase cases[] = {
      {"azureml:sklearn-env:3", "sklearn-env", "3", "", ""},
      {"azureml:AzureML-sklearn-1.5@latest", "AzureML-sklearn-1.5", "", "latest", ""},
      {"azureml://registries/azureml/environments/sklearn-1.5/versions/7", "sklearn-1.5", "7", "",
       "azureml"},
      {"azureml://registries/azureml/environments/sklearn-1.5/labels/latest", "sklearn-1.5", "",
       "latest", "azureml"},
      {"azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/"
       "workspaces/w/environments/env1/versions/2",
       "env1", "2", "", ""},
      {"my-env:1.0", "my-env", "1.0", "", ""},
      {"my-env@latest", "my-env", "", "latest", ""},
      {"python-local", "python-local", "", "latest", ""},
  };
  for (const auto& c : cases) {
    auto ref = ParseEnvironmentName(c.text, SourcePos{"job.yml", 4, 16});
    ASSERT_TRUE(ref.has_value()) << c.text << ": " << ref.error().message;
    EXPECT_EQ(ref->kind, EnvironmentRef::Kind::kAsset);
    EXPECT_EQ(ref->name, c.name) << c.text;
    EXPECT_EQ(ref->version, c.version) << c.text;
    EXPECT_EQ(ref->label, c.label) << c.text;
    EXPECT_EQ(ref->registry, c.registry) << c.text;
    EXPECT_EQ(ref->text, c.text);
    EXPECT_EQ(ref->pos.ToString(), "job.yml:4:16");
  }
}

TEST(EnvironmentNameTest, BadFormsAreErrorsAtThePosition) {
  for (const char* bad : {"azureml:", "azureml:env@best", "azureml:env:", "azureml::3",
                          "azureml:env:1:2", "azureml://registries/r/models/m/versions/1",
                          "azureml://registries/r/environments/e/labels/stable", "my env:1",
                          "azureml:/subscriptions/s/environments/e"}) {
    auto ref = ParseEnvironmentName(bad, SourcePos{"job.yml", 2, 14});
    ASSERT_FALSE(ref.has_value()) << bad;
    EXPECT_EQ(ref.error().code, ErrorCode::kInvalidInput);
    EXPECT_EQ(ref.error().message.substr(0, 14), "job.yml:2:14: ") << ref.error().message;
  }
  EXPECT_EQ(ParseEnvironmentName("azureml:env@best", SourcePos{"j.yml", 1, 1}).error().message,
            "j.yml:1:1: environment 'azureml:env@best': only the label 'latest' is known here, "
            "got 'best' (write azureml:NAME:VERSION, azureml:NAME@latest or "
            "azureml://registries/REGISTRY/environments/NAME/versions/VERSION)");
}

// ---- how a job records its environment ----

class JobEnvironmentTest : public EnvironmentSpecTest {
 protected:
  Result<JobSpec> Job(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return ParseJobText(yaml, "job.yml", dir_, overrides);
  }
};

TEST_F(JobEnvironmentTest, NoEnvironmentIsKindNone) {
  auto job = Job("command: echo\n");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->command.environment_ref.kind, EnvironmentRef::Kind::kNone);
}

TEST_F(JobEnvironmentTest, AssetReferencesKeepTheirPositionAndStayAccepted) {
  auto job = Job("command: echo\nenvironment: azureml:AzureML-sklearn-1.5@latest\n");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  const EnvironmentRef& ref = job->command.environment_ref;
  EXPECT_EQ(ref.kind, EnvironmentRef::Kind::kAsset);
  EXPECT_EQ(ref.name, "AzureML-sklearn-1.5");
  EXPECT_EQ(ref.label, "latest");
  EXPECT_EQ(ref.pos.ToString(), "job.yml:2:14");
  EXPECT_EQ(job->command.environment, "azureml:AzureML-sklearn-1.5@latest");
  auto bad = Job("command: echo\nenvironment: azureml:env@stable\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.substr(0, 14), "job.yml:2:14: ");
}

TEST_F(JobEnvironmentTest, InlineMappingsOfCommandsAndTrialsAreParsedInTheJobFile) {
  Write("conda.yml", kConda);
  auto job = Job("command: echo\nenvironment:\n  image: localhost/base\n  conda_file: conda.yml\n");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  const EnvironmentRef& ref = job->command.environment_ref;
  ASSERT_EQ(ref.kind, EnvironmentRef::Kind::kInline);
  ASSERT_TRUE(ref.inline_spec);
  EXPECT_EQ(ref.inline_spec->image, "localhost/base");
  EXPECT_EQ(ref.inline_spec->image_pos.ToString(), "job.yml:3:10");
  EXPECT_EQ(ref.inline_spec->conda->pip.size(), 2u);
  EXPECT_EQ(ref.pos.ToString(), "job.yml:3:3");

  auto sweep = Job(R"(type: sweep
sampling_algorithm: random
search_space: {lr: {type: uniform, min_value: 0, max_value: 1}}
objective: {goal: maximize, primary_metric: acc}
trial:
  command: echo ${{search_space.lr}}
  environment:
    conda_file: conda.yml
)");
  ASSERT_TRUE(sweep.has_value()) << sweep.error().message;
  EXPECT_EQ(sweep->command.environment_ref.kind, EnvironmentRef::Kind::kInline);
  EXPECT_EQ(sweep->command.environment_ref.inline_spec->Kind(), "venv");

  auto typo = Job("command: echo\nenvironment:\n  imag: x\n");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message,
            "job.yml:3:3: unknown key 'imag' in environment (did you mean 'image'?)");
  auto trial_missing = Job(R"(type: sweep
sampling_algorithm: random
search_space: {lr: {type: uniform, min_value: 0, max_value: 1}}
objective: {goal: maximize, primary_metric: acc}
trial:
  command: echo
  environment: {conda_file: gone.yml}
)");
  ASSERT_FALSE(trial_missing);
  EXPECT_EQ(trial_missing.error().message,
            "job.yml:7:29: conda file 'gone.yml' does not exist (resolved to " +
                (dir_ / "gone.yml").string() + ")");
}

TEST_F(JobEnvironmentTest, HostIsAnExplicitChoice) {
  auto job = Job("command: echo\nenvironment: azureml:AzureML-sklearn-1.5@latest\n"
                 "overdrive:\n  environment: host\n");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->command.environment_ref.kind, EnvironmentRef::Kind::kHost);
  EXPECT_EQ(job->command.environment_ref.text, "azureml:AzureML-sklearn-1.5@latest");
  EXPECT_EQ(job->command.environment_ref.pos.ToString(), "job.yml:4:16");
  auto set = Job("command: echo\n", {"overdrive.environment=host"});
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_EQ(set->command.environment_ref.kind, EnvironmentRef::Kind::kHost);
  auto bad = Job("command: echo\noverdrive: {environment: conda}\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "job.yml:2:26: 'overdrive.environment' can only be 'host' (run in the node's own "
            "Python, whatever 'environment' says), got 'conda'");
}

}  // namespace
}  // namespace overdrive
