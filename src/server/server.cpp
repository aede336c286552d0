#include "server/server.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include <httplib.h>

#include "server/http_util.hpp"
#include "server/job_runner.hpp"

namespace overdrive {

namespace {

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

}  // namespace

Server::~Server() {
  Stop();
}

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  auto s = std::unique_ptr<Server>(new Server());
  s->ctx_.options = options;
  s->ctx_.pool = std::make_unique<WorkspacePool>(options.location);
  // Opening one workspace creates folders and migrates the schema before anything listens.
  bool tokens = false;
  {
    OD_ASSIGN_OR_RETURN(auto lease, s->ctx_.pool->Acquire());
    OD_ASSIGN_OR_RETURN(auto list, lease->store().ListTokens());
    for (const auto& t : list) tokens = tokens || t.revoked_at == 0;
  }
  s->ctx_.auth = std::make_unique<Authenticator>(tokens);
  // A client that goes away mid-reply must not end the server.
  signal(SIGPIPE, SIG_IGN);
  TuneAllocatorForRequestBodies();
  if (!tokens && !IsLoopback(options.host)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "refusing to listen on " + options.host +
                         " without tokens: anyone who can reach it could run commands. Create "
                         "one first (overdrive token create --scope admin), or leave --host at "
                         "127.0.0.1");
  }
  bool has_cert = !options.tls_cert.empty(), has_key = !options.tls_key.empty();
  if (has_cert != has_key) {
    return MakeError(ErrorCode::kInvalidInput, "TLS needs both --tls-cert and --tls-key");
  }
  if (has_cert) {
    auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(),
                                                    options.tls_key.c_str());
    if (!ssl->is_valid()) {
      return MakeError(ErrorCode::kInvalidInput,
                       "cannot load the TLS certificate '" + options.tls_cert + "' and key '" +
                           options.tls_key + "' (PEM files, the key unencrypted)");
    }
    s->http_ = std::move(ssl);
    s->ctx_.tls = true;
  } else {
    s->http_ = std::make_unique<httplib::Server>();
  }
  s->jobs_ = std::make_unique<JobRunner>(s->ctx_);
  s->ctx_.jobs = s->jobs_.get();
  s->Routes();
  return s;
}

