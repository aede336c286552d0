// End to end: what a hostile or careless run or job file can do to a workspace (issue 11), as a
// user sees it through the real binary: views keep working, values are kept or refused loudly,
// limits are named with how to raise them, and a refused job leaves nothing behind.
#include <signal.h>
#include <stdlib.h>

#include "cli_test_util.hpp"
#include "sweep/workspace.hpp"

namespace overdrive::testing {
namespace {

// Sets an environment variable for the binaries a test starts; restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class HostileInputTest : public CliTest {
 protected:
  // The ids `job list --json` shows.
  std::vector<std::string> JobIds() {
    std::vector<std::string> ids;
    for (const auto& j : Json({"job", "list", "--json"})) ids.push_back(j["id"]);
    return ids;
  }
  std::string SubmitOk(const std::string& yaml) {
    WriteFile(dir_ / "ok.yml", yaml);
    CommandResult r = Run({"job", "submit", "ok.yml", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["id"];
  }
};

// One run writing a metric name that is not UTF-8 used to make `--json` abort (exit 134) for
// the whole workspace. The line is refused with a warning on the run; the rest is kept.
TEST_F(HostileInputTest, MetricNameThatIsNotUtf8IsRefusedAndJsonViewsKeepWorking) {
  std::string id = SubmitOk(
      "command: >-\n"
      "  printf '{\"name\":\"acc\\377\",\"value\":1}\\n{\"name\":\"ok\",\"value\":2}\\n'\n"
      "  >> \"$OVERDRIVE_METRICS_FILE\"\n");

  CommandResult list = Run({"job", "list", "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  CommandResult show = Run({"job", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  nlohmann::json run = nlohmann::json::parse(show.out);
  EXPECT_EQ(run["metrics"].size(), 1u) << run["metrics"].dump();
  EXPECT_EQ(run["metrics"]["ok"]["last"], 2);
  std::string warnings;
  for (const auto& e : run["events"]) {
    if (e["kind"] == "warning") warnings += e["message"].get<std::string>() + "\n";
  }
  EXPECT_NE(warnings.find("metrics.jsonl: line 1 of the new data (byte 0): not valid JSON"),
            std::string::npos)
      << warnings;
  CommandResult metrics = Run({"runs", "metrics", id, "--json"});
  EXPECT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_EQ(nlohmann::json::parse(metrics.out)["metrics"].size(), 1u) << metrics.out;
  CommandResult human = Run({"job", "show", id});
  EXPECT_NE(human.out.find("warnings\n  metrics.jsonl: line 1"), std::string::npos) << human.out;
}

// Defence in depth: a name stored before names were checked (an older version, another
// writer) is printed with U+FFFD instead of aborting every `--json` view.
TEST_F(HostileInputTest, BadNamesAlreadyInTheStoreDoNotAbortJsonOutput) {
  std::string id = SubmitOk("command: echo hi\n");
  {
    auto ws = Workspace::Open(workspace_, false);
    ASSERT_TRUE(ws.has_value()) << ws.error().message;
    IngestBatch batch;
    batch.run_id = id;
    batch.points.push_back({"acc\xff", 0, 0.5, 1.0});
    batch.params.push_back({"p\xfe", "\"v\""});
    ASSERT_TRUE((*ws)->store().Ingest(batch).has_value());
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"job", "list", "--json"}, {"job", "show", id, "--json"},
           {"runs", "metrics", id, "--json"}}) {
    CommandResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\n" << r.err;
    EXPECT_NE(r.out.find("acc\xef\xbf\xbd"), std::string::npos) << Describe(args) << "\n" << r.out;
  }
}

// `overdrive log metric` keeps NaN and +-inf as such (they were written as null and lost), and
// refuses with exit code 2, writing nothing, what it cannot keep.
TEST_F(HostileInputTest, LogMetricKeepsNonFiniteValuesAndRefusesWhatItCannotKeep) {
  const std::string od = OVERDRIVE_BINARY;
  std::string id = SubmitOk(
      "command: >-\n"
      "  " + od + " log metric n nan && " + od + " log metric p inf &&\n"
      "  " + od + " log metric m -inf && " + od + " log metric v 0.1 --step 2;\n"
      "  " + od + " log metric big 1e400; echo big:$?;\n"
      "  " + od + " log metric s 1 --step -5; echo step:$?\n");
  CommandResult logs = Run({"job", "logs", id});
  EXPECT_NE(logs.out.find("big:2"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("step:2"), std::string::npos) << logs.out;
  EXPECT_NE(logs.err.find("metric value '1e400' is outside the range of a double"),
            std::string::npos)
      << logs.err;
  EXPECT_NE(logs.err.find("--step -5 is negative"), std::string::npos) << logs.err;

  nlohmann::json m = Json({"runs", "metrics", id, "--json"})["metrics"];
  ASSERT_EQ(m.size(), 4u) << m.dump() << ": nothing from the refused calls";
  EXPECT_EQ(m["n"][0]["value"], "nan");
  EXPECT_EQ(m["p"][0]["value"], "inf");
  EXPECT_EQ(m["m"][0]["value"], "-inf");
  EXPECT_EQ(m["v"][0]["value"], 0.1);
  EXPECT_EQ(m["v"][0]["step"], 2);
  nlohmann::json run = Json({"job", "show", id, "--json"});
  for (const auto& e : run["events"]) EXPECT_NE(e["kind"], "warning") << e.dump();
}

// Job files are checked before they are read: `job submit /dev/zero` used to read until
// bad_alloc. Refusals exit 2, name the limit and how to raise it, and store nothing.
TEST_F(HostileInputTest, JobFilesThatAreNotRegularOrTooLargeAreRefusedBeforeReading) {
  std::string first = SubmitOk("command: echo hi\n");

  CommandResult dev = Run({"job", "submit", "/dev/zero"});
  EXPECT_EQ(dev.exit_code, 2) << dev.err;
  EXPECT_NE(dev.err.find("/dev/zero: is not a regular file"), std::string::npos) << dev.err;

  std::string big = "command: echo big\n";
  while (big.size() < (std::size_t{3} << 20)) big += "# padding to make the file large\n";
  WriteFile(dir_ / "big.yml", big);
  {
    ScopedEnv limit("OVERDRIVE_MAX_JOB_FILE_MB", "2");
    CommandResult r = Run({"job", "submit", "big.yml"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("big.yml: the job file is larger than the limit of 2 MiB"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("OVERDRIVE_MAX_JOB_FILE_MB=N"), std::string::npos) << r.err;
  }
  EXPECT_EQ(JobIds(), std::vector<std::string>{first}) << "nothing new is stored";
  {
    ScopedEnv limit("OVERDRIVE_MAX_JOB_FILE_MB", "8");  // raised: the same file runs
    CommandResult r = Run({"job", "submit", "big.yml"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(JobIds().size(), 2u);
}

// `code: /` used to archive the whole filesystem. Over a snapshot limit the submit stops, says
// which limit and folder and how to raise it, and records no job.
TEST_F(HostileInputTest, CodeFolderOverTheSnapshotLimitsIsRefusedAndNothingRecorded) {
  std::string first = SubmitOk("command: echo hi\n");
  for (int i = 0; i < 5; ++i) WriteFile(dir_ / "src" / ("m" + std::to_string(i) + ".py"), "x\n");
  WriteFile(dir_ / "src" / "weights.bin", std::string(3 << 20, 'w'));
  WriteFile(dir_ / "job.yml", "command: ls\ncode: src\n");
  const std::string src = fs::canonical(dir_ / "src").string();
  {
    ScopedEnv limit("OVERDRIVE_MAX_SNAPSHOT_FILES", "3");
    CommandResult r = Run({"job", "submit", "job.yml"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("job.yml:2:7: code snapshot: code folder '" + src +
                         "' holds more than 3 files and folders, the limit for a code snapshot"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("OVERDRIVE_MAX_SNAPSHOT_FILES=N"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("OVERDRIVE_MAX_SNAPSHOT_MB"), std::string::npos) << "only the one hit";
  }
  {
    ScopedEnv limit("OVERDRIVE_MAX_SNAPSHOT_MB", "2");
    CommandResult r = Run({"job", "submit", "job.yml"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("holds more than 2 MiB of files"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("OVERDRIVE_MAX_SNAPSHOT_MB=N"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("OVERDRIVE_MAX_SNAPSHOT_FILES"), std::string::npos) << r.err;
  }
  EXPECT_EQ(JobIds(), std::vector<std::string>{first}) << "no job is recorded";
  CommandResult ok = Run({"job", "submit", "job.yml"});  // within the defaults
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// A controller that ends on an error (out of space, say) clears its pid before exiting; the job
// still says running. `job list` and `job show` must say that no one drives it.
TEST_F(HostileInputTest, JobWhoseControllerEndedWithoutFinishingShowsControllerGone) {
  WriteFile(dir_ / "job.yml", "command: echo started; sleep 60\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sub = nlohmann::json::parse(r.out);
  std::string id = sub["id"];
  for (int i = 0; i < 100; ++i) {
    if (Json({"job", "show", id, "--json"})["status"] == "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Run({"job", "list"}).out.find("controller gone"), std::string::npos)
      << "its controller is alive";
  ASSERT_EQ(kill(sub["controller_pid"].get<int>(), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    auto ws = Workspace::Open(workspace_, false);
    ASSERT_TRUE(ws.has_value()) << ws.error().message;
    ASSERT_TRUE((*ws)->store().SetController(id, 0, 0).has_value());  // what a failed one leaves
  }
  EXPECT_EQ(Json({"job", "show", id, "--json"})["status"], "running");
  const std::string mark = "running (controller gone: overdrive job resume " + id + ")";
  EXPECT_NE(Run({"job", "list"}).out.find(mark), std::string::npos);
  EXPECT_NE(Run({"job", "show", id}).out.find(mark), std::string::npos);
  CommandResult cancel = Run({"job", "cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
}

}  // namespace
}  // namespace overdrive::testing
