// The HTTP front end (cpp-httplib) and model detection. Kept free of numeric headers: httplib's
// <resolv.h> defines `_res`, which breaks Eigen in the same translation unit.
#include "serving/endpoint.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/input_limits.hpp"
#include "common/strings.hpp"
#include "http/http_limits.hpp"
#include "serving/scorer.hpp"

namespace overdrive {

namespace fs = std::filesystem;
using nlohmann::json;

const char* ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kScoringScript:
      return "scoring_script";
    case ModelKind::kXgboost:
      return "xgboost";
  }
  return "unknown";
}

namespace {

constexpr const char* kManifest = "overdrive-model.json";

bool IsXgboostCandidate(const fs::path& p) {
  std::string ext = p.extension().string();
  return (ext == ".json" || ext == ".ubj" || ext == ".bst") && p.filename() != kManifest;
}

Result<ModelLayout> XgboostLayout(const fs::path& folder, const fs::path& file) {
  std::string error;
  if (!serving::XgboostLoads(file, &error)) {
    return MakeError(ErrorCode::kInvalidInput,
                     file.string() + " is not an XGBoost model libxgboost can load: " + error);
  }
  return ModelLayout{ModelKind::kXgboost, folder, file};
}

Result<ModelLayout> FromManifest(const fs::path& folder) {
  fs::path manifest = folder / kManifest;
  std::ifstream in(manifest);
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(ErrorCode::kInvalidInput, manifest.string() + ": not a JSON object");
  }
  std::string kind = j.value("kind", "");
  const std::vector<std::string> kinds = {"scoring_script", "xgboost"};
  auto file_of = [&](const char* key, const char* fallback) -> Result<fs::path> {
    std::string name = j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
    if (name.empty()) {
      return MakeError(ErrorCode::kInvalidInput,
                       manifest.string() + ": \"" + key + "\" names no file");
    }
    fs::path file = folder / name;
    if (!fs::is_regular_file(file)) {
      return MakeError(ErrorCode::kNotFound, manifest.string() + ": " + key + " file " +
                                                 file.string() + " does not exist");
    }
    return file;
  };
  if (kind == "scoring_script") {
    OD_ASSIGN_OR_RETURN(fs::path file, file_of("entry", "score.py"));
    return ModelLayout{ModelKind::kScoringScript, folder, file};
  }
  if (kind == "xgboost") {
    OD_ASSIGN_OR_RETURN(fs::path file, file_of("file", ""));
    return XgboostLayout(folder, file);
  }
  return MakeError(ErrorCode::kInvalidInput, manifest.string() + ": unknown kind '" + kind + "'" +
                                                 DidYouMeanSuffix(kind, kinds) +
                                                 "; one of: " + Join(kinds, ", "));
}

}  // namespace

Result<ModelLayout> DetectModel(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return MakeError(ErrorCode::kNotFound, "model path " + path.string() + " does not exist");
  }
  fs::path abs = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (fs::is_regular_file(abs)) {
    if (abs.extension() == ".py")
      return ModelLayout{ModelKind::kScoringScript, abs.parent_path(), abs};
    return XgboostLayout(abs.parent_path(), abs);
  }
  if (!fs::is_directory(abs)) {
    return MakeError(ErrorCode::kInvalidInput, path.string() + " is neither a file nor a folder");
  }
  if (fs::is_regular_file(abs / kManifest)) return FromManifest(abs);
  if (fs::is_regular_file(abs / "score.py")) {
    return ModelLayout{ModelKind::kScoringScript, abs, abs / "score.py"};
  }
  std::vector<fs::path> candidates;
  for (const auto& entry : fs::directory_iterator(abs, ec)) {
    if (entry.is_regular_file() && IsXgboostCandidate(entry.path()))
      candidates.push_back(entry.path());
  }
  std::sort(candidates.begin(), candidates.end());
  std::vector<std::string> models;
  fs::path model;
  for (const auto& c : candidates) {
    std::string error;
    if (serving::XgboostLoads(c, &error)) {
      models.push_back(c.filename().string());
      model = c;
    }
  }
  if (models.size() > 1) {
    return MakeError(ErrorCode::kInvalidInput,
                     "several XGBoost models in " + abs.string() + " (" + Join(models, ", ") +
                         "): name one in " + kManifest +
                         " as {\"kind\": \"xgboost\", \"file\": \"" + models.front() + "\"}");
  }
  if (models.size() == 1) return ModelLayout{ModelKind::kXgboost, abs, model};
  return MakeError(ErrorCode::kNotFound,
                   "no model found in " + abs.string() +
                       ": expected a score.py (init() and run(data)), an XGBoost model saved as "
                       "*.json or *.ubj, or an " +
                       kManifest + " naming one");
}

