// FakeExecutor: an Executor with no processes, for tests of what drives an executor (the
// trackers, the controllers) and as the third member of the executor conformance suite.
//
// - Submit records the LaunchSpec (`submitted()`) and the run starts at once: the next Poll
//   reports kRunning with a handle ({"fake_run_id": ID}). Nothing queues for slots; a request
//   for more CPUs or GPUs than FakeOptions offers is refused, as the real executors do.
// - Outcomes are scripted: Finish(run_id, state, exit_code, reason) and Lose(run_id); Cancel
//   ends a run kCanceled. Each is reported by the next Poll of an executor watching the run.
// - Runs live in a FakeCluster that several FakeExecutor instances may share: one dropped and
//   another made on the same cluster is a controller restart. Reattach(handle) and
//   FindSubmitted(run_id) work from the cluster, so a run that ended while nobody watched is
//   reported by the new instance; a handle the cluster does not know is kLost.
// - With FakeOptions::auto_finish, commands of the forms `true`, `false`, `exit N`, `sleep S`
//   and `sleep S; <one of the first three>` end on their own (at once, or S seconds after they
//   started); any other command runs until scripted. LaunchSpec::timeout_s is enforced by the
//   same clock (kTimedOut).
// - Wait returns as soon as something is to be reported (a scripted outcome from another
//   thread included), else at the next automatic end or max_wait, whichever comes first.
// Header-only: tests/<part>/*.cpp build one binary per part, and tests/sweep uses it too.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/executor.hpp"
#include "executor/run_records.hpp"

namespace overdrive {

// What the fake "cluster" knows about every run ever submitted to it; shared between
// FakeExecutor instances. Thread-safe: tests may script outcomes while a controller runs.
class FakeCluster {
 public:
  struct Job {
    LaunchSpec spec;
    double started_at = 0;                   // wall seconds
    double started_mono = 0;                 // monotonic seconds, for automatic ends
    std::optional<double> ends_after_s;      // auto_finish: ends on its own this long after start
    int auto_exit_code = 0;
    std::optional<ExecUpdate> final_update;  // set once the run has ended
  };

  // Ends `run_id` (if it has not ended yet). `reason` "" for kExited with a non-zero code
  // gives the executors' own wording ("exited with code N; see .../stderr.log").
  void Finish(const std::string& run_id, ExecState state, int exit_code = 0,
              std::string reason = "") {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(run_id);
    if (it == jobs_.end() || it->second.final_update) return;
    EndLocked(it->second, state, exit_code, std::move(reason));
  }
  // Ends `run_id` as lost (its supervisor vanished without a trace).
  void Lose(const std::string& run_id) {
    Finish(run_id, ExecState::kLost, 0, "the fake run vanished");
  }
  bool Knows(const std::string& run_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.count(run_id) > 0;
  }
  bool Ended(const std::string& run_id) {
    std::lock_guard<std::mutex> lock(mu_);
    CheckClockLocked();
    auto it = jobs_.find(run_id);
    return it != jobs_.end() && it->second.final_update.has_value();
  }

 private:
  friend class FakeExecutor;

  static std::string HandleOf(const std::string& run_id) {
    return nlohmann::json{{"fake_run_id", run_id}}.dump();
  }

  void EndLocked(Job& job, ExecState state, int exit_code, std::string reason) {
    ExecUpdate u;
    u.run_id = job.spec.run_id;
    if (state == ExecState::kExited && reason.empty()) {
      // The same reading of an exit as the real executors (InterpretExitRecord).
      ExitRecord r;
      r.exit_code = exit_code;
      r.started_at = job.started_at;
      r.ended_at = WallSeconds();
      ExitContext c;
      c.run_id = job.spec.run_id;
      c.run_dir = job.spec.run_dir;
      u = InterpretExitRecord(r, c);
    } else {
      u.state = state;
      u.exit_code = exit_code;
      u.reason = std::move(reason);
      if (u.reason.empty()) {
        if (state == ExecState::kCanceled) u.reason = "canceled";
        if (state == ExecState::kTimedOut) u.reason = "stopped after exceeding its time limit";
      }
      u.started_at = job.started_at;
      u.ended_at = WallSeconds();
    }
    job.final_update = std::move(u);
    changed_.notify_all();
  }

