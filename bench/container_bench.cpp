// Per-run cost of a container run (LaunchSpec::container) over a bare run on the local
// executor: N runs of one command, one at a time, bare and in the container interleaved so load
// changes on a shared box hit both; each timed from Submit to its final update. References
// beside them: `podman run` of the same image by itself (what podman costs without Overdrive)
// and posix_spawn of `/bin/sh -c COMMAND` (a process). A markdown table on stdout.
// This binary is its own shim (`_shim`), as the test binaries are; bench/run_container_bench.sh
// builds and runs it.
//   container_bench [--runs=20] [--image=localhost/overdrive-base:latest] [--command=true]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "executor/container.hpp"
#include "executor/executor.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace overdrive;

struct Stats {
  double median = 0, p90 = 0, mean = 0, min = 0, max = 0;
};

Stats Summarize(std::vector<double> ms) {
  Stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.median = ms[ms.size() / 2];
  s.p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  for (double v : ms) s.mean += v;
  s.mean /= static_cast<double>(ms.size());
  s.min = ms.front();
  s.max = ms.back();
  return s;
}

// Submit -> final update, in ms; -1 on a failure (printed).
double TimeRun(Executor& e, const LaunchSpec& spec) {
  const double t0 = MonotonicSeconds();
  if (auto r = e.Submit(spec); !r) {
    std::fprintf(stderr, "submit %s: %s\n", spec.run_id.c_str(), r.error().message.c_str());
    return -1;
  }
  while (true) {
    for (const auto& u : e.Poll()) {
      if (u.run_id != spec.run_id || u.state == ExecState::kQueued ||
          u.state == ExecState::kRunning) {
        continue;
      }
      double ms = (MonotonicSeconds() - t0) * 1000;
      if (u.state != ExecState::kExited || u.exit_code != 0) {
        std::fprintf(stderr, "run %s ended %s (exit %d): %s\n", spec.run_id.c_str(),
                     ExecStateName(u.state), u.exit_code, u.reason.c_str());
        return -1;
      }
      return ms;
    }
    e.Wait(std::chrono::milliseconds(100));
  }
}

// posix_spawn + wait of argv, stdout/stderr to /dev/null, in ms; -1 when it failed.
double TimeSpawn(std::vector<std::string> args, const std::vector<std::string>& extra_env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> envp, argv;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 01, 0);  // O_WRONLY
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 01, 0);
  const double t0 = MonotonicSeconds();
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return (MonotonicSeconds() - t0) * 1000;
}

std::string Arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "_shim") return overdrive::RunShim(argc, argv);
  const int runs = std::max(1, std::atoi(Arg(argc, argv, "runs", "20").c_str()));
  const std::string image = Arg(argc, argv, "image", "localhost/overdrive-base:latest");
  const std::string command = Arg(argc, argv, "command", "true");

  char tmpl[] = "/tmp/overdrive_container_bench_XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path root = tmpl;
  LocalExecutorOptions o;
  o.cpu_slots = 1;
  o.detect = false;
  o.shim_path = fs::read_symlink("/proc/self/exe").string();
  auto executor = MakeLocalExecutor(o);
  if (!executor) {
    std::fprintf(stderr, "%s\n", executor.error().message.c_str());
    return 1;
  }
  Executor& e = **executor;
  auto spec = [&](const std::string& id, bool container) {
    LaunchSpec s;
    s.run_id = id;
    s.command = command;
    s.run_dir = root / id;
    s.working_dir = root / id / "wd";
    fs::create_directories(s.working_dir);
    if (container) s.container = ContainerSpec{image, "none", {}};
    return s;
  };
  std::vector<std::string> podman = {"podman",       "run",       "--rm", "--init",
                                     "--pull=never", "--network", "none", image,
                                     "/bin/sh",      "-c",        command};
  std::vector<std::string> conf_env;
  if (auto conf = ContainersConf(std::getenv)) conf_env.push_back("CONTAINERS_CONF=" + *conf);

  // One of each first, untimed: page cache, podman's storage.
  if (TimeRun(e, spec("warm-bare", false)) < 0 || TimeRun(e, spec("warm-ctr", true)) < 0 ||
      TimeSpawn(podman, conf_env) < 0) {
    std::fprintf(stderr,
                 "a warm-up run failed: is podman set up (scripts/podman.sh setup) and "
                 "%s there (scripts/podman.sh base-image)?\n",
                 image.c_str());
    return 1;
  }
  std::vector<double> bare, ctr, plain_podman, sh;
  for (int i = 0; i < runs; ++i) {
    double b = TimeRun(e, spec("bare-" + std::to_string(i), false));
    double c = TimeRun(e, spec("ctr-" + std::to_string(i), true));
    double p = TimeSpawn(podman, conf_env);
    double s = TimeSpawn({"/bin/sh", "-c", command}, {});
    if (b < 0 || c < 0 || p < 0 || s < 0) return 1;
    bare.push_back(b);
    ctr.push_back(c);
    plain_podman.push_back(p);
    sh.push_back(s);
    std::fprintf(stderr, "\r%d/%d", i + 1, runs);
  }
  std::fprintf(stderr, "\n");
  std::error_code ec;
  fs::remove_all(root, ec);

  Stats sb = Summarize(bare), sc = Summarize(ctr), sp = Summarize(plain_podman), ss = Summarize(sh);
  std::printf("Runs of `%s`, %d each, one at a time (ms, Submit to final update; %s)\n\n",
              command.c_str(), runs, image.c_str());
  std::printf("| run | median | p90 | mean | min | max |\n|---|---:|---:|---:|---:|---:|\n");
  auto row = [](const char* name, const Stats& s) {
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", name, s.median, s.p90, s.mean, s.min,
                s.max);
  };
  row("local executor, bare process", sb);
  row("local executor, in a container", sc);
  row("reference: `podman run` alone", sp);
  row("reference: `/bin/sh -c` alone", ss);
  std::printf(
      "\ncontainer / bare (median): %.1fx; container overhead per run: %.0f ms "
      "(goal: <= 300 ms); of which podman itself: %.0f ms\n",
      sb.median > 0 ? sc.median / sb.median : 0, sc.median - sb.median, sp.median - ss.median);
  return 0;
}
