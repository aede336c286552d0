// End to end: command jobs through the real binary, as a user runs them.
#include <sys/stat.h>

#include "cli_test_util.hpp"
#include "common/process.hpp"

namespace overdrive::testing {
namespace {

class CommandJobTest : public CliTest {};

TEST_F(CommandJobTest, QuickstartExampleIsTrackedEndToEnd) {
  fs::path job = fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "quickstart" / "job.yml";
  CommandResult r = Run({"job", "submit", job.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch=11"), std::string::npos) << "the run's output is streamed";
  EXPECT_NE(r.err.find("completed"), std::string::npos) << r.err;

  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_EQ(runs.size(), 1u);
  std::string id = runs[0]["id"];
  nlohmann::json run = Json({"job", "show", id, "--json"});
  EXPECT_EQ(run["status"], "completed");
  EXPECT_EQ(run["experiment"], "quickstart");
  EXPECT_EQ(run["exit_code"], 0);
  EXPECT_EQ(run["params"]["learning_rate"], 0.5);
  EXPECT_EQ(run["params"]["epochs"], 12);
  EXPECT_EQ(run["params"]["train_rows"], 1000) << "log_param from the Python client";
  // From the Python client (JSON lines) and from stdout (name=value).
  EXPECT_EQ(run["metrics"]["val_accuracy"]["count"], 12);
  EXPECT_EQ(run["metrics"]["val_accuracy"]["last_step"], 11);
  EXPECT_GT(run["metrics"]["val_accuracy"]["last"].get<double>(), 0.8);
  EXPECT_EQ(run["metrics"]["train_loss"]["count"], 12);
  EXPECT_LT(run["metrics"]["train_loss"]["last"].get<double>(),
            run["metrics"]["train_loss"]["max"].get<double>());
  std::vector<std::string> paths;
  for (const auto& a : run["artifacts"]) paths.push_back(a["path"]);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "outputs/model/model.json"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "logs/stdout.log"), paths.end());

  // Human views.
  CommandResult show = Run({"job", "show", id.substr(0, 4)});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("val_accuracy"), std::string::npos);
  EXPECT_NE(show.out.find("outputs/model/model.json"), std::string::npos);
  CommandResult metrics = Run({"runs", "metrics", id, "--name", "val_accuracy"});
  EXPECT_EQ(metrics.exit_code, 0);
  EXPECT_NE(metrics.out.find("11"), std::string::npos);
  nlohmann::json series = Json({"runs", "metrics", id, "--json"});
  EXPECT_EQ(series["metrics"]["val_accuracy"].size(), 12u);
  CommandResult logs = Run({"job", "logs", id});
  EXPECT_NE(logs.out.find("saved model to"), std::string::npos);
}

// A run cannot publish files from outside its outputs/ by linking to them: such links are left
// out (and said so), links to its own files are kept.
TEST_F(CommandJobTest, SymlinksOutOfOutputsAreNotKeptAsArtifacts) {
  WriteFile(dir_ / "job.yml",
            "command: mkdir -p outputs/m && echo w > outputs/m/weights.bin && "
            "ln -s m/weights.bin outputs/latest.bin && ln -s /etc/passwd outputs/passwd && "
            "ln -s ../../../../ outputs/up\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = Json({"job", "list", "--json"})[0]["id"];
  nlohmann::json run = Json({"job", "show", id, "--json"});
  std::vector<std::string> paths;
  for (const auto& a : run["artifacts"]) paths.push_back(a["path"]);
  auto has = [&](const std::string& p) {
    return std::find(paths.begin(), paths.end(), p) != paths.end();
  };
  EXPECT_TRUE(has("outputs/m/weights.bin")) << run["artifacts"].dump();
  EXPECT_TRUE(has("outputs/latest.bin")) << "a link to its own file is kept";
  EXPECT_FALSE(has("outputs/passwd")) << run["artifacts"].dump();
  for (const auto& p : paths) EXPECT_EQ(p.rfind("outputs/up/", 0), std::string::npos) << p;
  CommandResult show = Run({"job", "show", id});
  EXPECT_NE(show.out.find("symbolic links leading out of outputs/ ("), std::string::npos)
      << show.out;
  EXPECT_NE(show.out.find("outputs/passwd"), std::string::npos) << show.out;
}

TEST_F(CommandJobTest, FailingCommandRecordsExitCodeAndReason) {
  WriteFile(dir_ / "job.yml",
            "command: |\n  echo 'about to fail' && echo 'ValueError: bad column' >&2 && exit 3\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  EXPECT_EQ(r.exit_code, 3) << "the job's exit code is the run's";
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["exit_code"], 3);
  EXPECT_NE(run["status_reason"].get<std::string>().find("ValueError: bad column"), std::string::npos)
      << run["status_reason"];
}

TEST_F(CommandJobTest, TimeoutEndsTimedOutAndKillsTheProcessGroup) {
  WriteFile(dir_ / "job.yml",
            "command: (sleep 60 & echo $! > child.pid; wait)\nlimits:\n  timeout: 1\n");
  KeepRunFiles keep;  // child.pid is read from the run's working folder after the end
  auto start = std::chrono::steady_clock::now();
  CommandResult r = Run({"job", "submit", "job.yml"});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 124) << r.err;
  EXPECT_LT(took, 30);
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  EXPECT_EQ(run["status"], "timed_out");
  std::string child = ReadFile(fs::path(run["run_dir"].get<std::string>()) / "wd" / "child.pid");
  ASSERT_FALSE(child.empty());
  int pid = std::stoi(child);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ProcessStartTime(pid), 0) << "the grandchild sleep must be gone (or a zombie)";
}

