#include "sweep/run_tracker.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "environment/environment_cache.hpp"
#include "executor/handle_info.hpp"
#include "sweep/job_data.hpp"
#include "sweep/run_retention.hpp"

namespace overdrive {

namespace fs = std::filesystem;

struct RunTracker::Tracked {
  RunRecord run;
  LaunchConfig cfg;
  fs::path dir;
  StepCounter steps;
  std::int64_t stdout_offset = 0;
  std::int64_t jsonl_offset = 0;
  std::optional<RunStatus> stop_status;  // set by Stop()
  std::string stop_reason;
};

namespace {

constexpr const char* kStdoutCursor = "stdout";
constexpr const char* kJsonlCursor = "jsonl";

std::string PythonClientPath() {
#ifdef OVERDRIVE_SOURCE_DIR
  fs::path p = fs::path(OVERDRIVE_SOURCE_DIR) / "clients" / "python";
  std::error_code ec;
  if (fs::exists(p / "overdrive" / "__init__.py", ec)) return p.string();
#endif
  return "";
}

std::string LastLine(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  auto size = static_cast<std::int64_t>(in.tellg());
  std::int64_t from = std::max<std::int64_t>(0, size - 4096);
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto lines = Split(tail, '\n');
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string t = Trim(*it);
    // srun's and slurmstepd's own notes about a stopped step say less than the rank's error.
    if (StartsWith(t, "srun: ") || StartsWith(t, "slurmstepd")) continue;
    if (!t.empty()) return t.size() > 300 ? t.substr(0, 300) + "..." : t;
  }
  return "";
}

// The stderr log of `rank` of a distributed run (rank 0's is the run's stderr.log).
fs::path RankStderr(const fs::path& dir, int rank) {
  return dir / (rank > 0 ? "rank-" + std::to_string(rank) + ".stderr.log" : "stderr.log");
}

// Stores every regular file under `folder` into `out`. A symbolic link is kept (as the file it
// names) only when it resolves to a file inside `folder`: a run cannot publish /etc/passwd or
// another run's files as its artifacts by linking to them. Links leading out are listed in
// `skipped`, what is not a file (FIFOs — a reader would block —, sockets, devices) in
// `not_files`. A file or folder that cannot be read is an error naming it; what was stored
// before it stays in `out`.
Result<void> StoreFolder(ArtifactStore& store, const fs::path& folder, const std::string& prefix,
                         std::vector<ArtifactRecord>& out, std::vector<std::string>& skipped,
                         std::vector<std::string>& not_files) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return {};
  const fs::path root = fs::canonical(folder, ec);
  if (ec) return {};
  auto name = [&](const fs::path& p) { return prefix + p.lexically_relative(folder).generic_string(); };
  auto it = fs::recursive_directory_iterator(folder, ec);
  for (; !ec && it != fs::end(it); it.increment(ec)) {
    std::error_code fc;
    if (it->is_symlink(fc)) {
      std::error_code rc;
      fs::path target = fs::canonical(it->path(), rc);
      auto rel = rc ? fs::path() : target.lexically_relative(root);
      bool inside = !rc && !rel.empty() && *rel.begin() != ".." && fs::is_regular_file(target, rc);
      if (!inside) {
        skipped.push_back(name(it->path()));
        continue;
      }
    } else if (it->is_directory(fc)) {
      continue;
    }
    if (!it->is_regular_file(fc)) {
      not_files.push_back(name(it->path()));
      continue;
    }
    auto digest = store.PutFile(it->path());
    if (!digest) {
      return MakeError(digest.error().code, "storing " + name(it->path()) + " failed: " +
                                                digest.error().message);
    }
    ArtifactRecord a;
    a.path = name(it->path());  // a link's own name
    a.digest = *digest;
    a.size = static_cast<std::int64_t>(it->file_size(fc));
    out.push_back(std::move(a));
  }
  if (ec) {
    // The iterator stops at a folder it cannot open: what lies below would be silently missing.
    std::string where = it != fs::end(it) ? name(it->path()) : prefix;
    return MakeError(ErrorCode::kIo, "cannot read " + where + ": " + ec.message());
  }
  return {};
}

