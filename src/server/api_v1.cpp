// The REST API of docs/api.md. Handlers are thin: they authorize, lease a workspace, call the
// stores and views, and shape JSON.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <string_view>
#include <unordered_map>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/input_limits.hpp"
#include "common/strings.hpp"
#include "server/http_util.hpp"
#include "server/job_runner.hpp"
#include "server/server.hpp"
#include "spec/job_spec.hpp"
#include "store/secret_box.hpp"
#include "sweep/environment_assets.hpp"
#include "sweep/run_retention.hpp"
#include "sweep/run_views.hpp"
#include "sweep/submission.hpp"
#include "sweep/sweep_plan.hpp"

namespace overdrive {

namespace fs = std::filesystem;
using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

namespace {

constexpr int kMaxIngestPoints = 10000;

// Everything a handler starts with: who asks, and a workspace to answer from.
struct Call {
  Principal who;
  WorkspacePool::Lease ws;
};

std::optional<Call> Begin(ServerContext& ctx, const Request& req, Response& res, Scope needed) {
  auto who = ctx.Authorize(req, res, needed);
  if (!who) return std::nullopt;
  auto ws = ctx.Lease(res);
  if (!ws) return std::nullopt;
  return Call{*who, std::move(*ws)};
}

json SummaryWithUrl(const RunRecord& r) {
  json j = RunSummaryJson(r);
  j["url"] = "/#/runs/" + r.id;
  return j;
}

// The experiment a listing is limited to: the token's, or the one asked for.
std::optional<std::string> ListingExperiment(const Principal& who, const Request& req) {
  std::string asked = StrParam(req, "experiment");
  if (!who.experiment.empty()) return who.experiment;
  if (!asked.empty()) return asked;
  return std::nullopt;
}

// The objective of a sweep run (from the plan stored at submit).
struct Objective {
  std::string metric;
  Goal goal = Goal::kMaximize;
  int max_total_trials = 0;
  std::string sampling, early_termination;
};
std::optional<Objective> SweepObjective(const RunRecord& sweep) {
  if (sweep.job_type != JobType::kSweep) return std::nullopt;
  auto plan = SweepPlan::FromJson(sweep.launch_json);
  if (!plan) return std::nullopt;
  Objective o;
  o.metric = plan->sweep.objective.primary_metric;
  o.goal = plan->sweep.objective.goal;
  o.max_total_trials = plan->sweep.limits.max_total_trials;
  o.sampling = plan->sweep.sampling.type;
  o.early_termination =
      plan->sweep.early_termination.type.empty() ? "none" : plan->sweep.early_termination.type;
  return o;
}

double Best(const MetricSummary& s, Goal goal) {
  return goal == Goal::kMaximize ? s.max_value : s.min_value;
}

// One trial of a sweep table.
struct TrialRow {
  RunRecord run;
  json params = json::object();
  std::optional<MetricSummary> metric;
  std::optional<double> best;
};

Result<std::vector<TrialRow>> LoadTrialRows(Workspace& ws, const RunRecord& sweep,
                                            const std::string& metric, Goal goal) {
  RunFilter f;
  f.parent_id = sweep.id;
  f.light = true;
  OD_ASSIGN_OR_RETURN(auto runs, ws.store().ListRuns(f));
  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetChildParams(sweep.id));
  std::map<std::string, MetricSummary> sums;
  if (!metric.empty()) {
    OD_ASSIGN_OR_RETURN(sums, ws.store().GetChildMetricSummaries(sweep.id, metric));
  }
  std::vector<TrialRow> rows;
  rows.reserve(runs.size());
  // Oldest first (runs come newest first): the trial index is the order they were created in.
  for (auto rit = runs.rbegin(); rit != runs.rend(); ++rit) {
    RunRecord& r = *rit;
    TrialRow row;
    if (auto it = params.find(r.id); it != params.end()) row.params = ParamsJson(it->second);
    if (auto it = sums.find(r.id); it != sums.end()) {
      row.metric = it->second;
      double b = Best(it->second, goal);
      if (!std::isnan(b)) row.best = b;
    }
    row.run = std::move(r);
    rows.push_back(std::move(row));
  }
  return rows;
}

// One trial's row, read on its own (for a refresh of a few trials).
Result<TrialRow> LoadTrialRow(Workspace& ws, const std::string& id, const std::string& metric,
                              Goal goal) {
  TrialRow row;
  OD_ASSIGN_OR_RETURN(row.run, ws.store().GetRun(id));
  row.run.spec_yaml.clear();  // what a light listing leaves out
  row.run.launch_json.clear();
  row.run.executor_handle.clear();
  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetParams(id));
  row.params = ParamsJson(params);
  if (!metric.empty()) {
    OD_ASSIGN_OR_RETURN(auto sums, ws.store().GetMetricSummaries(id));
    for (auto& s : sums) {
      if (s.name != metric) continue;
      double b = Best(s, goal);
      if (!std::isnan(b)) row.best = b;
      row.metric = std::move(s);
    }
  }
  return row;
}

using ChildStates = std::unordered_map<std::string, ChildState>;

bool Moved(const ChildState& a, const ChildState& b) {
  return a.status != b.status || a.activity != b.activity ||
         a.cancel_requested != b.cancel_requested;
}

// `old` (read when the children were in states `was`) brought up to states `now`: the trials
// whose state moved are read again and new ones appended. nullopt when a full reload is the
// better (or only right) way: many changed, a trial vanished, or a new one is older than the
// newest already there.
Result<std::optional<std::vector<TrialRow>>> RefreshTrialRows(
    Workspace& ws, const std::vector<TrialRow>& old, const ChildStates& was,
    const ChildStates& now, const std::string& metric, Goal goal) {
  constexpr size_t kMaxRefreshed = 256;
  std::vector<std::string> moved, added;
  for (const auto& [id, st] : now) {
    auto it = was.find(id);
    if (it == was.end()) {
      added.push_back(id);
    } else if (Moved(it->second, st)) {
      moved.push_back(id);
    }
    if (moved.size() + added.size() > kMaxRefreshed) return std::nullopt;
  }
  if (now.size() != old.size() + added.size()) return std::nullopt;
  std::vector<TrialRow> rows = old;
  std::unordered_map<std::string_view, size_t> at;
  at.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) at.emplace(rows[i].run.id, i);
  for (const auto& id : moved) {
    auto it = at.find(id);
    if (it == at.end()) return std::nullopt;
    OD_ASSIGN_OR_RETURN(rows[it->second], LoadTrialRow(ws, id, metric, goal));
  }
  std::vector<TrialRow> fresh;
  for (const auto& id : added) {
    OD_ASSIGN_OR_RETURN(auto row, LoadTrialRow(ws, id, metric, goal));
    fresh.push_back(std::move(row));
  }
  std::stable_sort(fresh.begin(), fresh.end(), [](const TrialRow& a, const TrialRow& b) {
    return a.run.created_at < b.run.created_at;
  });
  if (!fresh.empty() && !rows.empty() && fresh.front().run.created_at < rows.back().run.created_at) {
    return std::nullopt;
  }
  for (auto& r : fresh) rows.push_back(std::move(r));
  return rows;
}

