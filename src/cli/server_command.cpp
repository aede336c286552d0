#include "cli/server_command.hpp"

#include "cli/remote_commands.hpp"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/remote_commands.hpp"
#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "server/auth.hpp"
#include "server/server.hpp"

namespace overdrive {

namespace {

std::atomic<int> g_server_signal{0};
void OnServerSignal(int sig) { g_server_signal.store(sig); }

struct ServerFlags {
  std::string host = "127.0.0.1";
  int port = 8765;
  std::string artifacts, web_dir, tls_cert, tls_key, public_url;
  // Limits (HttpLimits); the defaults are its own.
  int max_body_mb = static_cast<int>(HttpLimits{}.max_body_bytes >> 20);
  int max_upload_mb = static_cast<int>(HttpLimits{}.max_upload_bytes >> 20);
  int max_unpacked_mb = static_cast<int>(HttpLimits{}.max_unpacked_bytes >> 20);
  int max_json_depth = HttpLimits{}.max_json_depth;
  int max_connections = HttpLimits{}.max_connections;
  int read_timeout_s = HttpLimits{}.read_timeout_s;
  int idle_timeout_s = HttpLimits{}.idle_timeout_s;
};

int RunServer(const Globals& g, const ServerFlags& f) {
  ServerOptions o;
  o.host = f.host;
  o.port = f.port;
  o.location.root = Workspace::DefaultRoot(g.workspace);
  o.location.db_url = g.db;
  if (o.location.db_url.empty()) {
    if (const char* env = std::getenv("OVERDRIVE_DB"); env && *env) o.location.db_url = env;
  }
  if (!o.location.db_url.empty() && !IsPostgresUrl(o.location.db_url)) {
    return Fail({ErrorCode::kInvalidInput,
                 "--db '" + o.location.db_url + "' is not a postgresql:// URL"});
  }
  o.location.artifacts = f.artifacts;
  o.web_dir = f.web_dir;
  o.tls_cert = f.tls_cert;
  o.tls_key = f.tls_key;
  o.public_url = f.public_url;
  for (auto [name, value] : {std::pair{"--max-body-mb", f.max_body_mb},
                             {"--max-upload-mb", f.max_upload_mb},
                             {"--max-upload-unpacked-mb", f.max_unpacked_mb},
                             {"--max-json-depth", f.max_json_depth},
                             {"--max-connections", f.max_connections},
                             {"--read-timeout", f.read_timeout_s},
                             {"--idle-timeout", f.idle_timeout_s}}) {
    if (value < 1) {
      return Fail({ErrorCode::kInvalidInput, std::string(name) + " must be at least 1"});
    }
  }
  o.limits.max_body_bytes = static_cast<std::size_t>(f.max_body_mb) << 20;
  o.limits.max_upload_bytes = static_cast<std::size_t>(f.max_upload_mb) << 20;
  o.limits.max_unpacked_bytes = static_cast<std::int64_t>(f.max_unpacked_mb) << 20;
  o.limits.max_json_depth = f.max_json_depth;
  o.limits.max_connections = f.max_connections;
  o.limits.read_timeout_s = f.read_timeout_s;
  o.limits.idle_timeout_s = f.idle_timeout_s;
  auto server = Server::Create(o);
  if (!server) return Fail(server.error());
  if (auto ok = (*server)->Bind(); !ok) return Fail(ok.error());
  Server& s = **server;

  std::cerr << "overdrive server: " << s.base_url() << "/   (dashboard)\n"
            << "  REST API  " << s.base_url() << "/api/v1   MLflow  MLFLOW_TRACKING_URI="
            << s.base_url() << "\n"
            << "  store     "
            << (o.location.db_url.empty() ? "sqlite in " + o.location.root.string()
                                          : RedactedUrl(o.location.db_url))
            << "\n";
  if (s.auth_required()) {
    std::cerr << "  tokens    required (Authorization: Bearer ...)\n";
  } else {
    std::cerr << "  tokens    none yet: listening on " << o.host
              << " only, open to anyone on this machine.\n"
              << "            To open it to others: overdrive token create --scope admin, then "
                 "restart with --host 0.0.0.0\n";
  }
  std::cerr << "  submit    overdrive --server " << s.base_url() << " job submit job.yml\n"
            << "  (Ctrl-C stops the server; running jobs keep going and are picked up on the "
               "next start)\n";

  struct sigaction sa {};
  sa.sa_handler = OnServerSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread watcher([&s] {
    while (g_server_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s.Stop();
  });
  s.Run();
  if (g_server_signal.load() == 0) g_server_signal.store(-1);  // stopped otherwise: end watcher
  watcher.join();
  std::cerr << "overdrive server: stopped\n";
  return 0;
}

int TokenCreate(const Globals& g, const std::string& scope_name, const std::string& experiment,
                const std::string& expires, const std::string& name) {
  auto scope = ParseScope(scope_name);
  if (!scope) {
    return Fail({ErrorCode::kInvalidInput,
                 "unknown scope '" + scope_name + "'" +
                     DidYouMeanSuffix(scope_name, {"read", "write", "admin"}) +
                     " (read: look; write: also submit, cancel and log; admin: also tokens)"});
  }
  double ttl = 0;
  if (!expires.empty() && expires != "never") {
    auto t = ParseTtl(expires);
    if (!t) return Fail(t.error());
    ttl = *t;
  }
  ApiToken made;
  std::string secret;
  const bool remote = !ServerUrl(g).empty();
  if (remote) {
    // Through the server (an admin token): it stores the hash in its own store.
    auto reply = RemoteCall(g, "POST", "/api/v1/tokens",
                            {{"scope", scope_name}, {"experiment", experiment},
                             {"expires_in_s", ttl}, {"name", name}});
    if (!reply) return Fail(reply.error());
    secret = reply->value("secret", "");
    made.id = reply->value("id", "");
    made.experiment = reply->value("experiment", "");
    made.expires_at = reply->value("expires_at", 0.0);
  } else {
    auto ws = OpenWorkspace(g, true);
    if (!ws) return Fail(ws.error());
    auto created = CreateApiToken((*ws)->store(), *scope, experiment, ttl, name);
    if (!created) return Fail(created.error());
    secret = created->secret;
    made = created->token;
  }
  std::cout << secret << "\n";
  std::cerr << "overdrive: token " << made.id << " (" << scope_name
            << (made.experiment.empty() ? ", all experiments" : ", experiment " + made.experiment)
            << (made.expires_at > 0 ? ", expires " + FormatTimestamp(made.expires_at) : ", no expiry")
            << ").\n  The secret above is shown only now; " << (remote ? "the server" : "the workspace")
            << " keeps only its hash.\n"
            << "  Use it: export OVERDRIVE_TOKEN=<secret>, or MLFLOW_TRACKING_TOKEN for MLflow "
               "scripts.\n";
  bool auth_on = false;
  if (remote) {
    auto health = RemoteCall(g, "GET", "/api/v1/health");
    auth_on = health && health->value("auth", false);
  }
  if (!auth_on) {
    std::cerr << "  A server started before the first token must be restarted to require tokens.\n";
  }
  return 0;
}

Result<std::vector<ApiToken>> ListedTokens(const Globals& g) {
  if (ServerUrl(g).empty()) {
    OD_ASSIGN_OR_RETURN(auto ws, OpenWorkspace(g, false));
    return ws->store().ListTokens();
  }
  OD_ASSIGN_OR_RETURN(auto reply, RemoteCall(g, "GET", "/api/v1/tokens"));
  std::vector<ApiToken> out;
  for (const auto& j : reply.value("tokens", nlohmann::json::array())) {
    ApiToken t;
    t.id = j.value("id", "");
    t.name = j.value("name", "");
    t.scope = j.value("scope", "");
    t.experiment = j.value("experiment", "");
    t.created_at = j.value("created_at", 0.0);
    t.expires_at = j.value("expires_at", 0.0);
    t.revoked_at = j.value("revoked_at", 0.0);
    out.push_back(std::move(t));
  }
  return out;
}

int TokenList(const Globals& g) {
  auto tokens = ListedTokens(g);
  if (!tokens) return Fail(tokens.error());
  if (tokens->empty()) {
    std::cout << "no tokens: the server listens on loopback only (overdrive token create --scope "
                 "admin)\n";
    return 0;
  }
  double now = WallSeconds();
  Table t({"id", "scope", "experiment", "state", "created", "expires", "name"});
  for (const auto& tk : *tokens) {
    std::string state = tk.revoked_at > 0                             ? "revoked"
                        : (tk.expires_at > 0 && now >= tk.expires_at) ? "expired"
                                                                      : "live";
    t.Add({tk.id, tk.scope, tk.experiment.empty() ? "*" : tk.experiment, state,
           FormatTimestamp(tk.created_at),
           tk.expires_at > 0 ? FormatTimestamp(tk.expires_at) : "never", tk.name});
  }
  t.Print(std::cout);
  return 0;
}

int TokenRevoke(const Globals& g, const std::string& id) {
  if (!ServerUrl(g).empty()) {
    if (auto ok = RemoteCall(g, "DELETE", "/api/v1/tokens/" + id); !ok) return Fail(ok.error());
    std::cout << id << " revoked (the server refuses it from now on)\n";
    return 0;
  }
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  if (auto ok = (*ws)->store().RevokeToken(id); !ok) return Fail(ok.error());
  std::cout << id << " revoked (a running server stops accepting it within 2 seconds)\n";
  return 0;
}

}  // namespace

void AddServerCommand(CLI::App& app, const Globals& g, int& code) {
  auto flags = std::make_shared<ServerFlags>();
  auto* cmd = app.add_subcommand(
      "server",
      "Run the tracking server: REST API (/api/v1), MLflow-compatible logging (/api/2.0/mlflow),\n"
      "the live web dashboard (/), and the controllers of jobs submitted with --server.\n"
      "Metadata in the workspace's SQLite, or PostgreSQL with --db postgresql://...\n"
      "Without tokens it listens on 127.0.0.1 only (see `overdrive token create`).\n\n"
      "  overdrive server --port 8765\n"
      "  overdrive server --db postgresql://overdrive@db:5432/overdrive --artifacts /srv/od --host 0.0.0.0\n\n"
      "Limits (a request over one gets 413 or 400 and, when its body was left unread, the\n"
      "connection closed; see docs/api.md \"Limits\"):\n"
      "  --max-body-mb 16  --max-upload-mb 256  --max-upload-unpacked-mb 1024  --max-json-depth 64\n"
      "  --max-connections 1024 (more wait)  --read-timeout 10  --idle-timeout 5 (seconds)\n");
  cmd->add_option("--host", flags->host, "address to listen on (default 127.0.0.1; others need tokens)");
  cmd->add_option("--port,-p", flags->port, "port (default 8765; 0 = any free port)");
  cmd->add_option("--artifacts", flags->artifacts, "artifact store folder (default: <workspace>/artifacts)");
  cmd->add_option("--web-dir", flags->web_dir, "the built dashboard (default: found next to the binary)");
  cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate: serve HTTPS (with --tls-key)");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--public-url", flags->public_url, "the URL users reach it at, for printed links");
  cmd->add_option("--max-body-mb", flags->max_body_mb,
                  "largest JSON request body, any transfer encoding (default 16)");
  cmd->add_option("--max-upload-mb", flags->max_upload_mb,
                  "largest job submission: job file + code tar (default 256)");
  cmd->add_option("--max-upload-unpacked-mb", flags->max_unpacked_mb,
                  "most an uploaded code tar may unpack to, sparse files counted whole (default 1024)");
  cmd->add_option("--max-json-depth", flags->max_json_depth,
                  "deepest nesting of arrays/objects in a JSON body (default 64)");
  cmd->add_option("--max-connections", flags->max_connections,
                  "connections served at once, a thread each; more wait for a free one (default 1024)");
  cmd->add_option("--read-timeout", flags->read_timeout_s,
                  "seconds a client may stay silent in the middle of a request (default 10)");
  cmd->add_option("--idle-timeout", flags->idle_timeout_s,
                  "seconds a kept-alive connection may sit idle between requests (default 5)");
  cmd->callback([&g, &code, flags] { code = RunServer(g, *flags); });
}

void AddTokenCommands(CLI::App& app, const Globals& g, int& code) {
  auto* token = app.add_subcommand("token", "API tokens of the server (like shared-access signatures)");
  token->require_subcommand(1);
  token->fallthrough();
  struct Flags {
    std::string scope = "read", experiment, expires, name, id;
  };
  auto f = std::make_shared<Flags>();
  auto* create = token->add_subcommand(
      "create", "create a token and print its secret (once). Once a token exists, the server\n"
                "requires one on every request and may listen beyond loopback.\n\n"
                "  overdrive token create --scope write --experiment churn --expires 24h\n");
  create->add_option("--scope", f->scope, "read | write | admin (default read)");
  create->add_option("--experiment", f->experiment, "limit it to one experiment (others are invisible)");
  create->add_option("--expires", f->expires, "lifetime: 30m, 24h, 7d (default: never)");
  create->add_option("--name", f->name, "what it is for");
  create->callback([&g, &code, f] { code = TokenCreate(g, f->scope, f->experiment, f->expires, f->name); });
  auto* list = token->add_subcommand("list", "list tokens (never their secrets)");
  list->callback([&g, &code] { code = TokenList(g); });
  auto* revoke = token->add_subcommand("revoke", "revoke a token by id (tok_...)");
  revoke->add_option("id", f->id, "token id")->required();
  revoke->callback([&g, &code, f] { code = TokenRevoke(g, f->id); });
}

}  // namespace overdrive
