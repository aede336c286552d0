// `overdrive server` and the CLI's --server mode, end to end with the real binary: submit with
// code, read commands, tokens, and a server killed with -9 mid-sweep losing nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "cli_test_util.hpp"
#include "server_cli_fixture.hpp"
#include "common/strings.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using testing::ServerCliTest;

using ::testing::HasSubstr;
using ::testing::Not;


constexpr const char* kJob = R"(type: command
experiment_name: remote
code: src
command: sh run.sh
)";

TEST_F(ServerCliTest, SubmitWithCodeAndReadBackThroughTheServer) {
  testing::WriteFile(dir_ / "job.yml", kJob);
  testing::WriteFile(dir_ / "src" / "run.sh", "echo from-the-code-folder\necho acc=0.75\necho oops >&2\n");
  StartServer();
  auto r = Run(Remote({"job", "submit", "job.yml"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("from-the-code-folder")) << "output streamed from the server";
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("dashboard: (\\S+/#/runs/([a-z0-9]+))")))
      << r.err;
  EXPECT_EQ(std::string(m[1]).rfind(url_, 0), 0u);
  std::string id = m[2];

  r = Run(Remote({"job", "list"}));
  EXPECT_THAT(r.out, HasSubstr(id));
  r = Run(Remote({"job", "show", id}));
  EXPECT_THAT(r.out, HasSubstr("completed"));
  EXPECT_THAT(r.out, HasSubstr("acc"));
  EXPECT_THAT(r.out, HasSubstr(url_ + "/#/runs/" + id));
  r = Run(Remote({"job", "logs", id}));
  EXPECT_THAT(r.out, HasSubstr("from-the-code-folder"));
  EXPECT_THAT(r.err, HasSubstr("oops"));
  auto j = Json(Remote({"runs", "metrics", id, "--json"}));
  EXPECT_EQ(j["metrics"]["acc"][0]["value"], 0.75);
  // The same records as a local workspace would hold.
  auto local = Json({"job", "show", id, "--json"});
  EXPECT_EQ(local["status"], "completed");
}

