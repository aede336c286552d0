// End to end: nothing is left hanging. Every failure after a run's process ended — a disk that
// fills while outputs are collected, a disk the run itself filled (the store on it too), an
// output that cannot be read, a store that cannot be written — ends the run `failed` with the
// reason, a job that cannot start ends `failed`, and `job resume` finishes a run whose end
// could not be recorded. The full disks are real: a 20 MB tmpfs holds the workspace.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

class DiskFullTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    mount_ = dir_ / "fs";
    fs::create_directories(mount_);
    if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=20m") != 0) {
      int err = errno;
      mount_.clear();
      GTEST_SKIP() << "cannot mount a small tmpfs (" << std::strerror(err)
                   << "): these tests need root (CAP_SYS_ADMIN) for a real full disk";
    }
    workspace_ = mount_ / "ws";
  }
  void TearDown() override {
    if (!mount_.empty()) ::umount2(mount_.c_str(), MNT_DETACH);
    CliTest::TearDown();
  }

  // Writes `path` until the disk is full; returns the bytes written.
  static std::int64_t Fill(const fs::path& path) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::string chunk(64 * 1024, 'x');
    std::int64_t total = 0;
    while (true) {
      size_t n = std::fwrite(chunk.data(), 1, chunk.size(), f);
      total += static_cast<std::int64_t>(n);
      if (n < chunk.size() || std::fflush(f) != 0) break;
    }
    std::fclose(f);
    for (int small = 4096; small > 0; small /= 2) {  // the last pages too
      FILE* g = std::fopen((path.string() + std::to_string(small)).c_str(), "wb");
      if (!g) break;
      std::string s(static_cast<size_t>(small), 'y');
      std::fwrite(s.data(), 1, s.size(), g);
      std::fclose(g);
    }
    return total;
  }

  // Run folders on another disk (the test's folder), the stores on the small one: a workspace
  // whose runs/ is a link to scratch space. The run's own files never meet the full disk.
  void RunsElsewhere() {
    fs::create_directories(workspace_);
    fs::create_directories(dir_ / "runs");
    fs::create_directory_symlink(dir_ / "runs", workspace_ / "runs");
  }

  void RemoveFillers() {
    for (const auto& e : fs::directory_iterator(mount_)) {
      if (e.path().filename().string().rfind("filler", 0) == 0) fs::remove(e.path());
    }
  }

  // Waits until the run is running and its first metric is stored.
  void WaitRunningWithMetric(const std::string& id) {
    for (int i = 0; i < 100; ++i) {
      nlohmann::json j = Json({"job", "show", id, "--json"});
      if (j["status"] == "running" && j["metrics"].contains("acc")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "run " << id << " did not start";
  }

  // Submits `file` in the foreground; it must fail. Returns the run's `job show --json`.
  nlohmann::json SubmitFailing(const std::string& file) {
    CommandResult r = Run({"job", "submit", file});
    EXPECT_NE(r.exit_code, 0) << r.err;
    nlohmann::json run = Json({"job", "show", OnlyJob(), "--json"});
    EXPECT_EQ(run["status"], "failed") << run.dump();
    return run;
  }

  std::string OnlyJob() {
    nlohmann::json runs = Json({"job", "list", "--json"});
    EXPECT_EQ(runs.size(), 1u) << runs.dump();
    return runs.empty() ? "" : runs[0]["id"].get<std::string>();
  }

  fs::path mount_;
};

// The case: 15 MB of outputs on a 20 MB disk. Copying them into the artifact store
// runs out of room; the run ends failed, saying so, instead of staying `running` forever.
TEST_F(DiskFullTest, OutputsThatDoNotFitEndTheRunFailedWithTheReason) {
  WriteFile(dir_ / "job.yml", "command: head -c 15000000 /dev/zero > outputs/big.bin\n");
  nlohmann::json run = SubmitFailing("job.yml");
  EXPECT_EQ(run["exit_code"], 0);
  std::string reason = run.value("status_reason", "");
  EXPECT_NE(reason.find("collecting outputs/ failed: storing outputs/big.bin failed"),
            std::string::npos) << reason;
  EXPECT_NE(reason.find("No space left on device"), std::string::npos) << reason;
  EXPECT_NE(reason.find("the run itself completed (exit code 0)"), std::string::npos) << reason;
  // The logs still fit and were kept; no half-written blob is left behind.
  std::vector<std::string> paths;
  for (const auto& a : run["artifacts"]) paths.push_back(a["path"]);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "logs/stdout.log"), paths.end()) << run.dump();
  for (const auto& e : fs::recursive_directory_iterator(workspace_ / "artifacts")) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << e.path();
  }
  EXPECT_EQ(Run({"job", "list"}).out.find("controller gone"), std::string::npos);
}

