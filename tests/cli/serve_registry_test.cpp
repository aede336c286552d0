// End to end: a sweep registers its best trial's model, and `overdrive serve NAME@ALIAS` serves a
// registered scoring-script model over HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class ServeRegistryTest : public CliTest {};

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// One HTTP/1.0 request over a fresh connection to 127.0.0.1 (the server closes it after the
// reply), so the test depends on nothing but sockets.
HttpReply Http(int port, const std::string& method, const std::string& path,
               const std::string& body = "") {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return reply;
  }
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" +
                    "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!write(fd, req.data(), req.size());
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t sp = raw.find(' ');
  size_t head_end = raw.find("\r\n\r\n");
  if (sp == std::string::npos || head_end == std::string::npos) return reply;
  reply.status = std::atoi(raw.c_str() + sp + 1);
  reply.body = raw.substr(head_end + 4);
  return reply;
}

TEST_F(ServeRegistryTest, SweepRegistersItsBestTrialsModel) {
  WriteFile(dir_ / "src" / "train.sh",
            "mkdir -p outputs/model && echo \"$1\" > outputs/model/weights.txt && echo acc=$1\n");
  WriteFile(dir_ / "sweep.yml",
            "type: sweep\ntrial:\n  code: src\n  command: sh train.sh ${{search_space.x}}\n"
            "sampling_algorithm: grid\n"
            "search_space:\n  x:\n    type: choice\n    values: [3, 9, 5]\n"
            "objective:\n  goal: maximize\n  primary_metric: acc\n"
            "register_best_model:\n  name: best-x\n"
            "limits:\n  max_total_trials: 3\n  max_concurrent_trials: 2\n");
  CommandResult r = Run({"job", "submit", "sweep.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("registered model best-x:1"), std::string::npos) << r.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  nlohmann::json sweep = Json({"job", "show", runs[0]["id"], "--json"});
  nlohmann::json model = Json({"model", "show", "best-x", "--json"});
  EXPECT_EQ(model["version"], 1);
  EXPECT_EQ(model["run_id"], sweep["best_trial"]);
  EXPECT_EQ(model["lineage"]["params"]["x"], 9);
  // Resuming a finished sweep registers nothing twice.
  Run({"job", "resume", runs[0]["id"]});
  EXPECT_EQ(Json({"model", "show", "best-x", "--json"})["latest_version"], 1);
}

TEST_F(ServeRegistryTest, ServesARegisteredScoringScriptByAlias) {
  WriteFile(dir_ / "src" / "score.py",
            "import json, os\n"
            "def init():\n    global scale\n"
            "    scale = float(open(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'scale.txt')).read())\n"
            "def run(raw):\n    rows = json.loads(raw)['data']\n"
            "    return [sum(r) * scale for r in rows]\n");
  WriteFile(dir_ / "src" / "train.sh",
            "mkdir -p outputs/model && cp score.py outputs/model/ && echo 2 > outputs/model/scale.txt\n");
  WriteFile(dir_ / "job.yml", "code: src\ncommand: sh train.sh\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string run = nlohmann::json::parse(r.out)["id"];
  ASSERT_EQ(Run({"model", "register", "scaler", "--run", run}).exit_code, 0);
  ASSERT_EQ(Run({"model", "alias", "scaler", "1", "production"}).exit_code, 0);

  int port = 0;
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);  // an ephemeral free port
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    close(fd);
  }
  pid_t server = Spawn({"serve", "scaler@production", "--port", std::to_string(port), "--workers",
                        "1"},
                       dir_ / "serve.out", dir_ / "serve.err");
  // The server is stopped even when an assertion below ends the test early.
  struct StopServer {
    pid_t pid;
    ~StopServer() {
      if (pid > 0 && kill(pid, SIGTERM) == 0) waitpid(pid, nullptr, 0);
    }
  } guard{server};
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    HttpReply health = Http(port, "GET", "/health");
    ready = health.status == 200 &&
            nlohmann::json::parse(health.body).value("status", "") == "ready";
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << ReadFile(dir_ / "serve.err");
  HttpReply meta = Http(port, "GET", "/metadata");
  EXPECT_EQ(meta.status, 200);
  EXPECT_NE(meta.body.find("scaler"), std::string::npos) << meta.body;
  HttpReply res = Http(port, "POST", "/score", R"({"data": [[1, 2], [3, 4]]})");
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(nlohmann::json::parse(res.body, nullptr, false), nlohmann::json::parse("[6.0, 14.0]"))
      << res.body;
  HttpReply bad = Http(port, "POST", "/score", "{not json");
  EXPECT_EQ(bad.status, 400) << bad.body;
  kill(server, SIGTERM);
  int status = 0;
  waitpid(server, &status, 0);
  guard.pid = 0;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "serve.err");

  CommandResult unknown = Run({"serve", "scaler@staging", "--port", "0"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("staging"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace overdrive::testing
