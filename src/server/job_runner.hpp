// JobRunner: the controllers of a server's jobs, one thread each, in the server process (which
// so stays the only writer of its store besides the runs' own log files). On start it resumes
// every unfinished job whose controller is gone (a killed server loses nothing: trials still
// running are re-attached, as `overdrive job resume` would). On shutdown the controllers detach
// and leave their trials running for the next start.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "server/server_context.hpp"

namespace overdrive {

class JobRunner {
 public:
  explicit JobRunner(ServerContext& ctx) : ctx_(ctx) {}
  ~JobRunner() { StopAll(); }
  // Starts driving the job in a thread of its own unless one already does.
  void Start(const std::string& run_id);
  // Resumes the unfinished top-level jobs nobody drives. Returns how many.
  Result<int> ResumeOrphans();
  // Detaches every controller (their runs keep running) and joins the threads.
  void StopAll();
  int Active();

 private:
  struct Job {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void Reap();  // joins finished threads; mu_ held
  ServerContext& ctx_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
  std::atomic<int> interrupts_{0};  // 2 = detach (the controllers' Ctrl-C protocol)
};

}  // namespace overdrive
