// The environment cache with real venvs and real pip (no package index: requirements come from a
// wheel this test builds into a local folder, found through pip's own PIP_FIND_LINKS).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "environment/environment_cache.hpp"
#include "../executor/podman_test_util.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string Output(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

class EnvironmentCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "od_envcache_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    // pip reads these; the shell may carry some pointing at paths that do not exist.
    for (const char* v : {"PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_INDEX_URL", "PIP_CONFIG_FILE",
                          "PIP_REQUIRE_VIRTUALENV"}) {
      ::unsetenv(v);
    }
    ::setenv("PIP_CONFIG_FILE", "/dev/null", 1);
  }
  void TearDown() override {
    ::unsetenv("PIP_FIND_LINKS");
    ::unsetenv("PIP_NO_INDEX");
    ::unsetenv("PIP_CONFIG_FILE");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // An environment from a conda file with `text`.
  EnvironmentSpec Spec(const std::string& text, CondaSpec conda) {
    fs::path file = root_ / ("conda-" + std::to_string(++files_) + ".yml");
    WriteFile(file, text);
    EnvironmentSpec s;
    s.name = "env";
    s.version = "1";
    s.conda_file = file;
    conda.pos.file = file.string();
    s.conda = conda;
    s.conda_file_pos.file = "env.yml";
    s.conda_file_pos.line = 3;
    s.conda_file_pos.column = 13;
    return s;
  }

  // A wheel of a one-module package `odtestpkg` 0.1 in root_/wheels.
  fs::path BuildWheel() {
    fs::path pkg = root_ / "pkg";
    WriteFile(pkg / "setup.py",
              "from setuptools import setup\n"
              "setup(name='odtestpkg', version='0.1', py_modules=['odtestpkg'])\n");
    WriteFile(pkg / "odtestpkg.py", "MESSAGE = 'hello from the wheel'\n");
    fs::path wheels = root_ / "wheels";
    std::string cmd = "cd " + pkg.string() +
                      " && /usr/bin/python3 -m pip wheel --no-index --no-build-isolation "
                      "--no-deps -q -w " + wheels.string() + " . >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return wheels;
  }

  fs::path root_;
  int files_ = 0;
};

TEST_F(EnvironmentCacheTest, AVenvIsBuiltOnceThenFoundAndRunsSeeIt) {
  EnvironmentCache cache(root_ / "envs");
  EnvironmentSpec spec = Spec("dependencies: [python=3, pip]\n", {});
  spec.conda->python = "3";
  spec.conda->conda_dependencies = {"pip"};
  auto first = cache.Ensure(spec);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->built_now);
  EXPECT_EQ(first->kind, "venv");
  EXPECT_TRUE(fs::exists(first->venv / "bin" / "python"));
  auto second = cache.Ensure(spec);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->built_now);
  EXPECT_EQ(second->venv, first->venv);

  RunPlacement placement = first->Placement("/usr/bin:/bin");
  EXPECT_FALSE(placement.container);
  auto env = placement.env;
  EXPECT_EQ(env["VIRTUAL_ENV"], first->venv.string());
  EXPECT_EQ(env["PATH"], (first->venv / "bin").string() + ":/usr/bin:/bin");
  // `python3` on that PATH is the venv's, and it sees the system's packages.
  std::string prefix = Output("PATH=" + env["PATH"] +
                              " python3 -c 'import sys, json; print(sys.prefix)'");
  EXPECT_EQ(prefix, first->venv.string());
  EXPECT_EQ(Output("PATH=" + env["PATH"] + " python3 -c 'import json; print(1)'"), "1");
}

TEST_F(EnvironmentCacheTest, PipRequirementsComeFromPipsOwnConfiguration) {
  fs::path wheels = BuildWheel();
  ::setenv("PIP_FIND_LINKS", wheels.c_str(), 1);
  ::setenv("PIP_NO_INDEX", "1", 1);
  EnvironmentCache cache(root_ / "envs");
  CondaSpec conda;
  conda.pip = {"odtestpkg==0.1"};
  auto built = cache.Ensure(Spec("dependencies:\n  - pip:\n    - odtestpkg==0.1\n", conda));
  ASSERT_TRUE(built) << built.error().message;
  std::string got = Output((built->venv / "bin" / "python").string() +
                           " -c 'import odtestpkg; print(odtestpkg.MESSAGE)'");
  EXPECT_EQ(got, "hello from the wheel");
  // Installed into the venv, not the system.
  EXPECT_NE(Output("/usr/bin/python3 -c 'import odtestpkg' 2>&1"), "");
}

