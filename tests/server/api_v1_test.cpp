// The REST API against a real server on loopback with a real SQLite workspace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "server/auth.hpp"
#include "server_test_util.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace {

using testing_util::ServerTest;
using ::testing::HasSubstr;

TEST_F(ServerTest, HealthSaysReadyWithoutTokens) {
  StartServer();
  auto r = Get("/api/v1/health");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["status"], "ok");
  EXPECT_EQ(r.Json()["store"], "sqlite");
  EXPECT_EQ(r.Json()["auth"], false);
}

TEST_F(ServerTest, UnknownEndpointsAndRunsAreJsonErrors) {
  StartServer();
  auto r = Get("/api/v1/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json()["error"]["code"], "not_found");
  r = Get("/api/v1/runs/doesnotexist");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.Json()["error"]["message"].get<std::string>(), HasSubstr("doesnotexist"));
}

}  // namespace
}  // namespace overdrive

namespace overdrive {
namespace {

using testing_util::HttpReply;
using testing_util::ServerTest;
using ::testing::HasSubstr;
using json = nlohmann::json;

class ApiTest : public ServerTest {
 protected:
  // A sweep with `n` trials: trial i has lr = i and acc = i / n (trial 0 has no metric).
  void SeedSweep(Workspace& ws, const std::string& sweep, int n, const std::string& exp = "exp") {
    RunRecord s;
    s.id = sweep;
    s.experiment_name = exp;
    s.job_type = JobType::kSweep;
    s.created_at = 1000;
    ASSERT_TRUE(ws.store().CreateRun(s, {}, {}));
    for (int i = 0; i < n; ++i) {
      RunRecord t;
      t.id = sweep + "-t" + std::to_string(i);
      t.experiment_name = exp;
      t.parent_id = sweep;
      t.job_type = JobType::kTrial;
      t.created_at = 1001 + i;
      ASSERT_TRUE(ws.store().CreateRun(t, {{"lr", std::to_string(i)}, {"opt", i % 2 ? "\"adam\"" : "\"sgd\""}}, {}));
      if (i > 0) ASSERT_TRUE(ws.store().Ingest({t.id, {{"acc", 1, double(i) / n, 1}}, {}, {}}));
      ASSERT_TRUE(ws.store().TransitionRun(t.id, i % 3 ? RunStatus::kCompleted : RunStatus::kFailed, {}));
    }
  }
};

TEST_F(ApiTest, TrialsTableSortsFiltersAndPages) {
  StartServer();
  auto ws = OpenWs();
  SeedSweep(*ws, "sw", 30);
  auto r = Get("/api/v1/runs?parent=sw&metric=acc&sort=metric&order=desc&limit=5");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["total"], 30);
  ASSERT_EQ(j["runs"].size(), 5u);
  EXPECT_EQ(j["runs"][0]["id"], "sw-t29") << "best acc first";
  EXPECT_EQ(j["runs"][0]["params"]["opt"], "adam");
  EXPECT_EQ(j["best_trial"], "sw-t29");
  EXPECT_EQ(j["param_names"], json({"lr", "opt"}));
  // Ascending still puts the trial without a value last.
  r = Get("/api/v1/runs?parent=sw&metric=acc&sort=metric&order=asc&limit=50");
  j = r.Json();
  EXPECT_EQ(j["runs"][0]["id"], "sw-t1");
  EXPECT_EQ(j["runs"][29]["id"], "sw-t0");
  EXPECT_TRUE(j["runs"][29]["metric"].is_null());
  // Page 2 of 4-row pages, by a numeric param.
  r = Get("/api/v1/runs?parent=sw&sort=param:lr&order=asc&limit=4&offset=4");
  j = r.Json();
  ASSERT_EQ(j["runs"].size(), 4u);
  EXPECT_EQ(j["runs"][0]["id"], "sw-t4") << "numbers sort as numbers, not text";
  // Filters: status and text.
  r = Get("/api/v1/runs?parent=sw&status=failed&limit=100");
  EXPECT_EQ(r.Json()["total"], 10);
  r = Get("/api/v1/runs?parent=sw&q=adam&limit=100");
  EXPECT_EQ(r.Json()["total"], 15);
  // Every trial for the charts in one call.
  r = Get("/api/v1/runs/sw/trials/points?metric=acc");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["trials"].size(), 30u);
  EXPECT_EQ(r.Json()["trials"][0]["id"], "sw-t0") << "creation order";
  // Tables are cached per sweep; a trial reporting a new best shows at the next request.
  ASSERT_TRUE(ws->store().Ingest({"sw-t3", {{"acc", 2, 5.0, 1}}, {}, {}}));
  r = Get("/api/v1/runs?parent=sw&metric=acc&sort=metric&order=desc&limit=1");
  EXPECT_EQ(r.Json()["runs"][0]["id"], "sw-t3") << r.body;
  EXPECT_EQ(r.Json()["best_trial"], "sw-t3");
  // Only what moved is read again: a new trial comes last with the next index, a transition and
  // a param logged later show, and the other rows stay as they were.
  ASSERT_EQ(Get("/api/v1/runs?parent=sw&metric=acc&sort=created_at&order=asc&limit=100")
                .Json()["total"],
            30);
  RunRecord t;
  t.id = "sw-t30";
  t.experiment_name = "exp";
  t.parent_id = "sw";
  t.job_type = JobType::kTrial;
  t.created_at = 2000;
  ASSERT_TRUE(ws->store().CreateRun(t, {{"lr", "30"}, {"opt", "\"sgd\""}}, {}));
  ASSERT_TRUE(ws->store().Ingest({"sw-t1", {}, {{"note", "\"rerun\""}}, {}}));
  r = Get("/api/v1/runs?parent=sw&metric=acc&sort=created_at&order=asc&limit=100");
  j = r.Json();
  EXPECT_EQ(j["total"], 31);
  ASSERT_EQ(j["runs"].size(), 31u);
  EXPECT_EQ(j["runs"][30]["id"], "sw-t30");
  EXPECT_EQ(j["runs"][30]["index"], 31);
  EXPECT_EQ(j["runs"][1]["params"]["note"], "rerun") << j["runs"][1].dump();
  EXPECT_EQ(j["runs"][3]["metric"]["best"], 5.0);
  EXPECT_EQ(j["runs"][2]["params"]["lr"], 2) << "untouched rows as before";
}

