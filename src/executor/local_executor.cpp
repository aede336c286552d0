// LocalExecutor: runs each launch on this machine through a shim process (see shim.cpp), within
// CPU / GPU / memory slots, first come first served.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/container.hpp"
#include "executor/executor.hpp"
#include "executor/run_files.hpp"
#include "executor/run_records.hpp"

extern char** environ;

namespace overdrive {

const char* ExecStateName(ExecState s) {
  switch (s) {
    case ExecState::kQueued: return "queued";
    case ExecState::kRunning: return "running";
    case ExecState::kExited: return "exited";
    case ExecState::kSignaled: return "signaled";
    case ExecState::kTimedOut: return "timed_out";
    case ExecState::kCanceled: return "canceled";
    case ExecState::kLost: return "lost";
  }
  return "unknown";
}

namespace {

namespace fs = std::filesystem;

// ---- SIGCHLD -> self-pipe, shared by every executor in the process ----------------------------

int g_sigchld_pipe[2] = {-1, -1};
struct sigaction g_previous_sigchld {};

void OnSigchld(int sig, siginfo_t* info, void* context) {
  int saved_errno = errno;
  char byte = 1;
  (void)!::write(g_sigchld_pipe[1], &byte, 1);  // a full pipe already says "wake up"
  // Keep whoever was there before working (another library waiting for its own children).
  if (g_previous_sigchld.sa_flags & SA_SIGINFO) {
    if (g_previous_sigchld.sa_sigaction) g_previous_sigchld.sa_sigaction(sig, info, context);
  } else if (g_previous_sigchld.sa_handler != SIG_DFL &&
             g_previous_sigchld.sa_handler != SIG_IGN) {
    g_previous_sigchld.sa_handler(sig);
  }
  errno = saved_errno;
}

void InstallSigchldHandlerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(g_sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
    struct sigaction sa {};
    sa.sa_sigaction = OnSigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, &g_previous_sigchld);
  });
}

void DrainSigchldPipe() {
  char buf[256];
  while (::read(g_sigchld_pipe[0], buf, sizeof buf) > 0) {
  }
}

// ---- capacity detection ----------------------------------------------------------------------

double DetectCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

std::int64_t DetectMemoryMb() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<std::int64_t>(pages) * page_size / (1024 * 1024);
}