TEST_F(EnvironmentCacheTest, AFailedInstallSaysWhichRequirementAndShowsTheLogTail) {
  ::setenv("PIP_NO_INDEX", "1", 1);
  EnvironmentCache cache(root_ / "envs");
  CondaSpec conda;
  conda.pip = {"no-such-package-anywhere==9.9"};
  EnvironmentSpec spec = Spec("dependencies:\n  - pip:\n    - no-such-package-anywhere==9.9\n", conda);
  auto built = cache.Ensure(spec);
  ASSERT_FALSE(built);
  const std::string& m = built.error().message;
  EXPECT_NE(m.find("env.yml:3:13"), std::string::npos) << m;
  EXPECT_NE(m.find("no-such-package-anywhere"), std::string::npos) << m;
  EXPECT_NE(m.find("build.log"), std::string::npos) << m;
  // Nothing usable was left behind: the next try builds again (and fails again).
  auto hash = cache.Hash(spec);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(cache.Find(*hash).has_value());
}

TEST_F(EnvironmentCacheTest, APythonVersionTheInterpreterIsNotIsRefusedNamingIt) {
  EnvironmentCache cache(root_ / "envs");
  CondaSpec conda;
  conda.python = "3.7.6";
  conda.conda_dependencies = {"python=3.7.6"};
  auto built = cache.Ensure(Spec("dependencies: [python=3.7.6]\n", conda));
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("python=3.7.6 cannot be honoured"), std::string::npos)
      << built.error().message;
}

TEST_F(EnvironmentCacheTest, CondaDependenciesBecomePipRequirements) {
  CondaSpec conda;
  conda.pip = {"mlflow>=2"};
  conda.conda_dependencies = {"python=3.11", "pip", "numpy=1.26", "conda-forge::scipy==1.11.4",
                              "pandas", "scikit-learn>=1.2", "xgboost 2.0.3", "pytorch"};
  auto reqs = PipRequirements(conda);
  ASSERT_TRUE(reqs) << reqs.error().message;
  EXPECT_EQ(*reqs, (std::vector<std::string>{"mlflow>=2", "numpy==1.26.*", "scipy==1.11.4",
                                             "pandas", "scikit-learn>=1.2", "xgboost==2.0.3", "torch"}));
}

TEST_F(EnvironmentCacheTest, TheHashFollowsContentNotNames) {
  EnvironmentCache cache(root_ / "envs");
  CondaSpec conda;
  conda.pip = {"a"};
  EnvironmentSpec one = Spec("dependencies: [{pip: [a]}]\n", conda);
  EnvironmentSpec renamed = one;
  renamed.name = "other";
  renamed.version = "7";
  EnvironmentSpec changed = Spec("dependencies: [{pip: [b]}]\n", conda);
  auto h1 = cache.Hash(one), h2 = cache.Hash(renamed), h3 = cache.Hash(changed);
  ASSERT_TRUE(h1 && h2 && h3);
  EXPECT_EQ(*h1, *h2);
  EXPECT_NE(*h1, *h3);  // the conda file's text differs
  EXPECT_EQ(h1->size(), 64u);
}