// Views of big sweeps and long series, shared by everyone looking at them. A sweep's trials
// table is refreshed only when its activity stamp moves (a trial changed status or was
// written to), and then only the trials whose state moved are read again; a finished run's
// downsampled series is reloaded only when this server logged to it again.
using TrialRows = std::shared_ptr<const std::vector<TrialRow>>;
class ViewCache {
 public:
  Result<TrialRows> Trials(Workspace& ws, const RunRecord& sweep, const std::string& metric,
                           Goal goal) {
    // The stamp first, then the states, then the rows: whatever changes in between shows as a
    // moved stamp or state next time, so it is read again then.
    OD_ASSIGN_OR_RETURN(std::string stamp, ws.store().ActivityStamp(sweep.id));
    std::string key = sweep.id + "\n" + metric + "\n" + (goal == Goal::kMaximize ? "max" : "min");
    std::shared_ptr<const TrialView> prev;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = trials_.find(key);
      if (it != trials_.end()) {
        if (it->second->stamp == stamp) return it->second->rows;
        prev = it->second;
      }
    }
    auto next = std::make_shared<TrialView>();
    next->stamp = stamp;
    OD_ASSIGN_OR_RETURN(auto states, ws.store().GetChildStates(sweep.id));
    next->states.reserve(states.size());
    for (auto& c : states) next->states.emplace(c.id, std::move(c));
    std::optional<std::vector<TrialRow>> rows;
    if (prev) {
      OD_ASSIGN_OR_RETURN(rows, RefreshTrialRows(ws, *prev->rows, prev->states, next->states,
                                                 metric, goal));
    }
    if (!rows) {
      OD_ASSIGN_OR_RETURN(auto loaded, LoadTrialRows(ws, sweep, metric, goal));
      rows = std::move(loaded);
    }
    next->rows = std::make_shared<const std::vector<TrialRow>>(std::move(*rows));
    std::lock_guard<std::mutex> lock(mu_);
    if (trials_.size() >= 16 && !trials_.count(key)) trials_.erase(trials_.begin());
    trials_[key] = next;
    return next->rows;
  }
  std::optional<json> Series(const std::string& key, std::uint64_t writes) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = series_.find(key);
    if (it == series_.end() || it->second.first != writes) return std::nullopt;
    return it->second.second;
  }
  void PutSeries(const std::string& key, std::uint64_t writes, json value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (series_.size() >= 64) series_.erase(series_.begin());
    series_[key] = {writes, std::move(value)};
  }

 private:
  std::mutex mu_;
  struct TrialView {
    std::string stamp;
    TrialRows rows;
    ChildStates states;  // of the children, read before the rows
  };
  std::map<std::string, std::shared_ptr<const TrialView>> trials_;
  std::map<std::string, std::pair<std::uint64_t, json>> series_;
};

const TrialRow* BestRow(const std::vector<TrialRow>& rows, Goal goal) {
  const TrialRow* best = nullptr;
  for (const auto& r : rows) {
    if (!r.best) continue;
    if (!best || (goal == Goal::kMaximize ? *r.best > *best->best : *r.best < *best->best)) {
      best = &r;
    }
  }
  return best;
}

json MetricJson(const std::optional<MetricSummary>& s, const std::optional<double>& best) {
  if (!s) return nullptr;
  return {{"best", best ? JsonNumber(*best) : json(nullptr)},
          {"last", JsonNumber(s->last_value)},
          {"count", s->count}};
}

bool ContainsText(const TrialRow& r, const std::string& q) {
  if (r.run.id.find(q) != std::string::npos) return true;
  if (std::string(RunStatusName(r.run.status)).find(q) != std::string::npos) return true;
  if (r.run.display_name.find(q) != std::string::npos) return true;
  for (const auto& [k, v] : r.params.items()) {
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    if (text.find(q) != std::string::npos) return true;
  }
  return false;
}

// Orders JSON param values: numbers by value, then everything else by its text.
bool ParamLess(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() < b.get<double>();
  if (a.is_number() != b.is_number()) return a.is_number();
  return a.dump() < b.dump();
}

void SendTrialsPage(ViewCache& cache, Call& c, const RunRecord& sweep, const Request& req,
                    Response& res) {
  auto obj = SweepObjective(sweep);
  std::string metric = obj ? obj->metric : StrParam(req, "metric");
  Goal goal = obj ? obj->goal : Goal::kMaximize;
  auto loaded = cache.Trials(*c.ws, sweep, metric, goal);
  if (!loaded) return SendError(res, loaded.error());
  const std::vector<TrialRow>* rows = loaded->get();
  const TrialRow* best = BestRow(*rows, goal);
  std::set<std::string> names;
  for (const auto& r : *rows)
    for (const auto& [k, v] : r.params.items()) names.insert(k);

  std::vector<const TrialRow*> view;
  std::string q = StrParam(req, "q");
  std::set<std::string> statuses;
  for (const auto& s : Split(StrParam(req, "status"), ',')) {
    if (!Trim(s).empty()) statuses.insert(Trim(s));
  }
  for (const auto& r : *rows) {
    if (!statuses.empty() && !statuses.count(RunStatusName(r.run.status))) continue;
    if (!q.empty() && !ContainsText(r, q)) continue;
    view.push_back(&r);
  }
  std::string sort = StrParam(req, "sort", "created_at");
  bool desc = StrParam(req, "order", sort == "metric" ? "best" : "desc") == "desc";
  if (sort == "metric" && StrParam(req, "order", "best") == "best") {
    desc = goal == Goal::kMaximize;
  }
  auto cmp = [&](const TrialRow* a, const TrialRow* b) -> bool {
    if (sort == "metric") {
      // Trials without a value go last whatever the order.
      if (a->best.has_value() != b->best.has_value()) return a->best.has_value();
      if (!a->best) return false;
      return desc ? *a->best > *b->best : *a->best < *b->best;
    }
    if (sort == "status") {
      int x = static_cast<int>(a->run.status), y = static_cast<int>(b->run.status);
      return desc ? x > y : x < y;
    }
    if (sort == "duration") {
      double x = RunDuration(a->run), y = RunDuration(b->run);
      return desc ? x > y : x < y;
    }
    if (StartsWith(sort, "param:")) {
      std::string name = sort.substr(6);
      bool ha = a->params.contains(name), hb = b->params.contains(name);
      if (ha != hb) return ha;
      if (!ha) return false;
      return desc ? ParamLess(b->params[name], a->params[name])
                  : ParamLess(a->params[name], b->params[name]);
    }
    return desc ? a->run.created_at > b->run.created_at : a->run.created_at < b->run.created_at;
  };
  std::stable_sort(view.begin(), view.end(), cmp);
  long long limit = IntParam(req, "limit", 50, 1, 1000);
  long long offset = IntParam(req, "offset", 0, 0, 1LL << 40);
  json out = json::array();
  for (long long i = offset; i < static_cast<long long>(view.size()) && i < offset + limit; ++i) {
    const TrialRow& r = *view[static_cast<size_t>(i)];
    json j = RunSummaryJson(r.run);
    j["params"] = r.params;
    j["metric"] = MetricJson(r.metric, r.best);
    j["index"] = (&r - rows->data()) + 1;
    out.push_back(std::move(j));
  }
  SendJson(res, 200,
           {{"runs", out},
            {"total", view.size()},
            {"offset", offset},
            {"limit", limit},
            {"metric", metric},
            {"goal", goal == Goal::kMaximize ? "maximize" : "minimize"},
            {"best_trial", best ? json(best->run.id) : json(nullptr)},
            {"param_names", names}});
}

