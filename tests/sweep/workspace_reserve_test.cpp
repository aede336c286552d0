// Workspace's reserve on a real full disk (a small tmpfs): once something filled the disk the
// store refuses writes; giving the reserve back lets the write that matters (a run's end) in.
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../store/store_test_util.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

void Fill(const fs::path& path) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::string chunk(64 * 1024, 'x');
  while (std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size() && std::fflush(f) == 0) {
  }
  std::fclose(f);
}

TEST(WorkspaceReserve, AFullDiskTakesTheWriteThatMattersOnceTheReserveIsGivenBack) {
  testing_util::TempDir dir;
  fs::path mnt = dir.path() / "fs";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs (" << std::strerror(errno)
                 << "): needs root (CAP_SYS_ADMIN) for a real full disk";
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    auto ws = Workspace::Open(mnt / "ws", true);
    ASSERT_TRUE(ws.has_value()) << ws.error().message;
    Workspace& w = **ws;
    ASSERT_EQ(fs::file_size(w.ReservePath()), static_cast<std::uintmax_t>(Workspace::kReserveBytes));
    auto exp = w.store().GetOrCreateExperiment("e");
    ASSERT_TRUE(exp.has_value());
    RunRecord r;
    r.id = "r1";
    r.experiment_id = *exp;
    r.job_type = JobType::kCommand;
    ASSERT_TRUE(w.store().CreateRun(r, {}, {}).has_value());

    Fill(mnt / "filler");
    // A write bigger than any slack a failed attempt leaves: refused while the disk is full.
    const RunEvent big{1.0, "warning", std::string(256 * 1024, 'x')};
    auto refused = w.store().AddEvent("r1", big);
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("full"), std::string::npos) << refused.error().message;
    EXPECT_FALSE(w.store().AddEvent("r1", big).has_value()) << "still full";

    EXPECT_TRUE(w.ReleaseReserve());
    auto taken = w.store().AddEvent("r1", big);
    EXPECT_TRUE(taken.has_value()) << taken.error().message;
    EXPECT_FALSE(w.ReleaseReserve()) << "nothing left to give";
    w.KeepReserve();
    EXPECT_FALSE(fs::exists(w.ReservePath())) << "no room for it: none is kept, none half-made";

    fs::remove(mnt / "filler");
    w.KeepReserve();
    EXPECT_EQ(fs::file_size(w.ReservePath()), static_cast<std::uintmax_t>(Workspace::kReserveBytes));
  }
}

TEST(WorkspaceReserve, OnlyAWorkspaceWithItsStoreInItsFolderKeepsOne) {
  testing_util::TempDir dir;
  auto ws = Workspace::Open(dir.path() / "ws", true);
  ASSERT_TRUE(ws.has_value()) << ws.error().message;
  EXPECT_TRUE(fs::exists((*ws)->ReservePath()));
}

}  // namespace
}  // namespace overdrive
