// A fixture for end-to-end tests of `overdrive server`: the real binary started on a free
// port with the test's workspace, stopped (or killed) by the test.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.hpp"

namespace overdrive::testing {

class ServerCliTest : public CliTest {
 protected:
  void TearDown() override {
    StopServer(SIGTERM);
    CliTest::TearDown();
  }
  // Starts `overdrive server --port 0` and reads the URL it prints.
  // `extra` goes before the subcommand (global flags), `flags` after it (server flags).
  void StartServer(std::vector<std::string> extra = {}, std::vector<std::string> flags = {}) {
    server_log_ = dir_ / ("server-" + std::to_string(++starts_) + ".log");
    std::vector<std::string> args = extra;
    for (const char* a : {"server", "--port", "0"}) args.push_back(a);
    args.insert(args.end(), flags.begin(), flags.end());
    server_pid_ = Spawn(args, dir_ / ".server.out", server_log_);
    std::regex url_re("overdrive server: (http://127\\.0\\.0\\.1:[0-9]+)/");
    for (int i = 0; i < 300 && url_.empty(); ++i) {
      std::smatch m;
      std::string log = ReadFile(server_log_);
      if (std::regex_search(log, m, url_re)) url_ = m[1];
      if (url_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(url_.empty()) << ReadFile(server_log_);
  }
  void StopServer(int sig) {
    if (server_pid_ <= 0) return;
    kill(server_pid_, sig);
    int status = 0;
    waitpid(server_pid_, &status, 0);
    server_pid_ = -1;
    url_.clear();
  }
  std::vector<std::string> Remote(std::vector<std::string> args, const std::string& token = "") {
    std::vector<std::string> full = {"--server", url_};
    if (!token.empty()) {
      full.push_back("--token");
      full.push_back(token);
    }
    full.insert(full.end(), args.begin(), args.end());
    return full;
  }

  pid_t server_pid_ = -1;
  std::string url_;
  fs::path server_log_;
  int starts_ = 0;
};

}  // namespace overdrive::testing