std::string SignalName(int sig) {
  const char* s = sigabbrev_np(sig);
  return s ? std::string("SIG") + s : "signal " + std::to_string(sig);
}

}  // namespace

std::map<std::string, std::string> RunEnvironment(const RunRecord& run, const LaunchConfig& cfg) {
  std::map<std::string, std::string> env = cfg.env;
  env["OVERDRIVE_RUN_ID"] = run.id;
  env["OVERDRIVE_RUN_DIR"] = run.run_dir;
  env["OVERDRIVE_METRICS_FILE"] = (fs::path(run.run_dir) / "metrics.jsonl").string();
  if (!env.count("PYTHONUNBUFFERED")) env["PYTHONUNBUFFERED"] = "1";
  std::string client = PythonClientPath();
  if (!client.empty()) {
    const char* existing = std::getenv("PYTHONPATH");
    std::string base = env.count("PYTHONPATH") ? env["PYTHONPATH"] : (existing ? existing : "");
    env["PYTHONPATH"] = base.empty() ? client : client + ":" + base;
  }
  return env;
}

RunTracker::RunTracker(Workspace& ws, Executor& executor)
    : ws_(ws), executor_(executor), keep_run_files_(KeepRunFiles()) {}
RunTracker::~RunTracker() { TidyFinished(); }

void RunTracker::TidyFinished() {
  for (const auto& dir : std::exchange(tidy_, {})) TidyRunFolder(dir);
}

Result<StdoutCollector*> RunTracker::CollectorFor(const std::string& pattern) {
  auto it = collectors_.find(pattern);
  if (it != collectors_.end()) return it->second.get();
  OD_ASSIGN_OR_RETURN(auto c, StdoutCollector::Make(pattern));
  auto* raw = c.get();
  collectors_[pattern] = std::move(c);
  return raw;
}

Result<void> RunTracker::StartTracking(const RunRecord& run) {
  auto t = std::make_unique<Tracked>();
  t->run = run;
  t->dir = run.run_dir;
  OD_ASSIGN_OR_RETURN(t->cfg, LaunchConfig::FromJson(run.launch_json));
  OD_ASSIGN_OR_RETURN(auto cursors, ws_.store().GetCursors(run.id));
  if (cursors.count(kStdoutCursor)) t->stdout_offset = cursors[kStdoutCursor];
  if (cursors.count(kJsonlCursor)) t->jsonl_offset = cursors[kJsonlCursor];
  OD_ASSIGN_OR_RETURN(auto summaries, ws_.store().GetMetricSummaries(run.id));
  for (const auto& s : summaries) t->steps.Seed(s.name, s.last_step);
  if (t->cfg.stdout_metrics) OD_TRY(CollectorFor(t->cfg.metrics_pattern));
  OD_ASSIGN_OR_RETURN(auto events, ws_.store().ListEvents(run.id));
  for (const auto& e : events) {
    if (auto stop = DecodeStopIntent(e)) {
      t->stop_status = stop->status;
      t->stop_reason = stop->reason;
    }
  }
  if (!t->stop_status && run.cancel_requested) {
    t->stop_status = RunStatus::kCanceled;
    t->stop_reason = "canceled by user";
  }
  runs_[run.id] = std::move(t);
  return {};
}

Result<void> RunTracker::Launch(const RunRecord& run,
                                const RunPlacement& placement) {
  bool recorded = false;
  auto launched = Prepare(run, placement, recorded);
  if (launched) return {};
  // It never reached the executor (its folder could not be made, the disk is full, the
  // executor refused it): it ends failed with the reason rather than waiting for nothing.
  runs_.erase(run.id);
  if (!recorded) {
    std::error_code ec;
    fs::remove_all(fs::path(run.run_dir) / "wd", ec);  // half unpacked: of no use, and it may fill the disk
    RunUpdate u;
    u.status_reason = "could not start: " + launched.error().message;
    u.ended_at = WallSeconds();
    (void)WriteFinal(run.id, RunStatus::kFailed, u);
  }
  return launched;
}

