// SlurmExecutor: see slurm_executor.hpp for how Slurm's job states map onto the Executor contract.
#include "executor/slurm_executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/container.hpp"
#include "executor/run_files.hpp"
#include "executor/run_records.hpp"

extern char** environ;

namespace overdrive {

namespace fs = std::filesystem;

struct SlurmExecutor::Run {
  std::string run_id;
  std::int64_t job_id = 0;
  std::string job_name;
  fs::path run_dir;
  std::int64_t memory_mb = 0;  // what it asked for, for an out-of-memory message
  bool running_reported = false;
  bool cancel_requested = false;
  double cancel_requested_at = 0;  // wall clock
  double started_at = 0;
  std::optional<ExecUpdate> final_update;  // set when known; Poll reports it once
};

struct SlurmExecutor::Snapshot {
  std::string state;   // PENDING, RUNNING, COMPLETED, ...
  std::string reason;  // Slurm's reason ("None" when it has none)
  std::string name;
};

namespace {

constexpr double kEpsilon = 1e-9;

std::string JobName(const std::string& run_id) { return "od-" + run_id; }

bool IsShellName(const std::string& key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string Handle(const std::string& job_name, std::int64_t job_id, const fs::path& run_dir,
                   bool running) {
  return EncodeSlurmHandle({job_id, job_name, run_dir.string(), running});
}

long long CpusPerTask(const LaunchSpec& spec) {
  return std::max<long long>(1, static_cast<long long>(std::ceil(spec.cpus - kEpsilon)));
}

// `text` as one sh word, with "\x01" standing for $od_host and "\x02" for $od_perr.
std::string ShellTemplate(const std::string& text) {
  std::string out, piece;
  auto flush = [&] {
    if (!piece.empty()) out += ShellQuote(piece);
    piece.clear();
  };
  for (char c : text) {
    if (c == '\x01' || c == '\x02') {
      flush();
      out += c == '\x01' ? "\"$od_host\"" : "\"$od_perr\"";
    } else {
      piece += c;
    }
  }
  flush();
  return out.empty() ? "''" : out;
}

// After the command of a container run: the reason of a failure that was podman's (exit code
// 125 or 126; ContainerFailureReason's words), and the container removed when the run was
// stopped early (podman may have been killed before its --rm could act).
std::string ContainerEpilogue(const LaunchSpec& spec) {
  const std::string& image = spec.container->image;
  const std::string name = ContainerName(spec.run_id);
  std::ostringstream s;
  s << "if ! $canceled && ! $timed_out && { [ \"$rc\" = 125 ] || [ \"$rc\" = 126 ]; }; then\n"
    << "  od_host=\"node $(hostname)\"\n"
    << "  od_perr=$(grep '^Error: ' \"$run_dir/" << run_files::kStderr
    << "\" 2>/dev/null | tail -n 1 | cut -c8-)\n"
    << "  if ! podman image exists " << ShellQuote(image) << " >/dev/null 2>&1; then\n"
    << "    od_error=" << ShellTemplate(ContainerFailureReason(image, 125, false, "", "\x01"))
    << "\n"
    << "  elif [ -n \"$od_perr\" ]; then\n"
    << "    case $rc in\n";
  for (int code : {125, 126}) {
    s << "      " << code << ") od_error="
      << ShellTemplate(ContainerFailureReason(image, code, true, "\x02", "\x01")) << " ;;\n";
  }
  s << "    esac\n"
    << "  fi\n"
    << "fi\n"
    << "if $canceled || $timed_out; then\n"
    << "  podman rm --force --ignore --time 0 " << ShellQuote(name) << " >/dev/null 2>&1\n"
    << "fi\n";
  return s.str();
}

// The batch script: the local shim's behaviour in POSIX sh, so that compute nodes need nothing
// of Overdrive installed. Slurm already points stdout/stderr at the run folder's logs.
std::string BatchScript(const LaunchSpec& spec, const fs::path& run_dir, const fs::path& wd) {
  std::ostringstream s;
  s << "#!/bin/sh\n"
    << "# Written by Overdrive's Slurm executor for run " << spec.run_id << ". It runs the run's\n"
    << "# command in its own process group, enforces its timeout and leaves exit.json (the run's\n"
    << "# exit record) in the run folder. stdout and stderr are Slurm's --output and --error.\n"
    << "run_dir=" << ShellQuote(run_dir.string()) << "\n"
    << "exit_file=\"$run_dir/" << run_files::kExit << "\"\n"
    << "started_at=$(date +%s.%N)\n"
    << "timed_out=false\ncanceled=false\nchild=\nwatchdog=\nod_error=\n"
    << ExitRecordShellWriter()
    << "rm -f \"$exit_file\"  # a requeued job starts over\n"
    << "if ! cd " << ShellQuote(wd.string()) << "; then\n"
    << "  echo \"overdrive: cannot enter the working directory \"" << ShellQuote(wd.string())
    << "\" on $(hostname)\" >&2\n"
    << "  write_exit 127 0 '' 'cannot enter the working directory on the compute node; "
       "see stderr.log'\n"
    << "  exit 127\n"
    << "fi\n";
  std::vector<std::string> odd;  // names sh cannot export go through env(1)
  for (const auto& [k, v] : spec.env) {
    // Slurm chose the GPUs of a GPU job; the run's own variables do not override that.
    if (k == "CUDA_VISIBLE_DEVICES" && spec.gpus > 0) continue;
    if (IsShellName(k)) {
      s << "export " << k << "=" << ShellQuote(v) << "\n";
    } else if (!k.empty() && k.find('=') == std::string::npos) {
      odd.push_back(ShellQuote(k + "=" + v));
    }
  }
  const bool distributed = !spec.distribution.empty();
  if (distributed) {
    // torch.distributed's env:// rendezvous on the first node of the allocation (where this
    // script runs); the port follows from the job id, so concurrent jobs differ. The run's own
    // MASTER_ADDR / MASTER_PORT win.
    if (!spec.env.count("MASTER_ADDR")) {
      s << "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null"
        << " | head -n 1)\n"
        << "[ -n \"$MASTER_ADDR\" ] || MASTER_ADDR=$(hostname)\n"
        << "export MASTER_ADDR\n";
    }
    if (!spec.env.count("MASTER_PORT")) {
      s << "export MASTER_PORT=$((20000 + ${SLURM_JOB_ID:-0} % 20000))\n";
    }
    s << "rm -f \"$run_dir/" << run_files::kFailedRank << "\"\n";
  }
  const bool container = spec.container.has_value();
  std::string podman_words;  // the podman command line, up to the per-node options
  if (container) {
    // The same podman command as the local shim's (container.hpp), with the per-node options
    // (user, GPUs) worked out here, on the node, into "$@".
    PodmanRun pr;
    pr.name = ContainerName(spec.run_id);
    pr.container = *spec.container;
    pr.run_dir = run_dir.string();
    pr.working_dir = wd.string();
    pr.command = spec.command;
    for (const auto& [k, v] : spec.env) {
      if (!(k == "CUDA_VISIBLE_DEVICES" && spec.gpus > 0)) pr.env_names.push_back(k);
    }
    std::vector<std::string> words;
    for (const auto& w : PodmanRunHead(pr)) words.push_back(ShellQuote(w));
    words.push_back("\"$@\"");
    for (const auto& w : PodmanRunTail(pr)) words.push_back(ShellQuote(w));
    podman_words = Join(words, " ");
    s << ContainersConfShell() << PodmanNodeOptionsShell(spec.gpus > 0);
    // On a cancel (or Slurm's own stop) Slurm may SIGKILL this script and podman after its
    // KillWait while the container lives on under conmon: a detached `podman stop` ends it
    // after the run's grace period whatever happens to this script.
    s << "od_stop() { ( podman stop --ignore --time " << static_cast<long long>(std::ceil(std::max(0.0, spec.grace_s)))
      << " " << ShellQuote(pr.name) << " >/dev/null 2>&1 & ) ; }\n";
  }
  const std::string stop_container = container ? "; od_stop" : "";
  s << "trap 'canceled=true; [ -n \"$child\" ] && kill -TERM -\"$child\" 2>/dev/null" << stop_container << "' TERM INT\n"
    << "trap 'timed_out=true; [ -n \"$child\" ] && kill -TERM -\"$child\" 2>/dev/null' USR1\n";
  if (distributed) {
    // One task per rank; a rank that exits non-zero ends the step (Slurm stops its siblings:
    // SIGTERM, then SIGKILL after the cluster's KillWait). The rank wrapper sets RANK & co.
    // from Slurm's variables and records which rank failed first.
    s << "setsid srun --kill-on-bad-exit=1 --nodes=" << spec.nodes
      << " --ntasks=" << spec.nodes * spec.processes_per_node
      << " --ntasks-per-node=" << spec.processes_per_node << " --cpus-per-task="
      << CpusPerTask(spec) << " " << (odd.empty() ? "" : "env " + Join(odd, " ") + " ")
      << "/bin/sh -c " << ShellQuote(run_files::RankWrapperScript()) << " overdrive-rank slurm "
      << "\"$run_dir\" " << spec.processes_per_node << " " << ShellQuote(spec.command)
      << " </dev/null &\n";
  } else if (container) {
    s << "setsid " << (odd.empty() ? "" : "env " + Join(odd, " ") + " ") << podman_words
      << " </dev/null &\n";
  } else {
    s << "setsid " << (odd.empty() ? "" : "env " + Join(odd, " ") + " ") << "/bin/sh -c "
      << ShellQuote(spec.command) << " </dev/null &\n";
  }
  s << "child=$!\n"
    << "if $canceled; then kill -TERM -\"$child\" 2>/dev/null; fi\n";
  if (spec.timeout_s) {
    s << "setsid /bin/sh -c 'sleep \"$1\"; kill -USR1 \"$2\"; sleep \"$3\"; kill -KILL -\"$4\"' "
         "watchdog "
      << FormatDouble(*spec.timeout_s) << " $$ " << FormatDouble(std::max(0.0, spec.grace_s))
      << " \"$child\" </dev/null >/dev/null 2>&1 &\n"
      << "watchdog=$!\n";
  }
  s << "wait \"$child\"; rc=$?\n"
    << "# A trapped signal interrupts wait; wait again until the command has really ended.\n"
    << "while kill -0 \"$child\" 2>/dev/null; do wait \"$child\"; rc=$?; done\n"
    << "[ -n \"$watchdog\" ] && kill -TERM -\"$watchdog\" 2>/dev/null\n"
    << "# Whatever the command left running in its group ends with the run.\n"
    << "kill -KILL -\"$child\" 2>/dev/null\n"
    << "rank=''\n";
  if (distributed) {
    s << "# srun's exit code is the highest of all tasks (a stopped sibling's 143 included): the\n"
      << "# first rank that failed says what happened.\n"
      << "if [ -s \"$run_dir/" << run_files::kFailedRank << "\" ]; then\n"
      << "  read f_rank f_rc <\"$run_dir/" << run_files::kFailedRank << "\"\n"
      << "  rc=$f_rc; rank=$f_rank\n"
      << "fi\n";
  }
  if (container) s << ContainerEpilogue(spec);
  s << "sig=0\n"
    << "if [ \"$rc\" -gt 128 ] && [ \"$rc\" -lt 160 ]; then sig=$((rc - 128)); fi\n"
    << "write_exit \"$rc\" \"$sig\" \"$rank\" \"$od_error\"\n"
    << "exit \"$rc\"\n";
  return s.str();
}

// "3:0" -> {3, 0}
std::pair<int, int> ParseExitCode(const std::string& text) {
  int code = 0, sig = 0;
  auto parts = Split(text, ':');
  if (!parts.empty()) code = std::atoi(parts[0].c_str());
  if (parts.size() > 1) sig = std::atoi(parts[1].c_str());
  return {code, sig};
}

// `scontrol show job` prints Key=Value pairs separated by spaces and newlines.
std::map<std::string, std::string> ParseScontrol(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    size_t eq = word.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string key = word.substr(0, eq);
    if (!out.count(key)) out[key] = word.substr(eq + 1);
  }
  return out;
}

std::string OneLine(const std::string& text) {
  std::vector<std::string> lines;
  for (const auto& l : Split(text, '\n')) {
    std::string t = Trim(l);
    if (!t.empty()) lines.push_back(t);
  }
  return Join(lines, "; ");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::set<std::string>& WaitingStates() {
  static const std::set<std::string> k = {"PENDING",      "CONFIGURING",   "REQUEUED",
                                          "REQUEUE_HOLD", "REQUEUE_FED",   "RESV_DEL_HOLD",
                                          "SUSPENDED",    "STOPPED",       "RESIZING",
                                          "SPECIAL_EXIT", "POWER_UP_NODE", "UPDATE_DB"};
  return k;
}

const std::set<std::string>& RunningStates() {
  static const std::set<std::string> k = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"};
  return k;
}

}  // namespace

// ---- the executor ----------------------------------------------------------------------------

SlurmExecutor::SlurmExecutor(SlurmOptions options) : options_(std::move(options)) {}
SlurmExecutor::~SlurmExecutor() = default;

SlurmExecutor::CommandOutput SlurmExecutor::RunSlurm(const std::vector<std::string>& argv) {
  ++commands_run_;
  CommandOutput r;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.failure = std::string("cannot create a pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.failure = std::string("cannot create a pipe: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGCHLD, SIGPIPE, SIGTERM, SIGINT}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    r.failure = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  // Both pipes are read together: a command that fills one while we block on the other would
  // never finish.
  const double deadline = MonotonicSeconds() + options_.command_timeout_s;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    double left = deadline - MonotonicSeconds();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min(left, 1.0) * 1000) + 1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) {
    r.failure = argv[0] + " did not answer within " + FormatDuration(options_.command_timeout_s) +
                " (is slurmctld reachable? `scontrol ping` tells)";
    return r;
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Result<void> SlurmExecutor::Submit(const LaunchSpec& spec) {
  const std::string& id = spec.run_id;
  if (id.empty()) return MakeError(ErrorCode::kInvalidInput, "a run needs a run_id");
  if (runs_.contains(id)) {
    return MakeError(ErrorCode::kAlreadyExists, "run '" + id + "' is already queued or running");
  }
  if (!(spec.cpus >= 0)) {
    return MakeError(ErrorCode::kInvalidInput, "run '" + id + "' asks for " +
                                                   FormatDouble(spec.cpus) + " CPUs");
  }
  if (!(spec.gpus >= 0) || spec.gpus != std::floor(spec.gpus)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "run '" + id + "' asks for " + FormatDouble(spec.gpus) +
                         " GPUs: Slurm hands out whole GPUs (gres), so compute target '" +
                         options_.target + "' cannot share one; ask for a whole number or "
                         "run it on local compute");
  }
  if (!spec.distribution.empty()) {
    if (spec.distribution != "pytorch" && spec.distribution != "mpi") {
      return MakeError(ErrorCode::kInvalidInput, "run '" + id + "': unknown distribution type '" +
                                                     spec.distribution + "' (pytorch or mpi)");
    }
    if (spec.nodes < 1 || spec.processes_per_node < 1) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + id + "': a distributed run needs at least one node and one "
                       "process per node");
    }
  }
  if (spec.memory_mb < 0) {
    return MakeError(ErrorCode::kInvalidInput, "run '" + id + "' asks for negative memory");
  }
  if (spec.container) {
    OD_TRY(ValidateContainer(id, *spec.container));
    if (!spec.distribution.empty()) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + id + "': distributed runs (distribution: " + spec.distribution +
                           ") cannot run in a container yet");
    }
  }
  if (spec.timeout_s && !(*spec.timeout_s > 0)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "run '" + id + "': the timeout must be more than 0 seconds");
  }
  std::error_code ec;
  if (!fs::is_directory(spec.run_dir, ec)) {
    return MakeError(ErrorCode::kNotFound, "run folder " + spec.run_dir.string() +
                                               " does not exist");
  }
  if (!fs::is_directory(spec.working_dir, ec)) {
    return MakeError(ErrorCode::kNotFound,
                     "working directory " + spec.working_dir.string() + " does not exist");
  }
  const fs::path run_dir = fs::absolute(spec.run_dir, ec);
  const fs::path wd = fs::absolute(spec.working_dir, ec);
  RemoveExitRecord(run_dir);  // a stale record from an earlier attempt
  fs::remove(run_dir / kHandleFile, ec);
  const fs::path script = run_dir / kBatchScript;
  OD_TRY(run_files::WriteFileAtomic(script, BatchScript(spec, run_dir, wd)));

  const std::string name = JobName(id);
  std::vector<std::string> argv = {
      "sbatch",
      "--parsable",
      "--job-name=" + name,
      "--output=" + (run_dir / run_files::kStdout).string(),
      "--error=" + (run_dir / run_files::kStderr).string(),
      "--open-mode=append",
      "--chdir=" + wd.string(),
      "--cpus-per-task=" + std::to_string(CpusPerTask(spec)),
  };
  // A distributed run: one task per rank, processes_per_node of them on each node; memory and
  // GPUs are asked per node (--mem and --gres count per node), every rank's share.
  const int per_node = spec.distribution.empty() ? 1 : spec.processes_per_node;
  if (!spec.distribution.empty()) {
    argv.push_back("--nodes=" + std::to_string(spec.nodes));
    argv.push_back("--ntasks-per-node=" + std::to_string(per_node));
  }
  if (spec.memory_mb > 0) {
    argv.push_back("--mem=" + std::to_string(spec.memory_mb * per_node) + "M");
  }
  if (spec.gpus > 0) {
    argv.push_back("--gres=gpu:" + std::to_string(static_cast<int>(spec.gpus) * per_node));
  }
  if (spec.timeout_s) {
    long long minutes = std::max<long long>(1, static_cast<long long>(std::ceil(*spec.timeout_s / 60.0)));
    argv.push_back("--time=" + std::to_string(minutes));
  }
  if (!options_.partition.empty()) argv.push_back("--partition=" + options_.partition);
  if (!options_.account.empty()) argv.push_back("--account=" + options_.account);
  if (!options_.qos.empty()) argv.push_back("--qos=" + options_.qos);
  for (const auto& a : options_.sbatch_args) argv.push_back(a);
  argv.push_back(script.string());

  CommandOutput r = RunSlurm(argv);
  std::int64_t job_id = 0;
  if (r.exit_code == 0) {
    // --parsable prints "ID" or "ID;CLUSTER".
    std::string first = Trim(Split(r.out, '\n').empty() ? "" : Split(r.out, '\n')[0]);
    first = first.substr(0, first.find(';'));
    char* end = nullptr;
    job_id = std::strtoll(first.c_str(), &end, 10);
    if (first.empty() || *end != '\0' || job_id <= 0) {
      return MakeError(ErrorCode::kIo, "sbatch accepted run " + id +
                                           " but printed no job id (stdout: '" +
                                           OneLine(r.out) + "')");
    }
  } else {
    ErrorCode code = r.exit_code < 0 ? ErrorCode::kUnavailable : ErrorCode::kInvalidInput;
    std::string lower = Lower(r.err);
    if (Contains(lower, "unable to contact") || Contains(lower, "connection refused") ||
        Contains(lower, "socket timed out") || Contains(lower, "zero bytes")) {
      code = ErrorCode::kUnavailable;
    }
    return MakeError(code, SubmitError(spec, r));
  }

  auto run = std::make_unique<Run>();
  run->run_id = id;
  run->job_id = job_id;
  run->job_name = name;
  run->run_dir = run_dir;
  run->memory_mb = spec.memory_mb;
  std::string handle = Handle(name, job_id, run_dir, false);
  // The handle on disk too: a controller that dies before it stores the handle finds the job
  // again instead of submitting the run a second time.
  (void)run_files::WriteFileAtomic(run_dir / kHandleFile, handle + "\n");
  ExecUpdate u;
  u.run_id = id;
  u.state = ExecState::kQueued;
  u.handle = std::move(handle);
  pending_.push_back(std::move(u));
  runs_.emplace(id, std::move(run));
  return {};
}