TEST_F(EnvironmentCacheTest, ConcurrentBuildersOfOneEnvironmentBuildItOnce) {
  EnvironmentSpec spec = Spec("dependencies: [pip]\n", {});
  std::atomic<int> built{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      EnvironmentCache cache(root_ / "envs");  // each as its own process would
      auto b = cache.Ensure(spec);
      EXPECT_TRUE(b) << b.error().message;
      if (b && b->built_now) ++built;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(built.load(), 1);
}

TEST_F(EnvironmentCacheTest, AnUnfinishedBuildIsNeverUsedAndPruneRemovesWhatIsUnused) {
  EnvironmentCache cache(root_ / "envs");
  EnvironmentSpec spec = Spec("dependencies: [pip]\n", {});
  auto hash = cache.Hash(spec);
  ASSERT_TRUE(hash);
  // A builder that died mid-way: a folder with a half venv and no ready.json.
  fs::create_directories(root_ / "envs" / *hash / "venv" / "bin");
  EXPECT_FALSE(cache.Find(*hash).has_value());
  auto built = cache.Ensure(spec);
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_TRUE(built->built_now);

  EnvironmentSpec other = Spec("dependencies: [pip, python]\n", {});
  auto second = cache.Ensure(other);
  ASSERT_TRUE(second) << second.error().message;
  auto dry = cache.Prune({*hash}, true);
  ASSERT_TRUE(dry) << dry.error().message;
  ASSERT_EQ(dry->size(), 1u);
  EXPECT_EQ((*dry)[0].hash, second->hash);
  EXPECT_GT((*dry)[0].bytes, 0u);
  EXPECT_TRUE(fs::exists(second->venv));  // a dry run removes nothing
  auto pruned = cache.Prune({*hash}, false);
  ASSERT_TRUE(pruned);
  EXPECT_FALSE(fs::exists(second->venv));
  EXPECT_TRUE(cache.Find(*hash).has_value());
}

// ---- images (real podman and the test base image) ---------------------------------------------

// Runs `command` in `image` with `placement`'s mounts and variables, as a run would.
std::string RunIn(const RunPlacement& placement, const std::string& command) {
  std::string args;
  for (const auto& m : placement.container->mounts) {
    args += " -v " + m.source + ":" + m.target + (m.read_only ? ":ro" : "");
  }
  for (const auto& [k, v] : placement.container->env) args += " --env '" + k + "=" + v + "'";
  return Output("CONTAINERS_CONF=$(" OVERDRIVE_SOURCE_DIR "/scripts/podman.sh conf) podman run "
                "--rm --pull=never --network none" + args + " " + placement.container->image +
                " /bin/sh -c \"" + command + "\" 2>&1");
}

TEST_F(EnvironmentCacheTest, AnImageWithACondaFileGetsAVenvMadeByTheImagesPythonOnce) {
  OD_REQUIRE_PODMAN();
  fs::path wheels = BuildWheel();
  ::setenv("PIP_FIND_LINKS", wheels.c_str(), 1);
  ::setenv("PIP_NO_INDEX", "1", 1);
  EnvironmentCache cache(root_ / "envs");
  CondaSpec conda;
  conda.python = "3";
  conda.conda_dependencies = {"pip"};
  conda.pip = {"odtestpkg==0.1"};
  EnvironmentSpec spec = Spec("dependencies:\n  - python=3\n  - pip:\n    - odtestpkg==0.1\n", conda);
  spec.image = kTestImage;
  auto built = cache.Ensure(spec);
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_TRUE(built->built_now);
  EXPECT_EQ(built->kind, "image");
  EXPECT_EQ(built->image, kTestImage);
  EXPECT_FALSE(built->built_image);  // the image itself is not changed
  ASSERT_FALSE(built->venv.empty());
  RunPlacement placement = built->Placement("/host/bin");
  ASSERT_TRUE(placement.container);
  EXPECT_TRUE(placement.env.empty());  // nothing of the host's PATH goes in
  EXPECT_EQ(placement.container->env["PATH"].rfind((built->venv / "bin").string() + ":", 0), 0u);
  ASSERT_EQ(placement.container->mounts.size(), 1u);
  EXPECT_TRUE(placement.container->mounts[0].read_only);
  // `python3` in the container is the venv's, and it has the wheel pip installed from the
  // host's wheel folder (mounted into the build).
  EXPECT_EQ(RunIn(placement, "python3 -c 'import odtestpkg, sys; print(odtestpkg.MESSAGE, sys.prefix)'"),
            "hello from the wheel " + built->venv.string());
  auto again = cache.Ensure(spec);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->built_now);
}

TEST_F(EnvironmentCacheTest, ABuildContextIsBuiltIntoAnImageThatPruneRemoves) {
  OD_REQUIRE_PODMAN();
  fs::path ctx = root_ / "ctx";
  WriteFile(ctx / "Containerfile", std::string("FROM ") + kTestImage +
                                       "\nCOPY marker.txt /opt/marker.txt\n");
  WriteFile(ctx / "marker.txt", "made by the build context " + root_.filename().string() + "\n");
  EnvironmentSpec spec;
  spec.build_path = ctx;
  spec.dockerfile_path = "Containerfile";
  EnvironmentCache cache(root_ / "envs");
  auto built = cache.Ensure(spec);
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_TRUE(built->built_image);
  EXPECT_EQ(built->image.rfind("localhost/overdrive-env:", 0), 0u) << built->image;
  EXPECT_EQ(RunIn(built->Placement(""), "cat /opt/marker.txt"),
            "made by the build context " + root_.filename().string());
  auto listed = cache.List();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].image, built->image);
  EXPECT_GT((*listed)[0].bytes, 1000000u);  // the image counts
  // A changed context is another build.
  WriteFile(ctx / "marker.txt", "changed\n");
  auto hash = cache.Hash(spec);
  ASSERT_TRUE(hash);
  EXPECT_NE(*hash, built->hash);
  auto pruned = cache.Prune({}, false);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_FALSE(ImageExists(built->image));
}

