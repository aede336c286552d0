// Container runs (LaunchSpec::container) with real Podman and the test base image of
// scripts/podman.sh (localhost/overdrive-base:latest: Debian minbase + python3), on the local
// executor (this test binary is the shim, see local_executor_test.cpp's main) and on Slurm (the
// one-node cluster of scripts/slurm.sh, with OVERDRIVE_TEST_SLURM=1, as the conformance suite).
// scripts/test.sh sets podman up and OVERDRIVE_TEST_PODMAN=1: then a podman that does not work
// fails these tests; without it they are skipped with the reason, and OVERDRIVE_TEST_PODMAN=0
// skips them on purpose. The command-line builders (container.hpp) are checked as data, and
// their POSIX sh halves by running them with /bin/sh.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/container.hpp"
#include "podman_test_util.hpp"
#include "executor/executor.hpp"
#include "executor/run_records.hpp"
#include "executor/slurm_executor.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kImage = kTestImage;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ContainerExists(const std::string& name) {
  return RunPodmanQuietly({"container", "exists", name}, 30) == 0;
}

bool IsFinal(ExecState s) { return s != ExecState::kQueued && s != ExecState::kRunning; }

// ---- the runs, on each executor -----------------------------------------------------------------

class ContainerRuns : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    OD_REQUIRE_PODMAN();
    if (GetParam() == "slurm") {
      const char* on = std::getenv("OVERDRIVE_TEST_SLURM");
      if (!on || std::string(on) != "1") {
        GTEST_SKIP() << "the Slurm cases need a running cluster: run `scripts/slurm.sh start` "
                        "and set OVERDRIVE_TEST_SLURM=1 (scripts/test.sh does both)";
      }
    }
    std::string tmpl = ::testing::TempDir() + "overdrive_container_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  }
  void TearDown() override {
    for (const auto& name : names_) RemoveContainer(name);
    if (root_.empty()) return;
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<Executor> Make() {
    if (GetParam() == "slurm") {
      SlurmOptions o;
      o.target = "test-cluster";
      o.partition = "debug";
      o.poll_interval_s = 0.3;
      return std::make_unique<SlurmExecutor>(o);
    }
    LocalExecutorOptions o;
    o.cpu_slots = 4;
    o.gpus = {"0"};  // a GPU slot for the CDI case; nothing else asks for one
    o.detect = false;
    o.shim_path = fs::read_symlink("/proc/self/exe").string();
    auto e = MakeLocalExecutor(o);
    EXPECT_TRUE(e) << e.error().message;
    return e ? std::move(*e) : nullptr;
  }

  double Patience() const { return GetParam() == "slurm" ? 120 : 30; }

  LaunchSpec Spec(const std::string& name, const std::string& command,
                  const std::string& image = kImage) {
    LaunchSpec s;
    s.run_id = "ctr-" + name + "-" + GetParam() + "-" + std::to_string(::getpid());
    s.command = command;
    s.run_dir = root_ / name;
    s.working_dir = root_ / name / "wd";
    fs::create_directories(s.working_dir);
    s.env = {{"OVERDRIVE_RUN_DIR", s.run_dir.string()},
             {"OVERDRIVE_METRICS_FILE", (s.run_dir / "metrics.jsonl").string()}};
    s.grace_s = 1;
    s.container = ContainerSpec{image, "none", {}};
    names_.push_back(ContainerName(s.run_id));
    return s;
  }

  ExecUpdate RunToEnd(Executor& e, const LaunchSpec& spec) {
    auto r = e.Submit(spec);
    EXPECT_TRUE(r) << r.error().message;
    return WaitFinal(e, spec.run_id);
  }

  ExecUpdate WaitFinal(Executor& e, const std::string& id) {
    const double end = MonotonicSeconds() + Patience();
    while (MonotonicSeconds() < end) {
      for (auto& u : e.Poll()) {
        if (u.run_id == id && IsFinal(u.state)) return u;
      }
      e.Wait(milliseconds(100));
    }
    ADD_FAILURE() << id << " not reported final within " << Patience() << " s";
    return ExecUpdate{};
  }

  // Polls until the run's container exists (it is running), or fails the test.
  void WaitForContainer(Executor& e, const std::string& run_id) {
    const double end = MonotonicSeconds() + Patience();
    while (MonotonicSeconds() < end) {
      for (auto& u : e.Poll()) {
        if (u.run_id == run_id) ASSERT_FALSE(IsFinal(u.state)) << u.reason;
      }
      if (ContainerExists(ContainerName(run_id))) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "the container of " << run_id << " never appeared";
  }

  fs::path root_;
  std::vector<std::string> names_;
};

TEST_P(ContainerRuns, TheCommandRunsInTheImageWithTheRunFolderMountedAsTheSubmittingUser) {
  auto e = Make();
  ASSERT_TRUE(e);
  // A host file outside the mounts must not be visible; one the image has (podman's marker of
  // a container) must be; the run's variables come in, the host's do not.
  fs::path outside = root_ / "outside.txt";
  std::ofstream(outside) << "host only\n";
  ::setenv("OVERDRIVE_TEST_HOST_ONLY", "leaked", 1);
  const std::string ids = std::to_string(::getuid()) + ":" + std::to_string(::getgid());
  auto spec = Spec("inside",
                   "set -e; test -f /run/.containerenv; test ! -e " + ShellQuote(outside.string()) +
                       "; test -z \"${OVERDRIVE_TEST_HOST_ONLY:-}\"; "
                       "test \"$(id -u):$(id -g)\" = " +
                       ids +
                       "; "
                       "test \"$PWD\" = " +
                       ShellQuote((root_ / "inside" / "wd").string()) +
                       "; "
                       ". /etc/os-release; echo \"os=$VERSION_CODENAME param=$MY_PARAM\"; "
                       "python3 -c 'print(\"py=ok\")'; echo made > made.txt; mkdir -p outputs; "
                       "echo out > outputs/model.txt; "
                       "printf '{\"name\": \"loss\", \"value\": 0.5, \"step\": 1}\\n' >> "
                       "\"$OVERDRIVE_METRICS_FILE\"; echo to-stderr >&2");
  spec.env["MY_PARAM"] = "lr=0.1 'quoted'";
  auto u = RunToEnd(*e, spec);
  ::unsetenv("OVERDRIVE_TEST_HOST_ONLY");
  EXPECT_EQ(u.state, ExecState::kExited) << u.reason;
  EXPECT_EQ(u.exit_code, 0) << ReadText(spec.run_dir / "stderr.log");
  std::string out = ReadText(spec.run_dir / "stdout.log");
  EXPECT_NE(out.find("os=bookworm param=lr=0.1 'quoted'"), std::string::npos) << out;
  EXPECT_NE(out.find("py=ok"), std::string::npos) << out;
  EXPECT_NE(ReadText(spec.run_dir / "stderr.log").find("to-stderr"), std::string::npos);
  EXPECT_EQ(ReadText(spec.working_dir / "made.txt"), "made\n");
  EXPECT_EQ(ReadText(spec.working_dir / "outputs" / "model.txt"), "out\n");
  EXPECT_NE(ReadText(spec.run_dir / "metrics.jsonl").find("\"loss\""), std::string::npos);
  // The files belong to the submitting user, and the container is gone (--rm).
  struct stat st {};
  ASSERT_EQ(::stat((spec.working_dir / "made.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getuid());
  EXPECT_EQ(st.st_gid, ::getgid());
  EXPECT_FALSE(ContainerExists(ContainerName(spec.run_id)));
}

TEST_P(ContainerRuns, TheCommandsExitCodeIsTheRuns) {
  auto e = Make();
  ASSERT_TRUE(e);
  auto u = RunToEnd(*e, Spec("exit", "echo failing >&2; exit 7"));
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 7);
  EXPECT_NE(u.reason.find("exited with code 7"), std::string::npos) << u.reason;
}

TEST_P(ContainerRuns, CancelStopsTheContainerAndLeavesNothing) {
  auto e = Make();
  ASSERT_TRUE(e);
  // One command that ends on SIGTERM (forwarded into the container), one that ignores it (the
  // container is killed after the grace period).
  auto polite = Spec("cancel", "sleep 60");
  auto stubborn = Spec("cancel-stubborn", "trap '' TERM; sleep 60");
  for (const auto* spec : {&polite, &stubborn}) {
    ASSERT_TRUE(e->Submit(*spec));
    WaitForContainer(*e, spec->run_id);
    const double t0 = MonotonicSeconds();
    ASSERT_TRUE(e->Cancel(spec->run_id));
    auto u = WaitFinal(*e, spec->run_id);
    EXPECT_EQ(u.state, ExecState::kCanceled) << spec->run_id << ": " << u.reason;
    EXPECT_LT(MonotonicSeconds() - t0, GetParam() == "slurm" ? 30 : 10) << spec->run_id;
    // `podman ps -a` has nothing of the run, now or a moment later (a killed podman's conmon).
    EXPECT_FALSE(ContainerExists(ContainerName(spec->run_id))) << spec->run_id;
    std::this_thread::sleep_for(milliseconds(500));
    EXPECT_FALSE(ContainerExists(ContainerName(spec->run_id))) << spec->run_id;
  }
}

TEST_P(ContainerRuns, TimeoutEndsTheRunAndItsContainer) {
  auto e = Make();
  ASSERT_TRUE(e);
  auto spec = Spec("timeout", "sleep 60");
  spec.timeout_s = 2;
  const double t0 = MonotonicSeconds();
  auto u = RunToEnd(*e, spec);
  EXPECT_EQ(u.state, ExecState::kTimedOut) << u.reason;
  EXPECT_LT(MonotonicSeconds() - t0, GetParam() == "slurm" ? 60 : 15);
  EXPECT_FALSE(ContainerExists(ContainerName(spec.run_id)));
}

TEST_P(ContainerRuns, AMissingImageIsAClearFailure) {
  auto e = Make();
  ASSERT_TRUE(e);
  auto u = RunToEnd(*e, Spec("noimage", "true", "localhost/overdrive-test-no-such-image:1"));
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.exit_code, 125);
  EXPECT_NE(u.reason.find("container image 'localhost/overdrive-test-no-such-image:1' is not in "
                          "the local image store of"),
            std::string::npos)
      << u.reason;
  EXPECT_NE(u.reason.find("never pulled"), std::string::npos) << u.reason;
}

// There is no CDI specification on this machine, so a GPU run's devices cannot be set up: that
// shows the device reaches podman, and that podman's own error becomes the run's reason.
TEST_P(ContainerRuns, GpusGoInAsCdiDevicesAndPodmansErrorsAreTheReason) {
  auto e = Make();
  ASSERT_TRUE(e);
  auto spec = Spec("gpu", "true");
  spec.gpus = 1;
  auto u = RunToEnd(*e, spec);
  if (u.exit_code == 0) GTEST_SKIP() << "this machine has a CDI spec for nvidia.com/gpu";
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_NE(u.reason.find("podman could not run the container"), std::string::npos) << u.reason;
  EXPECT_NE(u.reason.find("nvidia.com/gpu="), std::string::npos) << u.reason;
  EXPECT_NE(u.reason.find("scripts/podman.sh check"), std::string::npos) << u.reason;
}

TEST_P(ContainerRuns, SubmitRefusesWhatCannotRunInAContainer) {
  auto e = Make();
  ASSERT_TRUE(e);
  auto spec = Spec("refused", "true");
  spec.distribution = "pytorch";
  spec.processes_per_node = 2;
  auto r = e->Submit(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot run in a container yet"), std::string::npos)
      << r.error().message;
  spec = Spec("badmount", "true");
  spec.container->mounts.push_back({"/data:x", "/data"});
  r = e->Submit(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("contains ':'"), std::string::npos) << r.error().message;
  spec = Spec("noimg", "true", "");
  r = e->Submit(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("needs an image"), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Executors, ContainerRuns, ::testing::Values("local", "slurm"),
                         [](const auto& info) { return info.param; });

// ---- the command line, as data ------------------------------------------------------------------

// The output of a POSIX sh script run with /bin/sh, with `env` added to the environment.
std::string RunSh(const std::string& script, const std::map<std::string, std::string>& env) {
  std::string line =
      "env -u CONTAINERS_CONF -u OVERDRIVE_CONTAINERS_CONF -u SLURM_JOB_GPUS "
      "-u CUDA_VISIBLE_DEVICES";
  for (const auto& [k, v] : env) line += " " + ShellQuote(k + "=" + v);
  line += " /bin/sh -c " + ShellQuote(script);
  FILE* p = ::popen(line.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(PodmanCommand, HeadAndTailCarryTheLaunch) {
  PodmanRun r;
  r.name = ContainerName("run/1 x");
  r.container = ContainerSpec{"localhost/img:1", "host", {{"/data", "/in", true}}, {{"B", "/x y"}}};
  r.run_dir = "/ws/runs/r1";
  r.working_dir = "/ws/runs/r1/wd";
  r.env_names = {"A", "B"};
  r.command = "python3 train.py";
  EXPECT_EQ(r.name, "od-run-1-x");
  std::string head = Join(PodmanRunHead(r), " ");
  EXPECT_EQ(head,
            "podman run --rm --replace --name od-run-1-x --init --sig-proxy=true --pull=never "
            "--log-driver passthrough --network host -w /ws/runs/r1/wd -v /ws/runs/r1:/ws/runs/r1 "
            "-v /ws/runs/r1/wd:/ws/runs/r1/wd -v /data:/in:ro --env A --env B=/x y");
  EXPECT_EQ(PodmanRunTail(r),
            (std::vector<std::string>{"localhost/img:1", "/bin/sh", "-c", "python3 train.py"}));
  EXPECT_EQ(Join(PodmanNodeOptions(1000, 100, {}), " "), "--user 1000:100");
  EXPECT_EQ(Join(PodmanNodeOptions(0, 0, {"1", "GPU-abc"}), " "),
            "--user 0:0 --device nvidia.com/gpu=1 --device nvidia.com/gpu=GPU-abc "
            "--env CUDA_VISIBLE_DEVICES");
  EXPECT_EQ(ContainerCudaVisibleDevices(3), "0,1,2");
  EXPECT_EQ(ContainerCudaVisibleDevices(0), "");
}

TEST(PodmanCommand, TheShellNodeOptionsMatchTheShims) {
  const std::string show = "\nprintf '%s\\n' \"$@\"; echo \"cvd=${CUDA_VISIBLE_DEVICES:-}\"";
  const std::string ids = std::to_string(::getuid()) + ":" + std::to_string(::getgid());
  EXPECT_EQ(RunSh(PodmanNodeOptionsShell(false) + show, {{"SLURM_JOB_GPUS", "1,3"}}),
            "--user\n" + ids + "\ncvd=\n");
  EXPECT_EQ(RunSh(PodmanNodeOptionsShell(true) + show, {{"SLURM_JOB_GPUS", "1,3"}}),
            "--user\n" + ids +
                "\n--device\nnvidia.com/gpu=1\n--device\nnvidia.com/gpu=3\n--env\n"
                "CUDA_VISIBLE_DEVICES\ncvd=0,1\n");
  // Without SLURM_JOB_GPUS, the node's CUDA_VISIBLE_DEVICES; with neither, no GPUs.
  EXPECT_EQ(
      RunSh(PodmanNodeOptionsShell(true) + show, {{"CUDA_VISIBLE_DEVICES", "2"}}),
      "--user\n" + ids + "\n--device\nnvidia.com/gpu=2\n--env\nCUDA_VISIBLE_DEVICES\ncvd=0\n");
  EXPECT_EQ(RunSh(PodmanNodeOptionsShell(true) + show, {}), "--user\n" + ids + "\ncvd=\n");
}

TEST(PodmanCommand, ContainersConfIsLookedUpAlikeInCAndSh) {
  std::string tmpl = ::testing::TempDir() + "overdrive_conf_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  fs::path dir = tmpl;
  fs::path mine = dir / "mine.conf";
  std::ofstream(mine) << "[engine]\n";
  fs::create_directories(dir / "xdg" / "overdrive");
  std::ofstream(dir / "xdg" / "overdrive" / "containers.conf") << "[engine]\n";
  const std::string show = "\necho \"conf=${CONTAINERS_CONF:-}\"";
  const bool etc = fs::exists("/etc/overdrive/containers.conf");
  std::map<std::string, std::string> env;
  auto lookup = [&env](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto expect = [&](const std::string& want) {
    EXPECT_EQ(ContainersConf(lookup).value_or(""), want);
    EXPECT_EQ(RunSh(ContainersConfShell() + show, env), "conf=" + want + "\n");
  };
  env = {{"OVERDRIVE_CONTAINERS_CONF", mine.string()}};
  expect(mine.string());
  env = {{"XDG_CONFIG_HOME", (dir / "xdg").string()}, {"HOME", "/nonexistent"}};
  expect(etc ? "/etc/overdrive/containers.conf"
             : (dir / "xdg" / "overdrive" / "containers.conf").string());
  // A CONTAINERS_CONF of the user's is left alone.
  env = {{"OVERDRIVE_CONTAINERS_CONF", mine.string()}, {"CONTAINERS_CONF", "/theirs.conf"}};
  EXPECT_FALSE(ContainersConf(lookup));
  EXPECT_EQ(RunSh("CONTAINERS_CONF=/theirs.conf; " + ContainersConfShell() + show, env),
            "conf=/theirs.conf\n");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(PodmanCommand, FailureReasons) {
  EXPECT_EQ(ContainerFailureReason("img", 0, false, "", "this machine"), "");
  EXPECT_EQ(ContainerFailureReason("img", 1, false, "", "this machine"), "");
  EXPECT_EQ(ContainerFailureReason("img", 125, true, "", "this machine"), "");
  EXPECT_NE(ContainerFailureReason("img", 125, false, "", "node n1")
                .find("container image 'img' is not in the local image store of node n1"),
            std::string::npos);
  EXPECT_EQ(LastPodmanError("x\nError: one\nError: two \nsh: y\n"), "two");
  EXPECT_EQ(LastPodmanError("no errors\n"), "");
}

TEST(PodmanCommand, TheLaunchRecordKeepsTheContainer) {
  LaunchRecord l;
  l.command = "true";
  l.working_dir = "/wd";
  l.container = ContainerSpec{"localhost/a:b", "none", {{"/s", "/t", true}, {"/u", "/v", false}},
                              {{"PATH", "/venv/bin:/usr/bin"}}};
  auto back = DecodeLaunchRecord(EncodeLaunchRecord(l));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->container);
  EXPECT_EQ(back->container->env, l.container->env);
  EXPECT_EQ(back->container->image, "localhost/a:b");
  EXPECT_EQ(back->container->network, "none");
  ASSERT_EQ(back->container->mounts.size(), 2u);
  EXPECT_EQ(back->container->mounts[0].source, "/s");
  EXPECT_TRUE(back->container->mounts[0].read_only);
  EXPECT_FALSE(back->container->mounts[1].read_only);
  l.container.reset();
  back = DecodeLaunchRecord(EncodeLaunchRecord(l));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->container);
  EXPECT_FALSE(
      DecodeLaunchRecord(R"({"command":"x","working_dir":"/","container":{"network":"none"}})"));
  EXPECT_FALSE(DecodeLaunchRecord(R"({"command":"x","working_dir":"/","container":"img"})"));
}

}  // namespace
}  // namespace overdrive