TEST_F(ServerCliTest, FailuresAndBadFilesKeepTheirExitCodes) {
  testing::WriteFile(dir_ / "fail.yml", "type: command\ncommand: exit 3\n");
  testing::WriteFile(dir_ / "bad.yml", "type: command\ncomand: echo hi\n");
  StartServer();
  auto r = Run(Remote({"job", "submit", "fail.yml"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = Run(Remote({"job", "submit", "bad.yml"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.yml:2:1"));
  r = Run(Remote({"job", "list", "--json"}));
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u) << "the bad file stored nothing";
  r = Run(Remote({"job", "show", "nosuchrun"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("nosuchrun"));
}

// An inline environment's conda file outside `code:` (here beside the job file, as Azure's
// examples keep it) travels with the submit; the server builds the venv from it.
TEST_F(ServerCliTest, AnInlineEnvironmentsFilesOutsideTheCodeTravelWithTheSubmit) {
  testing::WriteFile(dir_ / "envs" / "conda.yml",
                     "dependencies:\n  - python=3\n  - pip\n");
  testing::WriteFile(dir_ / "job.yml",
                     "type: command\ncode: src\ncommand: python3 -c \"import sys; "
                     "print('prefix=' + sys.prefix)\"\n"
                     "environment:\n  conda_file: envs/conda.yml\n");
  testing::WriteFile(dir_ / "src" / "keep.txt", "x\n");
  StartServer();
  auto r = Run(Remote({"job", "submit", "job.yml"}), 180);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("prefix=" + (workspace_ / "environments").string())) << r.out;
}

// `environment create/list/show` through the server: the conda file beside the YAML travels
// with it, the server stores the version, and a job naming it runs in it there.
TEST_F(ServerCliTest, EnvironmentsAreCreatedListedAndUsedThroughTheServer) {
  testing::WriteFile(dir_ / "envs" / "conda.yml", "dependencies:\n  - python=3\n  - pip\n");
  testing::WriteFile(dir_ / "envs" / "env.yml",
                     "name: team-env\ndescription: shared\nconda_file: conda.yml\n");
  testing::WriteFile(dir_ / "job.yml",
                     "type: command\ncommand: python3 -c \"import sys; print('prefix=' + "
                     "sys.prefix)\"\nenvironment: azureml:team-env@latest\n");
  StartServer();
  auto created = Run(Remote({"environment", "create", "-f", "envs/env.yml"}));
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("created environment team-env:1 (venv"));
  auto again = Run(Remote({"environment", "create", "-f", "envs/env.yml", "--version", "1"}));
  EXPECT_THAT(again.out, HasSubstr("already exists with this spec")) << again.err;
  auto list = Json(Remote({"environment", "list", "--json"}));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["ref"], "team-env:1");
  auto shown = Run(Remote({"environment", "show", "azureml:team-env:1"}));
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("environment team-env:1  (venv)"));
  EXPECT_THAT(shown.out, HasSubstr("python        3"));
  auto missing = Run(Remote({"environment", "show", "team-env:7"}));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("team-env"));
  // Stored on the server's workspace, and used there.
  EXPECT_EQ(Json({"environment", "list", "--json"}).size(), 1u);
  auto r = Run(Remote({"job", "submit", "job.yml"}), 180);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("prefix=" + (workspace_ / "environments").string()));
  // What stays on the server's machine says so.
  auto build = Run(Remote({"environment", "build", "team-env"}));
  EXPECT_NE(build.exit_code, 0);
  EXPECT_THAT(build.err, HasSubstr("environment create/list/show"));
}

// Secrets through the server: sealed with the server's key, listed by name, never returned.
TEST_F(ServerCliTest, SecretsAreSetListedAndDeletedThroughTheServerNeverShown) {
  testing::WriteFile(dir_ / "key.txt", "account-key-c2VjcmV0\n");
  StartServer();
  auto set = Run(Remote({"secret", "set", "blob-key", "--from-file", "key.txt"}));
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_THAT(set.out, HasSubstr("secret blob-key stored, sealed with key"));
  auto list = Run(Remote({"secret", "list", "--json"}));
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("blob-key"));
  EXPECT_THAT(list.out + list.err + set.out + set.err, Not(HasSubstr("account-key")));
  // In the server's workspace, sealed: the local command sees the name, and no file holds
  // the value in clear.
  EXPECT_EQ(Json({"secret", "list", "--json"}).size(), 1u);
  std::string bytes;
  for (const auto& e : fs::recursive_directory_iterator(workspace_)) {
    if (e.is_regular_file()) bytes += testing::ReadFile(e.path());
  }
  EXPECT_EQ(bytes.find("account-key-c2VjcmV0"), std::string::npos);
  ASSERT_EQ(Run(Remote({"secret", "delete", "blob-key"})).exit_code, 0);
  auto again = Run(Remote({"secret", "delete", "blob-key"}));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("no secret named 'blob-key'"));
}