void Server::Routes() {
  httplib::Server& http = *http_;
  const HttpLimits& lim = ctx_.options.limits;
  // A thread per connection (live views, event streams and long-polled logs, hold theirs),
  // so idle or slow clients cannot starve the rest; past the limit, connections wait.
  int max_connections = lim.max_connections;
  http.new_task_queue = [max_connections] { return new ConnectionThreads(max_connections); };
  // httplib's default sets SO_REUSEPORT, which lets a second server start on a port in use and
  // silently split the requests; SO_REUSEADDR alone still allows a quick restart.
  auto listen_fd = listen_fd_;
  http.set_socket_options([listen_fd](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *listen_fd = sock;
  });
  // Bodies are read by PostWithBody within the limits; this is httplib's own backstop.
  http.set_payload_max_length(std::max(lim.max_body_bytes, lim.max_upload_bytes));
  // httplib writes headers and body separately; without TCP_NODELAY the body of a reply on a
  // kept-alive connection waits ~40 ms for the client's delayed ACK (one point per request ran
  // at ~300 points/s instead of ~7,000).
  http.set_tcp_nodelay(true);
  http.set_keep_alive_max_count(1000);
  http.set_read_timeout(lim.read_timeout_s, 0);
  http.set_write_timeout(30, 0);
  http.set_keep_alive_timeout(lim.idle_timeout_s);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    res.set_header("X-Content-Type-Options", "nosniff");
    const HttpLimits& l = ctx_.options.limits;
    std::size_t limit = req.path == "/api/v1/jobs" ? l.max_upload_bytes : l.max_body_bytes;
    if (RefuseBadFraming(req, res, limit)) return R::Handled;
    if (req.path.rfind("/api/", 0) != 0 || req.path == "/api/v1/health") return R::Unhandled;
    if (!ctx_.Authorize(req, res, Scope::kRead)) {
      // The body was not read: close after the reply, or it would be read as the next request.
      if (DeclaresBody(req)) ReplyAndClose(req, res);
      return R::Handled;
    }
    return R::Unhandled;
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                                std::exception_ptr ep) {
    std::string what = "unexpected error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, "internal", what);
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      SendError(res, 413, "too_large", "request body too large");
    } else if (res.status == 404 && req.path.rfind("/api/", 0) == 0) {
      SendError(res, 404, "not_found", "no such endpoint: " + req.method + " " + req.path);
    }
  });
  RegisterApiRoutes(http, ctx_);
  RegisterMlflowRoutes(http, ctx_);
  // Every other POST: answered without reading a body past the limits either.
  PostWithBody(http, ".*", lim.max_body_bytes, lim.max_json_depth,
               [](const httplib::Request& req, httplib::Response& res) {
                 SendError(res, 404, "not_found", "no such endpoint: POST " + req.path);
               });
  std::filesystem::path web = FindWebDir(ctx_.options.web_dir);
  if (!web.empty()) {
    // Uncompressed (see SendJson): the bundle is small and brotli at default quality is slow.
    http.set_file_extension_and_mimetype_mapping("js", "application/javascript; charset=utf-8");
    http.set_file_extension_and_mimetype_mapping("css", "text/css; charset=utf-8");
    http.set_file_extension_and_mimetype_mapping("html", "text/html; charset=utf-8");
    http.set_mount_point("/", web.string());
  } else {
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          "<!doctype html><title>overdrive</title><p>The dashboard is not built: run "
          "<code>make build</code> (it runs <code>scripts/web.sh build</code>), or pass "
          "<code>--web-dir</code>. The API is at <a href=\"/api/v1/health\">/api/v1</a>.",
          "text/html");
    });
  }
}

Result<void> Server::Bind() {
  const auto& o = ctx_.options;
  if (o.port == 0) {
    port_ = http_->bind_to_any_port(o.host);
    if (port_ <= 0) {
      return MakeError(ErrorCode::kUnavailable, "cannot listen on " + o.host + " (any port)");
    }
  } else {
    if (!http_->bind_to_port(o.host, o.port)) {
      return MakeError(ErrorCode::kUnavailable,
                       "cannot listen on " + o.host + ":" + std::to_string(o.port) +
                           " (in use? pick another with --port)");
    }
    port_ = o.port;
  }
  RaiseListenBacklog(*listen_fd_);
  std::string scheme = ctx_.tls ? "https://" : "http://";
  std::string host = o.host == "0.0.0.0" || o.host == "::" ? "127.0.0.1" : o.host;
  ctx_.base_url = !o.public_url.empty() ? o.public_url
                                        : scheme + host + ":" + std::to_string(port_);
  while (!ctx_.base_url.empty() && ctx_.base_url.back() == '/') ctx_.base_url.pop_back();
  // Trials of this server's sweeps log with MLflow to it over loopback.
  std::string local = scheme + "127.0.0.1:" + std::to_string(port_);
  ctx_.pool->run_env["MLFLOW_TRACKING_URI"] = local;
  if (ctx_.tls) ctx_.pool->run_env["MLFLOW_TRACKING_INSECURE_TLS"] = "true";
  // With tokens on, each job's trials get a token of their own experiment (JobRunner).
  OD_ASSIGN_OR_RETURN(int resumed, jobs_->ResumeOrphans());
  if (resumed > 0 && !o.quiet) {
    std::cerr << "overdrive server: resumed " << resumed << " unfinished job(s)\n";
  }
  return {};
}

void Server::Run() {
  http_->listen_after_bind();
}

void Server::Stop() {
  if (ctx_.stopping.exchange(true)) return;
  ctx_.Notify();
  if (http_) http_->stop();
  if (jobs_) jobs_->StopAll();
}

}  // namespace overdrive