std::string SlurmExecutor::SubmitError(const LaunchSpec& spec, const CommandOutput& r) const {
  const std::string target = "compute target '" + options_.target + "'";
  if (r.exit_code < 0) {
    return "cannot submit run " + spec.run_id + " to Slurm (" + target + "): " + r.failure +
           (Contains(r.failure, "No such file")
                ? "; install Slurm's client commands on this machine (Debian: slurm-client), or "
                  "start a one-node test cluster with scripts/slurm.sh start"
                : "");
  }
  std::string said = OneLine(r.err.empty() ? r.out : r.err);
  std::string lower = Lower(said);
  std::string hint;
  if (Contains(lower, "time limit")) {
    hint = "limits.timeout (" +
           (spec.timeout_s ? FormatDuration(*spec.timeout_s) : std::string("none")) +
           ") must fit the partition's MaxTime: lower it or pick another partition with "
           "--partition of " + target + " (`sinfo -o \"%P %l\"` lists the limits)";
  } else if (Contains(lower, "node configuration is not available") ||
             Contains(lower, "gres") || Contains(lower, "memory") ||
             Contains(lower, "more processors")) {
    hint = "the run asks for " + FormatDouble(std::max(1.0, std::ceil(spec.cpus))) + " CPUs, " +
           FormatDouble(spec.gpus) + " GPUs" +
           (spec.memory_mb > 0 ? ", " + std::to_string(spec.memory_mb) + " MB" : std::string()) +
           (spec.distribution.empty()
                ? std::string()
                : " per process, " + std::to_string(spec.processes_per_node) +
                      " processes on each of " + std::to_string(spec.nodes) + " nodes") +
           ", which no node of " +
           (options_.partition.empty() ? "the default partition"
                                       : "partition '" + options_.partition + "'") +
           " offers: lower `resources` in the job file or change --partition of " + target +
           " (`sinfo -o \"%P %c %m %G\"` shows what the nodes have)";
  } else if (Contains(lower, "partition")) {
    hint = "check --partition of " + target + " (now '" + options_.partition +
           "'); `sinfo` lists the partitions";
  } else if (Contains(lower, "account") || Contains(lower, "association")) {
    hint = "check --account of " + target + " (now '" + options_.account +
           "'); `sacctmgr show associations user=$USER` lists yours";
  } else if (Contains(lower, "qos")) {
    hint = "check --qos of " + target + " (now '" + options_.qos +
           "'); `sacctmgr show qos` lists them";
  } else if (Contains(lower, "unable to contact") || Contains(lower, "connection refused")) {
    hint = "the Slurm controller cannot be reached from this machine; `scontrol ping` tells "
           "whether it is up";
  } else {
    hint = "check the settings of " + target + " (`overdrive compute show " + options_.target +
           "`)";
  }
  return "Slurm refused run " + spec.run_id + " (exit code " + std::to_string(r.exit_code) +
         "): " + said + " -- " + hint;
}