Result<void> RunTracker::Prepare(const RunRecord& run,
                                 const RunPlacement& placement,
                                 bool& recorded) {
  OD_TRY(StartTracking(run));
  Tracked& t = *runs_[run.id];
  fs::path wd = t.dir / "wd";
  std::error_code ec;
  fs::remove_all(wd, ec);  // a half-unpacked copy from a crashed launch
  fs::create_directories(wd, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create run folder " + wd.string() + ": " + ec.message());
  if (!run.snapshot_digest.empty()) {
    OD_TRY(UnpackSnapshot(ws_.artifacts(), run.snapshot_digest, wd));
  }
  fs::create_directories(wd / "outputs", ec);
  for (const auto& name : t.cfg.outputs) fs::create_directories(wd / "outputs" / name, ec);
  // Data inputs are on the node before the command starts (one transfer per content, shared
  // by every run of the machine through the data cache); a failure fails the run, naming the
  // input and the datastore.
  std::vector<ContainerMount> data_mounts;
  OD_TRY(StageInputs(ws_, t.cfg, t.dir,
                     [&](const std::string& line) {
                       (void)ws_.store().AddEvent(run.id, {WallSeconds(), "info", line});
                     },
                     placement.container ? &data_mounts : nullptr));

  auto moved = ws_.store().TransitionRun(run.id, RunStatus::kStarting, {});
  if (!moved) return std::unexpected(moved.error());
  if (!*moved) {
    recorded = true;  // nothing to record: it has its end already
    return MakeError(ErrorCode::kFailedPrecondition, "run " + run.id + " has already finished");
  }
  LaunchSpec spec;
  spec.run_id = run.id;
  spec.command = run.command;
  spec.working_dir = wd;
  spec.run_dir = t.dir;
  spec.env = RunEnvironment(run, t.cfg);
  for (const auto& [k, v] : ws_.run_env()) spec.env[k] = v;
  if (spec.env.count("MLFLOW_TRACKING_URI")) spec.env["MLFLOW_RUN_ID"] = run.id;
  for (const auto& [k, v] : placement.env) spec.env[k] = v;
  spec.cpus = t.cfg.cpus;
  spec.gpus = t.cfg.gpus;
  spec.memory_mb = t.cfg.memory_mb;
  spec.timeout_s = t.cfg.timeout_s;
  spec.distribution = t.cfg.distribution;
  spec.nodes = t.cfg.instance_count;
  spec.processes_per_node = t.cfg.process_count_per_instance;
  // An image environment: the command runs in a container of that image (executor.hpp).
  spec.container = placement.container;
  if (spec.container) {
    for (auto& m : data_mounts) spec.container->mounts.push_back(std::move(m));
  }
  auto submitted = executor_.Submit(spec);
  if (!submitted) {
    // The executor's own words are the reason (no "could not start: " before them).
    RunUpdate u;
    u.status_reason = submitted.error().message;
    u.ended_at = WallSeconds();
    (void)WriteFinal(run.id, RunStatus::kFailed, u);
    recorded = true;
    return std::unexpected(submitted.error());
  }
  return {};
}

Result<void> RunTracker::Adopt(const RunRecord& run,
                               const RunPlacement& placement) {
  std::string handle = run.executor_handle;
  if (handle.empty()) {
    // Reached the executor, perhaps, but its handle was not stored (the controller died in
    // between): the executor finds it from what it keeps, and a found run is not sent again.
    OD_ASSIGN_OR_RETURN(handle, executor_.FindSubmitted(run.id, run.run_dir));
  }
  if (handle.empty()) {
    if (run.status == RunStatus::kRunning) {
      // Claimed to run but left no trace of a process: it cannot be found again.
      RunUpdate u;
      u.status_reason = std::string(kLostPrefix) + "no process record found when the controller resumed";
      u.lost = true;
      u.ended_at = WallSeconds();
      return WriteFinal(run.id, RunStatus::kFailed, u);
    }
    return Launch(run, placement);  // never reached the executor: launch it now
  }
  OD_TRY(StartTracking(run));
  auto attached = executor_.Reattach(run.id, handle);
  if (!attached) {
    runs_.erase(run.id);
    return std::unexpected(attached.error());
  }
  // A stop decided before the crash may not have reached the process: send it again.
  if (runs_[run.id]->stop_status) OD_TRY(executor_.Cancel(run.id));
  return {};
}

Result<std::vector<MetricPoint>> RunTracker::CollectOne(Tracked& t, bool final_read) {
  IngestBatch batch;
  batch.run_id = t.run.id;
  fs::path out_log = t.dir / "stdout.log";
  fs::path jsonl = t.dir / "metrics.jsonl";
  if (t.cfg.stdout_metrics) {
    OD_ASSIGN_OR_RETURN(StdoutCollector * c, CollectorFor(t.cfg.metrics_pattern));
    OD_ASSIGN_OR_RETURN(auto r, c->Collect(out_log, t.stdout_offset, t.steps, 64 << 20, final_read));
    if (r.new_offset != t.stdout_offset) batch.cursors[kStdoutCursor] = r.new_offset;
    batch.points = std::move(r.points);
    for (const auto& w : r.warnings) {
      (void)ws_.store().AddEvent(t.run.id, {WallSeconds(), "warning", w});
    }
    t.stdout_offset = r.new_offset;
  }
  {
    OD_ASSIGN_OR_RETURN(auto r, CollectJsonl(jsonl, t.jsonl_offset, t.steps, 64 << 20, final_read));
    if (r.new_offset != t.jsonl_offset) batch.cursors[kJsonlCursor] = r.new_offset;
    for (auto& p : r.points) batch.points.push_back(std::move(p));
    batch.params = std::move(r.params);
    for (const auto& w : r.warnings) {
      (void)ws_.store().AddEvent(t.run.id, {WallSeconds(), "warning", w});  // names its file
    }
    t.jsonl_offset = r.new_offset;
  }
  if (batch.cursors.empty() && batch.points.empty() && batch.params.empty()) return batch.points;
  OD_TRY(ws_.store().Ingest(batch));
  return std::move(batch.points);
}

Result<std::map<std::string, std::vector<MetricPoint>>> RunTracker::Collect() {
  std::map<std::string, std::vector<MetricPoint>> out;
  for (auto& [id, t] : runs_) {
    OD_ASSIGN_OR_RETURN(auto points, CollectOne(*t, false));
    if (!points.empty()) out[id] = std::move(points);
  }
  return out;
}

Result<FinishedRun> RunTracker::Finalize(Tracked& t, const ExecUpdate& u) {
  // The process has ended: from here on every failure (a full disk, an output that cannot be
  // read, a store error) is recorded on the run, which ends `failed` with the reason, instead
  // of leaving it `running` with no process behind it. What could be kept is kept.
  std::vector<std::string> failures;
  if (auto r = CollectOne(t, true); !r) {
    failures.push_back("collecting its metrics failed: " + r.error().message);
  }
  std::vector<ArtifactRecord> artifacts;
  std::vector<std::string> skipped, not_files;
  if (auto r = StoreFolder(ws_.artifacts(), t.dir / "wd" / "outputs", "outputs/", artifacts,
                           skipped, not_files);
      !r) {
    failures.push_back("collecting outputs/ failed: " + r.error().message);
  }
  if (!skipped.empty()) {
    (void)ws_.store().AddEvent(
        t.run.id, {WallSeconds(), "warning",
                   "not kept as artifacts: symbolic links leading out of outputs/ (" +
                       Join(skipped, ", ") + ")"});
  }
  if (!not_files.empty()) {
    (void)ws_.store().AddEvent(
        t.run.id, {WallSeconds(), "warning",
                   "not kept as artifacts: what is not a file in outputs/ (FIFOs, sockets, "
                   "devices: " + Join(not_files, ", ") + ")"});
  }
  std::vector<std::string> logs = {"stdout.log", "stderr.log"};
  if (!t.cfg.distribution.empty()) {
    // Ranks other than 0 write their own logs.
    int world = t.cfg.instance_count * t.cfg.process_count_per_instance;
    for (int r = 1; r < world; ++r) {
      logs.push_back("rank-" + std::to_string(r) + ".stdout.log");
      logs.push_back("rank-" + std::to_string(r) + ".stderr.log");
    }
  }
  for (const auto& log : logs) {
    fs::path p = t.dir / log;
    std::error_code ec;
    if (!fs::exists(p, ec)) continue;
    auto digest = ws_.artifacts().PutFile(p);
    if (!digest) {
      failures.push_back("keeping " + log + " failed: " + digest.error().message);
      continue;
    }
    artifacts.push_back({"logs/" + log, *digest, static_cast<std::int64_t>(fs::file_size(p, ec))});
  }
  if (!artifacts.empty()) {
    if (auto r = ws_.store().AddArtifacts(t.run.id, artifacts); !r) {
      failures.push_back("recording its artifacts failed: " + r.error().message);
    }
  }

  FinishedRun f;
  f.id = t.run.id;
  f.started_at = u.started_at;
  f.ended_at = u.ended_at > 0 ? u.ended_at : WallSeconds();
  switch (u.state) {
    case ExecState::kExited:
      f.exit_code = u.exit_code;
      if (u.exit_code == 0) {
        f.status = RunStatus::kCompleted;
      } else {
        f.status = RunStatus::kFailed;
        std::string last = LastLine(RankStderr(t.dir, std::max(0, u.rank)));
        f.reason = (u.exit_code == 127 ? "command not found (exit code 127)"
                                       : "exit code " + std::to_string(u.exit_code)) +
                   (u.rank >= 0 ? " on rank " + std::to_string(u.rank) : "") +
                   (last.empty() ? "" : ": " + last);
      }
      break;
    case ExecState::kSignaled:
      f.status = RunStatus::kFailed;
      f.reason = (u.rank >= 0 ? "rank " + std::to_string(u.rank) + " " : "") + "killed by " +
                 SignalName(u.signal) +
                 (u.signal == SIGKILL ? " (out of memory, or killed from outside)" : "");
      break;
    case ExecState::kTimedOut:
      f.status = RunStatus::kTimedOut;
      f.reason = t.cfg.timeout_s ? "exceeded its time limit of " + FormatDuration(*t.cfg.timeout_s)
                                 : "exceeded its time limit";
      break;
    case ExecState::kCanceled:
      f.status = t.stop_status.value_or(RunStatus::kCanceled);
      f.reason = t.stop_reason.empty() ? "canceled" : t.stop_reason;
      break;
    case ExecState::kLost:
      f.status = RunStatus::kFailed;
      f.reason = std::string(kLostPrefix) +
                 (u.reason.empty() ? "the run's process vanished without an exit record" : u.reason);
      break;
    default:
      f.status = RunStatus::kFailed;
      f.reason = "unexpected executor state " + std::string(ExecStateName(u.state));
  }
  if (!u.detail.empty()) f.reason += f.reason.empty() ? u.detail : " (" + u.detail + ")";
  // Outputs bound for a datastore (or to be registered as data assets) leave only from a run
  // that completed: a failed run's half-written folder must not become a data asset version.
  if (f.status == RunStatus::kCompleted && failures.empty() && !t.cfg.data_outputs.empty()) {
    auto delivered = DeliverOutputs(ws_, t.cfg, t.run.id, t.dir, [&](const std::string& line) {
      (void)ws_.store().AddEvent(t.run.id, {WallSeconds(), "info", line});
    });
    if (!delivered) failures.push_back("delivering its outputs failed: " + delivered.error().message);
  }
  if (!failures.empty()) {
    // Not "lost: " even when the process was: a sweep must not run again, into the same full
    // disk, what failed here.
    f.reason = Join(failures, "; ") + "; the run itself " +
               (f.status == RunStatus::kCompleted ? std::string("completed (exit code 0)")
                                                  : "ended " + std::string(RunStatusName(f.status)) +
                                                        (f.reason.empty() ? "" : ": " + f.reason));
    f.status = RunStatus::kFailed;
  }
  RunUpdate ru;
  // Its logs and outputs are in the artifact store: once the end below is recorded, the folder
  // is emptied (run_retention.hpp), except for a lost run (the folder explains the loss) or one
  // whose end could not be fully kept.
  const bool tidy = failures.empty() && u.state != ExecState::kLost && !keep_run_files_;
  if (tidy) {
    // Where it ran stays said after the folder is gone: the process group DescribeHandle reads
    // from the folder goes into the stored handle (DescribeRunExecutor reads it back).
    if (auto current = ws_.store().GetRun(t.run.id); current && !current->executor_handle.empty()) {
      nlohmann::json d = DescribeHandle(current->executor_handle, t.dir);
      nlohmann::json h = nlohmann::json::parse(current->executor_handle, nullptr, false);
      if (d.is_object() && d.contains("process_group") && h.is_object()) {
        h[kHandleProcessGroupKey] = d["process_group"];
        ru.executor_handle = h.dump();
      }
    }
  }
  ru.status_reason = f.reason;
  // Lost only when nothing else failed here (see above): the flag, not the reason's text, is
  // what a sweep decides on.
  if (u.state == ExecState::kLost && failures.empty()) ru.lost = true;
  ru.exit_code = f.exit_code;
  ru.ended_at = f.ended_at;
  if (u.started_at > 0) ru.started_at = u.started_at;
  OD_TRY(WriteFinal(t.run.id, f.status, ru));
  // Emptied at the next Update (or when the tracker ends), not now: a controller streaming the
  // run's logs reads their last bytes after this Update returns.
  if (tidy) tidy_.push_back(t.dir);
  return f;
}

Result<void> RunTracker::WriteFinal(const std::string& run_id, RunStatus status,
                                    const RunUpdate& given) {
  RunUpdate update = given;
  auto written = ws_.store().TransitionRun(run_id, status, update);
  if (!written && ws_.ReleaseReserve()) {
    // Most likely the disk is full (the run, or its outputs, filled it): the workspace's
    // reserve is given back so that at least how the run ended is recorded.
    reserve_released_ = true;
    written = ws_.store().TransitionRun(run_id, status, update);
  }
  if (!written) {
    // Left `running` with its exit record in the run folder: `job resume` finishes it.
    return MakeError(written.error().code,
                     "cannot record the end of run " + run_id + " (" + written.error().message +
                         "); once the store can be written, `overdrive job resume` records it");
  }
  if (reserve_released_) {
    ws_.KeepReserve();
    std::error_code ec;
    reserve_released_ = !fs::exists(ws_.ReservePath(), ec);
  }
  return {};
}

Result<std::vector<FinishedRun>> RunTracker::Update() {
  TidyFinished();
  std::vector<FinishedRun> finished;
  for (const auto& u : executor_.Poll()) {
    auto it = runs_.find(u.run_id);
    if (it == runs_.end()) continue;
    if (u.state == ExecState::kRunning) {
      RunUpdate ru;
      ru.started_at = u.started_at > 0 ? u.started_at : WallSeconds();
      if (!u.handle.empty()) ru.executor_handle = u.handle;
      OD_TRY(ws_.store().TransitionRun(u.run_id, RunStatus::kRunning, ru));
      started_.push_back(u.run_id);
      continue;
    }
    if (u.state == ExecState::kQueued) {
      // An executor that knows the handle before the run starts (a Slurm job id) sends it now,
      // so a controller that dies while the run waits in a queue finds it again.
      if (!u.handle.empty()) {
        RunUpdate ru;
        ru.executor_handle = u.handle;
        OD_TRY(ws_.store().TransitionRun(u.run_id, RunStatus::kStarting, ru));
      }
      continue;
    }
    OD_ASSIGN_OR_RETURN(FinishedRun f, Finalize(*it->second, u));
    finished.push_back(std::move(f));
    runs_.erase(it);
  }
  return finished;
}

Result<void> RunTracker::Stop(const std::string& run_id, RunStatus final_status,
                              const std::string& reason) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return MakeError(ErrorCode::kNotFound, "run " + run_id + " is not active");
  if (it->second->stop_status) return {};  // already stopping
  it->second->stop_status = final_status;
  it->second->stop_reason = reason;
  // The decision is stored before it is acted on, so a resumed controller records the run with
  // the same status (early_terminated stays early_terminated).
  OD_TRY(ws_.store().AddEvent(run_id, EncodeStopIntent({final_status, reason}, WallSeconds())));
  return executor_.Cancel(run_id);
}

}  // namespace overdrive
