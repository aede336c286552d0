#include "executor/container.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "common/clock.hpp"
#include "common/strings.hpp"

extern char** environ;

namespace overdrive {

namespace fs = std::filesystem;

namespace {

constexpr const char* kEtcConf = "/etc/overdrive/containers.conf";

bool PodmanNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// Fits `-v SOURCE:TARGET[:ro]`: absolute, and nothing podman would read as a separator.
std::string MountPathProblem(const std::string& path) {
  if (path.empty() || path[0] != '/') return "is not an absolute path";
  for (char c : path) {
    if (c == ':' || c == ',')
      return "contains '" + std::string(1, c) + "', which podman's -v cannot take";
    if (static_cast<unsigned char>(c) < 0x20) return "contains a control character";
  }
  return "";
}

}  // namespace

std::string ContainerName(const std::string& run_id) {
  std::string name = "od-";
  for (char c : run_id) name += PodmanNameChar(c) ? c : '-';
  return name;
}

Result<void> ValidateContainer(const std::string& run_id, const ContainerSpec& c) {
  const std::string run = "run '" + run_id + "': ";
  if (Trim(c.image).empty()) {
    return MakeError(ErrorCode::kInvalidInput, run + "a container needs an image");
  }
  for (char ch : c.image) {
    if (std::isspace(static_cast<unsigned char>(ch)) || static_cast<unsigned char>(ch) < 0x20) {
      return MakeError(ErrorCode::kInvalidInput,
                       run + "container image '" + c.image + "' contains white space");
    }
  }
  if (c.image[0] == '-') {
    return MakeError(ErrorCode::kInvalidInput,
                     run + "container image '" + c.image + "' cannot start with '-'");
  }
  if (c.network.empty() || c.network[0] == '-' ||
      !std::all_of(c.network.begin(), c.network.end(), [](char ch) {
        return PodmanNameChar(ch) || ch == ':' || ch == '=' || ch == ',' || ch == '/';
      })) {
    return MakeError(ErrorCode::kInvalidInput,
                     run + "container network '" + c.network +
                         "' is not a podman network: none (the default), host, or a network's "
                         "name (podman network ls)");
  }
  for (const auto& [k, v] : c.env) {
    bool name_ok = !k.empty() && !std::isdigit(static_cast<unsigned char>(k[0])) &&
                   std::all_of(k.begin(), k.end(), [](char ch) {
                     return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                   });
    if (!name_ok || v.find('\0') != std::string::npos) {
      return MakeError(ErrorCode::kInvalidInput,
                       run + "container variable '" + k + "' is not a valid variable name");
    }
  }
  for (const auto& m : c.mounts) {
    for (const auto* p : {&m.source, &m.target}) {
      if (std::string why = MountPathProblem(*p); !why.empty()) {
        return MakeError(ErrorCode::kInvalidInput, run + "container mount " +
                                                       (p == &m.source ? "source" : "target") +
                                                       " '" + *p + "' " + why);
      }
    }
  }
  return {};
}

std::vector<std::string> PodmanRunHead(const PodmanRun& r) {
  std::vector<std::string> a = {"podman",
                                "run",
                                "--rm",
                                "--replace",
                                "--name",
                                r.name,
                                "--init",
                                "--sig-proxy=true",
                                "--pull=never",
                                "--log-driver",
                                "passthrough",
                                "--network",
                                r.container.network,
                                "-w",
                                r.working_dir};
  // The run folder, then the working directory (usually inside it, then mounted over itself:
  // harmless), then the run's own mounts.
  a.push_back("-v");
  a.push_back(r.run_dir + ":" + r.run_dir);
  if (r.working_dir != r.run_dir) {
    a.push_back("-v");
    a.push_back(r.working_dir + ":" + r.working_dir);
  }
  for (const auto& m : r.container.mounts) {
    a.push_back("-v");
    a.push_back(m.source + ":" + m.target + (m.read_only ? ":ro" : ""));
  }
  for (const auto& n : r.env_names) {
    if (r.container.env.count(n)) continue;  // the container's own value wins
    a.push_back("--env");
    a.push_back(n);
  }
  for (const auto& [k, v] : r.container.env) {
    a.push_back("--env");
    a.push_back(k + "=" + v);
  }
  return a;
}

std::vector<std::string> PodmanRunTail(const PodmanRun& r) {
  return {r.container.image, "/bin/sh", "-c", r.command};
}

std::vector<std::string> PodmanNodeOptions(uid_t uid, gid_t gid,
                                           const std::vector<std::string>& gpu_ids) {
  std::vector<std::string> a = {"--user", std::to_string(uid) + ":" + std::to_string(gid)};
  for (const auto& id : gpu_ids) {
    a.push_back("--device");
    a.push_back("nvidia.com/gpu=" + id);
  }
  if (!gpu_ids.empty()) {
    a.push_back("--env");
    a.push_back("CUDA_VISIBLE_DEVICES");
  }
  return a;
}

std::string ContainerCudaVisibleDevices(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(i);
  return s;
}

std::string PodmanNodeOptionsShell(bool gpus) {
  std::string s = "set -- --user \"$(id -u):$(id -g)\"\n";
  if (gpus) {
    s += "od_gpus=${SLURM_JOB_GPUS:-${CUDA_VISIBLE_DEVICES:-}}\n"
         "if [ -n \"$od_gpus\" ]; then\n"
         "  od_cvd=''; od_i=0\n"
         "  for od_g in $(printf '%s' \"$od_gpus\" | tr ',' ' '); do\n"
         "    set -- \"$@\" --device \"nvidia.com/gpu=$od_g\"\n"
         "    od_cvd=\"${od_cvd:+$od_cvd,}$od_i\"; od_i=$((od_i + 1))\n"
         "  done\n"
         "  CUDA_VISIBLE_DEVICES=$od_cvd; export CUDA_VISIBLE_DEVICES\n"
         "  set -- \"$@\" --env CUDA_VISIBLE_DEVICES\n"
         "fi\n";
  }
  return s;
}

std::vector<std::string> ContainersConfCandidates(
    const std::function<const char*(const char*)>& getenv) {
  std::vector<std::string> out;
  if (const char* v = getenv("OVERDRIVE_CONTAINERS_CONF"); v && *v) out.push_back(v);
  out.push_back(kEtcConf);
  if (const char* x = getenv("XDG_CONFIG_HOME"); x && *x) {
    out.push_back(std::string(x) + "/overdrive/containers.conf");
  } else if (const char* h = getenv("HOME"); h && *h) {
    out.push_back(std::string(h) + "/.config/overdrive/containers.conf");
  }
  return out;
}

std::optional<std::string> ContainersConf(const std::function<const char*(const char*)>& getenv) {
  if (const char* v = getenv("CONTAINERS_CONF"); v && *v) return std::nullopt;
  for (const auto& c : ContainersConfCandidates(getenv)) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return c;
  }
  return std::nullopt;
}