bool ExecutableOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  for (const auto& dir : Split(path, ':')) {
    if (dir.empty()) continue;
    if (::access((fs::path(dir) / name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<std::string> DetectGpus() {
  if (const char* env = std::getenv("OVERDRIVE_GPUS")) {
    std::vector<std::string> ids;
    for (const auto& part : Split(env, ',')) {
      std::string id = Trim(part);
      if (!id.empty()) ids.push_back(id);
    }
    return ids;
  }
  std::vector<std::string> ids;
  if (!ExecutableOnPath("nvidia-smi")) return ids;
  FILE* p = ::popen("nvidia-smi -L 2>/dev/null", "r");
  if (!p) return ids;
  char line[512];
  int count = 0;
  while (std::fgets(line, sizeof line, p)) {
    if (StartsWith(line, "GPU ")) ids.push_back(std::to_string(count++));
  }
  ::pclose(p);
  return ids;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return "signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "status " + std::to_string(status);
}

constexpr double kEpsilon = 1e-9;
// How long FindSubmitted waits for a shim that has been started to record itself.
constexpr double kShimStartS = 1.0;

// ---- the executor ----------------------------------------------------------------------------

class LocalExecutor final : public Executor {
 public:
  LocalExecutor(double cpu_slots, std::vector<std::string> gpus, std::int64_t memory_mb,
                std::string shim_path)
      : cpu_slots_(cpu_slots),
        gpus_(std::move(gpus)),
        gpu_used_(gpus_.size(), 0.0),
        memory_mb_(memory_mb),
        shim_path_(std::move(shim_path)) {}

  std::string Name() const override { return "local"; }

  Result<void> Submit(const LaunchSpec& spec) override {
    if (spec.run_id.empty()) return MakeError(ErrorCode::kInvalidInput, "a run needs a run_id");
    if (runs_.contains(spec.run_id)) {
      return MakeError(ErrorCode::kAlreadyExists,
                       "run '" + spec.run_id + "' is already queued or running");
    }
    if (!spec.distribution.empty()) {
      if (spec.distribution != "pytorch" && spec.distribution != "mpi") {
        return MakeError(ErrorCode::kInvalidInput,
                         "run '" + spec.run_id + "': unknown distribution type '" +
                             spec.distribution + "' (pytorch or mpi)");
      }
      if (spec.nodes < 1 || spec.processes_per_node < 1) {
        return MakeError(ErrorCode::kInvalidInput,
                         "run '" + spec.run_id + "': a distributed run needs at least one "
                         "instance and one process per instance");
      }
    }
    // A distributed run takes every rank's resources at once, on this one machine.
    const int world = spec.WorldSize();
    const std::string per_rank =
        world > 1 ? " (" + std::to_string(spec.nodes) +
                        (spec.nodes == 1 ? " instance x " : " instances x ") +
                        std::to_string(spec.processes_per_node) +
                        (spec.processes_per_node == 1 ? " process x " : " processes x ") +
                        FormatDouble(spec.cpus) + ")"
                  : "";
    const double cpus = spec.cpus * world;
    if (!(spec.cpus >= 0) || cpus > cpu_slots_ + kEpsilon) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " + FormatDouble(cpus) + " CPUs" +
                           per_rank + " but this machine offers " + FormatDouble(cpu_slots_) +
                           " (set OVERDRIVE_CPUS to change the number of CPU slots, or lower "
                           "resources.cpus)");
    }
    const bool fractional = spec.gpus > 0 && spec.gpus < 1;
    if (!(spec.gpus >= 0) || (!fractional && spec.gpus != std::floor(spec.gpus))) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " + FormatDouble(spec.gpus) +
                           " GPUs: GPUs are counted in whole units, or a fraction below 1 "
                           "that shares one GPU");
    }
    if (fractional && world > 1) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " + FormatDouble(spec.gpus) +
                           " GPUs per process: a distributed run takes whole GPUs");
    }
    const double gpus = fractional ? 1 : spec.gpus * world;
    if (gpus > static_cast<double>(gpus_.size())) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " + FormatDouble(spec.gpus * world) +
                           " GPUs" +
                           (world > 1 ? " (" + FormatDouble(spec.gpus) + " per process)" : "") +
                           " but this machine offers " + std::to_string(gpus_.size()) +
                           (gpus_.empty() ? "" : " (" + Join(gpus_, ",") + ")") +
                           " (set OVERDRIVE_GPUS=0,1,... to name the GPUs to use)");
    }
    if (spec.memory_mb < 0 || (memory_mb_ > 0 && spec.memory_mb * world > memory_mb_)) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " +
                           std::to_string(spec.memory_mb * world) + " MB of memory" +
                           (world > 1 ? " (" + std::to_string(spec.memory_mb) + " MB per process)"
                                      : std::string()) +
                           " but this machine has " + std::to_string(memory_mb_) + " MB");
    }
    if (spec.timeout_s && !(*spec.timeout_s > 0)) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "': the timeout must be more than 0 seconds");
    }
    if (!(spec.grace_s >= 0)) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "': the grace period cannot be negative");
    }
    if (spec.container) {
      OD_TRY(ValidateContainer(spec.run_id, *spec.container));
      if (!spec.distribution.empty()) {
        return MakeError(ErrorCode::kInvalidInput,
                         "run '" + spec.run_id + "': distributed runs (distribution: " +
                             spec.distribution + ") cannot run in a container yet");
      }
    }
    std::error_code ec;
    if (!fs::is_directory(spec.run_dir, ec)) {
      return MakeError(ErrorCode::kNotFound, "run folder " + spec.run_dir.string() +
                                                 " does not exist");
    }
    if (!fs::is_directory(spec.working_dir, ec)) {
      return MakeError(ErrorCode::kNotFound, "working directory " + spec.working_dir.string() +
                                                 " does not exist");
    }
    InstallSigchldHandlerOnce();
    Run run;
    run.spec = spec;
    run.spec.run_dir = fs::absolute(spec.run_dir, ec);
    run.spec.working_dir = fs::absolute(spec.working_dir, ec);
    run.cpus = cpus;
    run.gpu_count = static_cast<int>(gpus);
    run.gpu_share = fractional ? spec.gpus : 1.0;
    run.memory_mb = spec.memory_mb * world;
    runs_.emplace(spec.run_id, std::move(run));
    queue_.push_back(spec.run_id);
    StartWhatFits();
    return {};
  }

  std::vector<ExecUpdate> Poll() override {
    std::vector<ExecUpdate> out = std::move(pending_);
    pending_.clear();
    bool freed = false;
    for (auto it = runs_.begin(); it != runs_.end();) {
      Run& run = it->second;
      if (!run.final_update && run.phase == Phase::kRunning) CheckEnded(run);
      if (run.final_update) {
        if (run.phase == Phase::kRunning) {
          Release(run);
          freed = true;
        }
        out.push_back(std::move(*run.final_update));
        it = runs_.erase(it);
      } else {
        ++it;
      }
    }
    if (freed) StartWhatFits();
    // Runs started just now are reported in this same call.
    for (auto& u : pending_) out.push_back(std::move(u));
    pending_.clear();
    return out;
  }

  Result<void> Cancel(const std::string& run_id) override {
    auto it = runs_.find(run_id);
    if (it == runs_.end()) {
      return MakeError(ErrorCode::kNotFound, "no queued or running run '" + run_id + "'");
    }
    Run& run = it->second;
    if (run.final_update) return {};  // already ended; Poll reports how
    if (run.phase == Phase::kQueued) {
      std::erase(queue_, run_id);
      run.final_update = Final(run, ExecState::kCanceled, "canceled before it started");
      run.final_update->ended_at = WallSeconds();
      return {};
    }
    run.cancel_requested = true;
    // Check the pid still belongs to the shim: a reused pid must never get our signal.
    if (IsOurShim(run)) ::kill(run.pid, SIGTERM);
    return {};
  }

  Result<void> Reattach(const std::string& run_id, const std::string& handle) override {
    if (runs_.contains(run_id)) {
      return MakeError(ErrorCode::kAlreadyExists,
                       "run '" + run_id + "' is already queued or running here");
    }
    Run run;
    auto h = DecodeLocalHandle(handle);
    if (!h) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + run_id + "': unreadable executor handle '" + handle +
                           "': " + h.error().message);
    }
    run.pid = h->pid;
    run.start_time = h->start_time;
    run.spec.run_dir = h->run_dir;
    if (run.pid <= 0) {
      return MakeError(ErrorCode::kInvalidInput, "run '" + run_id + "': handle has no valid pid");
    }
    run.spec.run_id = run_id;
    run.phase = Phase::kRunning;
    run.reattached = true;
    // Its slots stay busy until it ends; launch.json says which.
    // Without a readable launch.json the run still gets watched; it just holds no slots.
    if (auto text = run_files::ReadWholeFile(run.spec.run_dir / run_files::kLaunch)) {
      if (auto l = DecodeLaunchRecord(*text)) {
        run.cpus = l->cpus;
        run.memory_mb = l->memory_mb;
        run.started_at = l->started_at;
        run.gpu_share = l->gpu_share;
        for (const auto& id : l->gpu_ids) {
          for (size_t i = 0; i < gpus_.size(); ++i) {
            if (gpus_[i] == id) {
              gpu_used_[i] += run.gpu_share;
              run.gpu_slots.push_back(i);
              break;
            }
          }
        }
        run.gpu_count = static_cast<int>(run.gpu_slots.size());
      }
    }
    used_cpus_ += run.cpus;
    used_memory_mb_ += run.memory_mb;
    ++reattached_count_;
    runs_.emplace(run_id, std::move(run));
    return {};
  }

  // The shim records itself in shim.json as soon as it starts, so a run whose handle never
  // reached the store is found from its run folder. launch.json without shim.json is a shim
  // that is just starting: it gets a second to record itself.
  Result<std::string> FindSubmitted(const std::string& /*run_id*/,
                                    const fs::path& run_dir) override {
    std::error_code ec;
    const fs::path shim = run_dir / run_files::kShim;
    if (!fs::exists(shim, ec) && fs::exists(run_dir / run_files::kLaunch, ec)) {
      const double until = MonotonicSeconds() + kShimStartS;
      while (!fs::exists(shim, ec) && MonotonicSeconds() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    auto text = run_files::ReadWholeFile(shim);
    if (!text) return std::string();
    auto record = DecodeShimRecord(*text);
    if (!record) return std::string();
    return EncodeLocalHandle({record->pid, record->start_time, run_dir.string()});
  }

  void Wait(std::chrono::milliseconds max_wait) override {
    if (!pending_.empty()) return;
    for (const auto& [id, run] : runs_) {
      if (run.final_update) return;
    }
    InstallSigchldHandlerOnce();
    auto wait = max_wait;
    // Re-attached shims are not our children: no SIGCHLD tells us they ended.
    if (reattached_count_ > 0) wait = std::min(wait, std::chrono::milliseconds(100));
    if (wait.count() <= 0) return;
    pollfd p{g_sigchld_pipe[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (n > 0) DrainSigchldPipe();
  }

  int ActiveCount() const override { return static_cast<int>(runs_.size()); }

 private:
  enum class Phase { kQueued, kRunning };

  struct Run {
    LaunchSpec spec;
    Phase phase = Phase::kQueued;
    double cpus = 0;                // all ranks together
    int gpu_count = 0;              // GPUs it holds a share of
    double gpu_share = 1;           // how much of each: 1, or a fraction of one shared GPU
    std::int64_t memory_mb = 0;
    std::vector<size_t> gpu_slots;  // indexes into gpus_
    pid_t pid = 0;
    std::uint64_t start_time = 0;
    bool reattached = false;
    bool cancel_requested = false;
    double started_at = 0;
    std::optional<ExecUpdate> final_update;  // set when known; Poll reports it once
  };

  static ExecUpdate Final(const Run& run, ExecState state, std::string reason) {
    ExecUpdate u;
    u.run_id = run.spec.run_id;
    u.state = state;
    u.started_at = run.started_at;
    u.reason = std::move(reason);
    return u;
  }

  bool Fits(const Run& run) const {
    if (used_cpus_ + run.cpus > cpu_slots_ + kEpsilon) return false;
    if (memory_mb_ > 0 && used_memory_mb_ + run.memory_mb > memory_mb_) return false;
    return static_cast<int>(PickGpus(run).size()) == run.gpu_count;
  }

  // The GPUs `run` would get now (fewer than it needs when they are not free). A whole GPU is
  // one nobody uses; a fraction goes to the fullest GPU that still has room, so that shared
  // GPUs fill up and whole ones stay free for whole requests.
  std::vector<size_t> PickGpus(const Run& run) const {
    std::vector<size_t> picked;
    if (run.gpu_count == 0) return picked;
    if (run.gpu_share < 1) {
      std::optional<size_t> best;
      for (size_t i = 0; i < gpus_.size(); ++i) {
        if (gpu_used_[i] + run.gpu_share > 1 + kEpsilon) continue;
        if (!best || gpu_used_[i] > gpu_used_[*best] + kEpsilon) best = i;
      }
      if (best) picked.push_back(*best);
      return picked;
    }
    for (size_t i = 0; i < gpus_.size() && static_cast<int>(picked.size()) < run.gpu_count; ++i) {
      if (gpu_used_[i] < kEpsilon) picked.push_back(i);
    }
    return picked;
  }

  // First come, first served: a large run at the head waits for room rather than being
  // overtaken forever by small ones.
  void StartWhatFits() {
    while (!queue_.empty()) {
      Run& run = runs_.at(queue_.front());
      if (!Fits(run)) break;
      queue_.pop_front();
      Start(run);
    }
  }

  void Start(Run& run) {
    run.gpu_slots = PickGpus(run);
    for (size_t i : run.gpu_slots) gpu_used_[i] += run.gpu_share;
    used_cpus_ += run.cpus;
    used_memory_mb_ += run.memory_mb;
    run.phase = Phase::kRunning;
    run.started_at = WallSeconds();

    const fs::path& run_dir = run.spec.run_dir;
    std::error_code ec;
    RemoveExitRecord(run_dir);  // a stale record from an earlier attempt
    fs::remove(run_dir / run_files::kShim, ec);

    std::vector<std::string> gpu_ids;
    for (size_t i : run.gpu_slots) gpu_ids.push_back(gpus_[i]);
    LaunchRecord launch;
    launch.run_id = run.spec.run_id;
    launch.command = run.spec.command;
    launch.working_dir = run.spec.working_dir.string();
    launch.env = run.spec.env;
    launch.cpus = run.cpus;
    launch.gpus = run.gpu_count * run.gpu_share;
    launch.gpu_ids = gpu_ids;
    launch.gpu_share = run.gpu_share;
    launch.memory_mb = run.memory_mb;
    launch.grace_s = run.spec.grace_s;
    launch.started_at = run.started_at;
    launch.timeout_s = run.spec.timeout_s;
    launch.container = run.spec.container;
    if (run.gpu_count > 0) launch.cuda_visible_devices = Join(gpu_ids, ",");
    if (!run.spec.distribution.empty()) {
      launch.distribution = run.spec.distribution;
      launch.nodes = run.spec.nodes;
      launch.processes_per_node = run.spec.processes_per_node;
      // Each simulated node's ranks see that node's GPUs (and pick theirs by LOCAL_RANK).
      if (run.gpu_count > 0 && run.spec.distribution == "pytorch") {
        size_t each = gpu_ids.size() / static_cast<size_t>(run.spec.nodes);
        for (int n = 0; n < run.spec.nodes; ++n) {
          std::vector<std::string> ids(gpu_ids.begin() + static_cast<long>(n * each),
                                       gpu_ids.begin() + static_cast<long>((n + 1) * each));
          launch.cuda_visible_devices_per_node.push_back(Join(ids, ","));
        }
      }
    }
    if (auto w = run_files::WriteFileAtomic(run_dir / run_files::kLaunch,
                                            EncodeLaunchRecord(launch));
        !w) {
      run.final_update = Final(run, ExecState::kLost, "could not start: " + w.error().message);
      run.final_update->ended_at = WallSeconds();
      return;
    }

    const std::string log = (run_dir / run_files::kShimLog).string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Blocked from the first instruction on, so a cancel that arrives while the shim is still
    // starting is kept pending and handled, not fatal.
    sigset_t mask, defaults;
    sigemptyset(&mask);
    for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&mask, s);
    sigemptyset(&defaults);
    for (int s : {SIGCHLD, SIGPIPE, SIGHUP}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::string arg0 = "overdrive", arg1 = "_shim", arg2 = run_dir.string();
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, shim_path_.c_str(), &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      run.final_update = Final(run, ExecState::kLost, "could not start the run supervisor " +
                                                          shim_path_ + ": " + std::strerror(rc));
      run.final_update->ended_at = WallSeconds();
      return;
    }
    run.pid = pid;
    if (auto info = run_files::ReadProcInfo(pid)) run.start_time = info->start_time;

    ExecUpdate u;
    u.run_id = run.spec.run_id;
    u.state = ExecState::kRunning;
    u.started_at = run.started_at;
    u.handle = EncodeLocalHandle({run.pid, run.start_time, run_dir.string()});
    pending_.push_back(std::move(u));
  }

  void Release(Run& run) {
    used_cpus_ -= run.cpus;
    if (used_cpus_ < kEpsilon) used_cpus_ = 0;
    used_memory_mb_ -= run.memory_mb;
    for (size_t i : run.gpu_slots) {
      gpu_used_[i] -= run.gpu_share;
      if (gpu_used_[i] < kEpsilon) gpu_used_[i] = 0;
    }
    run.gpu_slots.clear();
    if (run.reattached) --reattached_count_;
  }

  // Alive and still the same process (not a reused pid, not a zombie nobody reaps).
  bool IsOurShim(const Run& run) const {
    auto info = run_files::ReadProcInfo(run.pid);
    if (!info || info->state == 'Z' || info->state == 'X') return false;
    return run.start_time == 0 || info->start_time == run.start_time;
  }

  // Sets run.final_update when the shim is gone.
  void CheckEnded(Run& run) {
    std::optional<int> wait_status;
    int status = 0;
    // Works for shims this process started, including ones an earlier executor instance in
    // this same process started and then abandoned.
    pid_t r = ::waitpid(run.pid, &status, WNOHANG);
    if (r == run.pid) {
      wait_status = status;
    } else if (r == 0) {
      return;  // our child, still running
    } else if (IsOurShim(run)) {
      return;  // not our child (re-attached) and still alive
    }
    run.final_update = FromExitRecord(run, wait_status);
  }

  // The shim died without recording an exit (killed from outside): the command it supervised
  // may still run, orphaned. Stop its process group, if it is still the same process.
  // A container run's command runs under podman's conmon, outside that group: its container
  // is removed by name.
  static void KillOrphanedGroup(const fs::path& run_dir) {
    if (auto launch_text = run_files::ReadWholeFile(run_dir / run_files::kLaunch)) {
      if (auto l = DecodeLaunchRecord(*launch_text); l && l->container && !l->run_id.empty()) {
        RemoveContainer(ContainerName(l->run_id));
      }
    }
    auto text = run_files::ReadWholeFile(run_dir / run_files::kGroup);
    if (!text) return;
    auto g = DecodeGroupRecord(*text);
    if (!g) return;
    auto info = run_files::ReadProcInfo(g->pgid);
    if (g->pgid > 1 && info && info->start_time == g->start_time && info->state != 'Z') {
      ::kill(-g->pgid, SIGKILL);
    }
  }

  ExecUpdate FromExitRecord(const Run& run, std::optional<int> wait_status) const {
    auto record = ReadExitRecord(run.spec.run_dir);
    if (!record) {
      if (run.cancel_requested) {
        ExecUpdate u = Final(run, ExecState::kCanceled, "canceled");
        u.ended_at = WallSeconds();
        return u;
      }
      std::string how = wait_status ? " ended with " + DescribeWaitStatus(*wait_status)
                                    : " is gone";
      KillOrphanedGroup(run.spec.run_dir);
      ExecUpdate u = Final(run, ExecState::kLost,
                           "the run's supervisor process (pid " + std::to_string(run.pid) + ")" +
                               how + " and left no exit record in " +
                               (run.spec.run_dir / run_files::kExit).string() + "; see " +
                               (run.spec.run_dir / run_files::kShimLog).string());
      u.ended_at = WallSeconds();
      return u;
    }
    ExitContext c;
    c.run_id = run.spec.run_id;
    c.run_dir = run.spec.run_dir;
    c.started_at = run.started_at;
    c.cancel_requested = run.cancel_requested;
    return InterpretExitRecord(*record, c);
  }

  const double cpu_slots_;
  const std::vector<std::string> gpus_;
  std::vector<double> gpu_used_;  // per GPU: the share runs hold (0 = free, 1 = full)
  const std::int64_t memory_mb_;
  const std::string shim_path_;

  double used_cpus_ = 0;
  std::int64_t used_memory_mb_ = 0;
  int reattached_count_ = 0;
  std::map<std::string, Run> runs_;
  std::deque<std::string> queue_;      // run ids waiting for slots, oldest first
  std::vector<ExecUpdate> pending_;    // kRunning updates not yet returned by Poll
};

}  // namespace

Result<std::unique_ptr<Executor>> MakeLocalExecutor(const LocalExecutorOptions& options) {
  double cpus = options.cpu_slots;
  if (cpus <= 0 && options.detect) {
    if (const char* env = std::getenv("OVERDRIVE_CPUS"); env && *env) {
      char* end = nullptr;
      double v = std::strtod(env, &end);
      if (end == env || *end != '\0' || !(v > 0)) {
        return MakeError(ErrorCode::kInvalidInput,
                         std::string("OVERDRIVE_CPUS='") + env + "' is not a positive number");
      }
      cpus = v;
    }
  }
  if (cpus <= 0) cpus = DetectCpus();

  std::vector<std::string> gpus = options.gpus;
  if (gpus.empty() && options.detect) gpus = DetectGpus();

  std::int64_t memory = options.memory_mb > 0 ? options.memory_mb : DetectMemoryMb();

  std::string shim = options.shim_path;
  if (shim.empty()) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) {
      return MakeError(ErrorCode::kIo,
                       "cannot find this program's own path (/proc/self/exe): " + ec.message());
    }
    // The small `overdrive-shim` beside this program starts in a fraction of the time the whole
    // CLI takes (it links no database, archive or YAML library); the CLI's own `_shim` is the
    // fallback.
    fs::path small = self.parent_path() / "overdrive-shim";
    shim = ::access(small.c_str(), X_OK) == 0 ? small.string() : self.string();
  }
  if (::access(shim.c_str(), X_OK) != 0) {
    return MakeError(ErrorCode::kNotFound,
                     "the run supervisor " + shim + " is not an executable file");
  }
  return std::unique_ptr<Executor>(
      std::make_unique<LocalExecutor>(cpus, std::move(gpus), memory, std::move(shim)));
}

}  // namespace overdrive
