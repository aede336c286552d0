// End to end: a sweep registers its best trial's model, and `overdrive serve NAME@ALIAS` serves a
// registered scoring-script model over HTTP.
#include "cli_test_util.hpp"
#include "http_test_util.hpp"

namespace overdrive::testing {
namespace {

class ServeRegistryTest : public CliTest {};

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

  ServeProcess server([&](const auto& args) { return Spawn(args, dir_ / "serve.out", dir_ / "serve.err"); },
                      {"scaler@production", "--workers", "1"});
  const int port = server.port();
  ASSERT_TRUE(server.WaitReady()) << ReadFile(dir_ / "serve.err");
  HttpReply meta = Http(port, "GET", "/metadata");
  EXPECT_EQ(meta.status, 200);
  EXPECT_NE(meta.body.find("scaler"), std::string::npos) << meta.body;
  HttpReply res = Http(port, "POST", "/score", R"({"data": [[1, 2], [3, 4]]})");
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(nlohmann::json::parse(res.body, nullptr, false), nlohmann::json::parse("[6.0, 14.0]"))
      << res.body;
  HttpReply bad = Http(port, "POST", "/score", "{not json");
  EXPECT_EQ(bad.status, 400) << bad.body;
  int status = server.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "serve.err");

  CommandResult unknown = Run({"serve", "scaler@staging", "--port", "0"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("staging"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace overdrive::testing