void SlurmExecutor::MarkRunning(Run& run, double started_at) {
  run.running_reported = true;
  run.started_at = started_at > 0 ? started_at : WallSeconds();
  ExecUpdate u;
  u.run_id = run.run_id;
  u.state = ExecState::kRunning;
  u.started_at = run.started_at;
  u.handle = Handle(run.job_name, run.job_id, run.run_dir, true);
  pending_.push_back(std::move(u));
}

ExecUpdate SlurmExecutor::Final(const Run& run, ExecState state) const {
  ExecUpdate u;
  u.run_id = run.run_id;
  u.state = state;
  u.started_at = run.started_at;
  u.ended_at = WallSeconds();
  return u;
}

// The exit record the batch script left, read with the local shim's rules (InterpretExitRecord).
std::optional<ExecUpdate> SlurmExecutor::FromExitRecord(const Run& run) const {
  auto record = ReadExitRecord(run.run_dir);
  if (!record) return std::nullopt;
  ExitContext c;
  c.run_id = run.run_id;
  c.run_dir = run.run_dir;
  c.started_at = run.started_at;
  c.record_start_first = true;
  c.cancel_requested = run.cancel_requested;
  c.cancel_requested_at = run.cancel_requested_at;
  return InterpretExitRecord(*record, c);
}