TEST_F(EnvironmentCacheTest, AFailingContainerfileFailsTheBuildWithItsStepAndKeepsNothing) {
  OD_REQUIRE_PODMAN();
  fs::path ctx = root_ / "bad";
  WriteFile(ctx / "Dockerfile", std::string("FROM ") + kTestImage + "\nRUN exit 7\n");
  EnvironmentSpec spec;
  spec.build_path = ctx;
  spec.dockerfile_path = "Dockerfile";
  spec.build_pos = {"env.yml", 4, 3};
  EnvironmentCache cache(root_ / "envs");
  auto built = cache.Ensure(spec);
  ASSERT_FALSE(built);
  const std::string& m = built.error().message;
  EXPECT_EQ(m.rfind("env.yml:4:3: building the image of", 0), 0u) << m;
  EXPECT_NE(m.find("RUN exit 7"), std::string::npos) << m;
  EXPECT_NE(m.find("build.log"), std::string::npos) << m;
  auto hash = cache.Hash(spec);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(cache.Find(*hash).has_value());
  EXPECT_FALSE(ImageExists("localhost/overdrive-env:" + hash->substr(0, 16)));
}

// `overdrive: {network: host}` says where runs go, not what is built: one build serves both.
TEST_F(EnvironmentCacheTest, TheNetworkGoesToTheRunsContainerNotIntoTheBuild) {
  OD_REQUIRE_PODMAN();
  EnvironmentSpec closed;
  closed.image = kTestImage;
  EnvironmentSpec open = closed;
  open.network = "host";
  EnvironmentCache cache(root_ / "envs");
  EXPECT_EQ(*cache.Hash(closed), *cache.Hash(open));
  auto a = cache.Ensure(closed);
  ASSERT_TRUE(a) << a.error().message;
  auto b = cache.Ensure(open);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_FALSE(b->built_now);
  EXPECT_EQ(a->Placement("").container->network, "none");
  EXPECT_EQ(b->Placement("").container->network, "host");
}

TEST_F(EnvironmentCacheTest, WithoutPodmanAContainerEnvironmentSaysHowToGetIt) {
  const char* path = std::getenv("PATH");
  std::string saved = path ? path : "";
  ::setenv("PATH", (root_ / "no-bin").c_str(), 1);  // no podman to be found
  EnvironmentSpec spec;
  spec.image = kTestImage;
  EnvironmentCache cache(root_ / "envs");
  auto built = cache.Ensure(spec);
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("need podman"), std::string::npos) << built.error().message;
  EXPECT_NE(built.error().message.find("scripts/podman.sh setup"), std::string::npos);
  auto hash = cache.Hash(spec);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(cache.Find(*hash).has_value());
}

TEST_F(EnvironmentCacheTest, AnImageNotInTheLocalStoreIsRefusedNamingIt) {
  OD_REQUIRE_PODMAN();
  EnvironmentSpec spec;
  spec.image = "localhost/no-such-image:1";
  spec.image_pos = {"env.yml", 2, 8};
  EnvironmentCache cache(root_ / "envs");
  auto built = cache.Ensure(spec);
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message.rfind("env.yml:2:8: container image 'localhost/no-such-image:1' "
                                        "is not in the local image store", 0),
            0u)
      << built.error().message;
}

TEST_F(EnvironmentCacheTest, APythonVersionTheImageHasNotIsRefusedNamingIt) {
  OD_REQUIRE_PODMAN();
  EnvironmentCache cache(root_ / "envs");
  CondaSpec conda;
  conda.python = "2.7";
  EnvironmentSpec spec = Spec("dependencies: [python=2.7]\n", conda);
  spec.image = kTestImage;
  auto built = cache.Ensure(spec);
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("python=2.7 cannot be honoured: the image's interpreter"),
            std::string::npos)
      << built.error().message;
}

}  // namespace
}  // namespace overdrive
