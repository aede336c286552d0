#include "cli/app.hpp"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_common.hpp"
#include "cli/environment_commands.hpp"
#include "cli/live_view.hpp"
#include "cli/model_commands.hpp"
#include "cli/remote_commands.hpp"
#include "cli/data_commands.hpp"
#include "cli/secret_commands.hpp"
#include "cli/serve_command.hpp"
#include "sweep/environment_prep.hpp"
#include "cli/server_command.hpp"
#include "cli/table.hpp"
#include "cli/workspace_command.hpp"
#include "registry/model_registry.hpp"
#include "cli/views.hpp"
#include "common/clock.hpp"
#include "common/input_limits.hpp"
#include "common/process.hpp"
#include "common/strings.hpp"
#include "executor/slurm_options.hpp"
#include "metrics/metrics_line.hpp"
#include "spec/job_spec.hpp"
#include "sweep/controller.hpp"
#include "sweep/log_tail.hpp"
#include "sweep/run_retention.hpp"
#include "sweep/submission.hpp"
#include "sweep/workspace.hpp"

#ifndef OVERDRIVE_VERSION
#define OVERDRIVE_VERSION "dev"
#endif

namespace overdrive {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_interrupts{0};

void OnInterrupt(int) { g_interrupts.fetch_add(1); }

// Ctrl-C and SIGTERM are counted (the controller cancels on the first, detaches on the second).
void CountInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string MetricsLine(Workspace& ws, const std::string& run_id) {
  auto summaries = ws.store().GetMetricSummaries(run_id);
  if (!summaries || summaries->empty()) return "";
  std::vector<std::string> parts;
  for (const auto& s : *summaries) {
    parts.push_back(s.name + "=" + FormatDouble(s.last_value) +
                    (s.count > 1 ? " (" + std::to_string(s.count) + " points)" : ""));
  }
  return Join(parts, ", ");
}

// Starts `overdrive _controller RUN` as a background process of its own session.
Result<int> SpawnDetachedController(const Globals& g, Workspace& ws, const std::string& run_id) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  fs::path log = ws.RunDir(run_id) / "controller.log";
  std::error_code ec;
  fs::create_directories(log.parent_path(), ec);
  pid_t pid = fork();
  if (pid < 0) return MakeError(ErrorCode::kIo, "cannot start a background controller: fork failed");
  if (pid == 0) {
    setsid();
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::string ws_root = ws.root().string();
    execl(self.c_str(), "overdrive", "--workspace", ws_root.c_str(), "_controller", run_id.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int CmdSubmit(const Globals& g, const std::string& file, const std::vector<std::string>& sets,
              bool detach, bool dry_run, bool json) {
  if (!dry_run && !ServerUrl(g).empty()) return RemoteSubmit(g, file, sets, detach, json);
  auto spec = ParseJobFile(file, sets);
  if (!spec) return Fail(spec.error());
  if (dry_run) {
    std::unique_ptr<Workspace> ws;
    fs::path root = Workspace::DefaultRoot(g.workspace);
    if (auto opened = Workspace::Open(root, false)) ws = std::move(*opened);
    if (auto ok = ValidateForWorkspace(ws.get(), *spec); !ok) return Fail(ok.error());
    std::string command = spec->command.command;
    if (spec->type == JobType::kCommand) {
      auto sub = SubstituteCommand(spec->command.command,
                                   MakeSubstitutionContext(spec->command, "<run-folder>"),
                                   spec->command.command_pos);
      if (!sub) return Fail(sub.error());
      command = *sub;
    }
    if (json) {
      nlohmann::json j;
      j["valid"] = true;
      j["type"] = JobTypeName(spec->type);
      j["experiment"] = spec->experiment_name;
      j["command"] = command;
      j["compute"] = spec->compute;
      j["code"] = spec->command.code ? spec->command.code->string() : "";
      j["ignored"] = spec->ignored;
      j["resolved_yaml"] = spec->resolved_yaml;
      PrintJson(j);
    } else {
      for (const auto& w : spec->ignored) std::cerr << "overdrive: warning: " << w << "\n";
      std::cout << "# " << file << " is valid (dry run: nothing was run or stored)\n";
      std::cout << "# command: " << command << "\n";
      std::cout << spec->resolved_yaml << "\n";
    }
    return 0;
  }

  auto ws = OpenWorkspace(g, true);
  if (!ws) return Fail(ws.error());
  auto submitted = SubmitJob(**ws, *spec);
  if (!submitted) return Fail(submitted.error());
  const RunRecord& run = submitted->run;
  for (const auto& w : submitted->warnings) std::cerr << "overdrive: warning: " << w << "\n";
  if (!json) {
    std::cerr << "overdrive: " << JobTypeName(run.job_type) << " job " << run.id
              << " submitted (experiment " << run.experiment_name;
    if (!run.snapshot_digest.empty()) {
      std::cerr << ", code snapshot " << submitted->snapshot_files << " files, "
                << FormatBytes(static_cast<double>(submitted->snapshot_bytes));
    }
    std::cerr << ")\n";
  }

  if (detach) {
    auto pid = SpawnDetachedController(g, **ws, run.id);
    if (!pid) return Fail(pid.error());
    if (json) {
      PrintJson(nlohmann::json{{"id", run.id}, {"status", "queued"}, {"controller_pid", *pid}}, -1);
    } else {
      std::cout << run.id << "\n";
      std::cerr << "overdrive: running in the background (controller pid " << *pid << ")\n"
                << "  overdrive job show " << run.id << "\n"
                << "  overdrive job logs " << run.id << " -f\n";
    }
    return 0;
  }

  CountInterrupts();
  ControllerOptions opts;
  opts.stream_logs = !json && run.job_type == JobType::kCommand;
  opts.out = json ? nullptr : &std::cerr;
  std::unique_ptr<JobView> live;
  if (!json && isatty(STDOUT_FILENO)) live = MakeLiveView(std::cerr, STDERR_FILENO);
  opts.view = live.get();
  opts.interrupts = &g_interrupts;
  auto result = DriveJob(**ws, run.id, opts);
  if (!result) return Fail(result.error());
  if (result->detached) {
    std::cerr << "\noverdrive: detached; job " << run.id
              << " keeps running without a controller. Resume watching it with:\n"
              << "  overdrive job resume " << run.id << "\n";
    return kExitFailure;
  }
  auto final_run = (*ws)->store().GetRun(run.id);
  if (!final_run) return Fail(final_run.error());
  if (json) {
    auto j = RunToJson(**ws, *final_run, true);
    if (!j) return Fail(j.error());
    PrintJson(*j);
  } else {
    std::cerr << "overdrive: run " << run.id << " " << RunStatusName(final_run->status) << " in "
              << FormatDuration(RunDuration(*final_run));
    if (!final_run->status_reason.empty()) std::cerr << ": " << final_run->status_reason;
    std::cerr << "\n";
    std::string metrics = MetricsLine(**ws, run.id);
    if (!metrics.empty()) std::cerr << "  metrics: " << metrics << "\n";
    auto arts = (*ws)->store().ListArtifacts(run.id);
    if (arts) {
      std::vector<std::string> outs;
      for (const auto& a : *arts)
        if (StartsWith(a.path, "outputs/")) outs.push_back(a.path);
      if (!outs.empty()) std::cerr << "  outputs: " << Join(outs, ", ") << "\n";
    }
    std::cerr << "  see: overdrive job show " << run.id << "\n";
  }
  return ExitCodeFor(*final_run);
}

int CmdController(const Globals& g, const std::string& id) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  signal(SIGHUP, SIG_IGN);
  ControllerOptions opts;
  opts.out = &std::cout;
  auto result = DriveJob(**ws, id, opts);
  if (!result) return Fail(result.error());
  std::cout << "job " << id << " " << RunStatusName(result->status) << "\n";
  return 0;
}

int CmdResume(const Globals& g, const std::string& id) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto run = FindRun(**ws, id);
  if (!run) return Fail(run.error());
  if (IsFinal(run->status)) {
    std::cerr << "overdrive: job " << run->id << " already " << RunStatusName(run->status)
              << "; nothing to resume\n";
    return ExitCodeFor(*run);
  }
  std::cerr << "overdrive: resuming job " << run->id << " (" << RunStatusName(run->status) << ")\n";
  CountInterrupts();
  ControllerOptions opts;
  opts.stream_logs = run->job_type == JobType::kCommand;
  opts.out = &std::cerr;
  std::unique_ptr<JobView> live;
  if (isatty(STDOUT_FILENO)) live = MakeLiveView(std::cerr, STDERR_FILENO);
  opts.view = live.get();
  opts.interrupts = &g_interrupts;
  auto result = DriveJob(**ws, run->id, opts);
  if (!result) return Fail(result.error());
  if (result->detached) return kExitFailure;
  auto final_run = (*ws)->store().GetRun(run->id);
  if (!final_run) return Fail(final_run.error());
  std::cerr << "overdrive: job " << run->id << " " << RunStatusName(final_run->status) << "\n";
  return ExitCodeFor(*final_run);
}

int CmdList(const Globals& g, const std::string& experiment, const std::string& status, int limit,
            bool json) {
  if (!ServerUrl(g).empty()) return RemoteList(g, experiment, status, limit, json);
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  RunFilter f;
  f.parent_id = "";
  if (!experiment.empty()) f.experiment = experiment;
  if (!status.empty()) {
    auto s = ParseRunStatus(status);
    if (!s) {
      return Fail({ErrorCode::kInvalidInput,
                   "unknown status '" + status + "'" +
                       DidYouMeanSuffix(status, {"queued", "starting", "running", "completed",
                                                 "failed", "canceled", "early_terminated",
                                                 "timed_out"})});
    }
    f.status = s;
  }
  f.limit = limit;
  auto runs = (*ws)->store().ListRuns(f);
  if (!runs) return Fail(runs.error());
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : *runs) {
      auto j = RunToJson(**ws, r, false);
      if (!j) return Fail(j.error());
      arr.push_back(*j);
    }
    PrintJson(arr);
    return 0;
  }
  if (runs->empty()) {
    std::cout << "no jobs yet: overdrive job submit FILE\n";
    return 0;
  }
  Table t({"id", "type", "status", "experiment", "name", "created", "duration"});
  for (const auto& r : *runs) {
    t.Add({r.id, JobTypeName(r.job_type), StatusText(r), r.experiment_name, r.display_name,
           FormatTimestamp(r.created_at), r.started_at > 0 ? FormatDuration(RunDuration(r)) : "-"});
  }
  t.Print(std::cout);
  return 0;
}

