// The run-folder records' codecs (executor/run_records.hpp), the one exit-record writer and its
// POSIX sh twin used by the Slurm batch script, and the one reading of an exit record.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common/strings.hpp"
#include "executor/run_records.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RunRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "overdrive_records_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs `script` with /bin/sh in dir_ (as $1); returns its exit status.
  int RunSh(const std::string& script, const std::map<std::string, std::string>& env = {}) {
    fs::path file = dir_ / "test.sh";
    std::ofstream(file) << script;
    std::string cmd;
    for (const auto& [k, v] : env) cmd += k + "=" + ShellQuote(v) + " ";
    cmd += "/bin/sh " + ShellQuote(file.string()) + " " + ShellQuote(dir_.string());
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  fs::path dir_;
};

TEST_F(RunRecordsTest, ExitRecordRoundTripsAndLeavesOutWhatIsNone) {
  ExitRecord r;
  r.exit_code = 137;
  r.signal = 9;
  r.timed_out = true;
  r.started_at = 1700000000.25;
  r.ended_at = 1700000010.5;
  auto text = EncodeExitRecord(r);
  EXPECT_EQ(text.find("rank"), std::string::npos) << text;
  EXPECT_EQ(text.find("error"), std::string::npos) << text;
  EXPECT_EQ(text.find("slurm_job_id"), std::string::npos) << text;
  auto back = DecodeExitRecord(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_EQ(back->signal, 9);
  EXPECT_TRUE(back->timed_out);
  EXPECT_FALSE(back->canceled);
  EXPECT_DOUBLE_EQ(back->started_at, 1700000000.25);
  EXPECT_DOUBLE_EQ(back->ended_at, 1700000010.5);
  EXPECT_EQ(back->rank, -1);

  r.rank = 2;
  r.error = "could not \"start\"\n\\ here";
  r.slurm_job_id = "42";
  back = DecodeExitRecord(EncodeExitRecord(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->rank, 2);
  EXPECT_EQ(back->error, r.error);
  EXPECT_EQ(back->slurm_job_id, "42");
}

TEST_F(RunRecordsTest, DecodeIsTolerantOfMissingFieldsAndRejectsWhatIsNotARecord) {
  auto empty = DecodeExitRecord("{}");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->exit_code, 0);
  EXPECT_EQ(empty->rank, -1);
  EXPECT_EQ(empty->started_at, 0);
  auto number_id = DecodeExitRecord(R"({"exit_code": 1, "slurm_job_id": 77, "error": null})");
  ASSERT_TRUE(number_id) << number_id.error().message;
  EXPECT_EQ(number_id->slurm_job_id, "77");
  EXPECT_EQ(number_id->error, "");
  for (const char* bad : {"[1, 2]", "3", "\"exit\"", "not json", "", "{\"exit_code\": \"x\"}",
                          "{\"timed_out\": 1}"}) {
    auto r = DecodeExitRecord(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
    }
  }
  EXPECT_FALSE(DecodeShimRecord("{}"));  // pid is required
  EXPECT_FALSE(DecodeGroupRecord("[]"));
  EXPECT_FALSE(DecodeLocalHandle(R"({"pid": 1})"));  // run_dir is required
  EXPECT_FALSE(DecodeSlurmHandle(R"({"run_dir": "/x"})"));
  EXPECT_FALSE(DecodeLaunchRecord(R"({"command": "true"})"));  // working_dir is required
}

TEST_F(RunRecordsTest, OtherRecordsRoundTrip) {
  auto shim = DecodeShimRecord(EncodeShimRecord({1234, 987654321ULL}));
  ASSERT_TRUE(shim);
  EXPECT_EQ(shim->pid, 1234);
  EXPECT_EQ(shim->start_time, 987654321ULL);
  auto group = DecodeGroupRecord(EncodeGroupRecord({4321, 5}));
  ASSERT_TRUE(group);
  EXPECT_EQ(group->pgid, 4321);
  EXPECT_EQ(group->start_time, 5u);
  auto local = DecodeLocalHandle(EncodeLocalHandle({77, 8, "/runs/a"}));
  ASSERT_TRUE(local);
  EXPECT_EQ(local->pid, 77);
  EXPECT_EQ(local->run_dir, "/runs/a");
  auto slurm = DecodeSlurmHandle(EncodeSlurmHandle({99, "od-x", "/runs/x", false}));
  ASSERT_TRUE(slurm);
  EXPECT_EQ(slurm->slurm_job_id, 99);
  EXPECT_EQ(slurm->job_name, "od-x");
  EXPECT_FALSE(slurm->running);
  EXPECT_TRUE(DecodeSlurmHandle(R"({"slurm_job_id": 1, "run_dir": "/r"})")->running);

  LaunchRecord l;
  l.run_id = "r1";
  l.command = "python train.py";
  l.working_dir = "/w";
  l.env = {{"A", "1"}};
  l.cpus = 2;
  l.gpu_ids = {"0", "1"};
  l.gpu_share = 0.5;
  l.memory_mb = 1024;
  l.timeout_s = 30;
  l.cuda_visible_devices = "0,1";
  l.distribution = "pytorch";
  l.nodes = 2;
  l.processes_per_node = 1;
  l.cuda_visible_devices_per_node = {"0", "1"};
  auto back = DecodeLaunchRecord(EncodeLaunchRecord(l));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->command, l.command);
  EXPECT_EQ(back->env, l.env);
  EXPECT_EQ(back->gpu_ids, l.gpu_ids);
  EXPECT_EQ(back->timeout_s, l.timeout_s);
  EXPECT_EQ(back->cuda_visible_devices, l.cuda_visible_devices);
  EXPECT_EQ(back->distribution, "pytorch");
  EXPECT_EQ(back->nodes, 2);
  EXPECT_EQ(back->cuda_visible_devices_per_node, l.cuda_visible_devices_per_node);
  // No timeout and no CUDA_VISIBLE_DEVICES stay unset.
  LaunchRecord plain;
  plain.command = "true";
  plain.working_dir = "/w";
  back = DecodeLaunchRecord(EncodeLaunchRecord(plain));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->timeout_s);
  EXPECT_FALSE(back->cuda_visible_devices);
  EXPECT_EQ(back->distribution, "");
}