// The versions of `model` a caller may see: for a token limited to one experiment, those
// registered from runs of that experiment (an empty list reads as "no such model").
Result<std::vector<ModelVersion>> VisibleModelVersions(Workspace& ws, const Principal& who,
                                                       const std::string& model) {
  OD_ASSIGN_OR_RETURN(auto versions, ws.store().ListModelVersions(model));
  if (who.experiment.empty()) return versions;
  std::vector<ModelVersion> out;
  for (auto& v : versions) {
    auto run = ws.store().GetRun(v.run_id);
    if (run && who.SeesExperiment(run->experiment_name)) out.push_back(std::move(v));
  }
  return out;
}

void SendTopLevelPage(Call& c, const Request& req, Response& res, const char* key) {
  RunFilter f;
  f.parent_id = "";
  f.light = true;
  f.experiment = ListingExperiment(c.who, req);
  std::string asked = StrParam(req, "experiment");
  if (!asked.empty() && !c.who.SeesExperiment(asked)) {
    return SendJson(res, 200, {{key, json::array()}, {"total", 0}, {"offset", 0}, {"limit", 0}});
  }
  std::string status = StrParam(req, "status");
  if (!status.empty()) {
    auto st = ParseRunStatus(status);
    if (!st) return SendError(res, 400, "invalid_input", "unknown status '" + status + "'");
    f.status = st;
  }
  f.limit = static_cast<int>(IntParam(req, "limit", 50, 1, 1000));
  f.offset = static_cast<int>(IntParam(req, "offset", 0, 0, 1 << 30));
  auto runs = c.ws->store().ListRuns(f);
  if (!runs) return SendError(res, runs.error());
  auto total = c.ws->store().CountRuns(f);
  if (!total) return SendError(res, total.error());
  json list = json::array();
  for (const auto& r : *runs) list.push_back(SummaryWithUrl(r));
  SendJson(res, 200, {{key, list}, {"total", *total}, {"offset", f.offset}, {"limit", f.limit}});
}

json SweepHeader(ViewCache& cache, Workspace& ws, const RunRecord& sweep) {
  json j;
  auto obj = SweepObjective(sweep);
  if (!obj) return j;
  j["objective"] = {{"primary_metric", obj->metric},
                    {"goal", obj->goal == Goal::kMaximize ? "maximize" : "minimize"}};
  j["sampling"] = obj->sampling;
  j["early_termination"] = obj->early_termination;
  j["max_total_trials"] = obj->max_total_trials;
  auto loaded = cache.Trials(ws, sweep, obj->metric, obj->goal);
  if (!loaded) return j;
  const std::vector<TrialRow>* rows = loaded->get();
  json counts = json::object();
  double used = 0;
  for (const auto& r : *rows) {
    std::string s = RunStatusName(r.run.status);
    counts[s] = counts.value(s, 0) + 1;
    used += RunDuration(r.run);
  }
  j["trial_counts"] = counts;
  j["trials"] = rows->size();
  j["trial_seconds"] = used;
  const TrialRow* best = BestRow(*rows, obj->goal);
  j["best_trial"] = best ? json(best->run.id) : json(nullptr);
  j["best_value"] = best ? JsonNumber(*best->best) : json(nullptr);
  return j;
}

