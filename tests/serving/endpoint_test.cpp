// Serving tests: real endpoints on 127.0.0.1 (ephemeral ports), real HTTP through httplib's
// client, real Python workers (/usr/bin/python3) and real XGBoost models trained here by Python.
#include <gtest/gtest.h>

#include "../server/raw_http.hpp"
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serving/endpoint.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kPython = "/usr/bin/python3";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(::testing::TempDir()) / "serving_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An endpoint served on an ephemeral port by a background thread.
class RunningEndpoint {
 public:
  explicit RunningEndpoint(std::unique_ptr<Endpoint> ep) : ep_(std::move(ep)) {
    auto port = ep_->Bind("127.0.0.1", 0);
    EXPECT_TRUE(port.has_value()) << port.error().message;
    port_ = port.value_or(0);
    thread_ = std::thread([this] {
      auto served = ep_->Serve();
      EXPECT_TRUE(served.has_value()) << served.error().message;
    });
  }
  ~RunningEndpoint() {
    ep_->Stop();
    thread_.join();
  }
  Endpoint& endpoint() { return *ep_; }
  int port() const { return port_; }

  httplib::Client Client(int timeout_s = 20) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(timeout_s, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
  // POST /score; returns {status, parsed body}.
  std::pair<int, json> Score(const std::string& body) const {
    auto c = Client();
    auto res = c.Post("/score", body, "application/json");
    if (!res) return {-1, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> Get(const std::string& path) const {
    auto c = Client();
    auto res = c.Get(path.c_str());
    if (!res) return {-1, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

 private:
  std::unique_ptr<Endpoint> ep_;
  int port_ = 0;
  std::thread thread_;
};

// ---------------------------------------------------------------- scoring scripts

constexpr const char* kScoreScript = R"PY(
import json, os, time

model = None

def init():
    global model
    # Azure's convention: the model's files are under AZUREML_MODEL_DIR (also the cwd here).
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.txt")) as f:
        model = float(f.read())
    print("init done")  # must not corrupt the worker protocol

def run(raw_data):
    data = json.loads(raw_data)
    if isinstance(data, dict) and data.get("boom"):
        raise ValueError("bad input: " + str(data["boom"]))
    if isinstance(data, dict) and "sleep" in data:
        time.sleep(data["sleep"])
    if isinstance(data, dict) and data.get("exit"):
        os._exit(3)
    rows = data["data"] if isinstance(data, dict) else data
    print("scoring", len(rows), "rows")
    return {"predictions": [model * sum(r) for r in rows], "pid": os.getpid(),
            "cwd": os.getcwd(), "raw_type": type(raw_data).__name__}
)PY";

fs::path MakeScriptModel(const fs::path& root) {
  fs::path dir = root / "model";
  WriteFile(dir / "score.py", kScoreScript);
  WriteFile(dir / "weights.txt", "2.0");
  return dir;
}

EndpointOptions ScriptOptions(const fs::path& dir, int workers = 2, double timeout_s = 20) {
  EndpointOptions o;
  o.model_path = dir;
  o.model_name = "adder";
  o.model_version = "3";
  o.workers = workers;
  o.python = kPython;
  o.request_timeout_s = timeout_s;
  o.init_timeout_s = 30;
  return o;
}

std::unique_ptr<RunningEndpoint> StartScript(const EndpointOptions& o) {
  auto ep = MakeEndpoint(o);
  EXPECT_TRUE(ep.has_value()) << ep.error().message;
  if (!ep) return nullptr;
  return std::make_unique<RunningEndpoint>(std::move(*ep));
}

TEST(ScriptEndpoint, ScoresWithInitAndRunInTheModelFolder) {
  TempDir tmp;
  fs::path dir = MakeScriptModel(tmp.path());
  auto server = StartScript(ScriptOptions(dir));
  ASSERT_TRUE(server);
  auto [status, body] = server->Score(R"({"data": [[1, 2], [3, 4.5]]})");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["predictions"], json::parse("[6.0, 15.0]"));
  EXPECT_EQ(body["raw_type"], "str");  // run() gets the raw JSON string, as on Azure
  EXPECT_EQ(fs::path(body["cwd"].get<std::string>()), fs::canonical(dir));
  // A bare list of rows is passed through as well.
  auto [status2, body2] = server->Score("[[1, 1]]");
  ASSERT_EQ(status2, 200) << body2.dump();
  EXPECT_EQ(body2["predictions"], json::parse("[4.0]"));
}

TEST(ScriptEndpoint, ScriptExceptionIsA500WithItsMessageAndServingGoesOn) {
  TempDir tmp;
  auto server = StartScript(ScriptOptions(MakeScriptModel(tmp.path()), 1));
  ASSERT_TRUE(server);
  auto pids = server->endpoint().WorkerPids();
  auto [status, body] = server->Score(R"({"boom": "negative age"})");
  EXPECT_EQ(status, 500);
  EXPECT_NE(body["error"].get<std::string>().find("ValueError: bad input: negative age"),
            std::string::npos)
      << body.dump();
  EXPECT_EQ(body["type"], "ValueError");
  auto [ok, good] = server->Score(R"({"data": [[1]]})");
  EXPECT_EQ(ok, 200) << good.dump();
  EXPECT_EQ(server->endpoint().WorkerPids(), pids);  // an exception does not cost the worker
}

TEST(ScriptEndpoint, SlowRequestGets504AndTheWorkerIsReplaced) {
  TempDir tmp;
  auto server = StartScript(ScriptOptions(MakeScriptModel(tmp.path()), 1, 1.0));
  ASSERT_TRUE(server);
  auto before = server->endpoint().WorkerPids();
  ASSERT_EQ(before.size(), 1u);
  auto start = Clock::now();
  auto [status, body] = server->Score(R"({"sleep": 30, "data": [[1]]})");
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(status, 504) << body.dump();
  EXPECT_NE(body["error"].get<std::string>().find("timed out after 1 s"), std::string::npos)
      << body.dump();
  EXPECT_LT(took, 5.0);
  auto [ok, good] = server->Score(R"({"data": [[2]]})");
  ASSERT_EQ(ok, 200) << good.dump();
  EXPECT_NE(good["pid"].get<int>(), before[0]);
  EXPECT_NE(kill(before[0], 0), 0) << "the timed-out worker is still alive";
}

TEST(ScriptEndpoint, KilledWorkerIsReplaced) {
  TempDir tmp;
  auto server = StartScript(ScriptOptions(MakeScriptModel(tmp.path()), 2));
  ASSERT_TRUE(server);
  // Both workers up.
  auto end = Clock::now() + std::chrono::seconds(20);
  while (server->endpoint().WorkerPids().size() < 2 && Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto pids = server->endpoint().WorkerPids();
  ASSERT_EQ(pids.size(), 2u);
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  std::vector<int> now;
  while (Clock::now() < end) {
    now = server->endpoint().WorkerPids();
    if (now.size() == 2 && std::find(now.begin(), now.end(), pids[0]) == now.end()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(std::find(now.begin(), now.end(), pids[0]), now.end());
  for (int i = 0; i < 4; ++i) {
    auto [status, body] = server->Score(R"({"data": [[1]]})");
    EXPECT_EQ(status, 200) << body.dump();
  }
  auto [hs, health] = server->Get("/health");
  EXPECT_EQ(hs, 200);
  EXPECT_GE(health["restarts"].get<int>(), 1) << health.dump();
}

TEST(ScriptEndpoint, WorkerCrashingMidRequestIsA502AndServingGoesOn) {
  TempDir tmp;
  auto server = StartScript(ScriptOptions(MakeScriptModel(tmp.path()), 1));
  ASSERT_TRUE(server);
  auto [status, body] = server->Score(R"({"exit": true})");
  EXPECT_EQ(status, 502) << body.dump();
  EXPECT_NE(body["error"].get<std::string>().find("exited with code 3"), std::string::npos)
      << body.dump();
  auto [ok, good] = server->Score(R"({"data": [[1]]})");
  EXPECT_EQ(ok, 200) << good.dump();
}

TEST(ScriptEndpoint, ConcurrentRequestsQueueAndUseEveryWorker) {
  TempDir tmp;
  auto server = StartScript(ScriptOptions(MakeScriptModel(tmp.path()), 2));
  ASSERT_TRUE(server);
  std::vector<std::future<std::pair<int, json>>> replies;
  for (int i = 0; i < 6; ++i) {
    replies.push_back(std::async(
        std::launch::async, [&] { return server->Score(R"({"sleep": 0.3, "data": [[1]]})"); }));
  }
  std::vector<int> pids;
  for (auto& f : replies) {
    auto [status, body] = f.get();
    ASSERT_EQ(status, 200) << body.dump();
    pids.push_back(body["pid"].get<int>());
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  EXPECT_EQ(pids.size(), 2u);
}

TEST(ScriptEndpoint, BadRequestsAreJsonErrors) {
  TempDir tmp;
  auto o = ScriptOptions(MakeScriptModel(tmp.path()), 1);
  o.max_body_bytes = 1024;
  auto server = StartScript(o);
  ASSERT_TRUE(server);
  auto [s1, b1] = server->Score(R"({"data": [[1, 2]})");
  EXPECT_EQ(s1, 400);
  EXPECT_NE(b1["error"].get<std::string>().find("malformed JSON"), std::string::npos) << b1.dump();
  auto [s2, b2] = server->Score("");
  EXPECT_EQ(s2, 400);
  auto [s3, b3] = server->Score(R"({"data": [)" + std::string(4000, ' ') + "]}");
  EXPECT_EQ(s3, 413);
  EXPECT_TRUE(b3.contains("error")) << b3.dump();
  auto [s4, b4] = server->Get("/nope");
  EXPECT_EQ(s4, 404);
  EXPECT_TRUE(b4.contains("error"));
  auto [s5, b5] = server->Get("/score");
  EXPECT_EQ(s5, 405);
  auto [s6, b6] = server->Score(R"({"data": [[5]]})");
  EXPECT_EQ(s6, 200) << b6.dump();
}

// The same body limits as `overdrive server` (http/http_limits.hpp): a chunked body is refused
// at the limit, not read to its end, and a lying Content-Length gets an answer.
TEST(ScriptEndpoint, HostileBodiesAreRefusedAtTheLimit) {
  TempDir tmp;
  auto o = ScriptOptions(MakeScriptModel(tmp.path()), 1);
  o.max_body_bytes = 1u << 20;
  auto server = StartScript(o);
  ASSERT_TRUE(server);
  testing_util::RawConnection c(server->port());
  ASSERT_TRUE(c.Send("POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk = "100000\r\n" + std::string(1 << 20, '1') + "\r\n";
  int sent = 0;
  while (sent < 200 && c.Send(chunk)) ++sent;
  std::string reply = c.Read(3000);
  EXPECT_EQ(testing_util::RawConnection::Status(reply), 413) << reply.substr(0, 200);
  EXPECT_LT(sent, 100) << "the endpoint kept reading past its 1 MiB limit";
  testing_util::RawConnection neg(server->port());
  neg.Send("POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  EXPECT_EQ(testing_util::RawConnection::Status(neg.Read(3000)), 400);
  auto [hs, health] = server->Get("/health");
  EXPECT_EQ(hs, 200);
}

TEST(ScriptEndpoint, HealthAndMetadata) {
  TempDir tmp;
  auto server = StartScript(ScriptOptions(MakeScriptModel(tmp.path()), 2));
  ASSERT_TRUE(server);
  auto [hs, health] = server->Get("/health");
  EXPECT_EQ(hs, 200);
  EXPECT_EQ(health["status"], "ready");
  EXPECT_EQ(health["workers"]["configured"], 2);
  auto [ms, meta] = server->Get("/metadata");
  EXPECT_EQ(ms, 200);
  EXPECT_EQ(meta["name"], "adder");
  EXPECT_EQ(meta["version"], "3");
  EXPECT_EQ(meta["kind"], "scoring_script");
  EXPECT_EQ(meta["entry"], "score.py");
}

TEST(ScriptEndpoint, InitFailureIsReportedByMakeEndpoint) {
  TempDir tmp;
  fs::path dir = tmp.path() / "broken";
  WriteFile(dir / "score.py",
            "def init():\n    raise RuntimeError('weights.bin is missing')\n\ndef run(d):\n    "
            "return d\n");
  auto ep = MakeEndpoint(ScriptOptions(dir, 2));
  ASSERT_FALSE(ep.has_value());
  EXPECT_NE(ep.error().message.find("RuntimeError: weights.bin is missing"), std::string::npos)
      << ep.error().message;

  WriteFile(dir / "score.py", "def init():\n    pass\n");
  ep = MakeEndpoint(ScriptOptions(dir, 1));
  ASSERT_FALSE(ep.has_value());
  EXPECT_NE(ep.error().message.find("no run(data) function"), std::string::npos)
      << ep.error().message;

  WriteFile(dir / "score.py", "def init():\n    pass\ndef run(d):\n    return d\n");
  auto o = ScriptOptions(dir, 1);
  o.python = (tmp.path() / "no-such-python").string();
  ep = MakeEndpoint(o);
  ASSERT_FALSE(ep.has_value());
  EXPECT_NE(ep.error().message.find("no-such-python"), std::string::npos) << ep.error().message;
}

TEST(DetectModel, FindsTheKindOrSaysWhatIsMissing) {
  TempDir tmp;
  auto missing = DetectModel(tmp.path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  fs::path empty = tmp.path() / "empty";
  fs::create_directories(empty);
  auto none = DetectModel(empty);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("score.py"), std::string::npos);

  fs::path custom = tmp.path() / "custom";
  WriteFile(custom / "entry.py", "def run(d):\n    return d\n");
  WriteFile(custom / "overdrive-model.json", R"({"kind": "scoring_script", "entry": "entry.py"})");
  auto layout = DetectModel(custom);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->kind, ModelKind::kScoringScript);
  EXPECT_EQ(layout->file.filename(), "entry.py");

  WriteFile(custom / "overdrive-model.json", R"({"kind": "scoring_scrpt"})");
  auto typo = DetectModel(custom);
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("did you mean 'scoring_script'"), std::string::npos)
      << typo.error().message;

  fs::path not_model = tmp.path() / "notmodel";
  WriteFile(not_model / "config.json", R"({"a": 1})");
  EXPECT_FALSE(DetectModel(not_model));  // a JSON file libxgboost cannot load is no model
}

// ---------------------------------------------------------------- XGBoost (native)

// Trains two tiny models with Python's xgboost once: a binary classifier (4 features) and a
// 3-class softprob model, each saved as JSON and UBJSON, plus Python's predictions.
class XgboostEndpoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    WriteFile(dir_->path() / "train.py", R"PY(
import json, sys
import numpy as np
import xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(7)
X = rng.normal(size=(60, 4)).astype(np.float32)
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
yc = np.digitize(X[:, 2], [-0.5, 0.5])
Xt = np.array([[0.1, -0.2, 0.3, 0.4], [1.5, 0.2, -1.0, 0.0], [-2.0, 1.0, 0.5, np.nan]],
              dtype=np.float32)
expected = {}
for name, labels, params in [
        ("binary", y, {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}),
        ("multi", yc, {"objective": "multi:softprob", "num_class": 3, "max_depth": 2})]:
    dtrain = xgb.DMatrix(X, label=labels, feature_names=["f_a", "f_b", "f_c", "f_d"])
    booster = xgb.train(params, dtrain, num_boost_round=8)
    for ext in ("json", "ubj"):
        booster.save_model("%s/%s_%s/model.%s" % (out, name, ext, ext))
    pred = booster.predict(xgb.DMatrix(Xt, feature_names=["f_a", "f_b", "f_c", "f_d"]))
    expected[name] = pred.tolist()
expected["rows"] = [[None if np.isnan(v) else float(v) for v in r] for r in Xt]
json.dump(expected, open(out + "/expected.json", "w"))
)PY");
    for (const char* d : {"binary_json", "binary_ubj", "multi_json", "multi_ubj"}) {
      fs::create_directories(dir_->path() / d);
    }
    std::string cmd = std::string(kPython) + " " + (dir_->path() / "train.py").string() + " " +
                      dir_->path().string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "training with " << kPython << " xgboost failed";
    expected_ = new json(json::parse(ReadFile(dir_->path() / "expected.json")));
  }
  static void TearDownTestSuite() {
    delete expected_;
    delete dir_;
  }

  static std::unique_ptr<RunningEndpoint> Start(const std::string& model) {
    EndpointOptions o;
    o.model_path = dir_->path() / model;
    o.model_name = "churn";
    o.model_version = "7";
    auto ep = MakeEndpoint(o);
    EXPECT_TRUE(ep.has_value()) << ep.error().message;
    if (!ep) return nullptr;
    EXPECT_EQ((*ep)->layout().kind, ModelKind::kXgboost);
    return std::make_unique<RunningEndpoint>(std::move(*ep));
  }

  static void ExpectSame(const json& got, const json& want) {
    ASSERT_EQ(got.size(), want.size()) << got.dump();
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (want[i].is_array()) {
        ExpectSame(got[i], want[i]);
      } else {
        EXPECT_NEAR(got[i].get<double>(), want[i].get<double>(), 1e-6) << "at " << i;
      }
    }
  }

  static TempDir* dir_;
  static json* expected_;
};

TempDir* XgboostEndpoint::dir_ = nullptr;
json* XgboostEndpoint::expected_ = nullptr;

TEST_F(XgboostEndpoint, PredictsLikePythonFromJsonAndUbjson) {
  for (const char* model : {"binary_json", "binary_ubj", "multi_json", "multi_ubj"}) {
    SCOPED_TRACE(model);
    auto server = Start(model);
    ASSERT_TRUE(server);
    json request = {{"data", (*expected_)["rows"]}};
    auto [status, body] = server->Score(request.dump());
    ASSERT_EQ(status, 200) << body.dump();
    std::string name = std::string(model).substr(0, std::string(model).find('_'));
    ExpectSame(body["predictions"], (*expected_)[name]);
    // A bare list of rows too.
    auto [status2, body2] = server->Score((*expected_)["rows"].dump());
    ASSERT_EQ(status2, 200);
    ExpectSame(body2["predictions"], (*expected_)[name]);
  }
}

TEST_F(XgboostEndpoint, ConcurrentRequestsGetTheirOwnPredictions) {
  auto server = Start("multi_json");
  ASSERT_TRUE(server);
  const json& rows = (*expected_)["rows"];
  std::vector<std::future<bool>> clients;
  for (int t = 0; t < 6; ++t) {
    clients.push_back(std::async(std::launch::async, [&, t] {
      for (int i = 0; i < 15; ++i) {
        std::size_t r = static_cast<std::size_t>(t + i) % rows.size();
        auto [status, body] = server->Score(json{{"data", {rows[r]}}}.dump());
        if (status != 200) return false;
        for (std::size_t k = 0; k < 3; ++k) {
          double got = body["predictions"][0][k].get<double>();
          if (std::abs(got - (*expected_)["multi"][r][k].get<double>()) > 1e-6) return false;
        }
      }
      return true;
    }));
  }
  for (auto& c : clients) EXPECT_TRUE(c.get());
}

TEST_F(XgboostEndpoint, WrongRowShapeIsA400NamingTheFeatureCount) {
  auto server = Start("binary_json");
  ASSERT_TRUE(server);
  auto [status, body] = server->Score(R"({"data": [[1, 2, 3, 4], [1, 2, 3]]})");
  EXPECT_EQ(status, 400);
  EXPECT_NE(
      body["error"].get<std::string>().find("row 1 has 3 values; the model expects 4 features"),
      std::string::npos)
      << body.dump();
  auto [s2, b2] = server->Score(R"({"data": [[1, "x", 3, 4]]})");
  EXPECT_EQ(s2, 400);
  EXPECT_NE(b2["error"].get<std::string>().find("not a number"), std::string::npos) << b2.dump();
  auto [s3, b3] = server->Score(R"({"rows": []})");
  EXPECT_EQ(s3, 400);
  EXPECT_NE(b3["error"].get<std::string>().find("\"data\""), std::string::npos) << b3.dump();
  auto [s4, b4] = server->Score("{not json");
  EXPECT_EQ(s4, 400);
  // Rows keyed by the model's feature names work; an unknown name is a 400.
  auto [s5, b5] = server->Score(R"({"data": [{"f_a": 0.1, "f_b": -0.2, "f_c": 0.3, "f_d": 0.4}]})");
  ASSERT_EQ(s5, 200) << b5.dump();
  EXPECT_NEAR(b5["predictions"][0].get<double>(), (*expected_)["binary"][0].get<double>(), 1e-6);
  auto [s6, b6] = server->Score(R"({"data": [{"f_z": 1}]})");
  EXPECT_EQ(s6, 400);
  EXPECT_NE(b6["error"].get<std::string>().find("f_z"), std::string::npos);
  // Still serving.
  auto [s7, b7] = server->Score(R"({"data": [[1, 2, 3, 4]]})");
  EXPECT_EQ(s7, 200);
}

TEST_F(XgboostEndpoint, HealthAndMetadata) {
  auto server = Start("multi_ubj");
  ASSERT_TRUE(server);
  auto [hs, health] = server->Get("/health");
  EXPECT_EQ(hs, 200);
  EXPECT_EQ(health["status"], "ready");
  auto [ms, meta] = server->Get("/metadata");
  ASSERT_EQ(ms, 200);
  EXPECT_EQ(meta["name"], "churn");
  EXPECT_EQ(meta["version"], "7");
  EXPECT_EQ(meta["kind"], "xgboost");
  EXPECT_EQ(meta["input"]["features"], 4);
  EXPECT_EQ(meta["input"]["feature_names"], json::parse(R"(["f_a", "f_b", "f_c", "f_d"])"));
  EXPECT_EQ(meta["objective"], "multi:softprob");
  EXPECT_TRUE(server->endpoint().WorkerPids().empty());
}

TEST_F(XgboostEndpoint, SeveralModelsInOneFolderNeedAManifest) {
  fs::path both = dir_->path() / "both";
  fs::create_directories(both);
  fs::copy_file(dir_->path() / "binary_json" / "model.json", both / "a.json");
  fs::copy_file(dir_->path() / "multi_ubj" / "model.ubj", both / "b.ubj");
  auto layout = DetectModel(both);
  ASSERT_FALSE(layout);
  EXPECT_NE(layout.error().message.find("several XGBoost models"), std::string::npos);
  WriteFile(both / "overdrive-model.json", R"({"kind": "xgboost", "file": "b.ubj"})");
  layout = DetectModel(both);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->file.filename(), "b.ubj");
}

}  // namespace
}  // namespace overdrive
