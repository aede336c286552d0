// What the routes of `overdrive server` share: the options, a pool of workspace connections
// (one store connection per request thread at a time), the authenticator and the job runner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "common/result.hpp"
#include "server/auth.hpp"
#include "http/http_limits.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

class JobRunner;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8765;                        // 0 = any free port
  WorkspaceLocation location;
  std::filesystem::path web_dir;          // "" = found next to the binary (see FindWebDir)
  std::string tls_cert, tls_key;          // both set = HTTPS
  HttpLimits limits;                      // bodies, uploads, JSON depth, connections, timeouts
  std::string public_url;                 // how clients reach us; "" = scheme://host:port
  bool quiet = false;
};

// Workspaces lent to request threads; each holds its own store connection.
class WorkspacePool {
 public:
  explicit WorkspacePool(WorkspaceLocation location) : location_(std::move(location)) {}
  class Lease {
   public:
    Lease(WorkspacePool* pool, std::unique_ptr<Workspace> ws) : pool_(pool), ws_(std::move(ws)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Workspace& operator*() { return *ws_; }
    Workspace* operator->() { return ws_.get(); }

   private:
    WorkspacePool* pool_;
    std::unique_ptr<Workspace> ws_;
  };
  Result<Lease> Acquire();
  const WorkspaceLocation& location() const { return location_; }
  std::map<std::string, std::string> run_env;  // given to every workspace it opens

 private:
  friend class Lease;
  WorkspaceLocation location_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> idle_;
};

struct ServerContext {
  ServerOptions options;
  std::string base_url;     // "http://127.0.0.1:8765"
  bool tls = false;
  std::unique_ptr<WorkspacePool> pool;
  std::unique_ptr<Authenticator> auth;
  JobRunner* jobs = nullptr;
  std::atomic<bool> stopping{false};

  // Authenticates the request and checks it may do `needed`; sends 401/403 and returns
  // nullopt otherwise.
  std::optional<Principal> Authorize(const httplib::Request& req, httplib::Response& res,
                                     Scope needed);
  // A workspace for this request, or a 503 sent.
  std::optional<WorkspacePool::Lease> Lease(httplib::Response& res);
  // The run with this id (or unique prefix) if the principal may see it; 404 sent otherwise.
  std::optional<RunRecord> VisibleRun(Workspace& ws, const Principal& who, const std::string& id,
                                      httplib::Response& res);
  // The dashboard address of a run.
  std::string RunUrl(const std::string& run_id) const { return base_url + "/#/runs/" + run_id; }

  // Metrics and params logged over HTTP (REST batches, MLflow) for `run`. A run a controller of
  // this server is driving gets them appended to its metrics.jsonl, so its collector stores
  // them exactly once and its sweep's early-termination policy sees them as it sees printed
  // metrics; any other run gets them stored directly. Points without a step (step < 0) get the
  // next step of their metric. Returns once they are durable.
  Result<void> LogToRun(Workspace& ws, const RunRecord& run, std::vector<MetricPoint> points,
                        const std::vector<Param>& params);

  // How many times LogToRun wrote to this run (for caches of finished runs' views).
  std::uint64_t RunWrites(const std::string& run_id);

  // Wakes live views (SSE) after a write made through this server.
  void Notify();
  // Waits until Notify() or `ms` passed.
  void WaitForChange(int ms);

 private:
  std::mutex writes_mu_;
  std::map<std::string, std::uint64_t> run_writes_;
  // SQLite allows one writer: request threads take turns here instead of sleeping in SQLite's
  // busy handler (thousands of 1 ms naps under concurrent single-point requests).
  std::mutex sqlite_write_mu_;
  std::mutex change_mu_;
  std::condition_variable change_cv_;
  std::uint64_t change_seq_ = 0;
};

// Where the built dashboard is: `configured` if set; else $OVERDRIVE_WEB_DIR; else next to the
// binary (<bin>/../share/overdrive/web) or in the source tree it was built from (web/dist).
// Empty when none has an index.html.
std::filesystem::path FindWebDir(const std::filesystem::path& configured);

}  // namespace overdrive