int CmdShow(const Globals& g, const std::string& id, bool json) {
  if (!ServerUrl(g).empty()) return RemoteShow(g, id, json);
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto run = FindRun(**ws, id);
  if (!run) return Fail(run.error());
  if (json) {
    auto j = RunToJson(**ws, *run, true);
    if (!j) return Fail(j.error());
    PrintJson(*j);
    return 0;
  }
  if (auto ok = PrintRun(**ws, *run, std::cout); !ok) return Fail(ok.error());
  return 0;
}

int CmdLogs(const Globals& g, const std::string& id, bool follow) {
  if (!ServerUrl(g).empty()) return RemoteLogs(g, id, follow);
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto run = FindRun(**ws, id);
  if (!run) return Fail(run.error());
  fs::path dir = run->run_dir;
  if (run->job_type == JobType::kSweep) {
    // A sweep has no process of its own: show its controller's log when it ran detached.
    std::cerr << "overdrive: " << run->id << " is a sweep; its trials have the logs (overdrive job "
              << "show " << run->id << " lists them). Controller log:\n";
  }
  std::vector<LogTail> tails;
  if (run->job_type == JobType::kSweep) {
    tails.emplace_back(dir / "controller.log", stdout);
  } else {
    tails.emplace_back(dir / "stdout.log", stdout);
    tails.emplace_back(dir / "stderr.log", stderr);
  }
  // An ended run's folder is emptied once its logs are in the artifact store
  // (run_retention.hpp): what the file no longer holds is read from there, from the same offset.
  auto pump = [&](bool ended) {
    for (auto& t : tails) {
      t.Pump();
      std::error_code ec;
      if (!ended || fs::exists(t.path(), ec)) continue;
      auto stored = FindStoredLog(**ws, run->id, t.path().filename().string());
      if (!stored || !*stored) continue;
      std::string digest = (*stored)->digest;
      t.PumpFrom([&](std::int64_t offset, std::int64_t max) {
        return (*ws)->artifacts().GetRange(digest, offset, max);
      });
    }
  };
  pump(IsFinal(run->status));
  if (!follow) return 0;
  signal(SIGINT, OnInterrupt);
  while (g_interrupts.load() == 0) {
    auto current = (*ws)->store().GetRun(run->id);
    if (!current) return Fail(current.error());
    bool done = IsFinal(current->status);
    pump(done);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

int CmdCancel(const Globals& g, const std::string& id) {
  if (!ServerUrl(g).empty()) return RemoteCancel(g, id);
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto run = FindRun(**ws, id);
  if (!run) return Fail(run.error());
  if (IsFinal(run->status)) {
    std::cerr << "overdrive: job " << run->id << " already " << RunStatusName(run->status) << "\n";
    return 0;
  }
  if (auto ok = (*ws)->store().RequestCancel(run->id); !ok) return Fail(ok.error());
  if (!ControllerAlive(*run)) {
    // Nobody drives the job: act as its controller until the cancel is recorded.
    std::cerr << "overdrive: no controller is running for " << run->id << "; canceling it here\n";
    ControllerOptions opts;
    auto result = DriveJob(**ws, run->id, opts);
    if (!result) return Fail(result.error());
  } else {
    double deadline = MonotonicSeconds() + 30;
    while (MonotonicSeconds() < deadline) {
      auto current = (*ws)->store().GetRun(run->id);
      if (current && IsFinal(current->status)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  auto final_run = (*ws)->store().GetRun(run->id);
  if (!final_run) return Fail(final_run.error());
  std::cout << run->id << " " << RunStatusName(final_run->status) << "\n";
  return IsFinal(final_run->status) ? 0 : kExitFailure;
}

int CmdMetrics(const Globals& g, const std::string& id, const std::string& name, bool json) {
  if (!ServerUrl(g).empty()) return RemoteMetrics(g, id, name, json);
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto run = FindRun(**ws, id);
  if (!run) return Fail(run.error());
  auto summaries = (*ws)->store().GetMetricSummaries(run->id);
  if (!summaries) return Fail(summaries.error());
  std::vector<std::string> names;
  for (const auto& s : *summaries) names.push_back(s.name);
  if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
    return Fail({ErrorCode::kNotFound, "run " + run->id + " has no metric '" + name + "'" +
                                           DidYouMeanSuffix(name, names)});
  }
  if (json) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& n : names) {
      if (!name.empty() && n != name) continue;
      auto hist = (*ws)->store().GetMetricHistory(run->id, n);
      if (!hist) return Fail(hist.error());
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& p : *hist) {
        // "nan", "inf", "-inf" as strings, as in `job show --json` (JSON has no such numbers).
        arr.push_back({{"step", p.step}, {"value", JsonNumber(p.value)}, {"timestamp", p.timestamp}});
      }
      j[n] = arr;
    }
    PrintJson(nlohmann::json{{"id", run->id}, {"metrics", j}});
    return 0;
  }
  if (names.empty()) {
    std::cout << "run " << run->id << " has no metrics yet\n";
    return 0;
  }
  if (name.empty()) {
    Table t({"name", "last", "min", "max", "points", "last step"});
    for (const auto& s : *summaries) {
      t.Add({s.name, FormatDouble(s.last_value), FormatDouble(s.min_value),
             FormatDouble(s.max_value), std::to_string(s.count), std::to_string(s.last_step)});
    }
    t.Print(std::cout);
    std::cout << "(one series: overdrive runs metrics " << run->id << " --name NAME)\n";
    return 0;
  }
  auto hist = (*ws)->store().GetMetricHistory(run->id, name);
  if (!hist) return Fail(hist.error());
  Table t({"step", name, "time"});
  for (const auto& p : *hist) {
    t.Add({std::to_string(p.step), FormatDouble(p.value), FormatTimestamp(p.timestamp)});
  }
  t.Print(std::cout);
  return 0;
}

int CmdExport(const Globals& g, const std::string& id, bool csv) {
  if (!ServerUrl(g).empty()) return RemoteExport(g, id, csv);
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto run = FindRun(**ws, id);
  if (!run) return Fail(run.error());
  if (run->job_type != JobType::kSweep) {
    const std::string type = JobTypeName(run->job_type);
    return Fail({ErrorCode::kInvalidInput, "job " + run->id + " is a " + type +
                                               " job; export works on sweeps (job show --json "
                                               "gives any run as JSON)"});
  }
  auto view = LoadSweepView(**ws, *run);
  if (!view) return Fail(view.error());
  if (!csv) {
    auto j = SweepToJson(**ws, *run);
    if (!j) return Fail(j.error());
    PrintJson((*j)["trials"]);
    return 0;
  }
  // Creation order: one row per trial.
  auto trials = view->trials;
  std::stable_sort(trials.begin(), trials.end(), [](const TrialInfo& a, const TrialInfo& b) {
    return a.run.created_at < b.run.created_at;
  });
  std::vector<std::string> names;
  for (const auto& t : trials)
    for (const auto& [k, v] : t.params)
      if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
  std::vector<std::string> header = {"trial_id", "name", "status"};
  for (const auto& n : names) header.push_back(n);
  for (const auto& h : {"final_" + view->metric, "best_" + view->metric,
                        std::string("intervals"), std::string("duration_s")}) {
    header.push_back(h);
  }
  std::vector<std::string> quoted;
  for (const auto& h : header) quoted.push_back(CsvField(h));
  std::cout << Join(quoted, ",") << "\n";
  for (const auto& t : trials) {
    std::vector<std::string> row = {t.run.id, CsvField(t.run.display_name), RunStatusName(t.run.status)};
    for (const auto& n : names) {
      auto it = t.params.find(n);
      row.push_back(it == t.params.end() ? "" : CsvField(ParamToString(it->second)));
    }
    row.push_back(t.intervals.empty() ? "" : FormatDouble(t.intervals.back()));
    row.push_back(t.best ? FormatDouble(*t.best) : "");
    row.push_back(std::to_string(t.intervals.size()));
    row.push_back(FormatDouble(RunDuration(t.run)));
    std::cout << Join(row, ",") << "\n";
  }
  return 0;
}

// The number a user typed for `overdrive log metric`: any double, "nan", "inf", "-inf"
// (strtod's spellings, any case); a value a double cannot hold (1e400) is refused rather than
// logged as infinity.
Result<double> ParseMetricValue(const std::string& text) {
  if (text.empty()) return MakeError(ErrorCode::kInvalidInput, "metric value is empty");
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || std::isspace(static_cast<unsigned char>(text[0]))) {
    return MakeError(ErrorCode::kInvalidInput,
                     "metric value '" + Printable(text) +
                         "' is not a number (write nan, inf or -inf for those values)");
  }
  if (errno == ERANGE && std::isinf(v)) {
    return MakeError(ErrorCode::kInvalidInput,
                     "metric value '" + Printable(text) +
                         "' is outside the range of a double (about ±1.8e308); write inf or "
                         "-inf if infinity is meant");
  }
  return v;  // an underflow (1e-400) is the nearest double, 0 or subnormal
}

