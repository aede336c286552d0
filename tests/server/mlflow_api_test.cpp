// The MLflow-compatible tracking API against a real server on loopback: the requests MLflow's
// Python client sends (shapes from MLflow's REST API reference) and what lands in our store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "server/auth.hpp"
#include "server_test_util.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace {

using json = nlohmann::json;
using testing_util::HttpReply;
using testing_util::ServerTest;
using ::testing::HasSubstr;

constexpr const char* kApi = "/api/2.0/mlflow/";

class MlflowApiTest : public ServerTest {
 protected:
  HttpReply Call(const std::string& endpoint, const json& body) {
    return PostJson(kApi + endpoint, body);
  }
  HttpReply Query(const std::string& endpoint_and_query) { return Get(kApi + endpoint_and_query); }

  std::string CreateExperiment(const std::string& name) {
    auto r = Call("experiments/create", {{"name", name}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("experiment_id", "");
  }
  std::string CreateRun(const std::string& experiment_id, const json& extra = json::object()) {
    json body = {{"experiment_id", experiment_id}};
    body.update(extra);
    auto r = Call("runs/create", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json()["run"]["info"].value("run_id", "");
  }
  json GetRun(const std::string& id) {
    auto r = Query("runs/get?run_id=" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json()["run"];
  }
  // data.metrics / data.params / data.tags as key -> entry.
  static std::map<std::string, json> ByKey(const json& list) {
    std::map<std::string, json> out;
    for (const auto& e : list) out[e["key"].get<std::string>()] = e;
    return out;
  }
  static void ExpectError(const HttpReply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.Json().value("error_code", ""), code) << r.body;
    EXPECT_FALSE(r.Json().value("message", "").empty()) << r.body;
  }
  std::unique_ptr<Workspace> OpenWorkspace() {
    auto ws = Workspace::Open(workspace(), true);
    EXPECT_TRUE(ws.has_value()) << ws.error().message;
    return ws ? std::move(*ws) : nullptr;
  }
};

TEST_F(MlflowApiTest, ExperimentsCreateGetByNameAndRefuseDuplicates) {
  StartServer();
  std::string id = CreateExperiment("mnist-cnn");
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(std::all_of(id.begin(), id.end(), ::isdigit)) << id;

  auto r = Query("experiments/get-by-name?experiment_name=mnist-cnn");
  ASSERT_EQ(r.status, 200) << r.body;
  json e = r.Json()["experiment"];
  EXPECT_EQ(e["experiment_id"], id);  // a string, as MLflow's ids are
  EXPECT_EQ(e["name"], "mnist-cnn");
  EXPECT_EQ(e["lifecycle_stage"], "active");
  ASSERT_TRUE(e["creation_time"].is_number_integer()) << e;
  EXPECT_GT(e["creation_time"].get<std::int64_t>(), 1'600'000'000'000);  // milliseconds

  r = Query("experiments/get?experiment_id=" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["experiment"]["name"], "mnist-cnn");

  ExpectError(Call("experiments/create", {{"name", "mnist-cnn"}}), 400, "RESOURCE_ALREADY_EXISTS");
  ExpectError(Call("experiments/create", json::object()), 400, "INVALID_PARAMETER_VALUE");
  ExpectError(Query("experiments/get-by-name?experiment_name=nope"), 404,
              "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Query("experiments/get?experiment_id=987654"), 404, "RESOURCE_DOES_NOT_EXIST");
}

TEST_F(MlflowApiTest, RunLifecycleIsTrackedInTheStore) {
  StartServer();
  std::string exp = CreateExperiment("digits");
  auto created = Call("runs/create", {{"experiment_id", exp},
                                      {"start_time", 1'700'000'000'000},
                                      {"run_name", "first"},
                                      {"tags", {{{"key", "team"}, {"value", "vision"}}}}});
  ASSERT_EQ(created.status, 200) << created.body;
  json info = created.Json()["run"]["info"];
  std::string id = info["run_id"];
  EXPECT_EQ(info["run_uuid"], id);
  EXPECT_EQ(info["experiment_id"], exp);
  EXPECT_EQ(info["status"], "RUNNING");
  EXPECT_EQ(info["start_time"], 1'700'000'000'000);
  EXPECT_EQ(info["lifecycle_stage"], "active");
  EXPECT_EQ(info["run_name"], "first");
  EXPECT_FALSE(info.contains("end_time"));

  const double values[] = {0.5, 0.7, 0.65, 0.8, 0.9};
  for (int i = 0; i < 5; ++i) {
    auto r = Call("runs/log-metric", {{"run_id", id},
                                      {"key", "accuracy"},
                                      {"value", values[i]},
                                      {"timestamp", 1'700'000'001'000 + i},
                                      {"step", i}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json(), json::object());
  }
  // The deprecated run_uuid still names the run; NaN comes as protobuf writes it.
  ASSERT_EQ(Call("runs/log-metric", {{"run_uuid", id}, {"key", "loss"}, {"value", "NaN"},
                                     {"timestamp", 1'700'000'002'000}, {"step", 3}})
                .status,
            200);
  ASSERT_EQ(Call("runs/log-parameter", {{"run_id", id}, {"key", "lr"}, {"value", "0.01"}}).status,
            200);
  ASSERT_EQ(Call("runs/log-parameter", {{"run_id", id}, {"key", "optimizer"}, {"value", "adam"}})
                .status,
            200);
  ASSERT_EQ(Call("runs/set-tag", {{"run_id", id}, {"key", "stage"}, {"value", "tuning"}}).status,
            200);

  auto h = Query("metrics/get-history?run_id=" + id + "&metric_key=accuracy");
  ASSERT_EQ(h.status, 200) << h.body;
  json points = h.Json()["metrics"];
  ASSERT_EQ(points.size(), 5u) << h.body;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(points[i]["key"], "accuracy");
    EXPECT_DOUBLE_EQ(points[i]["value"].get<double>(), values[i]);
    EXPECT_EQ(points[i]["step"], i);
    EXPECT_EQ(points[i]["timestamp"], 1'700'000'001'000 + i);  // milliseconds, exact
  }
  // Paged the way MLflow's client pages.
  auto page = Query("metrics/get-history?run_id=" + id + "&metric_key=accuracy&max_results=2");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.Json()["metrics"].size(), 2u);
  std::string next = page.Json().value("next_page_token", "");
  ASSERT_FALSE(next.empty());
  page = Query("metrics/get-history?run_id=" + id +
               "&metric_key=accuracy&max_results=10&page_token=" + next);
  ASSERT_EQ(page.Json()["metrics"].size(), 3u);
  EXPECT_EQ(page.Json()["metrics"][0]["step"], 2);
  EXPECT_FALSE(page.Json().contains("next_page_token"));

  json run = GetRun(id);
  auto metrics = ByKey(run["data"]["metrics"]);
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_DOUBLE_EQ(metrics["accuracy"]["value"].get<double>(), 0.9);  // the latest value
  EXPECT_EQ(metrics["accuracy"]["step"], 4);
  EXPECT_EQ(metrics["accuracy"]["timestamp"], 1'700'000'001'004);
  EXPECT_EQ(metrics["loss"]["value"], "NaN");
  auto params = ByKey(run["data"]["params"]);
  EXPECT_EQ(params["lr"]["value"], "0.01");  // strings, as MLflow params are
  EXPECT_EQ(params["optimizer"]["value"], "adam");
  auto tags = ByKey(run["data"]["tags"]);
  EXPECT_EQ(tags["team"]["value"], "vision");
  EXPECT_EQ(tags["stage"]["value"], "tuning");
  EXPECT_EQ(tags["mlflow.runName"]["value"], "first");

  // A param keeps its value; logging the same value again is fine.
  ExpectError(Call("runs/log-parameter", {{"run_id", id}, {"key", "lr"}, {"value", "0.02"}}), 400,
              "INVALID_PARAMETER_VALUE");
  EXPECT_EQ(Call("runs/log-parameter", {{"run_id", id}, {"key", "lr"}, {"value", "0.01"}}).status,
            200);

  auto u = Call("runs/update",
                {{"run_id", id}, {"status", "FINISHED"}, {"end_time", 1'700'000'010'000}});
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(u.Json()["run_info"]["status"], "FINISHED");
  EXPECT_EQ(u.Json()["run_info"]["end_time"], 1'700'000'010'000);

  auto ws = OpenWorkspace();
  ASSERT_TRUE(ws);
  auto stored = ws->store().GetRun(id);
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  EXPECT_EQ(stored->status, RunStatus::kCompleted);
  EXPECT_EQ(stored->job_type, JobType::kExternal);
  EXPECT_EQ(stored->display_name, "first");
  EXPECT_EQ(stored->experiment_name, "digits");
  EXPECT_DOUBLE_EQ(stored->started_at, 1'700'000'000.0);
  EXPECT_DOUBLE_EQ(stored->ended_at, 1'700'000'010.0);
  auto history = ws->store().GetMetricHistory(id, "accuracy");
  ASSERT_TRUE(history.has_value());
  ASSERT_EQ(history->size(), 5u);
  EXPECT_DOUBLE_EQ((*history)[2].timestamp, 1'700'000'001.002);  // stored in seconds
  auto stored_params = ws->store().GetParams(id);
  ASSERT_TRUE(stored_params.has_value());
  ASSERT_EQ(stored_params->size(), 2u);
  EXPECT_EQ((*stored_params)[0].name, "lr");
  EXPECT_EQ((*stored_params)[0].value_json, "0.01");  // a number, sortable beside trials' params
}

TEST_F(MlflowApiTest, OtherStatusesMapToOurs) {
  StartServer();
  std::string exp = CreateExperiment("statuses");
  std::string failed = CreateRun(exp), killed = CreateRun(exp);
  ASSERT_EQ(Call("runs/update", {{"run_id", failed}, {"status", "FAILED"}}).status, 200);
  ASSERT_EQ(Call("runs/update", {{"run_id", killed}, {"status", "KILLED"}}).status, 200);
  ExpectError(Call("runs/update", {{"run_id", killed}, {"status", "DONE"}}), 400,
              "INVALID_PARAMETER_VALUE");
  auto ws = OpenWorkspace();
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->store().GetRun(failed)->status, RunStatus::kFailed);
  EXPECT_EQ(ws->store().GetRun(killed)->status, RunStatus::kCanceled);
  EXPECT_EQ(GetRun(failed)["info"]["status"], "FAILED");
  EXPECT_EQ(GetRun(killed)["info"]["status"], "KILLED");
}

TEST_F(MlflowApiTest, DefaultExperimentIsIdZero) {
  StartServer();
  // mlflow.start_run() without an experiment sends MLflow's default id "0".
  std::string id = CreateRun("0");
  ASSERT_FALSE(id.empty());
  json run = GetRun(id);
  auto r = Query("experiments/get?experiment_id=" + run["info"]["experiment_id"].get<std::string>());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["experiment"]["name"], "Default");
}

TEST_F(MlflowApiTest, LogBatchOverTheLimitsWritesNothing) {
  StartServer();
  std::string id = CreateRun(CreateExperiment("batches"));
  auto metrics = [](int n) {
    json list = json::array();
    for (int i = 0; i < n; ++i) {
      list.push_back({{"key", "m"}, {"value", i}, {"timestamp", 1'700'000'000'000 + i}, {"step", i}});
    }
    return list;
  };
  auto params = [](int n) {
    json list = json::array();
    for (int i = 0; i < n; ++i) list.push_back({{"key", "p" + std::to_string(i)}, {"value", "1"}});
    return list;
  };
  auto r = Call("runs/log-batch", {{"run_id", id}, {"metrics", metrics(1001)}});
  ExpectError(r, 400, "INVALID_PARAMETER_VALUE");
  EXPECT_THAT(r.Json().value("message", ""), HasSubstr("at most 1000 metrics"));
  ExpectError(Call("runs/log-batch", {{"run_id", id}, {"params", params(101)}}), 400,
              "INVALID_PARAMETER_VALUE");
  json tags = json::array();
  for (int i = 0; i < 101; ++i) tags.push_back({{"key", "t" + std::to_string(i)}, {"value", "x"}});
  ExpectError(Call("runs/log-batch", {{"run_id", id}, {"tags", tags}}), 400,
              "INVALID_PARAMETER_VALUE");
  // Each kind within its limit, 1001 entities in all.
  r = Call("runs/log-batch", {{"run_id", id}, {"metrics", metrics(901)}, {"params", params(100)}});
  ExpectError(r, 400, "INVALID_PARAMETER_VALUE");
  EXPECT_THAT(r.Json().value("message", ""), HasSubstr("in total"));
  // One bad entry at the end rejects the whole batch.
  json bad = metrics(10);
  bad.push_back({{"key", "../escape"}, {"value", 1}, {"timestamp", 1}, {"step", 0}});
  ExpectError(Call("runs/log-batch", {{"run_id", id}, {"metrics", bad}, {"params", params(3)}}),
              400, "INVALID_PARAMETER_VALUE");
  json long_value = {{{"key", "long"}, {"value", std::string(6001, 'x')}}};
  ExpectError(Call("runs/log-batch", {{"run_id", id}, {"metrics", metrics(5)}, {"params", long_value}}),
              400, "INVALID_PARAMETER_VALUE");

  json run = GetRun(id);
  EXPECT_TRUE(run["data"]["metrics"].empty()) << run;
  EXPECT_TRUE(run["data"]["params"].empty()) << run;
  EXPECT_EQ(ByKey(run["data"]["tags"]).count("t0"), 0u);

  // At the limits exactly, everything is stored.
  json max_tags = json::array();
  for (int i = 0; i < 100; ++i) max_tags.push_back({{"key", "t" + std::to_string(i)}, {"value", "x"}});
  r = Call("runs/log-batch", {{"run_id", id}, {"metrics", metrics(800)}, {"params", params(100)},
                              {"tags", max_tags}});
  ASSERT_EQ(r.status, 200) << r.body;
  run = GetRun(id);
  EXPECT_EQ(ByKey(run["data"]["metrics"])["m"]["step"], 799);
  EXPECT_EQ(run["data"]["params"].size(), 100u);
  EXPECT_EQ(ByKey(run["data"]["tags"])["t99"]["value"], "x");
  auto h = Query("metrics/get-history?run_id=" + id + "&metric_key=m");
  EXPECT_EQ(h.Json()["metrics"].size(), 800u);
}

TEST_F(MlflowApiTest, BadKeysAndValuesAreRejected) {
  StartServer();
  std::string id = CreateRun(CreateExperiment("keys"));
  for (const char* key : {"", "a//b", "/abs", "trailing/", "bad$char", "./x"}) {
    ExpectError(Call("runs/log-metric", {{"run_id", id}, {"key", key}, {"value", 1},
                                         {"timestamp", 1}, {"step", 0}}),
                400, "INVALID_PARAMETER_VALUE");
  }
  ExpectError(Call("runs/log-metric", {{"run_id", id}, {"key", "ok"}, {"value", "high"},
                                       {"timestamp", 1}}),
              400, "INVALID_PARAMETER_VALUE");
  ExpectError(Call("runs/log-metric", {{"run_id", id}, {"key", "ok"}, {"value", true},
                                       {"timestamp", 1}}),
              400, "INVALID_PARAMETER_VALUE");
  ExpectError(Call("runs/set-tag", {{"run_id", id}, {"key", std::string(251, 'k')}, {"value", "v"}}),
              400, "INVALID_PARAMETER_VALUE");
  ExpectError(Call("runs/set-tag", {{"run_id", id}, {"key", "k"}, {"value", std::string(5001, 'v')}}),
              400, "INVALID_PARAMETER_VALUE");
  ExpectError(Post(std::string(kApi) + "runs/log-metric", "{not json"), 400, "BAD_REQUEST");
  // Allowed characters, including MLflow's system tag names and slashes.
  EXPECT_EQ(Call("runs/log-metric", {{"run_id", id}, {"key", "val/loss-1.x y"}, {"value", 1},
                                     {"timestamp", 1}})
                .status,
            200);
  EXPECT_TRUE(GetRun(id)["data"]["metrics"][0]["step"] == 0);  // MLflow's default step
}

TEST_F(MlflowApiTest, UnknownRunsAndEndpointsAre404) {
  StartServer();
  ExpectError(Query("runs/get?run_id=doesnotexist"), 404, "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Call("runs/log-metric", {{"run_id", "doesnotexist"}, {"key", "a"}, {"value", 1},
                                       {"timestamp", 1}, {"step", 0}}),
              404, "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Call("runs/update", {{"run_id", "doesnotexist"}, {"status", "FINISHED"}}), 404,
              "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Query("metrics/get-history?run_id=doesnotexist&metric_key=a"), 404,
              "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Call("runs/create", {{"experiment_id", "424242"}}), 404, "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Call("runs/get", json::object()), 404, "ENDPOINT_NOT_FOUND");  // it is a GET
  ExpectError(Query("runs/get"), 400, "INVALID_PARAMETER_VALUE");           // no run_id
  ExpectError(Call("artifacts/list", json::object()), 404, "ENDPOINT_NOT_FOUND");
}

TEST_F(MlflowApiTest, TokensLimitWhatCanBeLoggedAndSeen) {
  std::string writer, reader, scoped;
  {
    auto ws = OpenWorkspace();
    ASSERT_TRUE(ws);
    ASSERT_TRUE(ws->store().GetOrCreateExperiment("mine").has_value());
    auto w = CreateApiToken(ws->store(), Scope::kWrite, "", 0, "writer");
    auto r = CreateApiToken(ws->store(), Scope::kRead, "", 0, "reader");
    auto s = CreateApiToken(ws->store(), Scope::kWrite, "mine", 0, "scoped");
    ASSERT_TRUE(w && r && s);
    writer = w->secret;
    reader = r->secret;
    scoped = s->secret;
  }
  StartServer();
  ASSERT_TRUE(server_->auth_required());
  token_ = writer;
  std::string other = CreateExperiment("other");
  std::string id = CreateRun(other);
  ASSERT_FALSE(id.empty());

  token_ = reader;
  ExpectError(Call("runs/log-metric", {{"run_id", id}, {"key", "a"}, {"value", 1},
                                       {"timestamp", 1}, {"step", 0}}),
              403, "PERMISSION_DENIED");
  ExpectError(Call("experiments/create", {{"name", "x"}}), 403, "PERMISSION_DENIED");
  EXPECT_EQ(Query("runs/get?run_id=" + id).status, 200);  // reading is allowed
  EXPECT_TRUE(GetRun(id)["data"]["metrics"].empty());

  token_ = "";
  ExpectError(Query("runs/get?run_id=" + id), 401, "UNAUTHENTICATED");

  // A token limited to experiment "mine" sees nothing of "other".
  token_ = scoped;
  ExpectError(Query("runs/get?run_id=" + id), 404, "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Query("experiments/get-by-name?experiment_name=other"), 404,
              "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Call("runs/create", {{"experiment_id", other}}), 404, "RESOURCE_DOES_NOT_EXIST");
  ExpectError(Call("experiments/create", {{"name", "third"}}), 403, "PERMISSION_DENIED");
  auto mine = Query("experiments/get-by-name?experiment_name=mine");
  ASSERT_EQ(mine.status, 200) << mine.body;
  std::string mine_run = CreateRun(mine.Json()["experiment"]["experiment_id"]);
  EXPECT_EQ(Call("runs/log-metric", {{"run_id", mine_run}, {"key", "a"}, {"value", 1},
                                     {"timestamp", 1}, {"step", 0}})
                .status,
            200);
}

// A run a controller drives (a trial, a command job): logged metrics go through its
// metrics.jsonl, where its collector and its sweep's early-termination policy read them, and
// the MLflow client's FINISHED at exit leaves its status to the controller.
TEST_F(MlflowApiTest, ControllerRunsGetMetricsThroughTheirFileAndKeepTheirStatus) {
  StartServer();
  auto ws = OpenWorkspace();
  ASSERT_TRUE(ws);
  RunRecord run;
  run.id = "trialrun01";
  run.experiment_name = "sweepy";
  run.job_type = JobType::kTrial;
  run.status = RunStatus::kRunning;
  run.run_dir = (dir_.path() / "trialrun01").string();
  std::filesystem::create_directories(run.run_dir);
  ASSERT_TRUE(ws->store().CreateRun(run, {Param{"lr", "0.001"}}, {}).has_value());

  // What mlflow.start_run() does with MLFLOW_RUN_ID set: get the run, mark it RUNNING.
  json got = GetRun(run.id);
  EXPECT_EQ(got["info"]["status"], "RUNNING");
  EXPECT_THAT(got["info"]["artifact_uri"].get<std::string>(), HasSubstr("trialrun01/wd/outputs"));
  ASSERT_EQ(Call("runs/update", {{"run_id", run.id}, {"status", "RUNNING"}}).status, 200);

  ASSERT_EQ(Call("runs/log-metric", {{"run_id", run.id}, {"key", "accuracy"}, {"value", 0.75},
                                     {"timestamp", 1'700'000'000'500}, {"step", 2}})
                .status,
            200);
  // The sampler stored 0.001; the script logs Python's str() of the same float.
  EXPECT_EQ(Call("runs/log-parameter", {{"run_id", run.id}, {"key", "lr"}, {"value", "0.001"}})
                .status,
            200);
  ExpectError(Call("runs/log-parameter", {{"run_id", run.id}, {"key", "lr"}, {"value", "0.1"}}),
              400, "INVALID_PARAMETER_VALUE");

  std::ifstream in(std::filesystem::path(run.run_dir) / "metrics.jsonl");
  std::stringstream text;
  text << in.rdbuf();
  json line = json::parse(text.str().substr(0, text.str().find('\n')), nullptr, false);
  ASSERT_TRUE(line.is_object()) << text.str();
  EXPECT_EQ(line["name"], "accuracy");
  EXPECT_DOUBLE_EQ(line["value"].get<double>(), 0.75);
  EXPECT_EQ(line["step"], 2);
  EXPECT_DOUBLE_EQ(line["timestamp"].get<double>(), 1'700'000'000.5);

  ASSERT_EQ(Call("runs/update", {{"run_id", run.id}, {"status", "FINISHED"},
                                 {"end_time", 1'700'000'001'000}})
                .status,
            200);
  EXPECT_EQ(ws->store().GetRun(run.id)->status, RunStatus::kRunning);
}

}  // namespace
}  // namespace overdrive
