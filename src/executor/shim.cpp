// The shim: one process per run that owns the user's command. It lives in its own session so
// the run survives the controller (and a Ctrl-C in the controller's terminal), enforces the
// timeout and the cancel grace period, and leaves exit.json behind for whoever watches next.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "executor/executor.hpp"
#include "executor/run_files.hpp"

extern char** environ;

namespace overdrive {
namespace {

namespace fs = std::filesystem;

struct ShimLaunch {
  std::string command;
  std::string working_dir;
  std::map<std::string, std::string> env;
  std::string cuda_visible_devices;
  bool set_cuda = false;
  double timeout_s = 0;  // 0 = none
  double grace_s = 10;
};

Result<ShimLaunch> ReadLaunch(const fs::path& run_dir) {
  OD_ASSIGN_OR_RETURN(std::string text, run_files::ReadWholeFile(run_dir / run_files::kLaunch));
  try {
    auto j = nlohmann::json::parse(text);
    ShimLaunch l;
    l.command = j.at("command").get<std::string>();
    l.working_dir = j.at("working_dir").get<std::string>();
    l.env = j.value("env", std::map<std::string, std::string>{});
    if (j.contains("cuda_visible_devices")) {
      l.set_cuda = true;
      l.cuda_visible_devices = j.at("cuda_visible_devices").get<std::string>();
    }
    if (j.contains("timeout_s") && !j.at("timeout_s").is_null()) {
      l.timeout_s = j.at("timeout_s").get<double>();
    }
    l.grace_s = j.value("grace_s", 10.0);
    return l;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kIo, "bad " + (run_dir / run_files::kLaunch).string() + ": " +
                                         e.what());
  }
}

void WriteExit(const fs::path& run_dir, const nlohmann::json& record) {
  auto written = run_files::WriteFileAtomic(run_dir / run_files::kExit, record.dump() + "\n");
  if (!written) std::fprintf(stderr, "overdrive shim: %s\n", written.error().message.c_str());
}

// Setup failures still leave an exit record, so the controller reports the reason instead of
// a run that merely vanished.
int FailBeforeStart(const fs::path& run_dir, double started_at, const std::string& message) {
  std::fprintf(stderr, "overdrive shim: %s\n", message.c_str());
  nlohmann::json record = {{"exit_code", 127}, {"signal", 0},       {"timed_out", false},
                           {"canceled", false}, {"started_at", started_at},
                           {"ended_at", WallSeconds()}, {"error", message}};
  WriteExit(run_dir, record);
  return 0;
}

void NoopHandler(int) {}

timespec ToTimespec(double seconds) {
  timespec ts{};
  if (seconds < 0) seconds = 0;
  // Long waits are cut to a day: the loop simply waits again.
  seconds = std::min(seconds, 86400.0);
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  return ts;
}

}  // namespace

int RunShim(int argc, char** argv) {
  // The executor starts us with these blocked already; block them again in case someone runs
  // the shim by hand. They are taken synchronously with sigtimedwait below.
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGINT);
  sigprocmask(SIG_BLOCK, &waited, nullptr);
  // Descriptors the controller left open without close-on-exec (a server's listening socket,
  // a database file) must not be held for as long as the run lasts.
  ::close_range(3, ~0U, 0);
  // A blocked SIGCHLD with the default disposition is kept pending on Linux, but an explicit
  // handler makes that independent of what the parent left us.
  struct sigaction sa {};
  sa.sa_handler = NoopHandler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, nullptr);
  // The controller's terminal may go away; that is not a reason to stop the run.
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  if (argc < 3) {
    std::fprintf(stderr, "usage: overdrive _shim RUN_DIR (internal: started by the executor)\n");
    return 2;
  }
  const double started_at = WallSeconds();
  const fs::path run_dir = argv[2];
  setsid();  // fails only if already a session/group leader, which is fine

  auto launch = ReadLaunch(run_dir);
  if (!launch) return FailBeforeStart(run_dir, started_at, launch.error().message);

  pid_t self = getpid();
  auto self_info = run_files::ReadProcInfo(self);
  nlohmann::json shim_record = {{"pid", self},
                                {"start_time", self_info ? self_info->start_time : 0}};
  if (auto w = run_files::WriteFileAtomic(run_dir / run_files::kShim, shim_record.dump() + "\n");
      !w) {
    return FailBeforeStart(run_dir, started_at, w.error().message);
  }

  // Environment: inherited, then the run's own variables on top.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : launch->env) env[k] = v;
  if (launch->set_cuda) env["CUDA_VISIBLE_DEVICES"] = launch->cuda_visible_devices;
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  const std::string out_path = (run_dir / run_files::kStdout).string();
  const std::string err_path = (run_dir / run_files::kStderr).string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, launch->working_dir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // Its own process group, so a timeout or cancel reaches everything the command started.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  std::string sh_arg0 = "sh", sh_arg1 = "-c";
  char* sh_argv[] = {sh_arg0.data(), sh_arg1.data(), launch->command.data(), nullptr};
  pid_t child = 0;
  int rc = posix_spawn(&child, "/bin/sh", &fa, &attr, sh_argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::string message = "could not start the command in " + launch->working_dir + ": " +
                          std::strerror(rc);
    // The user looks in stderr.log first.
    int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      std::string line = "overdrive: " + message + "\n";
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
    return FailBeforeStart(run_dir, started_at, message);
  }
  const pid_t group = child;
  {
    auto info = run_files::ReadProcInfo(group);
    nlohmann::json g = {{"pgid", group}, {"start_time", info ? info->start_time : 0}};
    (void)run_files::WriteFileAtomic(run_dir / run_files::kGroup, g.dump() + "\n");
  }

  const double inf = std::numeric_limits<double>::infinity();
  const double t0 = MonotonicSeconds();
  const double deadline = launch->timeout_s > 0 ? t0 + launch->timeout_s : inf;
  bool timed_out = false, canceled = false, killed = false;
  double kill_at = inf;
  int status = 0;
  auto begin_stop = [&](double now) {
    kill(-group, SIGTERM);
    kill_at = now + std::max(0.0, launch->grace_s);
  };
  while (true) {
    pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) {
      status = 0;
      break;
    }
    double now = MonotonicSeconds();
    bool stopping = timed_out || canceled;
    if (!stopping && now >= deadline) {
      timed_out = true;
      begin_stop(now);
      stopping = true;
    }
    if (stopping && !killed && now >= kill_at) {
      kill(-group, SIGKILL);
      killed = true;
    }
    double next = stopping ? (killed ? inf : kill_at) : deadline;
    timespec ts = ToTimespec(next - now);
    siginfo_t info;
    int sig = sigtimedwait(&waited, &info, &ts);
    if ((sig == SIGTERM || sig == SIGINT) && !(timed_out || canceled)) {
      canceled = true;
      begin_stop(MonotonicSeconds());
    }
  }
  // Whatever the command left running in its group (a background job, a stuck child) ends
  // with the run: it would otherwise hold the run's CPUs or GPUs unseen.
  kill(-group, SIGKILL);

  int exit_code = 0, signal_no = 0;
  if (WIFEXITED(status)) {
    exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    signal_no = WTERMSIG(status);
    exit_code = 128 + signal_no;
  }
  nlohmann::json record = {{"exit_code", exit_code}, {"signal", signal_no},
                           {"timed_out", timed_out}, {"canceled", canceled},
                           {"started_at", started_at}, {"ended_at", WallSeconds()}};
  WriteExit(run_dir, record);
  return 0;
}

}  // namespace overdrive
