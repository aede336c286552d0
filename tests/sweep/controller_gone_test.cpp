// When `job list` / `job show` say "controller gone": a top-level job that has not ended and that
// no live process drives, however its controller ended (killed, or failed and cleared its record).
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <tuple>
#include <utility>

#include "common/process.hpp"
#include "sweep/controller.hpp"

namespace overdrive {
namespace {

constexpr double kNow = 1'000'000;

// A pid that existed and has exited (and been reaped).
int DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

// A top-level job (no parent) and its recorded controller.
RunRecord Job(RunStatus status, int pid, double started_at, double created_at = kNow - 5) {
  RunRecord r;
  r.status = status;
  r.created_at = created_at;
  std::tie(r.controller_pid, r.controller_started_at) = std::pair(pid, started_at);
  return r;
}

struct GoneCase {
  const char* label;
  RunRecord run;
  bool gone;
};

class ControllerGoneTest : public ::testing::TestWithParam<GoneCase> {};

TEST_P(ControllerGoneTest, MarksJobsNoLiveProcessDrives) {
  EXPECT_EQ(ControllerGone(GetParam().run, kNow), GetParam().gone);
}

RunRecord Trial() {
  RunRecord r = Job(RunStatus::kRunning, 0, 0);
  r.parent_id = "sweep";
  return r;
}

// A run made through MLflow's runs/create: running, and never driven by a controller of ours.
RunRecord External() {
  RunRecord r = Job(RunStatus::kRunning, 0, 0);
  r.job_type = JobType::kExternal;
  return r;
}

const int kParent = static_cast<int>(getppid());

INSTANTIATE_TEST_SUITE_P(
    Table, ControllerGoneTest,
    ::testing::Values(
        GoneCase{"live_controller", Job(RunStatus::kRunning, kParent,
                                        static_cast<double>(ProcessStartTime(kParent))),
                 false},
        GoneCase{"killed_controller", Job(RunStatus::kRunning, DeadPid(), 12345), true},
        // A controller that failed (e.g. on a full disk) clears its record before exiting: the
        // job still says running, and nobody drives it.
        GoneCase{"failed_controller_cleared_its_record", Job(RunStatus::kRunning, 0, 0), true},
        GoneCase{"starting_without_controller", Job(RunStatus::kStarting, 0, 0), true},
        GoneCase{"pid_reused_by_another_process",
                 Job(RunStatus::kRunning, kParent,
                     static_cast<double>(ProcessStartTime(kParent)) + 1),
                 true},
        GoneCase{"queued_controller_still_starting", Job(RunStatus::kQueued, 0, 0, kNow - 5),
                 false},
        GoneCase{"queued_and_never_started", Job(RunStatus::kQueued, 0, 0, kNow - 3600), true},
        GoneCase{"finished_job", Job(RunStatus::kCompleted, 0, 0), false},
        GoneCase{"failed_job_with_dead_controller", Job(RunStatus::kFailed, DeadPid(), 1), false},
        GoneCase{"trial_of_a_sweep", Trial(), false},
        GoneCase{"mlflow_run_its_client_ends", External(), false}),
    [](const auto& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace overdrive
