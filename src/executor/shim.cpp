// The shim: one process per run that owns the user's command. It lives in its own session so
// the run survives the controller (and a Ctrl-C in the controller's terminal), enforces the
// timeout and the cancel grace period, and leaves exit.json behind for whoever watches next.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/container.hpp"
#include "executor/executor.hpp"
#include "executor/run_files.hpp"
#include "executor/run_records.hpp"

extern char** environ;

namespace overdrive {
namespace {

namespace fs = std::filesystem;

int World(const LaunchRecord& l) {
  return l.distribution.empty() ? 1 : l.nodes * l.processes_per_node;
}

Result<LaunchRecord> ReadLaunch(const fs::path& run_dir) {
  const fs::path path = run_dir / run_files::kLaunch;
  OD_ASSIGN_OR_RETURN(std::string text, run_files::ReadWholeFile(path));
  auto l = DecodeLaunchRecord(text);
  if (!l) return MakeError(ErrorCode::kIo, "bad " + path.string() + ": " + l.error().message);
  return l;
}

void WriteExit(const fs::path& run_dir, const ExitRecord& record) {
  if (auto written = WriteExitRecord(run_dir, record); !written) {
    std::fprintf(stderr, "overdrive shim: %s\n", written.error().message.c_str());
  }
}

// Setup failures still leave an exit record, so the controller reports the reason instead of
// a run that merely vanished.
int FailBeforeStart(const fs::path& run_dir, double started_at, const std::string& message) {
  std::fprintf(stderr, "overdrive shim: %s\n", message.c_str());
  ExitRecord record;
  record.exit_code = 127;
  record.started_at = started_at;
  record.ended_at = WallSeconds();
  record.error = message;
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

// A TCP port on 127.0.0.1 that nobody listens on now, for rank 0's torch.distributed store
// (the kernel picks it; the short window before rank 0 binds it is the usual trade-off).
Result<int> FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError(ErrorCode::kIo, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return MakeError(ErrorCode::kIo,
                     std::string("cannot find a free port for MASTER_PORT: ") + std::strerror(err));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// `name` looked up in `path` (a PATH value), "" when not found.
std::string FindProgram(const std::string& name, const std::string& path) {
  for (const auto& dir : Split(path, ':')) {
    if (dir.empty()) continue;
    fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

// One process the shim starts: a rank of a distributed run, or the run's only process.
struct Task {
  int rank = 0;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string out_path, err_path;
  pid_t pid = 0;
  bool done = false;
  int status = 0;
};

// Starts `task` in the process group `pgroup` (0: a new group led by the task).
int SpawnTask(Task& task, const std::string& working_dir, pid_t pgroup) {
  std::vector<std::string> env_strings;
  env_strings.reserve(task.env.size());
  for (const auto& [k, v] : task.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : task.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, task.out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_addopen(&fa, 2, task.err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_addchdir_np(&fa, working_dir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // One process group for the whole run, so a timeout or cancel reaches everything it started.
  posix_spawnattr_setpgroup(&attr, pgroup);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawn(&task.pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// The last `max` bytes of a file ("" when it cannot be read).
std::string FileTail(const std::string& path, off_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = ::lseek(fd, 0, SEEK_END);
  off_t from = size > max ? size - max : 0;
  std::string out(static_cast<size_t>(size - from), '\0');
  ssize_t got = size > from ? ::pread(fd, out.data(), out.size(), from) : 0;
  ::close(fd);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

bool Failed(int status) {
  return (WIFEXITED(status) && WEXITSTATUS(status) != 0) || WIFSIGNALED(status);
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
  ShimRecord shim_record{self, self_info ? self_info->start_time : 0};
  if (auto w = run_files::WriteFileAtomic(run_dir / run_files::kShim, EncodeShimRecord(shim_record));
      !w) {
    return FailBeforeStart(run_dir, started_at, w.error().message);
  }
  ReserveExitRoom(run_dir);

  // Environment: inherited, then the run's own variables on top.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : launch->env) env[k] = v;
  if (launch->cuda_visible_devices) env["CUDA_VISIBLE_DEVICES"] = *launch->cuda_visible_devices;

  const int world = World(*launch);
  const int per_node = launch->processes_per_node;
  if (world > 1 || !launch->distribution.empty()) {
    // torch.distributed's env:// rendezvous; the run's own MASTER_ADDR / MASTER_PORT win.
    if (!launch->env.count("MASTER_ADDR")) env["MASTER_ADDR"] = "127.0.0.1";
    if (!launch->env.count("MASTER_PORT")) {
      auto port = FreeLoopbackPort();
      if (!port) return FailBeforeStart(run_dir, started_at, port.error().message);
      env["MASTER_PORT"] = std::to_string(*port);
    }
    env["WORLD_SIZE"] = std::to_string(world);
    env["LOCAL_WORLD_SIZE"] = std::to_string(per_node);
  }
  std::error_code ec;
  fs::remove(run_dir / run_files::kFailedRank, ec);

  // A container run: the one task is `podman run ...` (container.hpp), with podman's
  // environment carrying the run's variables (passed in by name) and its configuration.
  std::string podman, container_name;
  std::vector<std::string> container_argv;
  if (launch->container) {
    if (!launch->distribution.empty()) {
      return FailBeforeStart(run_dir, started_at,
                             "distributed runs cannot run in a container yet");
    }
    std::string path = env.count("PATH") ? env["PATH"] : "/usr/bin:/bin";
    podman = FindProgram("podman", path);
    if (podman.empty()) {
      return FailBeforeStart(run_dir, started_at,
                             "a container run needs podman, which is not in PATH (" + path +
                                 "); install and configure it with scripts/podman.sh setup "
                                 "(Debian: podman)");
    }
    container_name = ContainerName(launch->run_id.empty() ? run_dir.filename().string()
                                                          : launch->run_id);
    PodmanRun pr;
    pr.name = container_name;
    pr.container = *launch->container;
    pr.run_dir = run_dir.string();
    pr.working_dir = launch->working_dir;
    pr.command = launch->command;
    const bool gpus = launch->cuda_visible_devices.has_value() && !launch->gpu_ids.empty();
    for (const auto& [k, v] : launch->env) {
      if (!(gpus && k == "CUDA_VISIBLE_DEVICES")) pr.env_names.push_back(k);
    }
    std::vector<std::string> gpu_ids = gpus ? launch->gpu_ids : std::vector<std::string>{};
    if (gpus) env["CUDA_VISIBLE_DEVICES"] = ContainerCudaVisibleDevices(gpu_ids.size());
    auto lookup = [&env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    };
    if (auto conf = ContainersConf(lookup)) {
      env["CONTAINERS_CONF"] = *conf;
      // The shim's own podman calls (RemoveContainer, ImageExists) read the same file.
      ::setenv("CONTAINERS_CONF", conf->c_str(), 1);
    }
    container_argv = PodmanRunHead(pr);
    container_argv[0] = podman;
    for (auto& a : PodmanNodeOptions(::getuid(), ::getgid(), gpu_ids)) {
      container_argv.push_back(std::move(a));
    }
    for (auto& a : PodmanRunTail(pr)) container_argv.push_back(std::move(a));
  }

  std::vector<Task> tasks;
  if (launch->distribution == "pytorch") {
    for (int r = 0; r < world; ++r) {
      Task t;
      t.rank = r;
      t.argv = {"/bin/sh", "-c", launch->command};
      t.env = env;
      t.env["RANK"] = std::to_string(r);
      t.env["LOCAL_RANK"] = std::to_string(r % per_node);
      t.env["NODE_RANK"] = std::to_string(r / per_node);
      t.env["GROUP_RANK"] = std::to_string(r / per_node);
      size_t node = static_cast<size_t>(r / per_node);
      if (node < launch->cuda_visible_devices_per_node.size()) {
        t.env["CUDA_VISIBLE_DEVICES"] = launch->cuda_visible_devices_per_node[node];
      }
      t.out_path = (run_dir / run_files::RankLog(r, false)).string();
      t.err_path = (run_dir / run_files::RankLog(r, true)).string();
      tasks.push_back(std::move(t));
    }
  } else {
    Task t;
    t.env = env;
    t.out_path = (run_dir / run_files::kStdout).string();
    t.err_path = (run_dir / run_files::kStderr).string();
    if (launch->distribution == "mpi") {
      std::string path = env.count("PATH") ? env["PATH"] : "/usr/bin:/bin";
      std::string mpirun = FindProgram("mpirun", path);
      if (mpirun.empty()) {
        return FailBeforeStart(run_dir, started_at,
                               "distribution type mpi needs mpirun, which is not in PATH (" +
                                   path + "); install Open MPI (Debian: openmpi-bin)");
      }
      // Open MPI refuses root and more ranks than cores unless told; both are this user's call.
      if (::geteuid() == 0) {
        t.env.try_emplace("OMPI_ALLOW_RUN_AS_ROOT", "1");
        t.env.try_emplace("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
      }
      t.env.try_emplace("OMPI_MCA_rmaps_base_oversubscribe", "1");
      t.argv = {mpirun, "-np", std::to_string(world), "/bin/sh", "-c",
                run_files::RankWrapperScript(), "overdrive-rank", "mpi", run_dir.string(),
                std::to_string(per_node), launch->command};
    } else if (launch->container) {
      t.argv = container_argv;
    } else {
      t.argv = {"/bin/sh", "-c", launch->command};
    }
    tasks.push_back(std::move(t));
  }

  pid_t group = 0;
  for (auto& t : tasks) {
    int rc = SpawnTask(t, launch->working_dir, group);
    if (rc != 0) {
      std::string message = "could not start the command in " + launch->working_dir + ": " +
                            std::strerror(rc);
      if (tasks.size() > 1) message = "rank " + std::to_string(t.rank) + ": " + message;
      // The user looks in stderr.log first.
      int fd = ::open(t.err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        std::string line = "overdrive: " + message + "\n";
        (void)!::write(fd, line.data(), line.size());
        ::close(fd);
      }
      if (group > 0) {
        // Ranks already started must not outlive a run that could not start.
        kill(-group, SIGKILL);
        for (auto& started : tasks) {
          if (started.pid > 0) waitpid(started.pid, nullptr, 0);
        }
      }
      return FailBeforeStart(run_dir, started_at, message);
    }
    if (group == 0) group = t.pid;
  }
  {
    auto info = run_files::ReadProcInfo(group);
    GroupRecord g{group, info ? info->start_time : 0};
    (void)run_files::WriteFileAtomic(run_dir / run_files::kGroup, EncodeGroupRecord(g));
  }

  const double inf = std::numeric_limits<double>::infinity();
  const double t0 = MonotonicSeconds();
  const double deadline =
      launch->timeout_s && *launch->timeout_s > 0 ? t0 + *launch->timeout_s : inf;
  bool timed_out = false, canceled = false, killed = false;
  const Task* failed = nullptr;  // the first rank that failed on its own
  double kill_at = inf;
  auto begin_stop = [&](double now) {
    kill(-group, SIGTERM);
    kill_at = now + std::max(0.0, launch->grace_s);
  };
  while (true) {
    bool all_done = true;
    for (auto& t : tasks) {
      if (t.done) continue;
      int status = 0;
      pid_t r = waitpid(t.pid, &status, WNOHANG);
      if (r == t.pid || (r < 0 && errno != EINTR)) {
        t.done = true;
        t.status = r == t.pid ? status : 0;
        // One failed rank fails the run: its siblings would only wait for it forever.
        if (tasks.size() > 1 && !failed && !timed_out && !canceled && Failed(t.status)) {
          failed = &t;
          begin_stop(MonotonicSeconds());
        }
      } else {
        all_done = false;
      }
    }
    if (all_done) break;
    double now = MonotonicSeconds();
    bool stopping = timed_out || canceled || failed;
    if (!stopping && now >= deadline) {
      timed_out = true;
      begin_stop(now);
      stopping = true;
    }
    if (stopping && !killed && now >= kill_at) {
      kill(-group, SIGKILL);
      killed = true;
      // podman run is gone now, but its container lives on under conmon: stop it by name.
      if (!container_name.empty()) RemoveContainer(container_name, podman);
    }
    double next = stopping ? (killed ? inf : kill_at) : deadline;
    timespec ts = ToTimespec(next - now);
    siginfo_t info;
    int sig = sigtimedwait(&waited, &info, &ts);
    if ((sig == SIGTERM || sig == SIGINT) && !(timed_out || canceled)) {
      canceled = true;
      if (!failed) begin_stop(MonotonicSeconds());
    }
  }
  // Whatever the command left running in its group (a background job, a stuck child) ends
  // with the run: it would otherwise hold the run's CPUs or GPUs unseen.
  kill(-group, SIGKILL);

  const int status = failed ? failed->status : tasks.front().status;
  // A run stopped early, or a podman that did not end by itself, may leave its container
  // (created, or still running under conmon): nothing of the run may outlive it.
  if (!container_name.empty() && !killed &&
      (timed_out || canceled || WIFSIGNALED(status))) {
    RemoveContainer(container_name, podman);
  }
  int exit_code = 0, signal_no = 0;
  if (WIFEXITED(status)) {
    exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    signal_no = WTERMSIG(status);
    exit_code = 128 + signal_no;
  }
  int rank = failed ? failed->rank : -1;
  if (launch->distribution == "mpi" && exit_code != 0) {
    // mpirun's own exit code does not say which rank failed; the rank wrapper wrote it down.
    if (auto text = run_files::ReadWholeFile(run_dir / run_files::kFailedRank)) {
      int r = -1, code = 0;
      if (std::sscanf(text->c_str(), "%d %d", &r, &code) == 2 && r >= 0) {
        rank = r;
        exit_code = code;
        signal_no = exit_code > 128 && exit_code < 160 ? exit_code - 128 : 0;
      }
    }
  }
  ExitRecord record;
  if (launch->container && !timed_out && !canceled && (exit_code == 125 || exit_code == 126)) {
    // podman's own failures (125, 126): say which, rather than an unexplained exit code.
    const std::string& image = launch->container->image;
    record.error = ContainerFailureReason(
        image, exit_code, ImageExists(image, podman),
        LastPodmanError(FileTail(tasks.front().err_path, 64 * 1024)), "this machine");
  }
  record.exit_code = exit_code;
  record.signal = signal_no;
  record.timed_out = timed_out;
  record.canceled = canceled;
  record.started_at = started_at;
  record.ended_at = WallSeconds();
  record.rank = rank;
  WriteExit(run_dir, record);
  return 0;
}

}  // namespace overdrive