// Reads `path` from `offset` (at most `max` bytes).
std::string ReadRange(const fs::path& path, std::int64_t offset, std::int64_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(offset);
  std::string data(static_cast<size_t>(max), '\0');
  in.read(data.data(), max);
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

std::int64_t FileSize(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

void HandleLogs(ServerContext& ctx, Call& c, const RunRecord& run, const Request& req,
                Response& res) {
  std::string stream = StrParam(req, "stream", "stdout");
  if (stream != "stdout" && stream != "stderr") {
    return SendError(res, 400, "invalid_input", "stream must be stdout or stderr");
  }
  fs::path file = fs::path(run.run_dir) / (stream + ".log");
  std::int64_t size = FileSize(file);
  std::int64_t offset;
  if (req.has_param("offset")) {
    offset = IntParam(req, "offset", 0, 0, 1LL << 50);
  } else {
    offset = std::max<std::int64_t>(0, size - IntParam(req, "tail", 64 << 10, 0, 16 << 20));
  }
  long long wait_s = IntParam(req, "wait", 0, 0, 30);
  bool final = IsFinal(run.status);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  while (wait_s > 0 && size <= offset && !final && !ctx.stopping &&
         std::chrono::steady_clock::now() < deadline) {
    ctx.WaitForChange(250);
    size = FileSize(file);
    auto now = c.ws->store().GetRun(run.id);
    if (now) final = IsFinal(now->status);
  }
  if (final) size = FileSize(file);  // the last bytes written before the end
  // An ended run's folder is emptied once its logs are in the artifact store
  // (run_retention.hpp): the stored copy is the same bytes.
  std::optional<ArtifactRecord> stored;
  std::error_code ec;
  if (final && !fs::exists(file, ec)) {
    auto found = FindStoredLog(*c.ws, run.id, stream + ".log");
    if (!found) return SendError(res, found.error());
    stored = *found;
    if (stored) size = stored->size;
  }
  if (!req.has_param("offset") && stored) {
    offset = std::max<std::int64_t>(0, size - IntParam(req, "tail", 64 << 10, 0, 16 << 20));
  }
  std::int64_t n = std::min<std::int64_t>(std::max<std::int64_t>(size - offset, 0), 4 << 20);
  std::string data;
  if (n > 0 && stored) {
    auto got = c.ws->artifacts().GetRange(stored->digest, offset, n);
    if (!got) return SendError(res, got.error());
    data = std::move(*got);
  } else if (n > 0) {
    data = ReadRange(file, offset, n);
  }
  SendJson(res, 200,
           {{"data", data},
            {"offset", offset},
            {"next_offset", offset + static_cast<std::int64_t>(data.size())},
            {"size", size},
            {"final", final && offset + static_cast<std::int64_t>(data.size()) >= size}});
}

void HandleIngest(ServerContext& ctx, Call& c, const RunRecord& run, const Request& req,
                  Response& res) {
  auto body = JsonBody(req, res);
  if (!body) return;
  std::vector<MetricPoint> points;
  std::vector<Param> params;
  if (!body->is_object()) {
    return SendError(res, 400, "invalid_input",
                     "send {\"metrics\": [{\"name\", \"value\", \"step\"}, ...]} and/or "
                     "{\"params\": {name: value}}");
  }
  for (const auto& [key, v] : body->items()) {
    // A misspelt key would otherwise be a batch of nothing, answered "accepted: 0".
    if (key != "metrics" && key != "params") {
      return SendError(res, 400, "invalid_input",
                       "unknown key \"" + key + "\"" + DidYouMeanSuffix(key, {"metrics", "params"}) +
                           ": a batch is {\"metrics\": [...], \"params\": {...}}");
    }
  }
  try {
    if (body->contains("metrics")) {
      const json& m = (*body)["metrics"];
      if (!m.is_array()) return SendError(res, 400, "invalid_input", "\"metrics\" must be a list");
      if (m.size() > kMaxIngestPoints) {
        return SendError(res, 413, "too_large",
                         "at most " + std::to_string(kMaxIngestPoints) +
                             " points per request; send several batches");
      }
      points.reserve(m.size());
      for (size_t i = 0; i < m.size(); ++i) {
        const json& p = m[i];
        std::string where = "metrics[" + std::to_string(i) + "]";
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
          return SendError(res, 400, "invalid_input", where + ": needs a non-empty \"name\"");
        }
        MetricPoint pt;
        pt.name = p["name"].get<std::string>();
        if (auto ok = ValidateName("metric name", pt.name); !ok) {
          return SendError(res, 400, "invalid_input", where + ": " + ok.error().message);
        }
        const json& v = p.value("value", json());
        if (v.is_number()) {
          pt.value = v.get<double>();
        } else if (v.is_null()) {
          pt.value = std::nan("");
        } else if (auto special = v.is_string() ? NonFiniteValue(v.get<std::string>())
                                                : std::nullopt) {
          pt.value = *special;
        } else {
          return SendError(res, 400, "invalid_input",
                           where + ": \"value\" must be a number (or \"NaN\", \"Infinity\", "
                                   "\"-Infinity\")");
        }
        // A step is what orders a series: one the store cannot keep exactly is refused, not
        // quietly replaced by the next automatic step.
        pt.step = -1;
        if (p.contains("step") && !p["step"].is_null()) {
          const json& s = p["step"];
          if (!s.is_number_integer() || s.get<double>() < 0 || s.get<double>() > kMaxStep) {
            return SendError(res, 400, "invalid_input",
                             where + ": \"step\" must be an integer from 0 to 2^53 (got " +
                                 s.dump() + ")");
          }
          pt.step = s.get<std::int64_t>();
        }
        pt.timestamp = 0;
        if (p.contains("timestamp") && !p["timestamp"].is_null()) {
          if (!p["timestamp"].is_number() || p["timestamp"].get<double>() < 0) {
            return SendError(res, 400, "invalid_input",
                             where + ": \"timestamp\" must be seconds since the epoch");
          }
          pt.timestamp = p["timestamp"].get<double>();
        }
        points.push_back(std::move(pt));
      }
    }
    if (body->contains("params")) {
      const json& ps = (*body)["params"];
      if (!ps.is_object()) return SendError(res, 400, "invalid_input", "\"params\" must be an object");
      for (const auto& [k, v] : ps.items()) {
        if (auto ok = ValidateName("param name", k); !ok) {
          return SendError(res, 400, "invalid_input", ok.error().message);
        }
        params.push_back(Param{k, v.dump()});
      }
    }
  } catch (const json::exception& e) {
    return SendError(res, 400, "invalid_input", e.what());
  }
  size_t n = points.size();
  auto ok = ctx.LogToRun(*c.ws, run, std::move(points), params);
  if (!ok) return SendError(res, ok.error());
  SendJson(res, 200, {{"accepted", n}, {"params", params.size()}});
}

// A folder removed when the request is done.
struct RemovedOnExit {
  fs::path p;
  ~RemovedOnExit() {
    std::error_code e;
    fs::remove_all(p, e);
  }
};

// Places a submit's uploads under `tmp`: the code ("code", a tar, and "code_dir", its path
// relative to the submitted file) and what an inline environment names outside it
// ("attach_file", "attach_tar", each named by its path relative to the submitted file), all
// relative to a stand-in folder for that file, deep enough for their leading '..'s; none may
// leave `tmp`. Returns the stand-in folder (created).
Result<fs::path> PlaceUploads(ServerContext& ctx, Call& c, const Request& req, const fs::path& tmp) {
  auto bad = [](const std::string& why) { return MakeError(ErrorCode::kInvalidInput, why); };
  std::string code_rel = req.has_file("code_dir") ? req.get_file_value("code_dir").content : ".";
  std::vector<std::pair<std::string, const httplib::MultipartFormData*>> attached;
  for (const char* field : {"attach_file", "attach_tar"}) {
    auto all = req.files.equal_range(field);
    for (auto it = all.first; it != all.second; ++it) attached.push_back({field, &it->second});
  }
  if (attached.size() > 16) return bad("at most 16 attached files");
  auto ups_of = [](const fs::path& p) {
    int n = 0;
    for (const auto& part : p) n += part == "..";
    return n;
  };
  int ups = 0;
  std::vector<std::string> rels = {code_rel};
  for (const auto& [field, item] : attached) rels.push_back(item->filename);
  for (const auto& rel : rels) {
    fs::path relp = fs::path(rel).lexically_normal();
    if (rel.empty() || relp.is_absolute() || ups_of(relp) > 16) {
      return bad("'" + rel + "' must be a relative path");
    }
    ups = std::max(ups, ups_of(relp));
  }
  fs::path base = tmp / "job";
  for (int i = 0; i < ups; ++i) base /= "up";
  // Where `rel` goes, or "" when it would leave the upload folder.
  auto place = [&](const std::string& rel) -> fs::path {
    fs::path dest = (base / fs::path(rel).lexically_normal()).lexically_normal();
    auto inside = dest.lexically_relative(tmp);
    if (inside.empty() || *inside.begin() == "..") return {};
    return dest;
  };
  UnpackLimits limits;
  limits.max_bytes = ctx.options.limits.max_unpacked_bytes;
  limits.max_entries = 200'000;
  auto unpack = [&](const std::string& tar, const fs::path& dest) -> Result<void> {
    OD_ASSIGN_OR_RETURN(auto digest, c.ws->artifacts().PutBytes(tar));
    auto unpacked = UnpackSnapshot(c.ws->artifacts(), digest, dest, limits);
    if (!unpacked) {
      Error e = unpacked.error();
      if (e.code == ErrorCode::kTooLarge) e.message += " (overdrive server --max-upload-unpacked-mb)";
      return std::unexpected(e);
    }
    return {};
  };
  if (req.has_file("code")) {
    fs::path dest = place(code_rel);
    if (dest.empty()) return bad("code_dir '" + code_rel + "' leaves the upload folder");
    OD_TRY(unpack(req.get_file_value("code").content, dest));
  }
  std::error_code ec;
  for (const auto& [field, item] : attached) {
    fs::path dest = place(item->filename);
    if (dest.empty() || dest == base) {
      return bad(field + " '" + item->filename + "' leaves the upload folder");
    }
    if (field == "attach_tar") {
      OD_TRY(unpack(item->content, dest));
      continue;
    }
    if (static_cast<std::int64_t>(item->content.size()) > ctx.options.limits.max_unpacked_bytes) {
      return MakeError(ErrorCode::kTooLarge, "attached file '" + item->filename + "' is too large");
    }
    fs::create_directories(dest.parent_path(), ec);
    std::ofstream out(dest, std::ios::binary);
    out << item->content;
    if (!out) return MakeError(ErrorCode::kIo, "cannot write the attached file " + item->filename);
  }
  fs::create_directories(base, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + base.string() + ": " + ec.message());
  return base;
}

// POST /api/v1/jobs: a job file (and its code as a tar) submitted like `overdrive job submit`.
void HandleSubmit(ServerContext& ctx, Call& c, const Request& req, Response& res) {
  if (!req.is_multipart_form_data() || !req.has_file("spec")) {
    return SendError(res, 400, "invalid_input",
                     "send multipart/form-data with a \"spec\" field (the job YAML), optional "
                     "\"file_name\", repeated \"set\" fields and a \"code\" tar");
  }
  std::string text = req.get_file_value("spec").content;
  std::string file_name = req.has_file("file_name") ? req.get_file_value("file_name").content : "job.yml";
  std::vector<std::string> sets;
  auto range = req.files.equal_range("set");
  for (auto it = range.first; it != range.second; ++it) sets.push_back(it->second.content);

  fs::path tmp = c.ws->root() / "uploads" / NewRunId();
  RemovedOnExit cleanup{tmp};
  auto placed = PlaceUploads(ctx, c, req, tmp);
  if (!placed) return SendError(res, placed.error());
  const fs::path base = *placed;
  auto spec = ParseJobText(text, file_name, base, sets);
  if (!spec) return SendError(res, spec.error());
  if (!c.who.SeesExperiment(spec->experiment_name)) {
    return SendError(res, 403, "forbidden",
                     "token " + c.who.token_id + " may only submit to experiment '" +
                         c.who.experiment + "', not '" + spec->experiment_name + "'");
  }
  auto submitted = SubmitJob(*c.ws, *spec);
  if (!submitted) return SendError(res, submitted.error());
  ctx.jobs->Start(submitted->run.id);
  ctx.Notify();
  json out = SummaryWithUrl(submitted->run);
  out["url"] = ctx.RunUrl(submitted->run.id);
  out["warnings"] = submitted->warnings;
  out["snapshot_files"] = submitted->snapshot_files;
  SendJson(res, 201, out);
}

// POST /api/v1/environments: an environment YAML ("spec", "file_name", its conda file as
// "attach_file" named by its path relative to the YAML; optional "name", "version"), stored like
// `overdrive environment create`. 201 with the stored version ("created": false when the same
// spec was there already).
void HandleCreateEnvironment(ServerContext& ctx, Call& c, const Request& req, Response& res) {
  if (!req.is_multipart_form_data() || !req.has_file("spec")) {
    return SendError(res, 400, "invalid_input",
                     "send multipart/form-data with a \"spec\" field (the environment YAML), "
                     "optional \"file_name\", \"name\", \"version\" and its conda file as "
                     "\"attach_file\"");
  }
  auto field = [&](const char* name) {
    return req.has_file(name) ? req.get_file_value(name).content : std::string();
  };
  std::string file_name = req.has_file("file_name") ? field("file_name") : "env.yml";
  fs::path tmp = c.ws->root() / "uploads" / NewRunId();
  RemovedOnExit cleanup{tmp};
  auto base = PlaceUploads(ctx, c, req, tmp);
  if (!base) return SendError(res, base.error());
  auto spec = ParseEnvironmentText(field("spec"), file_name, *base);
  if (!spec) return SendError(res, spec.error());
  if (spec->build_path) {
    return SendError(res, 400, "invalid_input",
                     spec->build_pos.ToString() + ": an environment with a build: context is "
                     "created on the server's machine (its context stays there)");
  }
  // The upload folder goes when the request ends: the version keeps the conda file's text, and
  // its path as the client wrote it (relative to the YAML), so the same file sent again is the
  // same spec.
  if (spec->conda_file) spec->conda_file = spec->conda_file->lexically_relative(*base);
  auto created = CreateEnvironmentAsset(c.ws->store(), std::move(*spec), field("name"),
                                        field("version"), file_name);
  if (!created) return SendError(res, created.error());
  auto stored = StoredEnvironmentSpec(created->record);
  if (!stored) return SendError(res, stored.error());
  json out = EnvironmentJson(created->record, *stored);
  out["created"] = !created->existed;
  SendJson(res, created->existed ? 200 : 201, out);
}

// Server-sent events: an "update" whenever the watched run (or the job list) changes.
void HandleEvents(ServerContext& ctx, const Principal& who, const Request& req, Response& res) {
  std::string run_id = StrParam(req, "run");
  if (!run_id.empty()) {
    auto lease = ctx.Lease(res);
    if (!lease) return;
    auto run = ctx.VisibleRun(**lease, who, run_id, res);
    if (!run) return;
    run_id = run->id;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  struct State {
    std::string last;
    std::chrono::steady_clock::time_point last_sent = std::chrono::steady_clock::now();
    bool first = true;
  };
  auto state = std::make_shared<State>();
  // The job-list stamp of a token limited to one experiment counts only that experiment's jobs.
  std::optional<std::string> experiment;
  if (!who.experiment.empty()) experiment = who.experiment;
  res.set_chunked_content_provider(
      "text/event-stream", [&ctx, run_id, experiment, state](size_t, httplib::DataSink& sink) {
        if (ctx.stopping || !sink.is_writable()) return false;
        if (!state->first) ctx.WaitForChange(500);
        state->first = false;
        if (ctx.stopping) return false;
        auto lease = ctx.pool->Acquire();
        if (!lease) return false;
        std::string stamp, status;
        if (!run_id.empty()) {
          auto s = (*lease)->store().ActivityStamp(run_id);
          auto r = (*lease)->store().GetRun(run_id);
          if (!s || !r) return false;
          stamp = *s;
          status = RunStatusName(r->status);
        } else {
          RunFilter f;
          f.experiment = experiment;
          f.parent_id = "";
          auto n = (*lease)->store().CountRuns(f);
          f.limit = 50;
          f.light = true;
          auto runs = (*lease)->store().ListRuns(f);
          if (!n || !runs) return false;
          stamp = std::to_string(*n);
          for (const auto& r : *runs) stamp += std::string(":") + RunStatusName(r.status);
        }
        auto now = std::chrono::steady_clock::now();
        std::string out;
        if (stamp != state->last) {
          state->last = stamp;
          json d = {{"stamp", stamp}};
          if (!run_id.empty()) {
            d["run"] = run_id;
            d["status"] = status;
          }
          out = "event: update\ndata: " + d.dump() + "\n\n";
        } else if (now - state->last_sent > std::chrono::seconds(15)) {
          out = ": keep-alive\n\n";
        }
        if (!out.empty()) {
          state->last_sent = now;
          if (!sink.write(out.data(), out.size())) return false;
        }
        return true;
      });
}

}  // namespace

void RegisterApiRoutes(httplib::Server& http, ServerContext& ctx) {
  auto cache = std::make_shared<ViewCache>();
  http.Get("/api/v1/health", [&ctx](const Request&, Response& res) {
    if (!ctx.auth->required()) {
      auto lease = ctx.Lease(res);
      if (!lease) return;
      if (auto on = ctx.auth->Refresh((*lease)->store()); !on) return SendError(res, on.error());
    }
    SendJson(res, 200,
             {{"status", "ok"},
              {"version", OVERDRIVE_VERSION},
              {"store", ctx.pool->location().db_url.empty() ? "sqlite" : "postgresql"},
              {"auth", ctx.auth->required()},
              {"active_jobs", ctx.jobs->Active()}});
  });

  http.Get("/api/v1/experiments", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto exps = c->ws->store().ListExperiments();
    if (!exps) return SendError(res, exps.error());
    json list = json::array();
    for (const auto& e : *exps) {
      if (!c->who.SeesExperiment(e.name)) continue;
      RunFilter f;
      f.experiment = e.name;
      f.parent_id = "";
      auto total = c->ws->store().CountRuns(f);
      if (!total) return SendError(res, total.error());
      std::int64_t active = 0;
      for (RunStatus s : {RunStatus::kQueued, RunStatus::kStarting, RunStatus::kRunning}) {
        f.status = s;
        auto n = c->ws->store().CountRuns(f);
        if (!n) return SendError(res, n.error());
        active += *n;
      }
      list.push_back({{"id", e.id}, {"name", e.name}, {"created_at", e.created_at},
                      {"runs", *total}, {"active", active}});
    }
    SendJson(res, 200, {{"experiments", list}});
  });

  http.Get("/api/v1/jobs", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (c) SendTopLevelPage(*c, req, res, "jobs");
  });

  PostWithBody(http, "/api/v1/jobs", ctx.options.limits.max_upload_bytes, ctx.options.limits.max_json_depth, [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kWrite);
    if (c) HandleSubmit(ctx, *c, req, res);
  });

  http.Get("/api/v1/environments", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto all = c->ws->store().ListEnvironments();
    if (!all) return SendError(res, all.error());
    json list = json::array();
    for (const auto& r : *all) {
      auto spec = StoredEnvironmentSpec(r);
      if (!spec) return SendError(res, spec.error());
      list.push_back(EnvironmentJson(r, *spec));
    }
    SendJson(res, 200, {{"environments", list}});
  });

  http.Get(R"(/api/v1/environments/([^/]+))", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    std::string ref = std::string(req.matches[1]);
    if (std::string v = StrParam(req, "version"); !v.empty()) ref += ":" + v;
    auto r = LookupEnvironment(c->ws->store(), ref, "GET /api/v1/environments");
    if (!r) return SendError(res, r.error());
    auto spec = StoredEnvironmentSpec(*r);
    if (!spec) return SendError(res, spec.error());
    SendJson(res, 200, EnvironmentJson(*r, *spec));
  });

  PostWithBody(http, "/api/v1/environments", ctx.options.limits.max_upload_bytes,
               ctx.options.limits.max_json_depth, [&ctx](const Request& req, Response& res) {
                 auto c = Begin(ctx, req, res, Scope::kWrite);
                 if (c) HandleCreateEnvironment(ctx, *c, req, res);
               });

  http.Get("/api/v1/runs", [&ctx, cache](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    std::string parent = StrParam(req, "parent");
    if (parent.empty()) return SendTopLevelPage(*c, req, res, "runs");
    auto sweep = ctx.VisibleRun(*c->ws, c->who, parent, res);
    if (sweep) SendTrialsPage(*cache, *c, *sweep, req, res);
  });

  http.Get(R"(/api/v1/runs/([^/]+))", [&ctx, cache](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!run) return;
    auto j = RunToJson(*c->ws, *run, false);
    if (!j) return SendError(res, j.error());
    (*j)["url"] = ctx.RunUrl(run->id);
    auto artifacts = c->ws->store().ListArtifacts(run->id);
    auto events = c->ws->store().ListEvents(run->id);
    if (!artifacts || !events) return SendError(res, 500, "internal", "cannot read the run");
    json arts = json::array(), ev = json::array();
    for (const auto& a : *artifacts) arts.push_back({{"path", a.path}, {"size", a.size}, {"digest", a.digest}});
    for (const auto& e : *events) {
      if (IsStopIntentEvent(e)) continue;  // the controller's own bookkeeping
      ev.push_back({{"timestamp", e.timestamp}, {"kind", e.kind}, {"message", e.message}});
    }
    (*j)["artifacts"] = arts;
    (*j)["events"] = ev;
    if (run->job_type == JobType::kSweep) {
      json header = SweepHeader(*cache, *c->ws, *run);
      for (auto& [k, v] : header.items()) (*j)[k] = v;
    }
    SendJson(res, 200, *j);
  });

  http.Get(R"(/api/v1/runs/([^/]+)/trials/points)", [&ctx, cache](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto sweep = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!sweep) return;
    auto obj = SweepObjective(*sweep);
    std::string metric = StrParam(req, "metric", obj ? obj->metric : "");
    Goal goal = obj ? obj->goal : Goal::kMaximize;
    auto loaded = cache->Trials(*c->ws, *sweep, metric, goal);
    if (!loaded) return SendError(res, loaded.error());
    const std::vector<TrialRow>* rows = loaded->get();
    std::set<std::string> names;
    json trials = json::array();
    for (const auto& r : *rows) {
      for (const auto& [k, v] : r.params.items()) names.insert(k);
      trials.push_back({{"id", r.run.id},
                        {"status", RunStatusName(r.run.status)},
                        {"params", r.params},
                        {"best", r.best ? JsonNumber(*r.best) : json(nullptr)},
                        {"last", r.metric ? JsonNumber(r.metric->last_value) : json(nullptr)},
                        {"count", r.metric ? r.metric->count : 0}});
    }
    const TrialRow* best = BestRow(*rows, goal);
    SendJson(res, 200, {{"metric", metric},
                        {"goal", goal == Goal::kMaximize ? "maximize" : "minimize"},
                        {"param_names", names},
                        {"best_trial", best ? json(best->run.id) : json(nullptr)},
                        {"trials", trials}});
  });

  http.Get(R"(/api/v1/runs/([^/]+)/metrics)", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!run) return;
    auto sums = c->ws->store().GetMetricSummaries(run->id);
    if (!sums) return SendError(res, sums.error());
    json list = json::array();
    for (const auto& s : *sums) {
      list.push_back({{"name", s.name}, {"count", s.count}, {"last", JsonNumber(s.last_value)},
                      {"last_step", s.last_step}, {"min", JsonNumber(s.min_value)},
                      {"max", JsonNumber(s.max_value)}});
    }
    SendJson(res, 200, {{"metrics", list}});
  });

  http.Get(R"(/api/v1/runs/([^/]+)/metrics/(.+))", [&ctx, cache](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!run) return;
    std::string name = req.matches[2];
    int max_points = static_cast<int>(IntParam(req, "max_points", 1000, 1, 10000));
    // A finished run's series only changes if this server logs to it again.
    std::string key = run->id + "\n" + name + "\n" + std::to_string(max_points);
    std::uint64_t writes = ctx.RunWrites(run->id);
    bool final = IsFinal(run->status);
    if (final) {
      if (auto hit = cache->Series(key, writes)) return SendJson(res, 200, *hit);
    }
    auto buckets = c->ws->store().GetMetricBuckets(run->id, name, max_points);
    if (!buckets) return SendError(res, buckets.error());
    std::int64_t count = 0;
    bool down = false;
    json points = json::array();
    for (const auto& b : *buckets) {
      count += b.count;
      down = down || b.count > 1;
      points.push_back({{"step", b.step_first}, {"value", JsonNumber(b.value)},
                        {"min", JsonNumber(b.min_value)}, {"max", JsonNumber(b.max_value)}});
    }
    json out = {{"name", name}, {"count", count}, {"downsampled", down}, {"points", points}};
    if (final) cache->PutSeries(key, writes, out);
    SendJson(res, 200, out);
  });

  PostWithBody(http, R"(/api/v1/runs/([^/]+)/metrics)", ctx.options.limits.max_body_bytes, ctx.options.limits.max_json_depth, [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kWrite);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (run) HandleIngest(ctx, *c, *run, req, res);
  });

  http.Get(R"(/api/v1/runs/([^/]+)/logs)", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (run) HandleLogs(ctx, *c, *run, req, res);
  });

  http.Get(R"(/api/v1/runs/([^/]+)/artifacts)", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!run) return;
    auto arts = c->ws->store().ListArtifacts(run->id);
    if (!arts) return SendError(res, arts.error());
    json list = json::array();
    for (const auto& a : *arts) list.push_back({{"path", a.path}, {"size", a.size}, {"digest", a.digest}});
    SendJson(res, 200, {{"artifacts", list}});
  });

  // Downloads go by the artifact records only: the path is a key looked up in the run's
  // records, never joined to a folder, so '..', absolute paths and symlinks lead nowhere.
  http.Get(R"(/api/v1/runs/([^/]+)/artifacts/(.+))", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!run) return;
    std::string path = req.matches[2];
    auto arts = c->ws->store().ListArtifacts(run->id);
    if (!arts) return SendError(res, arts.error());
    auto it = std::find_if(arts->begin(), arts->end(),
                           [&](const ArtifactRecord& a) { return a.path == path; });
    if (it == arts->end()) {
      return SendError(res, 404, "not_found",
                       "run " + run->id + " has no artifact '" + path + "'");
    }
    auto bytes = c->ws->artifacts().GetBytes(it->digest);
    if (!bytes) return SendError(res, bytes.error());
    std::string base = path.substr(path.find_last_of('/') + 1);
    res.set_header("Content-Disposition", "attachment; filename=\"" + base + "\"");
    res.set_content(std::move(*bytes), "application/octet-stream");
  });

  PostWithBody(http, R"(/api/v1/runs/([^/]+)/cancel)", ctx.options.limits.max_body_bytes, ctx.options.limits.max_json_depth, [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kWrite);
    if (!c) return;
    auto run = ctx.VisibleRun(*c->ws, c->who, req.matches[1], res);
    if (!run) return;
    auto ok = c->ws->store().RequestCancel(run->id);
    if (!ok) return SendError(res, ok.error());
    if (run->parent_id.empty()) ctx.jobs->Start(run->id);  // nobody drives it: cancel it now
    ctx.Notify();
    SendJson(res, 200, {{"id", run->id}, {"status", RunStatusName(run->status)}, {"cancel_requested", true}});
  });

  http.Get("/api/v1/models", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    auto models = c->ws->store().ListModels();
    if (!models) return SendError(res, models.error());
    json list = json::array();
    for (const auto& m : *models) {
      auto versions = VisibleModelVersions(*c->ws, c->who, m.name);
      if (!versions) return SendError(res, versions.error());
      if (versions->empty()) continue;
      json aliases = json::object();
      for (const auto& v : *versions)
        for (const auto& a : v.aliases) aliases[a] = v.version;
      list.push_back({{"name", m.name},
                      {"versions", versions->size()},
                      {"latest_version", versions->back().version},
                      {"latest_run_id", versions->back().run_id},
                      {"aliases", aliases},
                      {"created_at", m.created_at},
                      {"updated_at", m.updated_at}});
    }
    SendJson(res, 200, {{"models", list}});
  });

  http.Get(R"(/api/v1/models/([^/]+))", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kRead);
    if (!c) return;
    std::string name = req.matches[1];
    auto versions = VisibleModelVersions(*c->ws, c->who, name);
    if (!versions) return SendError(res, versions.error());
    if (versions->empty()) return SendError(res, 404, "not_found", "no model named '" + name + "'");
    json list = json::array();
    for (const auto& v : *versions) {
      json files = json::array();
      for (const auto& f : v.files) {
        files.push_back({{"path", f.path}, {"size", f.size}, {"digest", f.digest}});
      }
      list.push_back({{"version", v.version}, {"run_id", v.run_id}, {"path", v.path},
                      {"aliases", v.aliases}, {"files", files}, {"created_at", v.created_at},
                      {"tags", json::parse(v.tags_json, nullptr, false)},
                      {"lineage", json::parse(v.lineage_json, nullptr, false)}});
    }
    SendJson(res, 200, {{"name", name}, {"versions", list}});
  });

  http.Get("/api/v1/events", [&ctx](const Request& req, Response& res) {
    auto who = ctx.Authorize(req, res, Scope::kRead);
    if (who) HandleEvents(ctx, *who, req, res);
  });

  // Secrets: workspace-wide credentials, so an admin token limited to one experiment may not
  // touch them. Values go in and never come out.
  auto secrets_admin = [&ctx](const Request& req, Response& res) -> std::optional<Call> {
    auto c = Begin(ctx, req, res, Scope::kAdmin);
    if (!c) return std::nullopt;
    if (!c->who.experiment.empty()) {
      SendError(res, 403, "forbidden",
                "token " + c->who.token_id + " is limited to experiment '" + c->who.experiment +
                    "'; secrets belong to the whole workspace");
      return std::nullopt;
    }
    return c;
  };

  http.Get("/api/v1/secrets", [secrets_admin](const Request& req, Response& res) {
    auto c = secrets_admin(req, res);
    if (!c) return;
    auto list = c->ws->store().ListSecrets();
    if (!list) return SendError(res, list.error());
    json out = json::array();
    for (const auto& s : *list) {
      out.push_back({{"name", s.name}, {"created_at", s.created_at}, {"updated_at", s.updated_at}});
    }
    SendJson(res, 200, {{"secrets", out}});
  });

  PostWithBody(http, "/api/v1/secrets", ctx.options.limits.max_body_bytes,
               ctx.options.limits.max_json_depth, [secrets_admin](const Request& req, Response& res) {
    auto c = secrets_admin(req, res);
    if (!c) return;
    auto body = JsonBody(req, res);
    if (!body) return;
    const json& name = (*body)["name"];
    const json& value = (*body)["value"];
    if (!name.is_string() || !value.is_string()) {
      return SendError(res, 400, "invalid_input", "send {\"name\": \"...\", \"value\": \"...\"}");
    }
    auto box = SecretBox::Load(c->ws->root() / "secret.key", true);
    if (!box) return SendError(res, box.error());
    auto stored = StoreSecret(c->ws->store(), *box, name.get<std::string>(), value.get<std::string>());
    if (!stored) return SendError(res, stored.error());
    SendJson(res, 201, {{"name", name}, {"key_id", box->key_id()}});
  });

  http.Delete(R"(/api/v1/secrets/([^/]+))", [secrets_admin](const Request& req, Response& res) {
    auto c = secrets_admin(req, res);
    if (!c) return;
    std::string name = req.matches[1];
    auto gone = c->ws->store().DeleteSecret(name);
    if (!gone) return SendError(res, gone.error());
    if (!*gone) return SendError(res, 404, "not_found", "no secret named '" + name + "'");
    SendJson(res, 200, {{"name", name}, {"deleted", true}});
  });

  http.Get("/api/v1/tokens", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kAdmin);
    if (!c) return;
    auto tokens = c->ws->store().ListTokens();
    if (!tokens) return SendError(res, tokens.error());
    json list = json::array();
    for (const auto& t : *tokens) {
      if (!c->who.experiment.empty() && t.experiment != c->who.experiment) continue;
      list.push_back({{"id", t.id}, {"name", t.name}, {"scope", t.scope},
                      {"experiment", t.experiment}, {"created_at", t.created_at},
                      {"expires_at", t.expires_at}, {"revoked_at", t.revoked_at}});
    }
    SendJson(res, 200, {{"tokens", list}});
  });

  PostWithBody(http, "/api/v1/tokens", ctx.options.limits.max_body_bytes, ctx.options.limits.max_json_depth, [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kAdmin);
    if (!c) return;
    auto body = JsonBody(req, res);
    if (!body) return;
    auto scope = ParseScope(body->value("scope", std::string("read")));
    if (!scope) return SendError(res, 400, "invalid_input", "scope must be read, write or admin");
    double ttl = body->value("expires_in_s", 0.0);
    std::string experiment = body->value("experiment", std::string());
    // An admin of one experiment hands out tokens for that experiment only.
    if (!c->who.experiment.empty()) {
      if (experiment.empty()) experiment = c->who.experiment;
      if (experiment != c->who.experiment) {
        return SendError(res, 403, "forbidden",
                         "token " + c->who.token_id + " may only create tokens for experiment '" +
                             c->who.experiment + "'");
      }
    }
    auto t = CreateApiToken(c->ws->store(), *scope, experiment, ttl,
                            body->value("name", std::string()));
    if (!t) return SendError(res, t.error());
    SendJson(res, 201, {{"id", t->token.id}, {"secret", t->secret}, {"scope", t->token.scope},
                        {"experiment", t->token.experiment}, {"expires_at", t->token.expires_at}});
  });

  http.Delete(R"(/api/v1/tokens/([^/]+))", [&ctx](const Request& req, Response& res) {
    auto c = Begin(ctx, req, res, Scope::kAdmin);
    if (!c) return;
    std::string id = req.matches[1];
    if (!c->who.experiment.empty()) {
      auto tokens = c->ws->store().ListTokens();
      if (!tokens) return SendError(res, tokens.error());
      bool mine = std::any_of(tokens->begin(), tokens->end(), [&](const ApiToken& t) {
        return t.id == id && t.experiment == c->who.experiment;
      });
      if (!mine) return SendError(res, 404, "not_found", "no token '" + id + "'");
    }
    auto ok = c->ws->store().RevokeToken(id);
    if (!ok) return SendError(res, ok.error());
    ctx.auth->Forget();
    SendJson(res, 200, {{"id", std::string(req.matches[1])}, {"revoked", true}});
  });
}

}  // namespace overdrive