std::vector<ExecUpdate> SlurmExecutor::Poll() {
  // Exit records first: a job that ended on its own is known without asking Slurm. A record
  // saying "canceled" that we did not ask for may be Slurm stopping the job (time limit,
  // preemption): Slurm's state decides those.
  bool undecided = false;
  for (auto& [id, run] : runs_) {
    if (run->final_update) continue;
    auto record = FromExitRecord(*run);
    // A signal we did not send may be Slurm's (preemption, time limit): its state decides.
    if (record && ((record->state != ExecState::kCanceled && record->state != ExecState::kSignaled) ||
                   run->cancel_requested)) {
      run->final_update = std::move(*record);
    } else {
      undecided = true;
    }
  }
  double now = MonotonicSeconds();
  if (undecided && now >= next_query_) {
    QueryQueue();
    next_query_ = now + options_.poll_interval_s;
  }
  std::vector<ExecUpdate> out = std::move(pending_);
  pending_.clear();
  for (auto it = runs_.begin(); it != runs_.end();) {
    Run& run = *it->second;
    if (!run.final_update) {
      ++it;
      continue;
    }
    // A job that started and ended between two looks is still reported running first.
    if (!run.running_reported && run.final_update->started_at > 0) {
      MarkRunning(run, run.final_update->started_at);
      for (auto& u : pending_) out.push_back(std::move(u));
      pending_.clear();
    }
    out.push_back(std::move(*run.final_update));
    it = runs_.erase(it);
  }
  return out;
}