TEST_F(RunRecordsTest, WriterAndReaderShareTheRunFolder) {
  EXPECT_FALSE(ReadExitRecord(dir_));
  ReserveExitRoom(dir_);
  EXPECT_TRUE(fs::exists(dir_ / "exit.reserve"));
  ExitRecord r;
  r.exit_code = 5;
  r.rank = 1;
  ASSERT_TRUE(WriteExitRecord(dir_, r));
  EXPECT_FALSE(fs::exists(dir_ / "exit.reserve")) << "the reserve goes once the record is written";
  auto back = ReadExitRecord(dir_);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->exit_code, 5);
  EXPECT_EQ(back->rank, 1);
  std::ofstream(dir_ / "exit.json") << "{\"exit_code\": ";  // torn by hand: no record
  EXPECT_FALSE(ReadExitRecord(dir_));
  RemoveExitRecord(dir_);
  EXPECT_FALSE(fs::exists(dir_ / "exit.json"));
}

// The batch script's writer is POSIX sh: what it writes must decode as the codec's record,
// error text with quotes, backslashes and newlines included.
TEST_F(RunRecordsTest, ShellWriterWritesWhatTheCodecDecodes) {
  const std::string error = "cannot \"enter\" C:\\wd\non\tnode";
  std::string script = "exit_file=\"$1/exit.json\"\nstarted_at=1700000000.5\n"
                       "timed_out=false\ncanceled=true\n" +
                       ExitRecordShellWriter() + "write_exit 3 15 2 " + ShellQuote(error) + "\n";
  ASSERT_EQ(RunSh(script, {{"SLURM_JOB_ID", "4711"}}), 0);
  const std::string text = ReadText(dir_ / "exit.json");
  auto r = DecodeExitRecord(text);
  ASSERT_TRUE(r) << r.error().message << "\n" << text;
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 15);
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->canceled);
  EXPECT_DOUBLE_EQ(r->started_at, 1700000000.5);
  EXPECT_GT(r->ended_at, 1700000000.5);
  EXPECT_EQ(r->rank, 2);
  EXPECT_EQ(r->error, "cannot \"enter\" C:\\wd on node");  // control characters become spaces
  EXPECT_EQ(r->slurm_job_id, "4711");
  // No temporary file is left behind.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos);
  }

  // No rank, no error, no Slurm job: the fields are absent or empty, as the codec writes them.
  script = "exit_file=\"$1/exit.json\"\nstarted_at=1\ntimed_out=true\ncanceled=false\n" +
           ExitRecordShellWriter() + "write_exit 0 0 '' ''\n";
  ASSERT_EQ(RunSh(script), 0);
  r = DecodeExitRecord(ReadText(dir_ / "exit.json"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->rank, -1);
  EXPECT_EQ(r->error, "");
}

TEST_F(RunRecordsTest, OneReadingOfAnExitRecord) {
  ExitContext c;
  c.run_id = "r";
  c.run_dir = "/runs/r";
  ExitRecord r;
  r.exit_code = 3;
  r.rank = 1;
  r.started_at = 10;
  r.ended_at = 20;
  ExecUpdate u = InterpretExitRecord(r, c);
  EXPECT_EQ(u.state, ExecState::kExited);
  EXPECT_EQ(u.reason, "rank 1 exited with code 3; see /runs/r/rank-1.stderr.log");
  EXPECT_EQ(u.started_at, 10);

  // Whose start time wins.
  c.started_at = 5;
  EXPECT_EQ(InterpretExitRecord(r, c).started_at, 5);
  c.record_start_first = true;
  EXPECT_EQ(InterpretExitRecord(r, c).started_at, 10);

  // An error says why; a signal is a kill; a timeout wins over both.
  r.error = "could not start";
  EXPECT_EQ(InterpretExitRecord(r, c).reason, "could not start");
  r.signal = 9;
  EXPECT_EQ(InterpretExitRecord(r, c).state, ExecState::kSignaled);
  r.timed_out = true;
  EXPECT_EQ(InterpretExitRecord(r, c).state, ExecState::kTimedOut);

  // Canceled: by the record, by a signal after a cancel, or (Slurm) by ending after the cancel.
  r = ExitRecord{};
  r.ended_at = 20;
  c.cancel_requested = true;
  EXPECT_EQ(InterpretExitRecord(r, c).state, ExecState::kExited) << "exit 0, no cancel time";
  c.cancel_requested_at = 15;
  EXPECT_EQ(InterpretExitRecord(r, c).state, ExecState::kCanceled);
  c.cancel_requested_at = 25;
  EXPECT_EQ(InterpretExitRecord(r, c).state, ExecState::kExited) << "ended before the cancel";
  r.signal = 15;
  EXPECT_EQ(InterpretExitRecord(r, c).state, ExecState::kCanceled);
}

}  // namespace
}  // namespace overdrive