  // Ends the runs whose time came (auto_finish commands, timeouts).
  void CheckClockLocked() {
    const double now = MonotonicSeconds();
    for (auto& [id, job] : jobs_) {
      if (job.final_update) continue;
      const double age = now - job.started_mono;
      const bool timed_out = job.spec.timeout_s && age >= *job.spec.timeout_s;
      const bool ends = job.ends_after_s && age >= *job.ends_after_s;
      if (ends && (!timed_out || *job.ends_after_s <= *job.spec.timeout_s)) {
        EndLocked(job, ExecState::kExited, job.auto_exit_code, "");
      } else if (timed_out) {
        EndLocked(job, ExecState::kTimedOut, 0, "");
      }
    }
  }

  // Monotonic time of the next automatic end among `ids`; infinity when none.
  double NextEventLocked(const std::set<std::string>& ids) const {
    double next = std::numeric_limits<double>::infinity();
    for (const auto& id : ids) {
      auto it = jobs_.find(id);
      if (it == jobs_.end() || it->second.final_update) continue;
      const Job& job = it->second;
      if (job.ends_after_s) next = std::min(next, job.started_mono + *job.ends_after_s);
      if (job.spec.timeout_s) next = std::min(next, job.started_mono + *job.spec.timeout_s);
    }
    return next;
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Job> jobs_;
};

struct FakeOptions {
  double cpus = 64;          // a run asking for more is refused at Submit
  double gpus = 0;           // likewise
  bool auto_finish = false;  // `true`, `false`, `exit N`, `sleep S[; ...]` end on their own
};

class FakeExecutor final : public Executor {
 public:
  explicit FakeExecutor(std::shared_ptr<FakeCluster> cluster = std::make_shared<FakeCluster>(),
                        FakeOptions options = {})
      : cluster_(std::move(cluster)), options_(options) {}

  std::string Name() const override { return "fake"; }
  FakeCluster& cluster() { return *cluster_; }
  const std::shared_ptr<FakeCluster>& shared_cluster() const { return cluster_; }
  // Every LaunchSpec this instance accepted, in order.
  const std::vector<LaunchSpec>& submitted() const { return submitted_; }
  // Every Cancel this instance was asked for, in order.
  const std::vector<std::string>& cancels() const { return cancels_; }

  // Shorthands for scripting through the shared cluster.
  void Finish(const std::string& run_id, ExecState state, int exit_code = 0,
              std::string reason = "") {
    cluster_->Finish(run_id, state, exit_code, std::move(reason));
  }
  void Lose(const std::string& run_id) { cluster_->Lose(run_id); }

