#include "cli/serve_command.hpp"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "serving/endpoint.hpp"

namespace overdrive {

namespace {

std::atomic<int> g_stop_signal{0};

void OnStopSignal(int sig) { g_stop_signal.store(sig); }

struct ServeFlags {
  std::string model;
  std::string path;
  std::string host = "127.0.0.1";
  int port = 5001;  // the port of Azure's local inference server
  int workers = 2;
  double timeout = 30;
  std::string python = "/usr/bin/python3";
  std::string name;
  std::string version;
  int max_body_mb = 16;
  bool python_given = false;  // --python: that interpreter, not the model's environment
};

int CmdServe(const Globals& g, const ServeFlags& f, const ModelResolver& resolve) {
  EndpointOptions o;
  o.python = f.python;  // unless the model's environment says otherwise (below)
  std::string environment;
  if (!f.model.empty() && !f.path.empty()) {
    return Fail({ErrorCode::kInvalidInput, "give either MODEL or --path, not both"});
  }
  if (!f.model.empty()) {
    if (!resolve) {
      return Fail({ErrorCode::kInvalidInput,
                   "serving a registered model is not available in this build; serve a folder "
                   "with --path DIR"});
    }
    auto served = resolve(g, f.model, !f.python_given);
    if (!served) return Fail(served.error());
    o.model_path = served->folder;
    o.model_name = served->name;
    o.model_version = served->version;
    if (!served->environment_label.empty() && !f.python_given) {
      // The scoring script runs in the environment its model was trained in.
      o.container = served->container;
      if (!served->venv.empty()) {
        o.python = (served->venv / "bin" / "python").string();
      } else if (o.container) {
        o.python = "python3";  // the image's own, found on its PATH
      }
      environment = " in environment " + served->environment_label + " (" +
                    served->environment_kind + ", " + served->environment_hash.substr(0, 12) + ")";
    }
  } else if (!f.path.empty()) {
    o.model_path = f.path;
  } else {
    return Fail(
        {ErrorCode::kInvalidInput, "what to serve: give MODEL[:VERSION|@ALIAS] or --path DIR"});
  }
  if (!f.name.empty()) o.model_name = f.name;
  if (!f.version.empty()) o.model_version = f.version;
  if (f.workers < 1) return Fail({ErrorCode::kInvalidInput, "--workers must be at least 1"});
  if (f.timeout <= 0) return Fail({ErrorCode::kInvalidInput, "--timeout must be positive"});
  if (f.max_body_mb < 1) return Fail({ErrorCode::kInvalidInput, "--max-body-mb must be at least 1"});
  o.max_body_bytes = static_cast<std::size_t>(f.max_body_mb) << 20;
  o.workers = f.workers;
  o.request_timeout_s = f.timeout;
  o.log = [](std::string_view line) { std::cerr << "overdrive serve: " << line << "\n"; };

  // Installed before the workers start, so a Ctrl-C during a slow init() is not lost.
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  auto endpoint = MakeEndpoint(o);
  if (!endpoint) return Fail(endpoint.error());
  Endpoint& ep = **endpoint;
  auto port = ep.Bind(f.host, f.port);
  if (!port) return Fail(port.error());
  if (g_stop_signal.load() != 0) return 130;

  // Signal handlers may only set a flag; this thread turns it into Stop().
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (g_stop_signal.load() != 0) {
        ep.Stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::string name = o.model_name.empty() ? ep.layout().folder.filename().string() : o.model_name;
  if (!o.model_version.empty()) name += ":" + o.model_version;
  if (ep.layout().kind != ModelKind::kScoringScript) environment.clear();  // no Python runs
  std::cout << "serving " << name << " (" << ModelKindName(ep.layout().kind) << ")" << environment
            << " on http://"
            << f.host << ":" << *port << "  (POST /score, GET /health, GET /metadata)" << std::endl;
  auto served = ep.Serve();
  done = true;
  watcher.join();
  endpoint->reset();  // stops the workers
  if (!served) return Fail(served.error());
  if (int sig = g_stop_signal.load(); sig != 0) {
    std::cerr << "overdrive serve: stopped (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  }
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, const Globals& g, int& code, ModelResolver resolve) {
  auto flags = std::make_shared<ServeFlags>();
  auto* serve = app.add_subcommand(
      "serve",
      "Serve a model over HTTP: POST /score with {\"data\": [[...], ...]}, GET /health,\n"
      "GET /metadata. A folder with score.py (init() and run(data), Azure's convention) runs in\n"
      "a pool of Python workers; an XGBoost model (*.json / *.ubj) is scored natively.\n"
      "A registered model's script runs in the environment of the run that made it (its venv,\n"
      "or a container of its image; built again if pruned). Stops on Ctrl-C or SIGTERM.");
  serve->add_option("model", flags->model, "registered model: NAME[:VERSION|@ALIAS]");
  serve->add_option("--path", flags->path, "serve this model folder (or file) instead");
  serve->add_option("--host", flags->host, "address to listen on (default 127.0.0.1)");
  serve->add_option("--port,-p", flags->port, "port (default 5001; 0 picks a free one)");
  serve->add_option("--workers,-w", flags->workers, "scoring-script worker processes (default 2)");
  serve->add_option("--timeout", flags->timeout,
                    "seconds a request may take, queueing included (default 30); past it: 504");
  auto* python = serve->add_option(
      "--python", flags->python,
      "interpreter for scoring scripts, on this machine (default: the registered model's "
      "environment; else /usr/bin/python3)");
  serve->add_option("--name", flags->name, "model name shown by /metadata");
  serve->add_option("--model-version", flags->version, "model version shown by /metadata");
  serve->add_option("--max-body-mb", flags->max_body_mb,
                    "largest request body, any transfer encoding (default 16); past it: 413");
  serve->callback([&g, &code, flags, resolve, python] {
    flags->python_given = python->count() > 0;
    code = CmdServe(g, *flags, resolve);
  });
}

}  // namespace overdrive
