// `overdrive server`: one process serving the REST API (/api/v1, docs/api.md), MLflow-compatible
// logging (/api/2.0/mlflow) and the web dashboard (/), and driving the controllers of the jobs
// submitted to it. It is the single writer of its metadata store (SQLite in the workspace, or
// PostgreSQL with a postgresql:// URL).
#pragma once

#include <memory>
#include <string>

#include "common/result.hpp"
#include "server/server_context.hpp"

namespace httplib {
class Server;
}

namespace overdrive {

class JobRunner;

class Server {
 public:
  // Opens the store (migrating it), decides whether tokens are required (they are once any live
  // token exists) and refuses a non-loopback host without them.
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& options);
  ~Server();

  // Binds the port (the actual one is port() afterwards) and resumes orphaned jobs.
  Result<void> Bind();
  // Serves until Stop() (from another thread or a signal handler thread).
  void Run();
  void Stop();
  int port() const { return port_; }
  const std::string& base_url() const { return ctx_.base_url; }
  bool auth_required() const { return ctx_.auth->required(); }

 private:
  Server() = default;
  void Routes();
  ServerContext ctx_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<JobRunner> jobs_;
  int port_ = 0;
  std::shared_ptr<int> listen_fd_ = std::make_shared<int>(-1);  // seen in httplib's socket hook
};

// Route groups (api_v1.cpp, mlflow_api.cpp).
void RegisterApiRoutes(httplib::Server& http, ServerContext& ctx);
void RegisterMlflowRoutes(httplib::Server& http, ServerContext& ctx);

}  // namespace overdrive