TEST_F(ApiTest, JobsAndExperimentsList) {
  StartServer();
  auto ws = OpenWs();
  SeedSweep(*ws, "a", 2, "alpha");
  SeedSweep(*ws, "b", 2, "beta");
  auto r = Get("/api/v1/jobs");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["total"], 2) << "trials are not jobs";
  r = Get("/api/v1/jobs?experiment=beta");
  ASSERT_EQ(r.Json()["jobs"].size(), 1u);
  EXPECT_EQ(r.Json()["jobs"][0]["id"], "b");
  EXPECT_EQ(r.Json()["jobs"][0]["url"], "/#/runs/b");
  r = Get("/api/v1/experiments");
  ASSERT_EQ(r.Json()["experiments"].size(), 2u);
  EXPECT_EQ(r.Json()["experiments"][0]["name"], "alpha");
  EXPECT_EQ(r.Json()["experiments"][0]["runs"], 1);
}

TEST_F(ApiTest, BatchedIngestAndDownsampledHistory) {
  StartServer();
  auto ws = OpenWs();
  RunRecord run;
  run.id = "r1";
  run.experiment_name = "exp";
  run.job_type = JobType::kExternal;
  ASSERT_TRUE(ws->store().CreateRun(run, {}, {}));
  for (int b = 0; b < 3; ++b) {
    json batch = {{"metrics", json::array()}};
    for (int i = 0; i < 10000; ++i) {
      int step = b * 10000 + i;
      batch["metrics"].push_back({{"name", "loss"}, {"value", step == 15555 ? 1e9 : 1.0 / (step + 1)}, {"step", step}});
    }
    if (b == 0) batch["params"] = {{"lr", 0.1}, {"arch", "cnn"}};
    auto r = PostJson("/api/v1/runs/r1/metrics", batch);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json()["accepted"], 10000);
  }
  auto r = Get("/api/v1/runs/r1/metrics/loss?max_points=300");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["count"], 30000) << "every point was stored";
  EXPECT_TRUE(j["downsampled"]);
  ASSERT_EQ(j["points"].size(), 300u);
  EXPECT_EQ(j["points"][155]["max"], 1e9) << "the spike survives";
  EXPECT_EQ(ws->store().GetParams("r1")->size(), 2u);
  // A finished run's series is cached, and refreshed when the server logs to it again.
  ASSERT_TRUE(ws->store().TransitionRun("r1", RunStatus::kCompleted, {}));
  EXPECT_EQ(Get("/api/v1/runs/r1/metrics/loss?max_points=300").body, r.body);
  ASSERT_EQ(PostJson("/api/v1/runs/r1/metrics", {{"metrics", {{{"name", "loss"}, {"value", 7}, {"step", 30000}}}}}).status, 200);
  EXPECT_EQ(Get("/api/v1/runs/r1/metrics/loss?max_points=300").Json()["count"], 30001);
  // Points without a step continue the series.
  r = PostJson("/api/v1/runs/r1/metrics", {{"metrics", {{{"name", "loss"}, {"value", 0.5}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ws->store().GetMetricSummaries("r1")->at(0).last_step, 30001);
}

TEST_F(ApiTest, IngestRejectsBadBatchesWhole) {
  StartServer();
  auto ws = OpenWs();
  RunRecord run;
  run.id = "r1";
  run.experiment_name = "exp";
  ASSERT_TRUE(ws->store().CreateRun(run, {}, {}));
  auto r = Post("/api/v1/runs/r1/metrics", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("not valid JSON"));
  r = PostJson("/api/v1/runs/r1/metrics",
               {{"metrics", {{{"name", "a"}, {"value", 1}}, {{"name", "b"}, {"value", "high"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("metrics[1]"));
  EXPECT_TRUE(ws->store().GetMetricSummaries("r1")->empty()) << "nothing of a rejected batch";
  json big = {{"metrics", json::array()}};
  for (int i = 0; i < 10001; ++i) big["metrics"].push_back({{"name", "a"}, {"value", 1}});
  r = PostJson("/api/v1/runs/r1/metrics", big);
  EXPECT_EQ(r.status, 413);
  r = PostJson("/api/v1/runs/nope/metrics", {{"metrics", json::array()}});
  EXPECT_EQ(r.status, 404);
  // A misspelt key is refused, not taken as an empty batch.
  r = PostJson("/api/v1/runs/r1/metrics", {{"points", {{{"name", "a"}, {"value", 1}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Json()["error"]["message"].get<std::string>(), HasSubstr("unknown key \"points\""));
  EXPECT_TRUE(ws->store().GetMetricSummaries("r1")->empty());
}

TEST_F(ApiTest, LogsTailAndLongPoll) {
  StartServer();
  auto ws = OpenWs();
  RunRecord run;
  run.id = "r1";
  run.experiment_name = "exp";
  run.run_dir = (dir_.path() / "r1").string();
  std::filesystem::create_directories(run.run_dir);
  ASSERT_TRUE(ws->store().CreateRun(run, {}, {}));
  ASSERT_TRUE(ws->store().TransitionRun("r1", RunStatus::kRunning, {}));
  { std::ofstream(run.run_dir + "/stdout.log") << "line one\n"; }
  auto r = Get("/api/v1/runs/r1/logs?stream=stdout");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["data"], "line one\n");
  EXPECT_EQ(r.Json()["final"], false);
  std::int64_t next = r.Json()["next_offset"];
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    std::ofstream(run.run_dir + "/stdout.log", std::ios::app) << "line two\n";
  });
  auto start = std::chrono::steady_clock::now();
  r = Get("/api/v1/runs/r1/logs?stream=stdout&wait=10&offset=" + std::to_string(next));
  writer.join();
  EXPECT_EQ(r.Json()["data"], "line two\n") << "the request waited for the new line";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_TRUE(ws->store().TransitionRun("r1", RunStatus::kCompleted, {}));
  r = Get("/api/v1/runs/r1/logs?stream=stdout&offset=" + std::to_string(r.Json()["next_offset"].get<std::int64_t>()));
  EXPECT_EQ(r.Json()["final"], true);
  EXPECT_EQ(Get("/api/v1/runs/r1/logs?stream=secrets").status, 400);
}

TEST_F(ApiTest, EventStreamFiresWhenATrialChanges) {
  StartServer();
  auto ws = OpenWs();
  SeedSweep(*ws, "sw", 0);
  RunRecord t;
  t.id = "sw-live";
  t.experiment_name = "exp";
  t.parent_id = "sw";
  ASSERT_TRUE(ws->store().CreateRun(t, {}, {}));
  std::vector<std::string> events;
  std::thread changer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    (void)ws->store().TransitionRun("sw-live", RunStatus::kRunning, {});
  });
  std::string buffer;
  httplib::Client sse("127.0.0.1", server_->port());
  sse.set_read_timeout(10, 0);
  auto res = sse.Get("/api/v1/events?run=sw", [&](const char* data, size_t n) {
    buffer.append(data, n);
    size_t pos;
    while ((pos = buffer.find("\n\n")) != std::string::npos) {
      std::string ev = buffer.substr(0, pos);
      buffer.erase(0, pos + 2);
      if (ev.rfind("event: update", 0) == 0) events.push_back(ev);
    }
    return events.size() < 2;  // the initial state, then the change
  });
  changer.join();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_THAT(events[0], HasSubstr("\"run\":\"sw\""));
  EXPECT_NE(events[0], events[1]);
}

TEST_F(ApiTest, ArtifactDownloadsCannotEscapeTheStore) {
  StartServer();
  auto ws = OpenWs();
  RunRecord run;
  run.id = "r1";
  run.experiment_name = "exp";
  ASSERT_TRUE(ws->store().CreateRun(run, {}, {}));
  auto digest = ws->artifacts().PutBytes("weights");
  ASSERT_TRUE(digest.has_value());
  ASSERT_TRUE(ws->store().AddArtifacts("r1", {{"outputs/model.bin", *digest, 7}}));
  auto r = Get("/api/v1/runs/r1/artifacts/outputs/model.bin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "weights");
  for (const char* evil : {"/api/v1/runs/r1/artifacts/../../../etc/passwd",
                           "/api/v1/runs/r1/artifacts/%2Fetc%2Fpasswd",
                           "/api/v1/runs/r1/artifacts/outputs/..%2F..%2Foverdrive.db",
                           "/api/v1/runs/r1/artifacts/outputs/model.bin%00.txt"}) {
    auto bad = Get(evil);
    EXPECT_NE(bad.status, 200) << evil;
    EXPECT_THAT(bad.body, ::testing::Not(HasSubstr("root:")));
  }
  r = Get("/api/v1/runs/r1/artifacts");
  EXPECT_EQ(r.Json()["artifacts"].size(), 1u);
}

TEST_F(ApiTest, RequestBodiesAreLimited) {
  ServerOptions o;
  o.limits.max_body_bytes = 4096;
  StartServer(o);
  auto ws = OpenWs();
  RunRecord run;
  run.id = "r1";
  run.experiment_name = "exp";
  ASSERT_TRUE(ws->store().CreateRun(run, {}, {}));
  json big = {{"metrics", json::array()}};
  for (int i = 0; i < 200; ++i) big["metrics"].push_back({{"name", "a"}, {"value", i}});
  auto r = PostJson("/api/v1/runs/r1/metrics", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(ws->store().GetMetricSummaries("r1")->empty());
}

TEST_F(ApiTest, NoTokensMeansLoopbackOnly) {
  ServerOptions o;
  o.host = "0.0.0.0";
  o.location.root = workspace();
  auto s = Server::Create(o);
  ASSERT_FALSE(s.has_value());
  EXPECT_THAT(s.error().message, HasSubstr("overdrive token create"));
}

class AuthTest : public ApiTest {
 protected:
  std::string MakeToken(Scope scope, const std::string& experiment = "", double ttl = 0) {
    auto ws = OpenWs();
    auto t = CreateApiToken(ws->store(), scope, experiment, ttl, "test");
    EXPECT_TRUE(t.has_value());
    return t ? t->secret : "";
  }
};

TEST_F(AuthTest, TokensAreRequiredOnceOneExists) {
  std::string admin = MakeToken(Scope::kAdmin);
  std::string read = MakeToken(Scope::kRead);
  StartServer();
  EXPECT_EQ(Get("/api/v1/jobs").status, 401) << "no token";
  auto health = Get("/api/v1/health");
  EXPECT_EQ(health.status, 200) << "health needs no token, so clients can tell auth is on";
  EXPECT_EQ(health.Json()["auth"], true);
  token_ = "odt_0000000000000000000000000000000000000000";
  EXPECT_EQ(Get("/api/v1/jobs").status, 401) << "unknown token";
  token_ = read;
  EXPECT_EQ(Get("/api/v1/jobs").status, 200);
  auto ws = OpenWs();
  SeedSweep(*ws, "sw", 1);
  auto r = PostJson("/api/v1/runs/sw/metrics", {{"metrics", json::array()}});
  EXPECT_EQ(r.status, 403) << "read tokens cannot write";
  EXPECT_THAT(r.body, HasSubstr("scope 'read'"));
  EXPECT_EQ(Get("/api/v1/tokens").status, 403) << "nor manage tokens";
  EXPECT_EQ(Get("/api/v1/health").status, 200);
  token_ = admin;
  auto tokens = Get("/api/v1/tokens");
  ASSERT_EQ(tokens.status, 200);
  EXPECT_THAT(tokens.body, ::testing::Not(HasSubstr(read))) << "secrets are never listed";
  EXPECT_THAT(tokens.body, ::testing::Not(HasSubstr("secret_hash")));
  // Revoking works at once through the server.
  std::string read_id;
  json listed = tokens.Json();
  for (const auto& t : listed["tokens"])
    if (t["scope"] == "read") read_id = t["id"];
  ASSERT_EQ(Delete("/api/v1/tokens/" + read_id).status, 200);
  token_ = read;
  EXPECT_EQ(Get("/api/v1/jobs").status, 401);
  // The event stream takes the token in the query (EventSource cannot send headers).
  token_ = "";
  EXPECT_EQ(Get("/api/v1/jobs?token=" + admin).status, 200);
}

TEST_F(AuthTest, ExpiredTokensAreRefused) {
  MakeToken(Scope::kAdmin);
  std::string soon = MakeToken(Scope::kRead, "", 1);
  StartServer();
  token_ = soon;
  EXPECT_EQ(Get("/api/v1/jobs").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto r = Get("/api/v1/jobs");
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr("expired"));
}

TEST_F(AuthTest, ExperimentTokensSeeNothingElse) {
  std::string scoped = MakeToken(Scope::kWrite, "alpha");
  StartServer();
  auto ws = OpenWs();
  SeedSweep(*ws, "a", 2, "alpha");
  SeedSweep(*ws, "b", 2, "beta");
  token_ = scoped;
  auto r = Get("/api/v1/jobs");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.Json()["jobs"].size(), 1u);
  EXPECT_EQ(r.Json()["jobs"][0]["id"], "a");
  EXPECT_EQ(Get("/api/v1/jobs?experiment=beta").Json()["jobs"].size(), 0u);
  EXPECT_EQ(Get("/api/v1/runs/b").status, 404) << "as if it did not exist";
  EXPECT_EQ(Get("/api/v1/runs/b-t1/metrics").status, 404);
  EXPECT_EQ(PostJson("/api/v1/runs/b-t1/metrics", {{"metrics", json::array()}}).status, 404);
  EXPECT_EQ(Get("/api/v1/experiments").Json()["experiments"].size(), 1u);
  EXPECT_EQ(Get("/api/v1/runs/a").status, 200);
}

// Secrets are the whole workspace's: only an admin token for every experiment sets, lists or
// deletes them, and no reply carries a value.
TEST_F(AuthTest, SecretsNeedAWorkspaceAdminAndNeverComeBack) {
  std::string global = MakeToken(Scope::kAdmin);
  std::string alpha_admin = MakeToken(Scope::kAdmin, "alpha");
  std::string writer = MakeToken(Scope::kWrite);
  StartServer();
  token_ = writer;
  EXPECT_EQ(PostJson("/api/v1/secrets", {{"name", "k"}, {"value", "v"}}).status, 403);
  token_ = alpha_admin;
  auto limited = PostJson("/api/v1/secrets", {{"name", "k"}, {"value", "v"}});
  EXPECT_EQ(limited.status, 403) << limited.body;
  EXPECT_EQ(Get("/api/v1/secrets").status, 403);
  token_ = global;
  auto set = PostJson("/api/v1/secrets", {{"name", "blob-key"}, {"value", "hunter2-account-key"}});
  ASSERT_EQ(set.status, 201) << set.body;
  EXPECT_EQ(set.body.find("hunter2"), std::string::npos);
  auto bad = PostJson("/api/v1/secrets", {{"name", "../x"}, {"value", "hunter2-account-key"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.find("hunter2"), std::string::npos) << "errors do not echo the value";
  auto list = Get("/api/v1/secrets");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.Json()["secrets"].size(), 1u);
  EXPECT_EQ(list.body.find("hunter2"), std::string::npos);
  auto ws = OpenWs();
  auto sealed = ws->store().GetSecret("blob-key");
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->sealed.find("hunter2"), std::string::npos) << "sealed in the store";
}

// A token limited to one experiment sees that experiment's models only, and its admins hand
// out, list and revoke tokens of that experiment only: no way to a wider token.
TEST_F(AuthTest, ExperimentAdminsAndModelsStayInsideTheirExperiment) {
  std::string global = MakeToken(Scope::kAdmin);
  std::string alpha_admin = MakeToken(Scope::kAdmin, "alpha");
  MakeToken(Scope::kRead, "beta");
  {
    auto ws = OpenWs();
    SeedSweep(*ws, "a", 2, "alpha");
    SeedSweep(*ws, "b", 2, "beta");
    for (const auto& [model, run] : {std::pair{"churn", "a-t1"}, std::pair{"fraud", "b-t1"},
                                     std::pair{"churn", "b-t1"}}) {
      ModelVersion v;
      v.model = model;
      v.run_id = run;
      v.path = "outputs/model";
      ASSERT_TRUE(ws->store().CreateModelVersion(v));
    }
  }
  StartServer();
  token_ = alpha_admin;
  auto models = Get("/api/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  ASSERT_EQ(models.Json()["models"].size(), 1u) << models.body;
  EXPECT_EQ(models.Json()["models"][0]["name"], "churn");
  EXPECT_EQ(models.Json()["models"][0]["versions"], 1) << "beta's version of churn is not counted";
  EXPECT_EQ(Get("/api/v1/models/fraud").status, 404) << "beta's model does not exist for alpha";
  auto churn = Get("/api/v1/models/churn").Json();
  ASSERT_EQ(churn["versions"].size(), 1u);
  EXPECT_EQ(churn["versions"][0]["run_id"], "a-t1");

  // Its own token, and the one the server made for the trials of the seeded (unfinished) sweep
  // "a" it picked up: alpha's, both; beta's reader and the global admin are not listed.
  auto listed = Get("/api/v1/tokens").Json()["tokens"];
  ASSERT_FALSE(listed.empty());
  for (const auto& t : listed) EXPECT_EQ(t["experiment"], "alpha") << listed.dump();
  EXPECT_EQ(std::count_if(listed.begin(), listed.end(),
                          [](const json& t) { return t["scope"] == "admin"; }),
            1)
      << listed.dump();
  auto wider = PostJson("/api/v1/tokens", {{"scope", "admin"}, {"experiment", "beta"}});
  EXPECT_EQ(wider.status, 403) << wider.body;
  auto made = PostJson("/api/v1/tokens", {{"scope", "read"}});
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.Json()["experiment"], "alpha") << "limited to the creator's experiment";
  std::string beta_id;
  token_ = global;
  json all_tokens = Get("/api/v1/tokens").Json();
  for (const auto& t : all_tokens["tokens"]) {
    if (t["experiment"] == "beta") beta_id = t["id"];
  }
  ASSERT_FALSE(beta_id.empty());
  token_ = alpha_admin;
  EXPECT_EQ(Delete("/api/v1/tokens/" + beta_id).status, 404);
  token_ = global;
  EXPECT_EQ(Get("/api/v1/models").Json()["models"].size(), 2u);
  EXPECT_EQ(Get("/api/v1/models/churn").Json()["versions"].size(), 2u);

  // The job-list event stream counts the token's experiment only ("jobs:status:...").
  auto first_stamp = [&](const std::string& token) {
    std::string buffer, stamp;
    httplib::Client sse("127.0.0.1", server_->port());
    sse.set_read_timeout(10, 0);
    sse.Get("/api/v1/events?token=" + token, [&](const char* data, size_t n) {
      buffer.append(data, n);
      auto at = buffer.find("data: ");
      auto end = buffer.find("\n\n");
      if (at == std::string::npos || end == std::string::npos) return true;
      stamp = json::parse(buffer.substr(at + 6, end - at - 6))["stamp"];
      return false;
    });
    return stamp;
  };
  EXPECT_EQ(first_stamp(alpha_admin).rfind("1:", 0), 0u) << first_stamp(alpha_admin);
  EXPECT_EQ(first_stamp(global).rfind("2:", 0), 0u) << first_stamp(global);
}

TEST_F(ApiTest, ServesHttpsWithACertificate) {
  std::string cert = (dir_.path() / "cert.pem").string(), key = (dir_.path() / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " +
                    key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  ServerOptions o;
  o.tls_cert = cert;
  o.tls_key = key;
  StartServer(o);
  httplib::SSLClient tls("127.0.0.1", server_->port());
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(false);
  auto r = tls.Get("/api/v1/health");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  auto plain = Get("/api/v1/health");
  EXPECT_NE(plain.status, 200) << "no plain HTTP on a TLS port";
}

}  // namespace
}  // namespace overdrive

namespace overdrive {
namespace {

using PortTest = testing_util::ServerTest;

TEST_F(PortTest, APortInUseIsAnError) {
  StartServer();
  ServerOptions o;
  o.location.root = workspace();
  o.port = server_->port();
  o.quiet = true;
  auto second = Server::Create(o);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  auto bound = (*second)->Bind();
  ASSERT_FALSE(bound.has_value()) << "two servers must not share a port";
  EXPECT_THAT(bound.error().message, ::testing::HasSubstr("in use"));
}

}  // namespace
}  // namespace overdrive