// The run fills the disk itself: its exit record, the collection and the store all meet a full
// disk. The shim's reserved room keeps the exit record, the workspace's reserve lets the store
// record the end.
TEST_F(DiskFullTest, ARunThatFillsTheDiskWithTheStoreOnItEndsFailedWithItsExitCode) {
  ASSERT_TRUE(fs::exists(workspace_.parent_path()));
  WriteFile(dir_ / "job.yml",
            "command: head -c 40000000 /dev/zero > outputs/fill.bin; echo filled >&2; exit 3\n");
  nlohmann::json run = SubmitFailing("job.yml");
  std::string id = run.value("id", "");
  EXPECT_EQ(run["exit_code"], 3) << "the exit record was written on the full disk";
  std::string reason = run.value("status_reason", "");
  EXPECT_NE(reason.find("No space left on device"), std::string::npos) << reason;
  EXPECT_NE(reason.find("the run itself ended failed: exit code 3"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("lost"), std::string::npos) << reason;
  // Room again: the workspace keeps its reserve.
  fs::remove(workspace_ / "runs" / id / "wd" / "outputs" / "fill.bin");
  EXPECT_EQ(Run({"job", "list"}).exit_code, 0);
  EXPECT_EQ(fs::file_size(workspace_ / "overdrive.reserve"), 1u << 20);
}

// Something else filled the store's disk while the run ran: its logs cannot be kept and the
// store refuses writes; the end is still recorded (through the room a failed write left, or
// else the workspace's reserve: tests/sweep/workspace_reserve_test.cpp), with the reason.
TEST_F(DiskFullTest, TheStoreOnADiskSomethingElseFilledStillRecordsTheEnd) {
  RunsElsewhere();
  fs::path go = dir_ / "go";
  WriteFile(dir_ / "job.yml", "command: echo acc=0.5; while [ ! -e " + go.string() +
                                  " ]; do sleep 0.05; done\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = nlohmann::json::parse(r.out)["id"];
  WaitRunningWithMetric(id);
  ASSERT_EQ(fs::file_size(workspace_ / "overdrive.reserve"), 1u << 20);
  EXPECT_GT(Fill(mount_ / "filler"), 0);
  WriteFile(go, "");
  nlohmann::json run;
  for (int i = 0; i < 300; ++i) {
    run = Json({"job", "show", id, "--json"});
    if (run["status"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(run["status"], "failed") << run.dump();
  EXPECT_EQ(run["exit_code"], 0);
  std::string reason = run.value("status_reason", "");
  EXPECT_NE(reason.find("keeping stdout.log failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("No space left on device"), std::string::npos) << reason;
  EXPECT_NE(reason.find("the run itself completed (exit code 0)"), std::string::npos) << reason;
  RemoveFillers();
  EXPECT_EQ(Run({"job", "list"}).exit_code, 0);
  EXPECT_EQ(fs::file_size(workspace_ / "overdrive.reserve"), 1u << 20) << "kept, or made again";
}

// An output the collector cannot read (a path longer than PATH_MAX: as root, file modes do not
// stop us reading, a name the kernel refuses does) fails the run with the reason; what is not a
// file (a FIFO, which would block a reader) or leads nowhere (a dangling link) is left out with
// a warning, and the run ends as it would have.
TEST_F(DiskFullTest, AnUnreadableOutputFailsTheRunAndWhatIsNotAFileIsLeftOut) {
  WriteFile(dir_ / "job.yml",
            "command: >-\n"
            "  echo ok > outputs/ok.txt && python3 -c \"import os; os.chdir('outputs');\n"
            "  [(os.mkdir('d' * 200), os.chdir('d' * 200)) for _ in range(25)];\n"
            "  open('deep.txt', 'w').write('deep')\"\n");
  nlohmann::json run = SubmitFailing("job.yml");
  std::string id = run.value("id", "");
  std::string reason = run.value("status_reason", "");
  EXPECT_NE(reason.find("collecting outputs/ failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("File name too long"), std::string::npos) << reason;
  EXPECT_NE(reason.find("the run itself completed (exit code 0)"), std::string::npos) << reason;

  WriteFile(dir_ / "job2.yml",
            "command: mkfifo outputs/pipe && ln -s nowhere outputs/dangling && echo ok > outputs/ok.txt\n");
  CommandResult r2 = Run({"job", "submit", "job2.yml"});
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_EQ(runs.size(), 2u);
  nlohmann::json ok = Json({"job", "show", runs[0]["id"], "--json"});
  EXPECT_EQ(ok["status"], "completed") << ok.dump();
  std::string warnings;
  for (const auto& e : ok["events"]) warnings += e.value("message", "") + "\n";
  EXPECT_NE(warnings.find("outputs/pipe"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("outputs/dangling"), std::string::npos) << warnings;
}

// The store itself cannot be written when the run ends (the disk is full and the reserve was
// already used): the run is left `running` with its exit record, its controller stops with the
// reason, and `job resume` — once there is room — finishes it with its true outcome.
TEST_F(DiskFullTest, ARunWhoseEndCouldNotBeRecordedIsFinishedByResume) {
  RunsElsewhere();
  fs::path go = dir_ / "go";  // outside the full disk
  WriteFile(dir_ / "job.yml", "command: echo acc=0.5; while [ ! -e " + go.string() +
                                  " ]; do sleep 0.05; done\n");
  CommandResult r = Run({"job", "submit", "job.yml", "--detach", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json sub = nlohmann::json::parse(r.out);
  std::string id = sub["id"];
  pid_t controller = sub["controller_pid"];
  WaitRunningWithMetric(id);
  ASSERT_TRUE(fs::exists(workspace_ / "overdrive.reserve"));
  fs::remove(workspace_ / "overdrive.reserve");
  EXPECT_GT(Fill(mount_ / "filler"), 0);
  WriteFile(go, "");
  // The controller cannot record the end and stops; the run is not finished behind its back.
  for (int i = 0; i < 300 && ::kill(controller, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(::kill(controller, 0), 0) << "the controller should have stopped";
  nlohmann::json stuck = Json({"job", "show", id, "--json"});
  EXPECT_EQ(stuck["status"], "running") << stuck.dump();
  std::string log = ReadFile(workspace_ / "runs" / id / "controller.log");
  EXPECT_NE(log.find("cannot record the end of run " + id), std::string::npos) << log;
  EXPECT_NE(Run({"job", "list"}).out.find("controller gone"), std::string::npos);

  RemoveFillers();
  CommandResult resumed = Run({"job", "resume", id});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  nlohmann::json run = Json({"job", "show", id, "--json"});
  EXPECT_EQ(run["status"], "completed") << run.dump();
  EXPECT_EQ(run["exit_code"], 0);
  EXPECT_EQ(run["metrics"]["acc"]["last"], 0.5) << "collected once there was room";
}

// A job that cannot even be prepared (its code does not fit on the disk) ends failed with the
// reason instead of staying queued; its half-unpacked copy is removed.
TEST_F(DiskFullTest, AJobWhoseCodeCannotBeUnpackedEndsFailed) {
  {
    // Random bytes: the snapshot (stored at submit) and its unpacked copy cannot both fit.
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    std::string bytes(12 * 1000 * 1000, '\0');
    rnd.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    WriteFile(dir_ / "src" / "blob.bin", bytes);
  }
  WriteFile(dir_ / "job.yml", "code: src\ncommand: ls -l blob.bin\n");
  nlohmann::json run = SubmitFailing("job.yml");
  std::string id = run.value("id", "");
  std::string reason = run.value("status_reason", "");
  EXPECT_NE(reason.find("could not start: "), std::string::npos) << reason;
  EXPECT_NE(reason.find("No space left on device"), std::string::npos) << reason;
  EXPECT_FALSE(fs::exists(workspace_ / "runs" / id / "wd"));
  EXPECT_EQ(Run({"job", "list"}).out.find("controller gone"), std::string::npos);
}

}  // namespace
}  // namespace overdrive::testing