TEST_F(CommandJobTest, ShellScriptsLogWithTheCli) {
  WriteFile(dir_ / "job.yml",
            "command: >-\n  " OVERDRIVE_BINARY " log metric loss 0.5 --step 1 &&\n  " OVERDRIVE_BINARY
            " log metric loss 0.25 --step 2 && " OVERDRIVE_BINARY " log param optimizer adam\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  EXPECT_EQ(run["metrics"]["loss"]["count"], 2);
  EXPECT_EQ(run["metrics"]["loss"]["last"], 0.25);
  EXPECT_EQ(run["params"]["optimizer"], "adam");
  CommandResult outside = Run({"log", "metric", "x", "1"});
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_NE(outside.err.find("OVERDRIVE_METRICS_FILE"), std::string::npos);
}

TEST_F(CommandJobTest, InputsOutputsAndEnvironmentReachTheRun) {
  WriteFile(dir_ / "data" / "train.csv", "a,b\n1,2\n");
  WriteFile(dir_ / "src" / "run.sh",
            "cat \"$1\" > \"$2/copy.csv\"; echo \"rate=$3\"; echo \"seed=$SEED\"; "
            "echo \"run=$OVERDRIVE_RUN_ID\"; ls > outputs/listing.txt\n");
  WriteFile(dir_ / "src" / ".gitignore", "secret.txt\n");
  WriteFile(dir_ / "src" / "secret.txt", "not copied\n");
  WriteFile(dir_ / "job.yml",
            "code: src\n"
            "command: sh run.sh ${{inputs.data}} ${{outputs.out}} ${{inputs.rate}}\n"
            "inputs:\n  data:\n    type: uri_file\n    path: data/train.csv\n  rate: 0.25\n"
            "outputs:\n  out:\n    type: uri_folder\n"
            "environment_variables:\n  SEED: '42'\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  nlohmann::json full = Json({"job", "show", run["id"], "--json"});
  EXPECT_EQ(full["metrics"]["rate"]["last"], 0.25);
  EXPECT_EQ(full["metrics"]["seed"]["last"], 42);
  std::vector<std::string> paths;
  for (const auto& a : full["artifacts"]) paths.push_back(a["path"]);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "outputs/out/copy.csv"), paths.end());
  std::string listing = ArtifactText(full, "outputs/listing.txt");
  EXPECT_NE(listing.find("run.sh"), std::string::npos);
  EXPECT_EQ(listing.find("secret.txt"), std::string::npos) << ".gitignore is honoured";
}

