#include "server/server_context.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/input_limits.hpp"
#include "metrics/metrics_line.hpp"
#include "server/http_util.hpp"

namespace overdrive {

namespace fs = std::filesystem;

WorkspacePool::Lease::~Lease() {
  if (!pool_ || !ws_) return;
  std::lock_guard<std::mutex> lock(pool_->mu_);
  if (pool_->idle_.size() < 32) pool_->idle_.push_back(std::move(ws_));
}

Result<WorkspacePool::Lease> WorkspacePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto ws = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(ws));
    }
  }
  OD_ASSIGN_OR_RETURN(auto ws, Workspace::Open(location_));
  ws->run_env() = run_env;
  return Lease(this, std::move(ws));
}

std::optional<Principal> ServerContext::Authorize(const httplib::Request& req,
                                                  httplib::Response& res, Scope needed) {
  auto lease = Lease(res);
  if (!lease) return std::nullopt;
  if (auto on = auth->Refresh((*lease)->store()); !on) {
    SendError(res, on.error());
    return std::nullopt;
  }
  auto who = auth->Authenticate(&(*lease)->store(),
                                req.get_header_value("Authorization"),
                                req.has_param("token") ? req.get_param_value("token") : "");
  if (!who) {
    if (who.error().code == ErrorCode::kInvalidInput) {
      res.set_header("WWW-Authenticate", "Bearer");
      if (req.path.rfind("/api/2.0/mlflow/", 0) == 0) {
        // MLflow's clients read {"error_code", "message"}.
        SendJson(res, 401, {{"error_code", "UNAUTHENTICATED"}, {"message", who.error().message}});
      } else {
        SendError(res, 401, "unauthenticated", who.error().message);
      }
    } else {
      SendError(res, who.error());
    }
    return std::nullopt;
  }
  if (!who->Allows(needed)) {
    SendError(res, 403, "forbidden",
              std::string("token ") + who->token_id + " has scope '" + ScopeName(who->scope) +
                  "'; this needs '" + ScopeName(needed) + "'");
    return std::nullopt;
  }
  return *who;
}

std::optional<WorkspacePool::Lease> ServerContext::Lease(httplib::Response& res) {
  auto lease = pool->Acquire();
  if (!lease) {
    SendError(res, 503, "unavailable", lease.error().message);
    return std::nullopt;
  }
  return std::move(*lease);
}

std::optional<RunRecord> ServerContext::VisibleRun(Workspace& ws, const Principal& who,
                                                   const std::string& id,
                                                   httplib::Response& res) {
  // Prefixes are matched only among the runs the principal may see, and every miss reads the
  // same: a scoped token cannot probe which ids exist in other experiments.
  auto resolved = ws.store().ResolveRunId(id, who.experiment);
  if (!resolved) {
    if (resolved.error().code == ErrorCode::kNotFound) {
      SendError(res, 404, "not_found", "run '" + id + "' does not exist");
    } else {
      SendError(res, resolved.error());
    }
    return std::nullopt;
  }
  auto run = ws.store().GetRun(*resolved);
  if (!run) {
    SendError(res, run.error());
    return std::nullopt;
  }
  if (!who.SeesExperiment(run->experiment_name)) {
    // As if it did not exist: a scoped token learns nothing about other experiments.
    SendError(res, 404, "not_found", "run '" + id + "' does not exist");
    return std::nullopt;
  }
  return *run;
}

Result<void> ServerContext::LogToRun(Workspace& ws, const RunRecord& run,
                                     std::vector<MetricPoint> points,
                                     const std::vector<Param>& params) {
  double now = WallSeconds();
  for (auto& p : points) {
    OD_TRY(ValidateName("metric name", p.name));
    if (p.timestamp <= 0) p.timestamp = now;
  }
  for (const auto& p : params) OD_TRY(ValidateName("param name", p.name));
  bool live = !IsFinal(run.status) && !run.run_dir.empty() &&
              (run.job_type == JobType::kTrial || run.job_type == JobType::kCommand) &&
              run.status != RunStatus::kQueued;
  if (live) {
    // The collector's own format (NaN and infinities included), so a value acknowledged here
    // is the value it stores.
    std::string lines;
    for (const auto& p : points) lines += FormatMetricLine(p);
    for (const auto& p : params) lines += FormatParamLine(p);
    fs::path file = fs::path(run.run_dir) / "metrics.jsonl";
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      return MakeError(ErrorCode::kIo, "cannot append to " + file.string());
    }
    // One write per request: O_APPEND keeps it whole beside the run's own appends.
    ssize_t n = ::write(fd, lines.data(), lines.size());
    int sync = ::fdatasync(fd);
    ::close(fd);
    if (n != static_cast<ssize_t>(lines.size()) || sync != 0) {
      return MakeError(ErrorCode::kIo, "short write to " + file.string());
    }
    Notify();
    return {};
  }
  IngestBatch batch;
  batch.run_id = run.id;
  bool needs_steps = false;
  for (const auto& p : points) needs_steps = needs_steps || p.step < 0;
  if (needs_steps) {
    OD_ASSIGN_OR_RETURN(auto summaries, ws.store().GetMetricSummaries(run.id));
    std::map<std::string, std::int64_t> next;
    for (const auto& s : summaries) next[s.name] = s.last_step + 1;
    for (auto& p : points) {
      if (p.step < 0) p.step = next[p.name]++;
      else next[p.name] = std::max(next[p.name], p.step + 1);
    }
  }
  batch.points = std::move(points);
  batch.params = params;
  {
    std::unique_lock<std::mutex> lock(sqlite_write_mu_, std::defer_lock);
    if (pool->location().db_url.empty()) lock.lock();
    OD_TRY(ws.store().Ingest(batch));
  }
  {
    std::lock_guard<std::mutex> lock(writes_mu_);
    ++run_writes_[run.id];
  }
  Notify();
  return {};
}

std::uint64_t ServerContext::RunWrites(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(writes_mu_);
  auto it = run_writes_.find(run_id);
  return it == run_writes_.end() ? 0 : it->second;
}

void ServerContext::Notify() {
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    ++change_seq_;
  }
  change_cv_.notify_all();
}

void ServerContext::WaitForChange(int ms) {
  std::unique_lock<std::mutex> lock(change_mu_);
  std::uint64_t seen = change_seq_;
  change_cv_.wait_for(lock, std::chrono::milliseconds(ms),
                      [&] { return change_seq_ != seen || stopping.load(); });
}

fs::path FindWebDir(const fs::path& configured) {
  std::error_code ec;
  auto ok = [&](const fs::path& p) { return !p.empty() && fs::exists(p / "index.html", ec); };
  if (!configured.empty()) return ok(configured) ? configured : fs::path();
  if (const char* env = std::getenv("OVERDRIVE_WEB_DIR"); env && *env && ok(env)) return env;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path bin = exe.parent_path();
    for (const fs::path& p : {bin / ".." / "share" / "overdrive" / "web",
                              bin / ".." / ".." / ".." / "web" / "dist"}) {
      if (ok(p)) return fs::weakly_canonical(p, ec);
    }
  }
#ifdef OVERDRIVE_SOURCE_DIR
  if (ok(fs::path(OVERDRIVE_SOURCE_DIR) / "web" / "dist")) {
    return fs::path(OVERDRIVE_SOURCE_DIR) / "web" / "dist";
  }
#endif
  return {};
}

}  // namespace overdrive
