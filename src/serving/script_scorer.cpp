// Scoring-script models: a pool of long-lived Python workers (scoring_worker.py) behind the HTTP
// front end. Each worker slot is one thread owning one process: it (re)starts the process, takes
// requests from a shared FIFO queue, and enforces the request's deadline by killing the process.
// Requests are never merged: Azure's run() receives one request body, and merging would change
// what the script sees.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "executor/container.hpp"
#include "serving/scorer.hpp"

extern char** environ;

namespace overdrive::serving {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? std::chrono::milliseconds(0) : left;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) +
           (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "stopped";
}

std::string SecondsText(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t + " s";
}

// One worker process and the two pipes to it. Owned by one slot thread; not thread-safe.
class WorkerProcess {
 public:
  enum class ReadStatus { kOk, kTimeout, kEof, kStopped, kBadProtocol };

  ~WorkerProcess() { Kill(); }

  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }

  Result<void> Spawn(const EndpointOptions& options, const ModelLayout& layout) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0) return MakeError(ErrorCode::kIo, "pipe failed");
    if (pipe2(from_child, O_CLOEXEC) != 0) {
      close(to_child[0]);
      close(to_child[1]);
      return MakeError(ErrorCode::kIo, "pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    posix_spawn_file_actions_addchdir_np(&actions, layout.folder.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Own process group: a terminal's Ctrl-C reaches the server only (which then stops the
    // workers in order), and a timeout kills whatever the script started too.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, defaults;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    // Ours, with CONTAINERS_CONF for a podman worker (harmless to a plain one).
    std::vector<std::string> env_storage;
    for (std::string& kv : PodmanProcessEnvironment()) {
      if (kv.starts_with("AZUREML_MODEL_DIR=") || kv.starts_with("PYTHONUNBUFFERED=") ||
          kv.starts_with("PYTHONDONTWRITEBYTECODE=")) {
        continue;
      }
      env_storage.push_back(std::move(kv));
    }
    env_storage.push_back("AZUREML_MODEL_DIR=" + layout.folder.string());
    env_storage.push_back("PYTHONUNBUFFERED=1");
    env_storage.push_back("PYTHONDONTWRITEBYTECODE=1");  // leave the model folder as it was
    std::vector<char*> envp;
    for (auto& s : env_storage) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> words = {options.python, "-c", kScoringWorkerSource,
                                      layout.file.string()};
    if (options.container) {
      // The same worker in a container of the model's image: `podman run -i` carries the
      // pipes; the model folder is mounted at its own path (container.hpp).
      static std::atomic<int> serial{0};
      PodmanRun pr;
      pr.name = ContainerName("serve-" + std::to_string(::getpid()) + "-" +
                              std::to_string(serial.fetch_add(1)));
      pr.container = *options.container;
      pr.run_dir = pr.working_dir = layout.folder.string();
      pr.env_names = {"AZUREML_MODEL_DIR", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"};
      std::vector<std::string> argv = PodmanRunHead(pr);
      argv[0] = "/usr/bin/podman";
      if (::access(argv[0].c_str(), X_OK) != 0) argv[0] = "podman";
      argv.insert(argv.begin() + 2, "--interactive");
      for (auto& a : PodmanNodeOptions(::getuid(), ::getgid(), {})) argv.push_back(std::move(a));
      argv.push_back(pr.container.image);
      argv.insert(argv.end(), words.begin(), words.end());
      words = std::move(argv);
      container_name_ = pr.name;
    }
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const std::string program = words[0];

    pid_t pid = 0;
    int rc = posix_spawnp(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(to_child[0]);
    close(from_child[1]);
    if (rc != 0) {
      close(to_child[1]);
      close(from_child[0]);
      return MakeError(ErrorCode::kIo, "cannot start the Python interpreter " + options.python +
                                           ": " + std::strerror(rc));
    }
    pid_ = pid;
    to_fd_ = to_child[1];
    from_fd_ = from_child[0];
    fcntl(to_fd_, F_SETFL, fcntl(to_fd_, F_GETFL) | O_NONBLOCK);
    fcntl(from_fd_, F_SETFL, fcntl(from_fd_, F_GETFL) | O_NONBLOCK);
    buffer_.clear();
    return {};
  }

  // Sends one message; false when the worker is gone or the deadline passed.
  bool Write(std::string_view kind, std::string_view payload, Clock::time_point deadline,
             int stop_fd) {
    std::string header = std::string(kind) + " " + std::to_string(payload.size()) + "\n";
    return WriteAll(header, deadline, stop_fd) && WriteAll(payload, deadline, stop_fd);
  }

  ReadStatus Read(std::string* kind, std::string* payload, Clock::time_point deadline,
                  int stop_fd) {
    std::size_t header_end;
    while ((header_end = buffer_.find('\n')) == std::string::npos) {
      if (buffer_.size() > 4096) return ReadStatus::kBadProtocol;
      if (auto s = Fill(deadline, stop_fd); s != ReadStatus::kOk) return s;
    }
    std::string header = buffer_.substr(0, header_end);
    auto space = header.find(' ');
    if (space == std::string::npos) return ReadStatus::kBadProtocol;
    std::size_t length = 0;
    try {
      length = std::stoull(header.substr(space + 1));
    } catch (...) {
      return ReadStatus::kBadProtocol;
    }
    while (buffer_.size() < header_end + 1 + length) {
      if (auto s = Fill(deadline, stop_fd); s != ReadStatus::kOk) return s;
    }
    *kind = header.substr(0, space);
    *payload = buffer_.substr(header_end + 1, length);
    buffer_.erase(0, header_end + 1 + length);
    return ReadStatus::kOk;
  }

  // The process ended (reaped now); how it ended.
  std::optional<std::string> ExitedWhileIdle() {
    if (pid_ <= 0) return std::nullopt;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      CloseFds();
      return DescribeWaitStatus(status);
    }
    return std::nullopt;
  }

  // Waits briefly for an exiting process (its pipe closed), then kills it. How it ended.
  std::string Reap() {
    if (pid_ <= 0) return "exited";
    CloseFds();
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return DescribeWaitStatus(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill();
    return "stopped answering and was killed";
  }

  // Closes the request pipe (a worker exits on EOF), waits up to `grace`, then kills.
  void Stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return;
    CloseFds();
    auto end = Clock::now() + grace;
    int status = 0;
    while (Clock::now() < end) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill();
  }

  void Kill() {
    CloseFds();
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
    // A killed `podman run` leaves its container running under conmon.
    if (!container_name_.empty()) RemoveContainer(container_name_);
  }

 private:
  void CloseFds() {
    if (to_fd_ >= 0) close(to_fd_);
    if (from_fd_ >= 0) close(from_fd_);
    to_fd_ = from_fd_ = -1;
  }

  // Waits for `fd` to be ready for `events`, or the deadline, or a byte on stop_fd.
  ReadStatus WaitFor(int fd, short events, Clock::time_point deadline, int stop_fd) {
    while (true) {
      auto left = Remaining(deadline);
      if (left.count() == 0) return ReadStatus::kTimeout;
      pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
      int n = poll(fds, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::min<long>(left.count(), 1000)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ReadStatus::kEof;
      if (stop_fd >= 0 && (fds[1].revents & POLLIN)) return ReadStatus::kStopped;
      if (fds[0].revents) return ReadStatus::kOk;
    }
  }

  ReadStatus Fill(Clock::time_point deadline, int stop_fd) {
    if (from_fd_ < 0) return ReadStatus::kEof;
    if (auto s = WaitFor(from_fd_, POLLIN, deadline, stop_fd); s != ReadStatus::kOk) return s;
    char chunk[65536];
    ssize_t n = read(from_fd_, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return ReadStatus::kOk;
    if (n <= 0) return ReadStatus::kEof;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return ReadStatus::kOk;
  }

  bool WriteAll(std::string_view data, Clock::time_point deadline, int stop_fd) {
    while (!data.empty()) {
      if (to_fd_ < 0) return false;
      if (WaitFor(to_fd_, POLLOUT, deadline, stop_fd) != ReadStatus::kOk) return false;
      ssize_t n = write(to_fd_, data.data(), data.size());
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;  // EPIPE: the worker is gone (SIGPIPE is ignored)
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  int pid_ = 0;
  std::string container_name_;  // options.container: the worker's container
  int to_fd_ = -1;
  int from_fd_ = -1;
  std::string buffer_;
};

struct Job {
  std::string body;
  Clock::time_point deadline;
  bool taken = false;
  bool done = false;
  ScoreReply reply;
};

struct SlotState {
  int pid = 0;
  bool ready = false;
  bool busy = false;
  long served = 0;
};

class ScriptScorer final : public Scorer {
 public:
  ScriptScorer(ModelLayout layout, EndpointOptions options)
      : layout_(std::move(layout)), options_(std::move(options)) {
    if (options_.workers < 1) options_.workers = 1;
    timeout_ = std::chrono::milliseconds(static_cast<long>(options_.request_timeout_s * 1000));
    init_timeout_ = std::chrono::milliseconds(static_cast<long>(options_.init_timeout_s * 1000));
  }

  ~ScriptScorer() override { Shutdown(); }

  // Starts the slots; succeeds once one worker is ready, fails with the first start error.
  Result<void> Start() {
    if (pipe2(stop_pipe_, O_CLOEXEC) != 0) return MakeError(ErrorCode::kIo, "pipe failed");
    // A worker that dies while we write to it must be an EPIPE, not a signal that ends the server.
    signal(SIGPIPE, SIG_IGN);
    slots_.resize(static_cast<std::size_t>(options_.workers));
    for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { SlotLoop(i); });
    std::unique_lock lock(mu_);
    state_cv_.wait(lock, [&] { return first_outcome_.has_value(); });
    if (!first_outcome_->empty()) {
      Error error{start_error_code_, *first_outcome_};
      lock.unlock();
      Shutdown();
      return std::unexpected(error);
    }
    return {};
  }

  ScoreReply Score(std::string_view raw, const json&) override {
    auto job = std::make_shared<Job>();
    job->body = std::string(raw);
    job->deadline = Clock::now() + timeout_;
    std::unique_lock lock(mu_);
    if (stopping_) return ErrorReply(503, "the server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queue) {
      return ErrorReply(503, "too many requests waiting (" + std::to_string(queue_.size()) +
                                 "); retry later or start the endpoint with more workers");
    }
    queue_.push_back(job);
    job_cv_.notify_one();
    // A slot that took the job answers it by the deadline (it kills the worker if it must);
    // the margin lets it do so rather than this thread.
    done_cv_.wait_until(lock, job->deadline + std::chrono::milliseconds(500),
                        [&] { return job->done; });
    if (!job->done && !job->taken) {
      std::erase(queue_, job);
      int ready = 0;
      for (const auto& s : slots_) ready += s.ready ? 1 : 0;
      if (ready == 0 && !start_error_.empty()) {
        return ErrorReply(503, "no scoring worker is running: " + start_error_);
      }
      return ErrorReply(504, "timed out after " + SecondsText(options_.request_timeout_s) +
                                 " waiting for a free worker (" + std::to_string(slots_.size()) +
                                 " workers, all busy)");
    }
    done_cv_.wait(lock, [&] { return job->done; });
    return job->reply;
  }

  bool Ready() const override {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_) {
      if (s.ready) return true;
    }
    return false;
  }

  json Metadata() const override {
    return {{"kind", ModelKindName(ModelKind::kScoringScript)},
            {"entry", layout_.file.filename().string()},
            {"workers", options_.workers},
            {"request_timeout_s", options_.request_timeout_s}};
  }

  json Health() const override {
    std::lock_guard lock(mu_);
    int ready = 0, busy = 0;
    json pids = json::array();
    for (const auto& s : slots_) {
      ready += s.ready ? 1 : 0;
      busy += s.busy ? 1 : 0;
      if (s.pid > 0) pids.push_back(s.pid);
    }
    json h = {{"workers", {{"configured", slots_.size()}, {"ready", ready}, {"busy", busy}}},
              {"worker_pids", pids},
              {"queued", queue_.size()},
              {"restarts", restarts_}};
    if (!last_error_.empty()) h["last_error"] = last_error_;
    return h;
  }

  std::vector<int> WorkerPids() const override {
    std::lock_guard lock(mu_);
    std::vector<int> pids;
    for (const auto& s : slots_) {
      if (s.pid > 0) pids.push_back(s.pid);
    }
    return pids;
  }

  void Shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
      for (auto& job : queue_) Complete(*job, ErrorReply(503, "the server is shutting down"));
      queue_.clear();
    }
    if (stop_pipe_[1] >= 0) {
      char b = 1;
      [[maybe_unused]] auto n = write(stop_pipe_[1], &b, 1);
    }
    job_cv_.notify_all();
    state_cv_.notify_all();
    done_cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
    for (int& fd : stop_pipe_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }

 private:
  void Log(const std::string& line) {
    if (options_.log) options_.log(line);
  }

  // Requires mu_.
  void Complete(Job& job, ScoreReply reply) {
    job.reply = std::move(reply);
    job.done = true;
    done_cv_.notify_all();
  }

  void SetSlot(int i, int pid, bool ready) {
    std::lock_guard lock(mu_);
    slots_[i].pid = pid;
    slots_[i].ready = ready;
    slots_[i].busy = false;
  }

  // Starts the worker and waits for its READY; the error message otherwise.
  std::optional<std::string> StartWorker(WorkerProcess& proc, ErrorCode* code) {
    if (auto started = proc.Spawn(options_, layout_); !started) {
      *code = started.error().code;
      return started.error().message;
    }
    std::string kind, payload;
    auto status = proc.Read(&kind, &payload, Clock::now() + init_timeout_, stop_pipe_[0]);
    *code = ErrorCode::kInvalidInput;
    if (status == WorkerProcess::ReadStatus::kOk && kind == "READY") return std::nullopt;
    if (status == WorkerProcess::ReadStatus::kStopped) {
      proc.Kill();
      return "the server is shutting down";
    }
    std::string message;
    if (status == WorkerProcess::ReadStatus::kOk && kind == "FAIL") {
      auto j = json::parse(payload, nullptr, false);
      message = j.is_object() && j.contains("error") && j["error"].is_string()
                    ? j["error"].get<std::string>()
                    : payload;
      proc.Reap();
    } else if (status == WorkerProcess::ReadStatus::kTimeout) {
      proc.Kill();
      message = "the worker did not finish import and init() within " +
                SecondsText(options_.init_timeout_s);
    } else {
      std::string how = proc.Reap();
      message = "the worker (" + options_.python + ") " + how + " before init() finished";
      if (how.find("code 127") != std::string::npos || how.find("code 2") != std::string::npos) {
        message += "; is " + options_.python + " a Python 3 interpreter?";
      }
    }
    return message;
  }

  void SlotLoop(int i) {
    WorkerProcess proc;
    auto backoff = std::chrono::milliseconds(200);
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
      }
      if (!proc.running()) {
        ErrorCode code = ErrorCode::kInvalidInput;
        auto error = StartWorker(proc, &code);
        std::unique_lock lock(mu_);
        if (stopping_) break;
        if (error) {
          last_error_ = start_error_ = *error;
          if (!first_outcome_) {
            first_outcome_ = *error;
            start_error_code_ = code;
            state_cv_.notify_all();
          }
          lock.unlock();
          Log("worker failed to start: " + *error + "; retrying in " +
              std::to_string(backoff.count()) + " ms");
          lock.lock();
          state_cv_.wait_for(lock, backoff, [&] { return stopping_; });
          backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
          continue;
        }
        backoff = std::chrono::milliseconds(200);
        start_error_.clear();
        slots_[i] = SlotState{proc.pid(), true, false, slots_[i].served};
        if (!first_outcome_) {
          first_outcome_ = "";
          state_cv_.notify_all();
        }
        lock.unlock();
        Log("worker " + std::to_string(proc.pid()) + " ready");
      }

      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mu_);
        job_cv_.wait_for(lock, std::chrono::milliseconds(200),
                         [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        if (!queue_.empty()) {
          job = queue_.front();
          queue_.pop_front();
          job->taken = true;
          slots_[i].busy = true;
        }
      }
      // A worker that died while idle (killed, out of memory) is replaced before it is used.
      if (auto how = proc.ExitedWhileIdle()) {
        std::lock_guard lock(mu_);
        Replaced(i, "worker " + std::to_string(slots_[i].pid) + " " + *how + " while idle");
        if (job) {
          job->taken = false;
          queue_.push_front(job);
          job_cv_.notify_one();
        }
        continue;
      }
      if (!job) continue;
      ScoreReply reply = RunJob(i, proc, *job);
      std::lock_guard lock(mu_);
      slots_[i].busy = false;
      slots_[i].served++;
      Complete(*job, std::move(reply));
    }
    proc.Stop(std::chrono::milliseconds(2000));
    SetSlot(i, 0, false);
  }

  // Requires mu_. Marks slot i as needing a new worker.
  void Replaced(int i, const std::string& why) {
    slots_[i].pid = 0;
    slots_[i].ready = false;
    slots_[i].busy = false;
    ++restarts_;
    last_error_ = why;
    if (options_.log) options_.log(why + "; starting a new one");
  }

  ScoreReply RunJob(int i, WorkerProcess& proc, Job& job) {
    if (Remaining(job.deadline).count() == 0) {
      return ErrorReply(504, "timed out after " + SecondsText(options_.request_timeout_s) +
                                 " waiting for a free worker");
    }
    int pid = proc.pid();
    std::string kind, payload;
    auto status = WorkerProcess::ReadStatus::kEof;
    if (proc.Write("RUN", job.body, job.deadline, stop_pipe_[0])) {
      status = proc.Read(&kind, &payload, job.deadline, stop_pipe_[0]);
    } else if (Remaining(job.deadline).count() == 0) {
      status = WorkerProcess::ReadStatus::kTimeout;
    }
    using RS = WorkerProcess::ReadStatus;
    switch (status) {
      case RS::kOk:
        if (kind == "OK") return ScoreReply{200, std::move(payload)};
        if (kind == "ERR") {
          auto j = json::parse(payload, nullptr, false);
          if (j.is_object() && j.contains("error")) return ScoreReply{500, j.dump()};
          return ErrorReply(500, "run() raised an exception");
        }
        break;  // anything else: a broken worker, replaced below
      case RS::kTimeout: {
        proc.Kill();
        std::lock_guard lock(mu_);
        Replaced(i, "worker " + std::to_string(pid) + " killed: run() took longer than " +
                        SecondsText(options_.request_timeout_s));
        return ErrorReply(504,
                          "scoring timed out after " + SecondsText(options_.request_timeout_s) +
                              "; the worker was stopped and is being replaced",
                          {{"timeout_s", options_.request_timeout_s}});
      }
      case RS::kStopped:
        proc.Kill();
        return ErrorReply(503, "the server is shutting down");
      case RS::kEof: {
        std::string how = proc.Reap();
        std::lock_guard lock(mu_);
        Replaced(i, "worker " + std::to_string(pid) + " " + how + " while scoring");
        return ErrorReply(502, "the scoring worker " + how +
                                   " while handling this request; it is being replaced");
      }
      case RS::kBadProtocol:
        break;
    }
    proc.Kill();
    std::lock_guard lock(mu_);
    Replaced(i, "worker " + std::to_string(pid) + " broke the worker protocol");
    return ErrorReply(502, "the scoring worker sent an unreadable reply; it is being replaced");
  }

  ModelLayout layout_;
  EndpointOptions options_;
  std::chrono::milliseconds timeout_{30000};
  std::chrono::milliseconds init_timeout_{120000};
  int stop_pipe_[2] = {-1, -1};

  mutable std::mutex mu_;
  std::condition_variable job_cv_;    // slots wait for jobs
  std::condition_variable done_cv_;   // requests wait for their reply
  std::condition_variable state_cv_;  // Start waits for the first worker; backoff waits
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<SlotState> slots_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
  std::optional<std::string> first_outcome_;  // "" ready, else the first start error
  ErrorCode start_error_code_ = ErrorCode::kInvalidInput;
  std::string last_error_;   // the latest worker failure, for /health
  std::string start_error_;  // why the latest worker start failed; "" once one started
  long restarts_ = 0;
};

}  // namespace

Result<std::unique_ptr<Scorer>> MakeScriptScorer(const ModelLayout& layout,
                                                 const EndpointOptions& options) {
  auto scorer = std::make_unique<ScriptScorer>(layout, options);
  OD_TRY(scorer->Start());
  return std::unique_ptr<Scorer>(std::move(scorer));
}

}  // namespace overdrive::serving