  Result<void> Submit(const LaunchSpec& spec) override {
    if (spec.run_id.empty()) return MakeError(ErrorCode::kInvalidInput, "a run needs a run_id");
    if (watched_.count(spec.run_id)) {
      return MakeError(ErrorCode::kAlreadyExists,
                       "run '" + spec.run_id + "' is already queued or running");
    }
    const double world = spec.WorldSize();
    if (!(spec.cpus >= 0) || spec.cpus * world > options_.cpus) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " + FormatDouble(spec.cpus * world) +
                           " CPUs but the fake offers " + FormatDouble(options_.cpus));
    }
    if (!(spec.gpus >= 0) || spec.gpus * world > options_.gpus) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "' asks for " + FormatDouble(spec.gpus * world) +
                           " GPUs but the fake offers " + FormatDouble(options_.gpus));
    }
    if (spec.timeout_s && !(*spec.timeout_s > 0)) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + spec.run_id + "': the timeout must be more than 0 seconds");
    }
    FakeCluster::Job job;
    job.spec = spec;
    job.started_at = WallSeconds();
    job.started_mono = MonotonicSeconds();
    if (options_.auto_finish) ParseAuto(spec.command, job);
    {
      std::lock_guard<std::mutex> lock(cluster_->mu_);
      cluster_->jobs_[spec.run_id] = std::move(job);  // a new attempt replaces the old
    }
    submitted_.push_back(spec);
    watched_[spec.run_id] = Watch{};
    return {};
  }

  std::vector<ExecUpdate> Poll() override {
    std::vector<ExecUpdate> out;
    std::lock_guard<std::mutex> lock(cluster_->mu_);
    cluster_->CheckClockLocked();
    for (auto it = watched_.begin(); it != watched_.end();) {
      const std::string& id = it->first;
      Watch& w = it->second;
      auto job = cluster_->jobs_.find(id);
      if (!w.running_reported && job != cluster_->jobs_.end()) {
        ExecUpdate u;
        u.run_id = id;
        u.state = ExecState::kRunning;
        u.started_at = job->second.started_at;
        u.handle = FakeCluster::HandleOf(id);
        out.push_back(std::move(u));
        w.running_reported = true;
      }
      std::optional<ExecUpdate> final_update;
      if (job == cluster_->jobs_.end()) {
        final_update = ExecUpdate{};
        final_update->run_id = id;
        final_update->state = ExecState::kLost;
        final_update->reason = "the fake cluster does not know run '" + id + "'";
        final_update->ended_at = WallSeconds();
      } else if (job->second.final_update) {
        final_update = job->second.final_update;
      }
      if (final_update) {
        out.push_back(std::move(*final_update));
        it = watched_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  Result<void> Cancel(const std::string& run_id) override {
    if (!watched_.count(run_id)) {
      return MakeError(ErrorCode::kNotFound, "no queued or running run '" + run_id + "'");
    }
    cancels_.push_back(run_id);
    cluster_->Finish(run_id, ExecState::kCanceled);  // a run that already ended keeps its end
    return {};
  }

  Result<void> Reattach(const std::string& run_id, const std::string& handle) override {
    if (watched_.count(run_id)) {
      return MakeError(ErrorCode::kAlreadyExists,
                       "run '" + run_id + "' is already queued or running here");
    }
    auto j = nlohmann::json::parse(handle, nullptr, false);
    if (!j.is_object() || !j.contains("fake_run_id") || !j["fake_run_id"].is_string()) {
      return MakeError(ErrorCode::kInvalidInput,
                       "run '" + run_id + "': unreadable fake executor handle '" + handle + "'");
    }
    // Watched from now on; no second kRunning. A run the cluster forgot is reported lost.
    watched_[run_id] = Watch{true};
    return {};
  }

  Result<std::string> FindSubmitted(const std::string& run_id,
                                    const std::filesystem::path& /*run_dir*/) override {
    return cluster_->Knows(run_id) ? FakeCluster::HandleOf(run_id) : std::string();
  }

  void Wait(std::chrono::milliseconds max_wait) override {
    std::unique_lock<std::mutex> lock(cluster_->mu_);
    std::set<std::string> ids;
    for (const auto& [id, w] : watched_) ids.insert(id);
    const auto deadline = std::chrono::steady_clock::now() + max_wait;
    auto reportable = [&] {
      cluster_->CheckClockLocked();
      for (const auto& [id, w] : watched_) {
        if (!w.running_reported) return true;
        auto job = cluster_->jobs_.find(id);
        if (job == cluster_->jobs_.end() || job->second.final_update) return true;
      }
      return false;
    };
    while (!reportable()) {
      auto until = deadline;
      double next = cluster_->NextEventLocked(ids);
      if (next != std::numeric_limits<double>::infinity()) {
        auto in = std::chrono::duration<double>(std::max(0.0, next - MonotonicSeconds()));
        until = std::min(until, std::chrono::steady_clock::now() +
                                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(in));
      }
      if (std::chrono::steady_clock::now() >= deadline) return;
      cluster_->changed_.wait_until(lock, until);
    }
  }

  int ActiveCount() const override { return static_cast<int>(watched_.size()); }

 private:
  struct Watch {
    bool running_reported = false;
  };

  // `true`, `false`, `exit N`, `sleep S`, `sleep S; <one of the first three>`.
  static void ParseAuto(const std::string& command, FakeCluster::Job& job) {
    std::string rest = Trim(command);
    double after = 0;
    if (StartsWith(rest, "sleep ")) {
      std::string arg = Trim(rest.substr(6));
      size_t semi = arg.find(';');
      std::string seconds = Trim(arg.substr(0, semi));
      char* end = nullptr;
      after = std::strtod(seconds.c_str(), &end);
      if (seconds.empty() || *end != '\0' || !(after >= 0)) return;
      rest = semi == std::string::npos ? "true" : Trim(arg.substr(semi + 1));
    }
    std::optional<int> code;
    if (rest == "true") {
      code = 0;
    } else if (rest == "false") {
      code = 1;
    } else if (StartsWith(rest, "exit ")) {
      std::string n = Trim(rest.substr(5));
      char* end = nullptr;
      long v = std::strtol(n.c_str(), &end, 10);
      if (!n.empty() && *end == '\0') code = static_cast<int>(v & 0xff);
    }
    if (!code) return;
    job.ends_after_s = after;
    job.auto_exit_code = *code;
  }

  std::shared_ptr<FakeCluster> cluster_;
  FakeOptions options_;
  std::map<std::string, Watch> watched_;  // runs this instance reports, until their final update
  std::vector<LaunchSpec> submitted_;
  std::vector<std::string> cancels_;
};

}  // namespace overdrive