void SlurmExecutor::QueryQueue() {
  std::vector<std::string> ids;
  for (const auto& [id, run] : runs_) {
    if (!run->final_update) ids.push_back(std::to_string(run->job_id));
  }
  if (ids.empty()) return;
  CommandOutput r =
      RunSlurm({"squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%j", "-j", Join(ids, ",")});
  if (r.exit_code != 0) {
    // squeue asked about a single job Slurm no longer knows fails this way; with several ids
    // it lists the known ones. Anything else (slurmctld down) leaves every run as it was.
    if (!(r.exit_code > 0 && Contains(r.err, "Invalid job id"))) return;
    r.out.clear();
  }
  std::map<std::int64_t, Snapshot> seen;
  for (const auto& line : Split(r.out, '\n')) {
    auto f = Split(Trim(line), '|');
    if (f.size() < 4) continue;
    char* end = nullptr;
    std::int64_t job = std::strtoll(f[0].c_str(), &end, 10);
    if (end == f[0].c_str() || *end != '\0') continue;
    // The state may carry a suffix on some versions ("CANCELLED by 0").
    std::string state = Split(f[1], ' ').empty() ? f[1] : Split(f[1], ' ')[0];
    seen[job] = Snapshot{state, f[2], f[3]};
  }
  for (auto& [id, run] : runs_) {
    if (run->final_update) continue;
    auto it = seen.find(run->job_id);
    if (it != seen.end() && it->second.name == run->job_name) {
      Judge(*run, &it->second);
    } else {
      JudgeGone(*run);
    }
  }
}

