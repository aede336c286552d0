// A fresh SQLite workspace in a temporary folder for each test of the controllers, removed
// afterwards, and a job file submitted to it as `job submit` would.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "spec/job_spec.hpp"
#include "sweep/submission.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

class TempWorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "od_ws_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto ws = Workspace::Open(root_ / "ws", true);
    ASSERT_TRUE(ws) << ws.error().message;
    ws_ = std::move(*ws);
  }
  void TearDown() override {
    ws_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // Parses `text` as a job file in root_ and submits it; the stored run (queued).
  RunRecord SubmitText(const std::string& text, const std::string& name = "job.yml") {
    auto spec = ParseJobText(text, name, root_);
    EXPECT_TRUE(spec) << spec.error().message;
    if (!spec) return {};
    auto submitted = SubmitJob(*ws_, *spec);
    EXPECT_TRUE(submitted) << submitted.error().message;
    return submitted ? submitted->run : RunRecord{};
  }

  std::filesystem::path root_;
  std::unique_ptr<Workspace> ws_;
};

}  // namespace overdrive
