// Helpers for end-to-end tests that drive the real `overdrive` binary in a temporary folder.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace overdrive::testing {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// While it lives, runs keep their whole folder after they end (OVERDRIVE_KEEP_RUN_FILES=1, which
// the overdrive processes a test starts inherit): for tests that look at what a run left in it.
class KeepRunFiles {
 public:
  KeepRunFiles() { setenv("OVERDRIVE_KEEP_RUN_FILES", "1", 1); }
  ~KeepRunFiles() { unsetenv("OVERDRIVE_KEEP_RUN_FILES"); }
  KeepRunFiles(const KeepRunFiles&) = delete;
  KeepRunFiles& operator=(const KeepRunFiles&) = delete;
};

// A temporary project folder with its own workspace; removed at the end of the test.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overdrive-cli-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    workspace_ = dir_ / "ws";
  }
  void TearDown() override {
    if (!::testing::Test::HasFailure()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    } else {
      std::cerr << "test folder kept for inspection: " << dir_ << "\n";
    }
  }

  // Runs `overdrive --workspace <ws> args...` in the test folder and waits for it.
  CommandResult Run(const std::vector<std::string>& args, double timeout_s = 120) {
    fs::path out = dir_ / ".out", err = dir_ / ".err";
    pid_t pid = Spawn(args, out, err);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ADD_FAILURE() << "overdrive timed out: " << Describe(args);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CommandResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  // Starts the binary without waiting (for kill tests).
  pid_t Spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
    pid_t pid = fork();
    if (pid == 0) {
      if (chdir(dir_.c_str()) != 0) _exit(126);
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int in = open("/dev/null", O_RDONLY);
      dup2(in, 0);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<std::string> full = {OVERDRIVE_BINARY, "--workspace", workspace_.string()};
      full.insert(full.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : full) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(OVERDRIVE_BINARY, argv.data());
      _exit(127);
    }
    return pid;
  }

  nlohmann::json Json(const std::vector<std::string>& args) {
    CommandResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\n" << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << r.out;
      return {};
    }
  }

  // The content of artifact `path` of a run (its `job show --json`), read from the workspace's
  // artifact store; "" when the run has no such artifact.
  std::string ArtifactText(const nlohmann::json& run, const std::string& path) {
    for (const auto& a : run["artifacts"]) {
      if (a["path"] != path) continue;
      std::string digest = a["digest"];
      return ReadFile(workspace_ / "artifacts" / "sha256" / digest.substr(0, 2) / digest.substr(2));
    }
    ADD_FAILURE() << "no artifact " << path << " in " << run["artifacts"].dump();
    return "";
  }

  static std::string Describe(const std::vector<std::string>& args) {
    std::string s = "overdrive";
    for (const auto& a : args) s += " " + a;
    return s;
  }

  fs::path dir_;
  fs::path workspace_;
};

}  // namespace overdrive::testing