namespace serving {

ScoreReply ErrorReply(int status, std::string_view message, json extra) {
  json body = extra.is_object() ? std::move(extra) : json::object();
  body["error"] = std::string(message);
  return ScoreReply{status, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace serving

namespace {

constexpr const char* kJson = "application/json";

class HttpEndpoint final : public Endpoint {
 public:
  HttpEndpoint(EndpointOptions options, ModelLayout layout, std::unique_ptr<serving::Scorer> scorer)
      : options_(std::move(options)), layout_(std::move(layout)), scorer_(std::move(scorer)) {
    if (options_.model_name.empty()) options_.model_name = layout_.folder.filename().string();
    // A thread per connection (scoring itself is bounded by the worker queue), so idle or
    // slow clients cannot starve /health; bodies read within the limit whatever their
    // transfer encoding (http/http_limits.hpp), as in `overdrive server`.
    int connections = options_.http_threads > 0 ? options_.http_threads : 1024;
    server_.new_task_queue = [connections] { return new ConnectionThreads(connections); };
    server_.set_payload_max_length(options_.max_body_bytes);
    server_.set_read_timeout(std::chrono::seconds(30));
    server_.set_keep_alive_timeout(5);
    server_.set_tcp_nodelay(true);
    TuneAllocatorForRequestBodies();
    // Not httplib's default SO_REUSEPORT: a second endpoint on a port in use must fail, not
    // silently share it.
    server_.set_socket_options([this](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_fd_ = sock;
    });
    const ErrorBody error_body = [](int status, const std::string&, const std::string& message) {
      return serving::ErrorReply(status, message).body;
    };
    server_.set_pre_routing_handler(
        [this, error_body](const httplib::Request& req, httplib::Response& res) {
          return RefuseBadFraming(req, res, options_.max_body_bytes, error_body)
                     ? httplib::Server::HandlerResponse::Handled
                     : httplib::Server::HandlerResponse::Unhandled;
        });
    PostWithBody(
        server_, "/score", options_.max_body_bytes, kDefaultMaxJsonDepth,
        [this](const httplib::Request& req, httplib::Response& res) { Reply(res, Score(req.body)); },
        error_body);
    PostWithBody(
        server_, ".*", options_.max_body_bytes, kDefaultMaxJsonDepth,
        // Left without a body: the error handler below words it (405 on a known path).
        [](const httplib::Request&, httplib::Response& res) { res.status = 404; },
        error_body);
    server_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      bool ready = Ready();
      json h = scorer_->Health();
      h["status"] = ready ? "ready" : "not_ready";
      h["model"] = options_.model_name;
      h["kind"] = ModelKindName(layout_.kind);
      Reply(res, serving::ScoreReply{ready ? 200 : 503, h.dump()});
    });
    server_.Get("/metadata", [this](const httplib::Request&, httplib::Response& res) {
      Reply(res, serving::ScoreReply{200, MetadataJson()});
    });
    // Errors httplib produces itself (unknown route, oversized body) get a JSON body too.
    server_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      serving::ScoreReply r;
      if (res.status == 413) {
        r = serving::ErrorReply(
            413, "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes");
      } else if (res.status == 404 &&
                 (req.path == "/score" || req.path == "/health" || req.path == "/metadata")) {
        r = serving::ErrorReply(405, req.method + " is not allowed on " + req.path +
                                         "; use POST /score, GET /health, GET /metadata");
      } else if (res.status == 404) {
        r = serving::ErrorReply(404, "no route " + req.method + " " + req.path +
                                         "; use POST /score, GET /health, GET /metadata");
      } else {
        r = serving::ErrorReply(res.status, "HTTP " + std::to_string(res.status));
      }
      Reply(res, r);
    });
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = std::string("internal error: ") + e.what();
          } catch (...) {
          }
          Reply(res, serving::ErrorReply(500, what));
        });
  }

  ~HttpEndpoint() override {
    Stop();
    scorer_->Shutdown();
  }

  Result<int> Bind(const std::string& host, int port) override {
    int bound =
        port == 0 ? server_.bind_to_any_port(host) : (server_.bind_to_port(host, port) ? port : -1);
    if (bound < 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "cannot listen on " + host + ":" + std::to_string(port) +
                           " (address in use, or not an address of this machine)");
    }
    RaiseListenBacklog(listen_fd_);
    bound_ = true;
    return bound;
  }

  Result<void> Serve() override {
    if (!bound_) return MakeError(ErrorCode::kFailedPrecondition, "Serve() before Bind()");
    // serving_ and stopped_ are seen in opposite orders by Serve and Stop, so a Stop racing
    // with the start of Serve either prevents the listen or waits for it and ends it.
    serving_ = true;
    if (stopped_) {
      serving_ = false;
      return {};
    }
    bool ok = server_.listen_after_bind();
    serving_ = false;
    if (!ok && !stopped_)
      return MakeError(ErrorCode::kUnavailable, "the HTTP server stopped unexpectedly");
    return {};
  }

  Result<void> Serve(const std::string& host, int port) override {
    OD_TRY(Bind(host, port));
    return Serve();
  }

  void Stop() override {
    stopped_ = true;
    while (serving_ && !server_.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server_.stop();
  }

  bool Ready() const override { return !stopped_ && scorer_->Ready(); }
  const ModelLayout& layout() const override { return layout_; }

  std::string MetadataJson() const override {
    json meta = scorer_->Metadata();
    meta["name"] = options_.model_name;
    meta["version"] = options_.model_version;
    return meta.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  std::vector<int> WorkerPids() const override { return scorer_->WorkerPids(); }

 private:
  static void Reply(httplib::Response& res, const serving::ScoreReply& r) {
    res.status = r.status;
    res.set_content(r.body, kJson);
  }

  serving::ScoreReply Score(const std::string& body) {
    if (Trim(body).empty()) {
      return serving::ErrorReply(400,
                                 "empty body: send JSON such as {\"data\": [[1.0, 2.0], ...]}");
    }
    json parsed;
    try {
      parsed = json::parse(body);
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      if (auto pos = what.find("] ");
          what.starts_with("[json.exception") && pos != std::string::npos) {
        what = what.substr(pos + 2);
      }
      return serving::ErrorReply(400, "malformed JSON: " + what);
    }
    return scorer_->Score(body, parsed);
  }

  EndpointOptions options_;
  ModelLayout layout_;
  std::unique_ptr<serving::Scorer> scorer_;
  httplib::Server server_;
  int listen_fd_ = -1;  // the listening socket, seen in httplib's socket hook
  bool bound_ = false;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> serving_{false};
};

}  // namespace

Result<std::unique_ptr<Endpoint>> MakeEndpoint(const EndpointOptions& options) {
  OD_ASSIGN_OR_RETURN(ModelLayout layout, DetectModel(options.model_path));
  std::unique_ptr<serving::Scorer> scorer;
  if (layout.kind == ModelKind::kXgboost) {
    OD_ASSIGN_OR_RETURN(scorer, serving::MakeXgboostScorer(layout));
  } else {
    OD_ASSIGN_OR_RETURN(scorer, serving::MakeScriptScorer(layout, options));
  }
  return std::unique_ptr<Endpoint>(
      std::make_unique<HttpEndpoint>(options, std::move(layout), std::move(scorer)));
}

}  // namespace overdrive
