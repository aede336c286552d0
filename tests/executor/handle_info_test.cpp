// DescribeHandle: what `job show` and the REST API say about where a run executes.
#include "executor/handle_info.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "../store/store_test_util.hpp"

namespace overdrive {
namespace {

using testing_util::TempDir;

TEST(HandleInfo, SlurmHandleGivesTheJobIdForScontrolAndSacct) {
  TempDir dir;
  auto d = DescribeHandle(
      R"({"slurm_job_id":4711,"job_name":"od-abc","run_dir":"/x","phase":"queued"})", dir.path());
  EXPECT_EQ(d["type"], "slurm");
  EXPECT_EQ(d["slurm_job_id"], 4711);
  EXPECT_EQ(d["job_name"], "od-abc");
  EXPECT_EQ(d["summary"], "slurm job 4711 (od-abc)");
}

TEST(HandleInfo, LocalHandleGivesTheCommandsProcessGroupOnceItRuns) {
  TempDir dir;
  const std::string handle = R"({"pid":1200,"start_time":99,"run_dir":"/x"})";
  auto before = DescribeHandle(handle, dir.path());
  EXPECT_EQ(before["type"], "local");
  EXPECT_EQ(before["pid"], 1200);
  EXPECT_FALSE(before.contains("process_group"));
  EXPECT_EQ(before["summary"], "local, supervisor pid 1200");
  std::ofstream(dir.path() / "group.json") << R"({"pgid":1203,"start_time":100})" << "\n";
  auto after = DescribeHandle(handle, dir.path());
  EXPECT_EQ(after["process_group"], 1203);
  EXPECT_EQ(after["summary"], "local process group 1203 (supervisor pid 1200)");
}

TEST(HandleInfo, NoHandleIsNullAndAnUnreadableOneIsShownAsItIs) {
  TempDir dir;
  EXPECT_TRUE(DescribeHandle("", dir.path()).is_null());
  auto d = DescribeHandle("not json", dir.path());
  EXPECT_EQ(d["type"], "unknown");
  EXPECT_EQ(d["summary"], "not json");
  std::ofstream(dir.path() / "group.json") << "garbage";
  EXPECT_EQ(DescribeHandle(R"({"pid":7})", dir.path())["summary"], "local, supervisor pid 7");
}

}  // namespace
}  // namespace overdrive
