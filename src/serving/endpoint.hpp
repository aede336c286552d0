// Serving: an HTTP scoring endpoint for one model version (a folder of files).
//
//   POST /score     body {"data": [[...], ...]} (Azure's key) or a bare list of rows
//   GET  /health    {"status": "ready"|"not_ready", ...}; 200 when ready, 503 otherwise
//   GET  /metadata  model name, version, kind, input shape when known
//
// Two kinds of model:
//  - scoring script (Azure's convention: a Python file with init() and run(raw_json_string)),
//    run in a pool of long-lived worker processes (/usr/bin/python3 by default) behind the C++
//    front end. Requests queue FIFO and go to the first free worker, one request per run() call:
//    run() receives the request body verbatim, as on Azure, so requests are never merged. A
//    request that exceeds the timeout is answered 504 and its worker is killed and replaced; a
//    worker that dies is replaced; an exception in run() is answered 500 with its message.
//  - xgboost: a model saved by XGBoost (JSON or UBJSON) scored in-process through libxgboost's C
//    API; no Python. Rows must have the model's feature count (400 names it).
//
// Every error is a JSON object {"error": "...", ...} with a fitting status code (400 malformed
// JSON or bad rows, 404 unknown route, 413 body too large, 500 script error, 502 worker crashed,
// 503 no worker available, 504 timeout); the endpoint keeps serving after any of them.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"

namespace overdrive {

enum class ModelKind { kScoringScript, kXgboost };

// "scoring_script" / "xgboost": the names used in overdrive-model.json and /metadata.
const char* ModelKindName(ModelKind kind);

// What a model folder holds, as found by DetectModel.
struct ModelLayout {
  ModelKind kind = ModelKind::kScoringScript;
  std::filesystem::path folder;  // the model folder (cwd and AZUREML_MODEL_DIR of scripts)
  std::filesystem::path file;    // the entry script, or the XGBoost model file
};

// Finds the model in `path`, in this order:
//  1. overdrive-model.json: {"kind": "scoring_script", "entry": "score.py"} or
//     {"kind": "xgboost", "file": "model.json"};
//  2. a file score.py -> scoring script;
//  3. exactly one *.json / *.ubj / *.bst file that libxgboost loads -> xgboost.
// `path` may also name the file itself (a .py script or an XGBoost model).
// Errors: kNotFound (no such path, nothing recognisable), kInvalidInput (bad manifest, several
// candidate models).
Result<ModelLayout> DetectModel(const std::filesystem::path& path);

struct EndpointOptions {
  std::filesystem::path model_path;  // folder (or file) of one model version, see DetectModel
  std::string model_name;            // for /metadata and logs; default: the folder's name
  std::string model_version;         // for /metadata; may be empty

  // Scoring scripts only.
  int workers = 2;                          // long-lived worker processes
  std::string python = "/usr/bin/python3";  // interpreter for the workers
  // Workers in containers of this image (a model whose environment is an image) instead of on
  // this machine: `podman run --interactive`, the model folder mounted at its own path, the
  // container's mounts and variables (a venv made in the image), `python` inside it.
  std::optional<ContainerSpec> container;
  double request_timeout_s = 30;            // queueing + run(); past it: 504, worker replaced
  double init_timeout_s = 120;              // a worker's import + init()
  int max_queue = 256;                      // requests waiting for a worker; past it: 503

  std::size_t max_body_bytes = 16u << 20;  // larger bodies (any transfer encoding): 413
  int http_threads = 0;                    // connections served at once, a thread each; 0: 1024

  // Receives one line per notable event (worker started, died, replaced). Default: silent.
  std::function<void(std::string_view)> log;
};

// One model behind an HTTP server. Thread-safe: Stop() may be called from any thread.
class Endpoint {
 public:
  virtual ~Endpoint() = default;

  // Binds host:port (port 0: an ephemeral port). Returns the bound port.
  // Errors: kUnavailable when the address cannot be bound.
  virtual Result<int> Bind(const std::string& host, int port) = 0;
  // Serves on the bound socket until Stop(); blocks. Requires Bind.
  virtual Result<void> Serve() = 0;
  // Bind + Serve.
  virtual Result<void> Serve(const std::string& host, int port) = 0;
  // Stops accepting, finishes in-flight requests, then Serve returns. Idempotent.
  virtual void Stop() = 0;

  // Whether a request would be scored now (xgboost: always; scripts: a worker is ready).
  virtual bool Ready() const = 0;
  virtual const ModelLayout& layout() const = 0;
  // The JSON of GET /metadata.
  virtual std::string MetadataJson() const = 0;
  // Pids of the live worker processes (scripts; empty for native models). For tests and health.
  virtual std::vector<int> WorkerPids() const = 0;
};

// Detects the model, loads it (xgboost) or starts the workers and waits for the first one's
// init() (scripts), so that a broken model fails here, with its error, not at the first request.
// Errors: those of DetectModel; kInvalidInput when the model does not load or init() raises;
// kIo when the interpreter cannot be started.
// Scoring scripts set SIGPIPE to SIG_IGN process-wide (a worker dying while it is written to
// must be an error, not the end of the server).
Result<std::unique_ptr<Endpoint>> MakeEndpoint(const EndpointOptions& options);

}  // namespace overdrive