void SlurmExecutor::Judge(Run& run, const Snapshot* snap) {
  const std::string& state = snap->state;
  if (WaitingStates().count(state)) return;
  if (RunningStates().count(state)) {
    if (!run.running_reported) MarkRunning(run, 0);
    return;
  }
  const std::string job = "Slurm job " + std::to_string(run.job_id);
  const std::string why =
      snap->reason.empty() || snap->reason == "None" ? "" : " (reason: " + snap->reason + ")";
  auto record = FromExitRecord(run);
  auto with_times = [&](ExecUpdate u) {
    if (record) {
      u.started_at = record->started_at;
      u.ended_at = record->ended_at;
    }
    return u;
  };
  if (state == "COMPLETED" || state == "FAILED") {
    if (record) {
      run.final_update = std::move(*record);
      return;
    }
    // The batch script never wrote its record: Slurm could not start it (an unwritable run
    // folder or working directory gives ExitCode 0:53) or it was killed from outside.
    auto fields = ParseScontrol(RunSlurm({"scontrol", "show", "job", std::to_string(run.job_id)}).out);
    auto [code, sig] = ParseExitCode(fields.count("ExitCode") ? fields["ExitCode"] : "");
    std::string reason = fields.count("Reason") && fields["Reason"] != "None"
                             ? " (reason: " + fields["Reason"] + ")"
                             : why;
    ExecUpdate u = Final(run, ExecState::kExited);
    u.exit_code = code != 0 ? code : 1;
    u.detail = job + " ended " + state + reason + " with ExitCode " + std::to_string(code) + ":" +
               std::to_string(sig) + " before its batch script wrote " +
               (run.run_dir / run_files::kExit).string() +
               (code == 0 ? "; Slurm fails a job this way when the run folder or working "
                            "directory is not writable by the submitting user on the compute "
                            "node (ExitCode 0:53)"
                          : "");
    run.final_update = std::move(u);
    return;
  }
  if (state == "CANCELLED") {
    if (run.cancel_requested) {
      ExecUpdate u = with_times(Final(run, ExecState::kCanceled));
      u.reason = "canceled";
      run.final_update = std::move(u);
    } else {
      ExecUpdate u = with_times(Final(run, ExecState::kSignaled));
      u.signal = SIGTERM;
      u.exit_code = 128 + SIGTERM;
      u.detail = job + " was canceled outside Overdrive (scancel by a user or an administrator)" + why;
      run.final_update = std::move(u);
    }
    return;
  }
  if (state == "TIMEOUT" || state == "DEADLINE") {
    ExecUpdate u = with_times(Final(run, ExecState::kTimedOut));
    u.reason = "stopped by Slurm at its time limit";
    u.detail = job + " ended " + state + why;
    run.final_update = std::move(u);
    return;
  }
  if (state == "PREEMPTED" || state == "NODE_FAIL" || state == "BOOT_FAIL") {
    ExecUpdate u = with_times(Final(run, ExecState::kLost));
    u.reason = job + " ended " + state + why +
               (state == "PREEMPTED" ? ": a job of a higher-priority partition took its place"
                                     : ": its node failed");
    run.final_update = std::move(u);
    return;
  }
  if (state == "OUT_OF_MEMORY") {
    ExecUpdate u = with_times(Final(run, ExecState::kSignaled));
    u.signal = SIGKILL;
    u.exit_code = 128 + SIGKILL;
    u.detail = job + " ran out of memory (OUT_OF_MEMORY" +
               (run.memory_mb > 0 ? ", it asked for " + std::to_string(run.memory_mb) + " MB"
                                  : std::string()) +
               "); ask for more with resources.memory";
    run.final_update = std::move(u);
    return;
  }
  // Any other final state Slurm may add: a failure that names it.
  ExecUpdate u = record ? *record : Final(run, ExecState::kExited);
  if (u.state == ExecState::kExited && u.exit_code == 0) u.exit_code = 1;
  u.detail = job + " ended " + state + why;
  run.final_update = std::move(u);
}