// `overdrive log metric|param`: for shell scripts running inside a run. Everything is checked
// before the file is touched: a refused value writes nothing.
int CmdLog(bool is_param, const std::string& name, const std::string& value,
           std::optional<std::int64_t> step) {
  const char* file = std::getenv("OVERDRIVE_METRICS_FILE");
  if (!file || !*file) {
    std::cerr << "overdrive: OVERDRIVE_METRICS_FILE is not set: `overdrive log` works inside a run "
                 "started by Overdrive\n";
    return kExitInvalidInput;
  }
  if (auto ok = ValidateName(is_param ? "param name" : "metric name", name); !ok) {
    return Fail(ok.error());
  }
  std::string line;
  if (is_param) {
    Param p{name, ""};
    if (auto parsed = ParseJsonBounded(value)) {
      p.value_json = parsed->dump();
    } else if (!nlohmann::json::parse(value, nullptr, false).is_discarded()) {
      // Valid JSON that cannot be kept faithfully (1e400, absurd nesting): not silently changed.
      return Fail({ErrorCode::kInvalidInput,
                   "param value '" + Printable(value) + "': " + parsed.error().message});
    } else {
      if (!IsValidUtf8(value)) {
        return Fail({ErrorCode::kInvalidInput,
                     "param value '" + Printable(value) + "' is not valid UTF-8"});
      }
      p.value_json = nlohmann::json(value).dump();  // not JSON: kept as a string
    }
    line = FormatParamLine(p);
  } else {
    auto v = ParseMetricValue(value);
    if (!v) return Fail(v.error());
    if (step && *step < 0) {
      return Fail({ErrorCode::kInvalidInput, "--step " + std::to_string(*step) +
                                                 " is negative; steps start at 0"});
    }
    MetricPoint p;
    p.name = name;
    p.value = *v;
    p.step = step.value_or(-1);  // none: the collector numbers it
    p.timestamp = WallSeconds();
    line = FormatMetricLine(p);
  }
  int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    std::cerr << "overdrive: cannot append to " << file << "\n";
    if (fd >= 0) close(fd);
    return kExitFailure;
  }
  close(fd);
  return 0;
}