std::string ContainersConfShell() {
  return std::string(
             "# podman's configuration: CONTAINERS_CONF as set, else Overdrive's "
             "(scripts/podman.sh setup)\n"
             "if [ -z \"${CONTAINERS_CONF:-}\" ]; then\n"
             "  for od_conf in \"${OVERDRIVE_CONTAINERS_CONF:-}\" ") +
         kEtcConf +
         " \"${XDG_CONFIG_HOME:-${HOME:-/nonexistent}/.config}/overdrive/containers.conf\"; do\n"
         "    if [ -n \"$od_conf\" ] && [ -f \"$od_conf\" ]; then\n"
         "      CONTAINERS_CONF=$od_conf; export CONTAINERS_CONF; break\n"
         "    fi\n"
         "  done\n"
         "fi\n";
}

std::string ContainerFailureReason(const std::string& image, int exit_code, bool image_exists,
                                   const std::string& podman_error, const std::string& where) {
  if (exit_code != 125 && exit_code != 126) return "";
  if (!image_exists) {
    return "container image '" + image + "' is not in the local image store of " + where +
           " (podman images lists it): build or import it there first (podman build, podman "
           "import, podman load; scripts/podman.sh base-image makes "
           "localhost/overdrive-base:latest); images are never pulled";
  }
  if (podman_error.empty()) return "";
  return "podman could not run the container (image '" + image + "') on " + where + ", exit code " +
         std::to_string(exit_code) + ": " + podman_error +
         "; scripts/podman.sh check tests the set-up";
}

std::string LastPodmanError(const std::string& text) {
  std::string found;
  for (const auto& line : Split(text, '\n')) {
    if (StartsWith(line, "Error: ")) found = Trim(line.substr(7));
  }
  return found;
}

std::vector<std::string> PodmanProcessEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    if (!StartsWith(*e, "CONTAINERS_CONF=")) env.emplace_back(*e);
  }
  if (auto conf = ContainersConf(std::getenv)) {
    env.push_back("CONTAINERS_CONF=" + *conf);
  } else if (const char* set = std::getenv("CONTAINERS_CONF")) {
    env.push_back(std::string("CONTAINERS_CONF=") + set);
  }
  return env;
}

int RunPodmanQuietly(const std::vector<std::string>& args, double timeout_s,
                     const std::string& podman) {
  std::vector<std::string> env_strings = PodmanProcessEnvironment();
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = {podman};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return -1;
  const double deadline = MonotonicSeconds() + timeout_s;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (MonotonicSeconds() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ImageExists(const std::string& image, const std::string& podman) {
  return RunPodmanQuietly({"image", "exists", image}, 30, podman) == 0;
}

void RemoveContainer(const std::string& name, const std::string& podman) {
  // -t 0: no grace here; whoever calls this has given the command its grace already.
  RunPodmanQuietly({"rm", "--force", "--ignore", "--time", "0", name}, 60, podman);
}

}  // namespace overdrive