void SlurmExecutor::JudgeGone(Run& run) {
  if (auto record = FromExitRecord(run)) {
    run.final_update = std::move(*record);
    return;
  }
  const std::string job = "Slurm job " + std::to_string(run.job_id);
  CommandOutput r = RunSlurm({"scontrol", "show", "job", std::to_string(run.job_id)});
  if (r.exit_code == 0) {
    auto fields = ParseScontrol(r.out);
    if (fields["JobName"] == run.job_name && !fields["JobState"].empty()) {
      Snapshot snap{fields["JobState"], fields["Reason"], fields["JobName"]};
      Judge(run, &snap);
      return;
    }
  } else if (r.exit_code < 0 || !Contains(r.err, "Invalid job id")) {
    return;  // Slurm cannot be asked right now; look again at the next poll
  }
  // slurmctld forgets finished jobs after MinJobAge; with accounting, sacct still knows them.
  if (!accounting_disabled_) {
    CommandOutput a = RunSlurm({"sacct", "-n", "-P", "-X", "-j", std::to_string(run.job_id),
                                "-o", "JobName,State,Reason"});
    if (a.exit_code == 0) {
      for (const auto& line : Split(a.out, '\n')) {
        auto f = Split(Trim(line), '|');
        if (f.size() < 3 || f[0] != run.job_name) continue;
        std::string state = Split(f[1], ' ').empty() ? f[1] : Split(f[1], ' ')[0];
        Snapshot snap{state, f[2], f[0]};
        Judge(run, &snap);
        return;
      }
    } else if (a.exit_code > 0 && Contains(Lower(a.err), "disabled")) {
      accounting_disabled_ = true;  // "Slurm accounting storage is disabled": never ask again
    }
  }
  if (run.cancel_requested) {
    ExecUpdate u = Final(run, ExecState::kCanceled);
    u.reason = "canceled";
    run.final_update = std::move(u);
    return;
  }
  ExecUpdate u = Final(run, ExecState::kLost);
  u.reason = job + " (" + run.job_name + ") is no longer known to Slurm and left no exit record in " +
             (run.run_dir / run_files::kExit).string() + "; see " +
             (run.run_dir / run_files::kStderr).string();
  run.final_update = std::move(u);
}