// `compute add` settings; the Slurm ones apply to --type slurm only.
struct ComputeAddArgs {
  std::string type = "local";  // as typed; checked by CmdComputeAdd
  std::string partition, account, qos;
  std::vector<std::string> sbatch_args;
  std::optional<double> poll_interval_s;
};

int CmdComputeAdd(const Globals& g, const std::string& name, const ComputeAddArgs& a) {
  static const std::vector<std::string> kTypes = {ComputeTypeName(ComputeType::kLocal),
                                                  ComputeTypeName(ComputeType::kSlurm)};
  std::optional<ComputeType> type = ParseComputeType(a.type);
  if (!type) {
    return Fail({ErrorCode::kInvalidInput, "compute type '" + a.type +
                                               "' is not supported (supported: local, slurm)" +
                                               DidYouMeanSuffix(a.type, kTypes)});
  }
  ComputeTarget t;
  t.name = StartsWith(name, "azureml:") ? name.substr(8) : name;
  t.type = *type;
  if (t.name.empty() || t.name == "local") {
    return Fail({ErrorCode::kInvalidInput,
                 "'" + name + "' cannot name a compute target ('local' is built in)"});
  }
  std::string where = "run here";
  if (t.type == ComputeType::kLocal) {
    if (!a.partition.empty() || !a.account.empty() || !a.qos.empty() || !a.sbatch_args.empty() ||
        a.poll_interval_s) {
      return Fail({ErrorCode::kInvalidInput,
                   "--partition, --account, --qos, --sbatch-arg and --poll-interval apply to "
                   "--type slurm only"});
    }
  } else {
    SlurmOptions o;
    o.target = t.name;
    o.partition = a.partition;
    o.account = a.account;
    o.qos = a.qos;
    o.sbatch_args = a.sbatch_args;
    if (a.poll_interval_s) {
      if (!(*a.poll_interval_s > 0)) {
        return Fail({ErrorCode::kInvalidInput, "--poll-interval must be more than 0 seconds"});
      }
      o.poll_interval_s = *a.poll_interval_s;
    }
    t.config_json = o.ToJson();
    where = "run as Slurm jobs in " +
            (a.partition.empty() ? "the default partition" : "partition '" + a.partition + "'");
  }
  auto ws = OpenWorkspace(g, true);
  if (!ws) return Fail(ws.error());
  if (auto ok = (*ws)->store().PutCompute(t); !ok) return Fail(ok.error());
  std::cout << "compute '" << t.name << "' -> " << ComputeTypeName(t.type)
            << " (job files saying compute: " << t.name << " or azureml:" << t.name << " now "
            << where << ")\n";
  return 0;
}