TEST_F(CommandJobTest, DryRunValidatesAndStoresNothing) {
  WriteFile(dir_ / "job.yml", "command: echo hi ${{inputs.x}}\ninputs:\n  x: 3\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("echo hi 3"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(workspace_ / "overdrive.db"));
}

TEST_F(CommandJobTest, TypoIsReportedWithPositionAndNothingIsStored) {
  WriteFile(dir_ / "job.yml", "command: echo hi\nlimits:\n  timeout: 5\n  max_total_trails: 3\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("job.yml:4:3:"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(workspace_ / "overdrive.db"));
}

TEST_F(CommandJobTest, MissingProgramAndUnknownComputeAreClearErrors) {
  WriteFile(dir_ / "a.yml", "command: pyhton3 train.py\n");
  CommandResult r = Run({"job", "submit", "a.yml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("a.yml:1:10: command 'pyhton3' not found"), std::string::npos) << r.err;

  WriteFile(dir_ / "b.yml", "command: echo hi\ncompute: azureml:cpu-cluster\n");
  r = Run({"job", "submit", "b.yml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown compute 'cpu-cluster'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("overdrive compute add cpu-cluster --type local"), std::string::npos);
  nlohmann::json runs = Json({"job", "list", "--json"});
  EXPECT_EQ(runs.size(), 0u) << "a rejected submit stores no run";

  EXPECT_EQ(Run({"compute", "add", "azureml:cpu-cluster", "--type", "local"}).exit_code, 0);
  r = Run({"job", "submit", "b.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CommandJobTest, SetOverridesKeysBeforeValidation) {
  WriteFile(dir_ / "job.yml", "command: echo value=${{inputs.v}}\ninputs:\n  v: 1\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--set", "inputs.v=7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  EXPECT_EQ(run["metrics"]["value"]["last"], 7);
  r = Run({"job", "submit", "job.yml", "--set", "limits.timeot=3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'timeout'"), std::string::npos) << r.err;
}

TEST_F(CommandJobTest, DetachedJobCanBeCanceled) {
  WriteFile(dir_ / "job.yml", "command: echo started; sleep 60\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = nlohmann::json::parse(r.out)["id"];
  // Wait until it runs.
  for (int i = 0; i < 100; ++i) {
    if (Json({"job", "show", id, "--json"})["status"] == "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CommandResult c = Run({"job", "cancel", id});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  nlohmann::json run = Json({"job", "show", id, "--json"});
  EXPECT_EQ(run["status"], "canceled");
}

TEST_F(CommandJobTest, KilledControllerIsResumedWithoutLosingOrDuplicatingMetrics) {
  // The run logs 30 points over ~3 s; the controller is killed in the middle.
  WriteFile(dir_ / "job.yml",
            "command: for i in $(seq 1 30); do echo \"step=$i\"; sleep 0.1; done\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sub = nlohmann::json::parse(r.out);
  std::string id = sub["id"];
  int controller = sub["controller_pid"];
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_EQ(kill(controller, SIGKILL), 0);
  nlohmann::json mid = Json({"job", "show", id, "--json"});
  EXPECT_EQ(mid["status"], "running");
  CommandResult list = Run({"job", "list"});
  EXPECT_NE(list.out.find("controller gone"), std::string::npos) << list.out;
  CommandResult resumed = Run({"job", "resume", id});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  nlohmann::json run = Json({"job", "show", id, "--json"});
  EXPECT_EQ(run["status"], "completed");
  EXPECT_EQ(run["metrics"]["step"]["count"], 30) << "every point once";
  EXPECT_EQ(run["metrics"]["step"]["last"], 30);
}

TEST_F(CommandJobTest, UnknownCommandGetsAHint) {
  CommandResult r = Run({"job", "shw", "abc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'shw'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'show'"), std::string::npos) << r.err;
  ASSERT_EQ(Run({"compute", "add", "gpu-box", "--type", "local"}).exit_code, 0);  // a workspace
  CommandResult missing = Run({"job", "show", "nosuchrun"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nosuchrun"), std::string::npos) << missing.err;
}

TEST_F(CommandJobTest, LastLineWithoutNewlineIsIngestedAndTheLogKeptAsWritten) {
  WriteFile(dir_ / "job.yml", "command: printf 'acc=0.5\\nacc=0.75'\n");
  CommandResult r = Run({"job", "submit", "job.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json run = Json({"job", "list", "--json"})[0];
  EXPECT_EQ(run["metrics"]["acc"]["count"], 2);
  EXPECT_EQ(run["metrics"]["acc"]["last"], 0.75);
  EXPECT_EQ(Run({"job", "logs", run["id"]}).out, "acc=0.5\nacc=0.75");
}

}  // namespace
}  // namespace overdrive::testing