Result<void> SlurmExecutor::Cancel(const std::string& run_id) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) {
    return MakeError(ErrorCode::kNotFound, "no queued or running run '" + run_id + "'");
  }
  Run& run = *it->second;
  if (run.final_update) return {};  // already ended; Poll reports how
  run.cancel_requested = true;
  run.cancel_requested_at = WallSeconds();
  CommandOutput r = RunSlurm({"scancel", std::to_string(run.job_id)});
  if (r.exit_code == 0) return {};
  // A job that has just ended is no reason to fail: Poll reports its end.
  if (r.exit_code > 0 && (Contains(r.err, "already completing or completed") ||
                          Contains(r.err, "Invalid job id"))) {
    return {};
  }
  return MakeError(r.exit_code < 0 ? ErrorCode::kUnavailable : ErrorCode::kIo,
                   "scancel of Slurm job " + std::to_string(run.job_id) + " (run " + run_id +
                       ") failed: " + (r.exit_code < 0 ? r.failure : OneLine(r.err)));
}

Result<void> SlurmExecutor::Reattach(const std::string& run_id, const std::string& handle) {
  if (runs_.contains(run_id)) {
    return MakeError(ErrorCode::kAlreadyExists,
                     "run '" + run_id + "' is already queued or running here");
  }
  auto h = DecodeSlurmHandle(handle);
  if (!h) {
    return MakeError(ErrorCode::kInvalidInput, "run '" + run_id +
                                                   "': unreadable Slurm executor handle '" +
                                                   handle + "': " + h.error().message);
  }
  auto run = std::make_unique<Run>();
  run->run_id = run_id;
  run->job_id = h->slurm_job_id;
  run->job_name = h->job_name.empty() ? JobName(run_id) : h->job_name;
  run->run_dir = h->run_dir;
  run->running_reported = h->running;
  if (run->job_id <= 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "run '" + run_id + "': the handle has no valid Slurm job id");
  }
  runs_.emplace(run_id, std::move(run));
  return {};
}

Result<std::string> SlurmExecutor::FindSubmitted(const std::string& run_id,
                                                 const fs::path& run_dir) {
  std::error_code ec;
  // Submit keeps the handle in the run folder as soon as sbatch answers.
  if (auto text = run_files::ReadWholeFile(run_dir / kHandleFile)) {
    std::string kept = Trim(*text);
    if (DecodeSlurmHandle(kept)) return kept;
  }
  // Submit writes the batch script before it calls sbatch: without it, sbatch never ran.
  if (!fs::exists(run_dir / kBatchScript, ec)) return std::string();
  const std::string name = JobName(run_id);
  CommandOutput r = RunSlurm({"squeue", "-h", "-t", "all", "-n", name, "-o", "%i"});
  if (r.exit_code != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot ask Slurm whether run " + run_id + " was submitted (squeue -n " +
                         name + "): " + (r.exit_code < 0 ? r.failure : OneLine(r.err)) +
                         "; it is not submitted again until Slurm answers");
  }
  std::int64_t job_id = 0;
  for (const auto& line : Split(r.out, '\n')) {
    std::string t = Trim(line);
    if (t.empty()) continue;
    char* end = nullptr;
    std::int64_t id = std::strtoll(t.c_str(), &end, 10);
    if (*end == '\0' && id > job_id) job_id = id;  // the newest, should there be several
  }
  if (job_id <= 0) return std::string();
  std::string handle = Handle(name, job_id, fs::absolute(run_dir, ec), false);
  (void)run_files::WriteFileAtomic(run_dir / kHandleFile, handle + "\n");
  return handle;
}

void SlurmExecutor::Wait(std::chrono::milliseconds max_wait) {
  if (!pending_.empty()) return;
  for (const auto& [id, run] : runs_) {
    if (run->final_update) return;
  }
  auto wait = max_wait;
  if (!runs_.empty()) {
    double until = next_query_ - MonotonicSeconds();
    if (until <= 0) return;
    wait = std::min(wait, std::chrono::milliseconds(static_cast<std::int64_t>(until * 1000) + 1));
  }
  if (wait.count() > 0) std::this_thread::sleep_for(wait);
}

}  // namespace overdrive
