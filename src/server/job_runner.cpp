#include "server/job_runner.hpp"

#include <iostream>

#include "server/auth.hpp"
#include "sweep/controller.hpp"

namespace overdrive {

void JobRunner::Reap() {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second->done) {
      if (it->second->thread.joinable()) it->second->thread.join();
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void JobRunner::Start(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Reap();
  if (interrupts_ > 0 || jobs_.count(run_id)) return;
  auto job = std::make_unique<Job>();
  Job* raw = job.get();
  raw->thread = std::thread([this, raw, run_id] {
    auto ws = Workspace::Open(ctx_.pool->location());
    if (ws) {
      (*ws)->run_env() = ctx_.pool->run_env;
      // With tokens on, the job's trials log with a write token of their own experiment, which
      // expires with a week of headroom and is revoked when the job ends. A job picked up again
      // after a restart gets a new one (its trials still running keep the old, unrevoked one).
      std::string token_id;
      if (ctx_.auth->required()) {
        auto run = (*ws)->store().GetRun(run_id);
        auto t = run ? CreateApiToken((*ws)->store(), Scope::kWrite, run->experiment_name,
                                      7 * 86400, "trials of job " + run_id)
                     : Result<CreatedToken>(std::unexpected(run.error()));
        if (t) {
          token_id = t->token.id;
          (*ws)->run_env()["MLFLOW_TRACKING_TOKEN"] = t->secret;
        } else if (!ctx_.options.quiet) {
          std::cerr << "overdrive server: job " << run_id << ": no token for its trials: "
                    << t.error().message << "\n";
        }
      }
      ControllerOptions options;
      options.interrupts = &interrupts_;
      auto r = DriveJob(**ws, run_id, options);
      if (!r && !ctx_.options.quiet) {
        std::cerr << "overdrive server: job " << run_id << ": " << r.error().message << "\n";
      }
      auto after = (*ws)->store().GetRun(run_id);
      if (!token_id.empty() && after && IsFinal(after->status)) {
        (void)(*ws)->store().RevokeToken(token_id);
        ctx_.auth->Forget();
      }
    } else if (!ctx_.options.quiet) {
      std::cerr << "overdrive server: job " << run_id << ": " << ws.error().message << "\n";
    }
    ctx_.Notify();
    raw->done = true;
  });
  jobs_[run_id] = std::move(job);
}

Result<int> JobRunner::ResumeOrphans() {
  OD_ASSIGN_OR_RETURN(auto lease, ctx_.pool->Acquire());
  RunFilter f;
  f.parent_id = "";
  f.light = true;
  OD_ASSIGN_OR_RETURN(auto runs, lease->store().ListRuns(f));
  int n = 0;
  for (const auto& r : runs) {
    // Runs made through MLflow's runs/create have no process of ours: their client ends them.
    if (IsFinal(r.status) || r.job_type == JobType::kExternal || ControllerAlive(r)) continue;
    Start(r.id);
    ++n;
  }
  return n;
}

void JobRunner::StopAll() {
  interrupts_ = 2;
  std::map<std::string, std::unique_ptr<Job>> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs.swap(jobs_);
  }
  for (auto& [id, job] : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

int JobRunner::Active() {
  std::lock_guard<std::mutex> lock(mu_);
  Reap();
  return static_cast<int>(jobs_.size());
}

}  // namespace overdrive