TEST_F(ServerCliTest, UnreachableServerSaysSo) {
  url_ = "http://127.0.0.1:9";
  auto r = Run(Remote({"job", "list"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the server at http://127.0.0.1:9"));
}

constexpr const char* kSweep = R"(type: sweep
experiment_name: resilient
trial:
  command: >-
    for i in 1 2 3; do echo "acc=${{search_space.x}}"; sleep 0.4; done
sampling_algorithm: random
search_space:
  x:
    type: choice
    values: [1, 2, 3, 4, 5, 6, 7, 8]
objective:
  goal: maximize
  primary_metric: acc
limits:
  max_total_trials: 6
  max_concurrent_trials: 2
)";

TEST_F(ServerCliTest, KilledServerResumesItsSweepLosingNothing) {
  testing::WriteFile(dir_ / "sweep.yml", kSweep);
  StartServer();
  auto r = Run(Remote({"job", "submit", "sweep.yml", "--detach"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = Trim(r.out);
  // Kill -9 once two trials have finished and others run.
  for (int i = 0; i < 300; ++i) {
    auto j = Json({"job", "show", id, "--json"});
    int done = 0;
    for (const auto& t : j["trials"]) done += t["status"] == "completed";
    if (done >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  StopServer(SIGKILL);
  StartServer();
  std::string status;
  for (int i = 0; i < 600 && status != "completed"; ++i) {
    status = Json({"job", "show", id, "--json"})["status"];
    if (status != "completed") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status, "completed") << testing::ReadFile(server_log_);
  EXPECT_THAT(testing::ReadFile(server_log_), HasSubstr("resumed 1 unfinished job"));
  auto j = Json({"job", "show", id, "--json"});
  ASSERT_EQ(j["trials"].size(), 6u) << "no trial lost or added";
  for (const auto& t : j["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["metrics"]["acc"]["count"], 3) << "each point exactly once: " << t.dump();
  }
  // Export through the server: the same header and one row per trial as a local export.
  auto remote = Run(Remote({"job", "export", id, "--csv"}));
  auto local = Run({"job", "export", id, "--csv"});
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  EXPECT_EQ(remote.out.substr(0, remote.out.find('\n')), local.out.substr(0, local.out.find('\n')));
  EXPECT_EQ(std::count(remote.out.begin(), remote.out.end(), '\n'), 7);
}

TEST_F(ServerCliTest, TokensGateTheServerOnceCreated) {
  StartServer();
  auto r = Run({"token", "list"});
  EXPECT_THAT(r.out, HasSubstr("no tokens"));
  StopServer(SIGTERM);
  r = Run({"token", "create", "--scope", "read", "--name", "dashboards"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string read = Trim(r.out);
  EXPECT_EQ(read.rfind("odt_", 0), 0u) << read;
  EXPECT_THAT(r.err, HasSubstr("shown only now"));
  std::string write = Trim(Run({"token", "create", "--scope", "write", "--expires", "1h"}).out);
  EXPECT_EQ(Run({"token", "create", "--scope", "root"}).exit_code, 2);
  EXPECT_EQ(Run({"token", "create", "--expires", "soon"}).exit_code, 2);
  StartServer();
  testing::WriteFile(dir_ / "job.yml", "type: command\ncommand: echo hi\n");
  r = Run(Remote({"job", "list"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("needs a token"));
  EXPECT_EQ(Run(Remote({"job", "list"}, read)).exit_code, 0);
  r = Run(Remote({"job", "submit", "job.yml"}, read));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("scope 'read'"));
  EXPECT_EQ(Run(Remote({"job", "submit", "job.yml"}, write)).exit_code, 0);
  // Revoked from the CLI while the server runs: refused within its 2-second cache.
  std::string listing = Run({"token", "list"}).out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(listing, m, std::regex("(tok_[0-9a-f]+)\\s+read"))) << listing;
  EXPECT_THAT(listing, Not(HasSubstr(read))) << "secrets are never listed";
  ASSERT_EQ(Run({"token", "revoke", m[1]}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  r = Run(Remote({"job", "list"}, read));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("revoked"));
  EXPECT_THAT(Run({"token", "list"}).out, HasSubstr("revoked"));
}

// The model registry and tokens read (and tokens managed) through the server, as on a local
// workspace; a workspace-only command refuses an explicit --server instead of ignoring it.
TEST_F(ServerCliTest, ModelsAndTokensThroughTheServer) {
  testing::WriteFile(dir_ / "job.yml",
                     "type: command\nexperiment_name: churn\n"
                     "command: mkdir -p outputs/model && echo w > outputs/model/w.bin\n");
  ASSERT_EQ(Run({"job", "submit", "job.yml"}).exit_code, 0);
  std::string run = Json({"job", "list", "--json"})[0]["id"];
  ASSERT_EQ(Run({"model", "register", "churn", "--run", run}).exit_code, 0);
  ASSERT_EQ(Run({"model", "register", "churn", "--run", run, "--tag", "stage=prod"}).exit_code, 0);
  ASSERT_EQ(Run({"model", "alias", "churn", "1", "production"}).exit_code, 0);
  std::string admin = Trim(Run({"token", "create", "--scope", "admin"}).out);
  StartServer();

  auto local = Json({"model", "list", "--json"});
  auto remote = Json(Remote({"model", "list", "--json"}, admin));
  ASSERT_EQ(remote.size(), 1u) << remote.dump();
  for (const char* key : {"name", "versions", "latest_version", "aliases", "latest_run_id"}) {
    EXPECT_EQ(remote[0][key], local[0][key]) << key;
  }
  auto r = Run(Remote({"model", "show", "churn@production"}, admin));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("churn:1"));
  EXPECT_THAT(r.out, HasSubstr(run));
  EXPECT_THAT(r.out, HasSubstr("w.bin"));
  auto shown = Json(Remote({"model", "show", "churn:2", "--json"}, admin));
  EXPECT_EQ(shown["version"], 2);
  EXPECT_EQ(shown["content_digest"], Json({"model", "show", "churn:2", "--json"})["content_digest"])
      << "the same files, by digest";
  r = Run(Remote({"model", "show", "churn:9"}, admin));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("churn:9"));

  r = Run(Remote({"token", "create", "--scope", "read", "--experiment", "churn"}, admin));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string reader = Trim(r.out);
  EXPECT_EQ(reader.rfind("odt_", 0), 0u);
  EXPECT_EQ(Run(Remote({"job", "list"}, reader)).exit_code, 0);
  std::string listing = Run(Remote({"token", "list"}, admin)).out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(listing, m, std::regex("(tok_[0-9a-f]+)\\s+read\\s+churn")))
      << listing;
  ASSERT_EQ(Run(Remote({"token", "revoke", m[1]}, admin)).exit_code, 0);
  r = Run(Remote({"job", "list"}, reader));
  EXPECT_NE(r.exit_code, 0) << "refused at once when revoked through the server";

  r = Run(Remote({"compute", "list"}, admin));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("works on a workspace"));
}

TEST_F(ServerCliTest, MlflowLoggingTrialsAreTrackedAndStoppedEarly) {
  // examples/mlflow-logging: trials log accuracy only through MLflow's REST API (the server
  // gives them MLFLOW_TRACKING_URI and MLFLOW_RUN_ID); bandit stops the slow learners on it.
  fs::copy(fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "mlflow-logging", dir_ / "mlflow",
           fs::copy_options::recursive);
  // Its curated environment, mapped as the README says.
  auto env = Run({"environment", "create", "-f",
                  (fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "environments" / "sklearn-1.5.yml")
                      .string()});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  StartServer();
  auto r = Run(Remote({"job", "submit", "mlflow/sweep.yml", "--json"}), 300);
  ASSERT_EQ(r.exit_code, 0) << r.err << testing::ReadFile(server_log_);
  auto sweep = nlohmann::json::parse(r.out);
  auto j = Json({"job", "show", sweep["id"], "--json"});
  ASSERT_EQ(j["trials"].size(), 8u);
  int stopped = 0;
  for (const auto& t : j["trials"]) {
    ASSERT_TRUE(t["metrics"].contains("accuracy")) << t.dump();
    if (t["status"] == "completed") {
      EXPECT_EQ(t["metrics"]["accuracy"]["count"], 12) << "one point per epoch: " << t.dump();
    } else {
      EXPECT_EQ(t["status"], "early_terminated") << t.dump();
      EXPECT_GE(t["metrics"]["accuracy"]["count"], 2) << t.dump();
    }
    stopped += t["status"] == "early_terminated";
    std::string out = Run(Remote({"job", "logs", t["id"].get<std::string>()})).out;
    EXPECT_THAT(out, Not(HasSubstr("accuracy="))) << "metrics came through MLflow, not stdout";
  }
  EXPECT_GE(stopped, 1) << "bandit acted on MLflow-logged accuracy: " << j.dump(1);
}

// With tokens on, a job's trials log through MLflow with a write token limited to the job's
// experiment, revoked when the job ends.
TEST_F(ServerCliTest, TrialsLogWithATokenOfTheirOwnExperiment) {
  testing::WriteFile(
      dir_ / "sweep.yml",
      "type: sweep\nexperiment_name: tokened\n"
      "trial:\n  command: >-\n"
      "    /usr/bin/python3 -c \"import json, os, urllib.request as u;"
      " r = u.Request(os.environ['MLFLOW_TRACKING_URI'] + '/api/2.0/mlflow/runs/log-metric',"
      " json.dumps({'run_id': os.environ['MLFLOW_RUN_ID'], 'key': 'acc', 'value': 0.5,"
      " 'timestamp': 1, 'step': 0}).encode(), {'Content-Type': 'application/json',"
      " 'Authorization': 'Bearer ' + os.environ['MLFLOW_TRACKING_TOKEN']});"
      " u.urlopen(r).read()\"\n"
      "sampling_algorithm: random\n"
      "search_space:\n  x: {type: uniform, min_value: 0, max_value: 1}\n"
      "objective: {goal: maximize, primary_metric: acc}\n"
      "limits: {max_total_trials: 2, max_concurrent_trials: 2}\n");
  std::string admin = Trim(Run({"token", "create", "--scope", "admin"}).out);
  StartServer();
  auto r = Run(Remote({"job", "submit", "sweep.yml", "--json"}, admin), 120);
  ASSERT_EQ(r.exit_code, 0) << r.err << testing::ReadFile(server_log_);
  std::string id = nlohmann::json::parse(r.out)["id"];
  auto j = Json({"job", "show", id, "--json"});
  ASSERT_EQ(j["trials"].size(), 2u);
  for (const auto& t : j["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["metrics"]["acc"]["count"], 1) << "logged with the trials' token: " << t.dump();
  }
  std::string listing;
  for (int i = 0; i < 50; ++i) {  // revoked as the job's thread ends
    listing = Run({"token", "list"}).out;
    if (listing.find("revoked") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(std::regex_search(listing, std::regex("write\\s+tokened\\s+revoked.*trials of job " + id)))
      << listing;
}

TEST_F(ServerCliTest, ServerOnPostgresRunsJobsAndResumes) {
  const char* pg = std::getenv("OVERDRIVE_TEST_PG_URL");
  if (pg == nullptr || *pg == '\0') {
    GTEST_SKIP() << "OVERDRIVE_TEST_PG_URL is not set (scripts/postgres.sh start prints one)";
  }
  // A database of its own, dropped at the end.
  std::string base = pg;
  std::string db = "od_cli_" + fs::path(dir_).filename().string().substr(14);
  std::transform(db.begin(), db.end(), db.begin(), [](unsigned char c) { return std::tolower(c); });
  ASSERT_EQ(std::system(("psql -q '" + base + "' -c 'CREATE DATABASE " + db + "' >/dev/null").c_str()), 0);
  std::string url = base.substr(0, base.rfind('/') + 1) + db;
  testing::WriteFile(dir_ / "sweep.yml", kSweep);
  StartServer({"--db", url});
  auto r = Run(Remote({"job", "submit", "sweep.yml", "--detach"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = Trim(r.out);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  StopServer(SIGKILL);
  StartServer({"--db", url});
  std::string status;
  for (int i = 0; i < 600 && status != "completed"; ++i) {
    status = Json({"--db", url, "job", "show", id, "--json"})["status"];
    if (status != "completed") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, "completed") << testing::ReadFile(server_log_);
  auto j = Json({"--db", url, "job", "show", id, "--json"});
  EXPECT_EQ(j["trials"].size(), 6u);
  for (const auto& t : j["trials"]) EXPECT_EQ(t["metrics"]["acc"]["count"], 3) << t.dump();
  EXPECT_FALSE(fs::exists(workspace_ / "overdrive.db")) << "metadata went to PostgreSQL only";
  StopServer(SIGTERM);
  (void)std::system(("psql -q '" + base + "' -c 'DROP DATABASE " + db + "' >/dev/null 2>&1").c_str());
}

}  // namespace
}  // namespace overdrive