// The partition column of `compute list`: Slurm targets only.
std::string ComputePartition(const ComputeTarget& c) {
  if (c.type != ComputeType::kSlurm) return "-";
  auto o = SlurmOptions::FromJson(c.name, c.config_json);
  if (!o) return "?";
  return o->partition.empty() ? "(default)" : o->partition;
}

int CmdComputeList(const Globals& g) {
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto all = (*ws)->store().ListComputes();
  if (!all) return Fail(all.error());
  Table t({"name", "type", "partition"});
  t.Add({"local", "local (built in)", "-"});
  for (const auto& c : *all) t.Add({c.name, ComputeTypeName(c.type), ComputePartition(c)});
  t.Print(std::cout);
  return 0;
}

int CmdComputeShow(const Globals& g, const std::string& name, bool json) {
  std::string n = StartsWith(name, "azureml:") ? name.substr(8) : name;
  ComputeTarget c;
  if (n == "local") {
    c.name = "local";
    c.type = ComputeType::kLocal;
  } else {
    auto ws = OpenWorkspace(g, false);
    if (!ws) return Fail(ws.error());
    auto got = (*ws)->store().GetCompute(n);
    if (!got) {
      if (got.error().code != ErrorCode::kNotFound) return Fail(got.error());
      std::vector<std::string> names = {"local"};
      if (auto all = (*ws)->store().ListComputes()) {
        for (const auto& t : *all) names.push_back(t.name);
      }
      return Fail({ErrorCode::kNotFound, "no compute target '" + n + "'" +
                                             DidYouMeanSuffix(n, names) +
                                             "; configured: " + Join(names, ", ")});
    }
    c = *got;
  }
  nlohmann::json config = nlohmann::json::object();
  try {
    config = nlohmann::json::parse(c.config_json.empty() ? "{}" : c.config_json);
  } catch (const std::exception&) {
    config = c.config_json;
  }
  if (json) {
    PrintJson(
        nlohmann::json{{"name", c.name}, {"type", ComputeTypeName(c.type)}, {"config", config}});
    return 0;
  }
  std::cout << "name: " << c.name << "\ntype: " << ComputeTypeName(c.type)
            << (c.name == "local" ? " (built in: this machine)" : "") << "\n";
  if (c.type == ComputeType::kSlurm) {
    auto o = SlurmOptions::FromJson(c.name, c.config_json);
    if (!o) return Fail(o.error());
    auto or_default = [](const std::string& v) { return v.empty() ? std::string("(default)") : v; };
    std::cout << "partition: " << or_default(o->partition) << "\n"
              << "account: " << or_default(o->account) << "\n"
              << "qos: " << or_default(o->qos) << "\n"
              << "sbatch args: " << (o->sbatch_args.empty() ? "(none)" : Join(o->sbatch_args, " "))
              << "\n"
              << "poll interval: " << FormatDouble(o->poll_interval_s) << "s\n";
  }
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{
      "Overdrive runs ML training jobs and hyperparameter sweeps described in Azure ML job YAML,\n"
      "on this machine, tracking every run's params, metrics, logs and outputs in a workspace\n"
      "(./.overdrive by default).\n\n"
      "  overdrive job submit job.yml        run a job and stream its output\n"
      "  overdrive job list                  jobs in the workspace\n"
      "  overdrive job show ID               params, metrics, outputs of a run\n"
      "  overdrive server                    tracking server + live dashboard on :8765\n",
      "overdrive"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("overdrive ") + OVERDRIVE_VERSION);
  Globals g;
  app.add_option("--workspace", g.workspace,
                 "workspace folder (default: $OVERDRIVE_WORKSPACE, else ./.overdrive)");
  app.add_option("--db", g.db,
                 "keep the workspace's metadata in PostgreSQL: postgresql://user@host:port/db "
                 "(default: $OVERDRIVE_DB, else SQLite in the workspace)");
  app.add_option("--server", g.server,
                 "talk to `overdrive server` at this URL instead of a local workspace, for job "
                 "submit/list/show/logs/cancel/export, runs metrics, model list/show and token "
                 "create/list/revoke (default: $OVERDRIVE_SERVER)");
  app.add_option("--token", g.token, "bearer token for --server (default: $OVERDRIVE_TOKEN)");
  app.fallthrough();
  int code = 0;

  auto* job = app.add_subcommand("job", "submit, watch and manage jobs");
  job->require_subcommand(1);
  job->fallthrough();

  std::string file;
  std::vector<std::string> sets;
  bool detach = false, dry_run = false, json = false;
  auto* submit = job->add_subcommand(
      "submit",
      "Run a job file (type: command or sweep). Without --detach the job runs in the\n"
      "foreground: its output is streamed, Ctrl-C cancels it (twice: detach), and the exit code\n"
      "is the run's.\n"
      "Limits (raise them through the environment): the job file is a regular file of at most\n" +
          std::to_string(kDefaultMaxJobFileMb) + " MiB ($" + kMaxJobFileMbEnv +
          "); the code: snapshot holds at most " +
          std::to_string(SnapshotLimits{}.max_bytes >> 20) + " MiB of files\n($" +
          kMaxSnapshotMbEnv + ") and " + std::to_string(SnapshotLimits{}.max_entries) +
          " files and folders ($" + kMaxSnapshotFilesEnv + ").");
  submit->add_option("file", file, "job YAML file (Azure ML CLI v2 schema)")->required();
  submit->add_option("--set", sets, "override a key of the file: --set limits.timeout=60 (repeatable)");
  submit->add_flag("--detach,-d", detach, "run in the background and print the job id");
  submit->add_flag("--dry-run", dry_run, "validate and print the resolved job; run and store nothing");
  submit->add_flag("--json", json, "print JSON for scripts");
  submit->callback([&] { code = CmdSubmit(g, file, sets, detach, dry_run, json); });

  std::string id, experiment, status_filter;
  int limit = 50;
  auto* list = job->add_subcommand("list", "list jobs, newest first");
  list->add_option("--experiment,-e", experiment, "only this experiment");
  list->add_option("--status", status_filter, "only runs in this status (running, failed, ...)");
  list->add_option("--limit,-n", limit, "at most this many (default 50; 0 = all)");
  list->add_flag("--json", json, "print JSON for scripts");
  list->callback([&] { code = CmdList(g, experiment, status_filter, limit, json); });

  auto* show = job->add_subcommand("show", "show a run: status, params, metrics, artifacts");
  show->add_option("id", id, "run id (a unique prefix is enough)")->required();
  show->add_flag("--json", json, "print JSON for scripts");
  show->callback([&] { code = CmdShow(g, id, json); });

  bool follow = false;
  auto* logs = job->add_subcommand("logs", "print a run's stdout and stderr");
  logs->add_option("id", id, "run id (a unique prefix is enough)")->required();
  logs->add_flag("--follow,-f", follow, "keep printing until the run ends");
  logs->callback([&] { code = CmdLogs(g, id, follow); });

  auto* cancel = job->add_subcommand("cancel", "stop a job (SIGTERM, then SIGKILL after a grace period)");
  cancel->add_option("id", id, "run id (a unique prefix is enough)")->required();
  cancel->callback([&] { code = CmdCancel(g, id); });

  auto* resume = job->add_subcommand(
      "resume", "drive a job whose controller died (killed, terminal closed): re-attaches to\n"
                "runs still going, records what ended meanwhile, and carries on");
  resume->add_option("id", id, "run id (a unique prefix is enough)")->required();
  resume->callback([&] { code = CmdResume(g, id); });

  bool csv = false;
  auto* exp = job->add_subcommand("export", "a sweep's trials: one row per trial (params, final and best metric, status, duration)");
  exp->add_option("id", id, "sweep id (a unique prefix is enough)")->required();
  exp->add_flag("--csv", csv, "CSV (default: JSON)");
  exp->callback([&] { code = CmdExport(g, id, csv); });

  auto* controller = app.add_subcommand("_controller", "");
  controller->group("");  // hidden: the background controller of `job submit --detach`
  controller->add_option("id", id)->required();
  controller->callback([&] { code = CmdController(g, id); });

  auto* runs = app.add_subcommand("runs", "inspect runs");
  runs->require_subcommand(1);
  runs->fallthrough();
  std::string metric_name;
  auto* metrics = runs->add_subcommand("metrics", "a run's metrics: a summary, or one series with --name");
  metrics->add_option("id", id, "run id (a unique prefix is enough)")->required();
  metrics->add_option("--name", metric_name, "print this metric's full series");
  metrics->add_flag("--json", json, "every series as JSON");
  metrics->callback([&] { code = CmdMetrics(g, id, metric_name, json); });

  auto* log = app.add_subcommand(
      "log", "log from inside a run (shell scripts): appends to $OVERDRIVE_METRICS_FILE");
  log->require_subcommand(1);
  std::string name, value;
  std::optional<std::int64_t> step;
  auto* log_metric = log->add_subcommand(
      "metric",
      "log a metric point: overdrive log metric acc 0.93\n"
      "(nan, inf and -inf are kept as such; a number beyond a double's range, e.g. 1e400, is\n"
      "refused, as is a negative --step: exit code 2 and nothing logged)");
  log_metric->add_option("name", name, "metric name (valid UTF-8, no control characters, at most 250 bytes)")->required();
  log_metric->add_option("value", value, "a number, nan, inf or -inf")->required();
  log_metric->add_option("--step", step, "step, 0 or more (default: one more than the last)");
  log_metric->callback([&] { code = CmdLog(false, name, value, step); });
  auto* log_param = log->add_subcommand("param", "log a param: overdrive log param optimizer adam");
  log_param->add_option("name", name)->required();
  log_param->add_option("value", value)->required();
  log_param->callback([&] { code = CmdLog(true, name, value, std::nullopt); });

  auto* compute = app.add_subcommand("compute", "compute targets that job files name in `compute:`");
  compute->require_subcommand(1);
  compute->fallthrough();
  ComputeAddArgs compute_args;
  auto* compute_add = compute->add_subcommand(
      "add", "map a compute name (e.g. azureml:cpu-cluster) to this machine or a Slurm cluster");
  compute_add->add_option("name", name, "the name job files use (with or without azureml:)")->required();
  compute_add->add_option("--type", compute_args.type,
                          "local (this machine) or slurm (batch jobs through sbatch; run folders "
                          "must be on a filesystem the cluster's nodes share)");
  compute_add->add_option("--partition", compute_args.partition,
                          "slurm: the partition (default: the cluster's default partition)");
  compute_add->add_option("--account", compute_args.account, "slurm: the account to charge");
  compute_add->add_option("--qos", compute_args.qos, "slurm: the quality of service");
  compute_add
      ->add_option("--sbatch-arg", compute_args.sbatch_args,
                   "slurm: one more sbatch argument, repeatable; write it with '=': "
                   "--sbatch-arg=--constraint=a100")
      ->allow_extra_args(false);
  compute_add->add_option("--poll-interval", compute_args.poll_interval_s,
                          "slurm: seconds between two squeue calls (default 1)");
  compute_add->callback([&] { code = CmdComputeAdd(g, name, compute_args); });
  auto* compute_list = compute->add_subcommand("list", "list compute targets");
  compute_list->callback([&] { code = CmdComputeList(g); });
  auto* compute_show = compute->add_subcommand("show", "a compute target's type and settings");
  compute_show->add_option("name", name, "the target's name")->required();
  compute_show->add_flag("--json", json, "as JSON");
  compute_show->callback([&] { code = CmdComputeShow(g, name, json); });

  AddEnvironmentCommands(app, g, code);
  AddSecretCommands(app, g, code);
  AddDataCommands(app, g, code);
  AddModelCommands(app, g, code);
  AddServerCommand(app, g, code);
  AddTokenCommands(app, g, code);
  AddWorkspaceCommands(app, g, code);
  AddServeCommand(app, g, code, [](const Globals& globals, const std::string& ref,
                                   bool environment) -> Result<ServedModel> {
    // MODEL[:VERSION|@ALIAS] from the workspace's registry, unpacked once into a cache folder.
    OD_ASSIGN_OR_RETURN(auto ws, OpenWorkspace(globals, false));
    ModelRegistry registry(ws->store(), ws->artifacts());
    OD_ASSIGN_OR_RETURN(ModelVersion version, registry.Resolve(ref));
    OD_ASSIGN_OR_RETURN(auto folder, registry.Materialize(ref, ws->root() / "model-cache"));
    ServedModel served{folder, version.model, std::to_string(version.version)};
    if (!environment) return served;
    // The environment of the run that made it (environment_prep.hpp).
    OD_ASSIGN_OR_RETURN(RunRecord run, ws->store().GetRun(version.run_id));
    auto env = EnvironmentOfRun(*ws, run, [](const std::string& line) {
      std::cerr << "overdrive serve: " << line << "\n";
    });
    if (!env) {
      Error e = env.error();
      e.message += "; or serve it on this machine's Python with --python /usr/bin/python3";
      return std::unexpected(e);
    }
    if (*env) {
      const RunEnvironment& found = **env;
      served.environment_label = found.label;
      served.environment_kind = found.built.kind;
      served.environment_hash = found.built.hash;
      served.venv = found.built.venv;
      RunPlacement placement = found.built.Placement("");
      served.container = placement.container;
    }
    return served;
  });

  // An unknown subcommand word gets a did-you-mean hint instead of CLI11's generic message.
  {
    CLI::App* current = &app;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--workspace" || arg == "--db" || arg == "--server" || arg == "--token") {
        ++i;
        continue;
      }
      if (arg.empty() || arg[0] == '-') continue;
      auto subs = current->get_subcommands([](CLI::App*) { return true; });
      if (subs.empty()) break;
      CLI::App* next = nullptr;
      std::vector<std::string> names;  // the visible ones, for the hint
      for (auto* sub : subs) {
        if (!sub->get_group().empty()) names.push_back(sub->get_name());
        if (sub->get_name() == arg) next = sub;
      }
      if (!next) {
        std::string where = current == &app ? "overdrive" : "overdrive " + current->get_name();
        std::cerr << "overdrive: unknown command '" << arg << "' for " << where
                  << DidYouMeanSuffix(arg, names) << "; one of: " << Join(names, ", ") << "\n";
        return kExitInvalidInput;
      }
      current = next;
    }
  }
  // `overdrive log metric loss -inf`: CLI11 takes "-inf" for an option; moved behind "--" it is
  // the value it is meant to be.
  std::vector<std::string> args(argv, argv + argc);
  for (int i = 1; i + 2 < argc; ++i) {
    if (args[i] != "log" || args[i + 1] != "metric") continue;
    for (int k = i + 2; k < argc; ++k) {
      if (args[k] == "--") break;
      const char* a = args[k].c_str();
      if (strcasecmp(a, "-inf") == 0 || strcasecmp(a, "-infinity") == 0 ||
          strcasecmp(a, "-nan") == 0) {
        std::string value = args[k];
        args.erase(args.begin() + k);
        args.push_back("--");
        args.push_back(value);
        break;
      }
    }
    break;
  }
  std::vector<char*> parse_argv;
  for (auto& a : args) parse_argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(parse_argv.size()), parse_argv.data());
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitInvalidInput;
  }
  return code;
}

}  // namespace overdrive
