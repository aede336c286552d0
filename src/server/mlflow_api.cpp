// The MLflow-compatible tracking API (/api/2.0/mlflow/...): the part of MLflow's REST protocol
// that `mlflow.log_metric`, `log_param`, `log_batch`, `set_tag`, `start_run`/`end_run`,
// `set_experiment` and `MlflowClient.get_metric_history` use, so that a training script written
// for Azure ML (which tracks through MLflow) logs to an Overdrive server unchanged.
//
// Mapping: an MLflow experiment is an Overdrive experiment (experiment_id = our id in decimal;
// "0", MLflow's default experiment, is the experiment named "Default"); an MLflow run is an
// Overdrive run with the same id. Runs created here have job_type "external". Metrics and params
// go through ServerContext::LogToRun, so a trial of a sweep this server drives sees them exactly
// like printed metrics (and its early-termination policy acts on them). The status of a run a
// controller drives belongs to that controller: runs/update changes only external runs (an
// MLflow client ends its run with FINISHED at exit; the trial's own exit decides).
//
// Shapes follow MLflow's protobuf JSON mapping: ids are strings, times are milliseconds since the
// epoch as integers, metric values that JSON cannot hold are "NaN" / "Infinity" / "-Infinity",
// errors are {"error_code": ..., "message": ...} with MLflow's HTTP statuses.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <expected>
#include <limits>
#include <map>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/input_limits.hpp"
#include "server/http_util.hpp"
#include "server/server.hpp"

namespace overdrive {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

namespace {

// MLflow's request limits (its REST API reference, "Request Limits", and its server's validation).
constexpr std::size_t kMaxMetricsPerBatch = 1000;
constexpr std::size_t kMaxParamsPerBatch = 100;
constexpr std::size_t kMaxTagsPerBatch = 100;
constexpr std::size_t kMaxEntitiesPerBatch = 1000;
constexpr std::size_t kMaxBatchRequestBytes = 1000000;
constexpr std::size_t kMaxKeyLength = 250;
constexpr std::size_t kMaxParamValueLength = 6000;
constexpr std::size_t kMaxTagValueLength = 5000;
constexpr std::size_t kMaxExperimentNameLength = 500;
// runs/get reads a metric's series to find its latest point's timestamp only up to this length.
constexpr std::int64_t kMaxPointsForTimestamp = 5000;

const char* const kDefaultExperiment = "Default";
const char* const kRunNameTag = "mlflow.runName";

// An error in MLflow's shape. Store errors convert to it, so OD_TRY works in handlers.
struct ApiError {
  int status = 500;
  std::string code = "INTERNAL_ERROR";
  std::string message;
  ApiError(int s, std::string c, std::string m)
      : status(s), code(std::move(c)), message(std::move(m)) {}
  ApiError(const Error& e) : message(e.message) {  // NOLINT: implicit on purpose
    // MLflow's statuses for its codes (RESOURCE_ALREADY_EXISTS is a 400 there).
    switch (e.code) {
      case ErrorCode::kInvalidInput: Set(400, "INVALID_PARAMETER_VALUE"); break;
      case ErrorCode::kNotFound: Set(404, "RESOURCE_DOES_NOT_EXIST"); break;
      case ErrorCode::kAlreadyExists: Set(400, "RESOURCE_ALREADY_EXISTS"); break;
      case ErrorCode::kFailedPrecondition: Set(409, "RESOURCE_CONFLICT"); break;
      case ErrorCode::kUnavailable: Set(503, "TEMPORARILY_UNAVAILABLE"); break;
      case ErrorCode::kTooLarge: Set(413, "RESOURCE_LIMIT_EXCEEDED"); break;
      default: break;
    }
  }
  void Set(int s, const char* c) {
    status = s;
    code = c;
  }
};
template <class T>
using Reply = std::expected<T, ApiError>;

std::unexpected<ApiError> Invalid(std::string message) {
  return std::unexpected(ApiError(400, "INVALID_PARAMETER_VALUE", std::move(message)));
}
std::unexpected<ApiError> DoesNotExist(std::string message) {
  return std::unexpected(ApiError(404, "RESOURCE_DOES_NOT_EXIST", std::move(message)));
}

void SendMlflowError(Response& res, const ApiError& e) {
  SendJson(res, e.status, {{"error_code", e.code}, {"message", e.message}});
}

// Everything a handler starts with: who asks, and a workspace to answer from.
struct Call {
  Principal who;
  WorkspacePool::Lease ws;
  std::string body;  // the raw request body (log-batch checks its size)
};

std::int64_t Millis(double seconds) { return std::llround(seconds * 1000.0); }

// --- Reading request fields ----------------------------------------------------------------
// A POST carries a JSON object; a GET carries the same fields in its query string, where every
// value is a string: the accessors accept numbers written as strings (protobuf's JSON mapping
// also writes int64 that way).

std::optional<std::int64_t> Int64Of(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) {
      return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return out;
  }
  return std::nullopt;
}

// Doubles: numbers, or strings ("NaN", "Infinity", "-Infinity", "0.5") as protobuf writes them.
std::optional<double> DoubleOf(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    double out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return out;
  }
  return std::nullopt;
}

bool Has(const json& f, const char* name) { return f.contains(name) && !f[name].is_null(); }

// A required string field.
Reply<std::string> RequiredString(const json& f, const char* name, const std::string& where = "") {
  if (!Has(f, name)) {
    return Invalid("missing value for required parameter '" + where + name + "'");
  }
  const json& v = f[name];
  if (!v.is_string()) {
    return Invalid("parameter '" + where + name + "' must be a string, got " + v.dump());
  }
  return v.get<std::string>();
}

std::string OptionalString(const json& f, const char* name) {
  if (!Has(f, name) || !f[name].is_string()) return "";
  return f[name].get<std::string>();
}

// A param or tag value: MLflow sends strings; numbers and booleans are taken as their text.
Reply<std::string> ValueText(const json& f, const char* name, const std::string& where) {
  if (!Has(f, name)) {
    return Invalid("missing value for required parameter '" + where + name + "'");
  }
  const json& v = f[name];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "True" : "False");
  if (v.is_number()) return v.dump();
  return Invalid("parameter '" + where + name + "' must be a string, got " + v.dump());
}

Reply<std::optional<std::int64_t>> OptionalInt64(const json& f, const char* name,
                                                 const std::string& where = "") {
  if (!Has(f, name)) return std::optional<std::int64_t>();
  auto v = Int64Of(f[name]);
  if (!v) {
    return Invalid("parameter '" + where + name + "' must be a 64-bit integer, got " +
                   f[name].dump());
  }
  return v;
}

// run_id, or its deprecated name run_uuid.
Reply<std::string> RunIdField(const json& f) {
  std::string id = OptionalString(f, "run_id");
  if (id.empty()) id = OptionalString(f, "run_uuid");
  if (id.empty()) return Invalid("missing value for required parameter 'run_id'");
  return id;
}

// MLflow's rules for metric, param and tag keys: at most 250 characters of letters, digits,
// '_', '-', '.', ' ' and '/', and a path that normalises to itself (no "a//b", "./a", "../a",
// "/a", "a/").
Reply<void> CheckKey(const char* what, const std::string& key) {
  if (key.empty()) return Invalid(std::string(what) + " name must not be empty");
  if (key.size() > kMaxKeyLength) {
    return Invalid(std::string(what) + " name '" + key.substr(0, 250) + "' has length " +
                   std::to_string(key.size()) + ", more than the limit of " +
                   std::to_string(kMaxKeyLength));
  }
  for (unsigned char ch : key) {
    bool ok = std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == ' ' ||
              ch == '/' || ch >= 0x80;  // non-ASCII letters (UTF-8) count as word characters
    if (!ok) {
      return Invalid("invalid " + std::string(what) + " name '" + key +
                     "': names may only contain letters, digits, underscores (_), dashes (-), "
                     "periods (.), spaces ( ) and slashes (/)");
    }
  }
  bool bad_path = key.starts_with("..");
  std::size_t start = 0;
  while (!bad_path) {
    std::size_t slash = key.find('/', start);
    std::string_view part(key.data() + start,
                          (slash == std::string::npos ? key.size() : slash) - start);
    if (part.empty() || part == "." || part == "..") bad_path = true;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (bad_path) {
    return Invalid("invalid " + std::string(what) + " name '" + key +
                   "': names are also used as file paths and must not contain empty, '.' or "
                   "'..' parts or start or end with '/'");
  }
  return {};
}

Reply<void> CheckLength(const char* what, const std::string& key, const std::string& value,
                        std::size_t limit) {
  if (value.size() <= limit) return {};
  return Invalid(std::string(what) + " value of '" + key + "' has length " +
                 std::to_string(value.size()) + ", more than the limit of " +
                 std::to_string(limit));
}

Reply<MetricPoint> ParseMetric(const json& m, const std::string& where) {
  if (!m.is_object()) return Invalid(where + " must be an object {key, value, timestamp, step}");
  MetricPoint p;
  OD_ASSIGN_OR_RETURN(p.name, RequiredString(m, "key", where));
  OD_TRY(CheckKey("metric", p.name));
  if (!Has(m, "value")) return Invalid("missing value for required parameter '" + where + "value'");
  auto value = m["value"].is_boolean() ? std::nullopt : DoubleOf(m["value"]);
  if (!value) {
    return Invalid("got invalid value " + m["value"].dump() + " for metric '" + p.name +
                   "': it must be a double (a number, or \"NaN\", \"Infinity\", \"-Infinity\")");
  }
  p.value = *value;
  OD_ASSIGN_OR_RETURN(auto ts, OptionalInt64(m, "timestamp", where));
  if (ts && *ts < 0) {
    return Invalid("got invalid timestamp " + std::to_string(*ts) + " for metric '" + p.name +
                   "': it must be milliseconds since the epoch, not negative");
  }
  p.timestamp = ts ? static_cast<double>(*ts) / 1000.0 : 0;  // 0: LogToRun stamps it now
  OD_ASSIGN_OR_RETURN(auto step, OptionalInt64(m, "step", where));
  if (step && *step < 0) {
    return Invalid("got invalid step " + std::to_string(*step) + " for metric '" + p.name +
                   "': overdrive needs steps >= 0");
  }
  p.step = step.value_or(0);  // MLflow's default step
  return p;
}

using KeyValues = std::vector<std::pair<std::string, std::string>>;

Reply<KeyValues> ParseKeyValues(const json& list, const char* field, const char* what,
                                std::size_t value_limit) {
  KeyValues out;
  if (list.is_null()) return out;
  if (!list.is_array()) return Invalid(std::string("'") + field + "' must be a list of {key, value}");
  out.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string where = std::string(field) + "[" + std::to_string(i) + "].";
    if (!list[i].is_object()) return Invalid(where.substr(0, where.size() - 1) + " must be an object {key, value}");
    OD_ASSIGN_OR_RETURN(auto key, RequiredString(list[i], "key", where));
    OD_TRY(CheckKey(what, key));
    OD_ASSIGN_OR_RETURN(auto value, ValueText(list[i], "value", where));
    OD_TRY(CheckLength(what, key, value, value_limit));
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

// --- Values as MLflow shows them -------------------------------------------------------------

json MetricValueJson(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

// A stored param (a JSON value) as MLflow's string: strings as they are, booleans as Python
// writes them ("True"), numbers as JSON writes them.
std::string ParamText(const std::string& value_json) {
  json v = json::parse(value_json, nullptr, false);
  if (v.is_discarded()) return value_json;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  return v.dump();
}

// How a logged param string is stored: as a number or boolean when that reads back as the same
// text (so "0.01" sorts with the sampler's 0.01), else as a JSON string.
std::string ParamJson(const std::string& text) {
  if (text == "True") return "true";
  if (text == "False") return "false";
  json v = json::parse(text, nullptr, false);
  if (!v.is_discarded() && v.is_number() && v.dump() == text) return text;
  return json(text).dump();
}

bool ParseDouble(const std::string& s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// Whether logging `text` again repeats the stored value: the same text, or the same number
// written differently (the sampler's 1e-04 is Python's 0.0001).
bool SameParam(const std::string& stored_json, const std::string& text) {
  std::string old = ParamText(stored_json);
  if (old == text) return true;
  double a = 0, b = 0;
  return ParseDouble(old, a) && ParseDouble(text, b) && a == b;
}

const char* MlflowStatus(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued:
    case RunStatus::kStarting: return "SCHEDULED";
    case RunStatus::kRunning: return "RUNNING";
    case RunStatus::kCompleted: return "FINISHED";
    case RunStatus::kFailed:
    case RunStatus::kTimedOut: return "FAILED";
    case RunStatus::kCanceled:
    case RunStatus::kEarlyTerminated: return "KILLED";
  }
  return "RUNNING";
}

std::map<std::string, std::string> RunTags(const RunRecord& run) {
  std::map<std::string, std::string> tags;
  json t = json::parse(run.tags_json, nullptr, false);
  if (!t.is_object()) return tags;
  for (const auto& [k, v] : t.items()) tags[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return tags;
}

// A run as MLflow sees its tags: its own, plus the ones MLflow would have set for it.
std::map<std::string, std::string> MlflowTags(const RunRecord& run) {
  auto tags = RunTags(run);
  if (!tags.count(kRunNameTag) && !run.display_name.empty()) tags[kRunNameTag] = run.display_name;
  if (!tags.count("mlflow.parentRunId") && !run.parent_id.empty()) {
    tags["mlflow.parentRunId"] = run.parent_id;
  }
  return tags;
}

json RunInfoJson(const RunRecord& run) {
  auto tags = MlflowTags(run);
  std::string name = tags.count(kRunNameTag) ? tags[kRunNameTag] : run.id;
  double start = run.started_at > 0 ? run.started_at : run.created_at;
  json info = {{"run_id", run.id},
               {"run_uuid", run.id},
               {"run_name", name},
               {"experiment_id", std::to_string(run.experiment_id)},
               {"user_id", tags.count("mlflow.user") ? tags["mlflow.user"] : ""},
               {"status", MlflowStatus(run.status)},
               {"start_time", Millis(start)},
               // Files logged with mlflow.log_artifact land in the run's outputs, which are
               // collected when the run ends (runs without a run folder have no such place).
               {"artifact_uri",
                run.run_dir.empty() ? "" : "file://" + run.run_dir + "/wd/outputs"},
               {"lifecycle_stage", "active"}};
  if (run.ended_at > 0) info["end_time"] = Millis(run.ended_at);
  return info;
}

Reply<json> RunJson(Workspace& ws, const RunRecord& run) {
  OD_ASSIGN_OR_RETURN(auto summaries, ws.store().GetMetricSummaries(run.id));
  json metrics = json::array();
  for (const auto& s : summaries) {
    // The summary has no time: read it from the series' latest point at its last step when
    // the series is short enough, else fall back to when the run ended (or now).
    double ts = run.ended_at > 0 ? run.ended_at : WallSeconds();
    if (s.count <= kMaxPointsForTimestamp) {
      OD_ASSIGN_OR_RETURN(auto history, ws.store().GetMetricHistory(run.id, s.name));
      for (auto it = history.rbegin(); it != history.rend(); ++it) {
        if (it->step == s.last_step) {
          ts = it->timestamp;
          break;
        }
      }
    }
    metrics.push_back({{"key", s.name},
                       {"value", MetricValueJson(s.last_value)},
                       {"timestamp", Millis(ts)},
                       {"step", s.last_step}});
  }
  OD_ASSIGN_OR_RETURN(auto params, ws.store().GetParams(run.id));
  json plist = json::array();
  for (const auto& p : params) plist.push_back({{"key", p.name}, {"value", ParamText(p.value_json)}});
  json tlist = json::array();
  for (const auto& [k, v] : MlflowTags(run)) tlist.push_back({{"key", k}, {"value", v}});
  return json{{"info", RunInfoJson(run)},
              {"data", {{"metrics", metrics}, {"params", plist}, {"tags", tlist}}},
              {"inputs", json::object()}};
}

json ExperimentJson(const Experiment& e) {
  return {{"experiment_id", std::to_string(e.id)},
          {"name", e.name},
          {"artifact_location", ""},
          {"lifecycle_stage", "active"},
          {"creation_time", Millis(e.created_at)},
          {"last_update_time", Millis(e.created_at)},
          {"tags", json::array()}};
}

// --- Lookups -----------------------------------------------------------------------------------

Reply<RunRecord> FindRun(Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto id, RunIdField(f));
  auto run = c.ws->store().GetRun(id);
  if (!run) {
    if (run.error().code == ErrorCode::kNotFound) return DoesNotExist("run '" + id + "' not found");
    return std::unexpected(ApiError(run.error()));
  }
  // A token limited to one experiment learns nothing about runs of others.
  if (!c.who.SeesExperiment(run->experiment_name)) return DoesNotExist("run '" + id + "' not found");
  return *run;
}

Reply<std::optional<Experiment>> ExperimentByName(Call& c, const std::string& name) {
  OD_ASSIGN_OR_RETURN(auto all, c.ws->store().ListExperiments());
  for (auto& e : all) {
    if (e.name == name) return std::optional<Experiment>(std::move(e));
  }
  return std::optional<Experiment>();
}

// The experiment with MLflow id `text`. "0" (and "", where MLflow falls back to its default) is
// the experiment named "Default", created when `create_default`.
Reply<Experiment> FindExperiment(Call& c, const std::string& text, bool create_default) {
  std::optional<Experiment> found;
  if (text.empty() || text == "0") {
    if (!c.who.SeesExperiment(kDefaultExperiment)) {
      return DoesNotExist("no experiment with id '0' (the default experiment)");
    }
    OD_ASSIGN_OR_RETURN(found, ExperimentByName(c, kDefaultExperiment));
    if (!found && create_default) {
      OD_ASSIGN_OR_RETURN(auto id, c.ws->store().GetOrCreateExperiment(kDefaultExperiment));
      OD_ASSIGN_OR_RETURN(auto e, c.ws->store().GetExperiment(id));
      found = std::move(e);
    }
  } else {
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec == std::errc() && p == text.data() + text.size() && id > 0) {
      auto e = c.ws->store().GetExperiment(id);
      if (e) {
        found = std::move(*e);
      } else if (e.error().code != ErrorCode::kNotFound) {
        return std::unexpected(ApiError(e.error()));
      }
    }
  }
  if (!found || !c.who.SeesExperiment(found->name)) {
    return DoesNotExist("no experiment with id '" + text + "'");
  }
  return *found;
}

// --- Writes ------------------------------------------------------------------------------------

// Stores metrics, params and tags for `run` after checking params against the stored ones (a
// param, once logged, keeps its value). Everything is validated before anything is written.
Reply<void> WriteToRun(ServerContext& ctx, Call& c, const RunRecord& run,
                       std::vector<MetricPoint> metrics, const KeyValues& params,
                       const KeyValues& tags) {
  std::vector<Param> fresh;
  if (!params.empty()) {
    std::set<std::string> seen;
    for (const auto& [k, v] : params) {
      if (!seen.insert(k).second) {
        return Invalid("duplicate param key '" + k +
                       "' in one request: send one value per param key");
      }
    }
    OD_ASSIGN_OR_RETURN(auto stored, c.ws->store().GetParams(run.id));
    std::map<std::string, std::string> by_name;
    for (auto& p : stored) by_name[p.name] = std::move(p.value_json);
    for (const auto& [k, v] : params) {
      auto it = by_name.find(k);
      if (it == by_name.end()) {
        fresh.push_back(Param{k, ParamJson(v)});
      } else if (!SameParam(it->second, v)) {
        return Invalid("changing param values is not allowed: param '" + k +
                       "' was already logged with value '" + ParamText(it->second) +
                       "' for run '" + run.id + "'; attempted to log '" + v +
                       "'. Log a new value under another key or in another run");
      }
    }
  }
  if (!metrics.empty() || !fresh.empty()) OD_TRY(ctx.LogToRun(*c.ws, run, std::move(metrics), fresh));
  if (!tags.empty()) {
    std::map<std::string, std::string> merged;
    for (const auto& [k, v] : tags) merged[k] = v;  // the last value of a key wins
    OD_TRY(c.ws->store().SetRunTags(run.id, merged));
    ctx.Notify();
  }
  return {};
}

// --- Handlers ------------------------------------------------------------------------------------

Reply<json> ExperimentsCreate(ServerContext& ctx, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto name, RequiredString(f, "name"));
  if (name.empty()) return Invalid("invalid experiment name: it must not be empty");
  if (name.size() > kMaxExperimentNameLength) {
    return Invalid("experiment name is longer than " + std::to_string(kMaxExperimentNameLength) +
                   " characters");
  }
  if (!c.who.SeesExperiment(name)) {
    return std::unexpected(ApiError(403, "PERMISSION_DENIED",
                                    "token " + c.who.token_id + " may only use experiment '" +
                                        c.who.experiment + "', not create '" + name + "'"));
  }
  OD_ASSIGN_OR_RETURN(auto existing, ExperimentByName(c, name));
  if (existing) {
    return std::unexpected(ApiError(400, "RESOURCE_ALREADY_EXISTS",
                                    "experiment '" + name + "' already exists (id " +
                                        std::to_string(existing->id) + ")"));
  }
  OD_ASSIGN_OR_RETURN(auto id, c.ws->store().GetOrCreateExperiment(name));
  ctx.Notify();
  return json{{"experiment_id", std::to_string(id)}};
}

Reply<json> ExperimentsGet(ServerContext&, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto id, RequiredString(f, "experiment_id"));
  if (id.empty()) return Invalid("missing value for required parameter 'experiment_id'");
  OD_ASSIGN_OR_RETURN(auto e, FindExperiment(c, id, false));
  return json{{"experiment", ExperimentJson(e)}};
}

Reply<json> ExperimentsGetByName(ServerContext&, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto name, RequiredString(f, "experiment_name"));
  OD_ASSIGN_OR_RETURN(auto e, ExperimentByName(c, name));
  if (!e || !c.who.SeesExperiment(e->name)) {
    return DoesNotExist("could not find experiment with name '" + name + "'");
  }
  return json{{"experiment", ExperimentJson(*e)}};
}

Reply<json> RunsCreate(ServerContext& ctx, Call& c, const json& f) {
  std::string exp_id = Has(f, "experiment_id") ? OptionalString(f, "experiment_id") : "0";
  if (Has(f, "experiment_id") && f["experiment_id"].is_number_integer()) {
    exp_id = std::to_string(f["experiment_id"].get<std::int64_t>());
  }
  OD_ASSIGN_OR_RETURN(auto exp, FindExperiment(c, exp_id, true));
  OD_ASSIGN_OR_RETURN(auto tag_list,
                      ParseKeyValues(Has(f, "tags") ? f["tags"] : json(), "tags", "tag",
                                     kMaxTagValueLength));
  std::map<std::string, std::string> tags;
  for (auto& [k, v] : tag_list) tags[k] = v;
  std::string run_name = OptionalString(f, "run_name");
  if (auto it = tags.find(kRunNameTag); it != tags.end()) {
    if (!run_name.empty() && run_name != it->second) {
      return Invalid("both 'run_name' ('" + run_name + "') and the tag mlflow.runName ('" +
                     it->second + "') are given, with different values");
    }
    run_name = it->second;
  }
  if (!run_name.empty()) tags[kRunNameTag] = run_name;
  std::string user = OptionalString(f, "user_id");
  if (!user.empty() && !tags.count("mlflow.user")) tags["mlflow.user"] = user;
  OD_ASSIGN_OR_RETURN(auto start_ms, OptionalInt64(f, "start_time"));

  RunRecord run;
  run.experiment_id = exp.id;
  run.job_type = JobType::kExternal;
  run.display_name = run_name;
  if (auto it = tags.find("mlflow.note.content"); it != tags.end()) run.description = it->second;
  run.tags_json = json(tags).dump();
  run.status = RunStatus::kRunning;
  run.started_at = start_ms ? static_cast<double>(*start_ms) / 1000.0 : WallSeconds();
  std::vector<RunEvent> events = {
      {WallSeconds(), "info", "created through the MLflow tracking API (runs/create)"}};
  Result<void> created = MakeError(ErrorCode::kAlreadyExists, "");
  for (int attempt = 0; attempt < 3 && !created && created.error().code == ErrorCode::kAlreadyExists;
       ++attempt) {
    run.id = NewRunId();
    created = c.ws->store().CreateRun(run, {}, events);
  }
  OD_TRY(created);
  ctx.Notify();
  OD_ASSIGN_OR_RETURN(auto stored, c.ws->store().GetRun(run.id));
  OD_ASSIGN_OR_RETURN(auto j, RunJson(*c.ws, stored));
  return json{{"run", j}};
}

Reply<json> RunsUpdate(ServerContext& ctx, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  std::optional<std::string> status;
  if (Has(f, "status")) {
    const json& s = f["status"];
    // Protobuf's JSON mapping allows an enum's number as well as its name.
    static const char* kByNumber[] = {"", "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
    if (s.is_string()) {
      status = s.get<std::string>();
    } else if (s.is_number_integer() && s.get<int>() >= 1 && s.get<int>() <= 5) {
      status = kByNumber[s.get<int>()];
    }
    static const std::set<std::string> kKnown = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                                 "KILLED"};
    if (!status || !kKnown.count(*status)) {
      return Invalid("unknown run status " + s.dump() +
                     ": use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED");
    }
  }
  OD_ASSIGN_OR_RETURN(auto end_ms, OptionalInt64(f, "end_time"));
  std::string new_name = OptionalString(f, "run_name");
  if (!new_name.empty()) {
    OD_TRY(CheckLength("tag", kRunNameTag, new_name, kMaxTagValueLength));
  }

  // Only runs created through this API take their status from it: a controller's run ends when
  // its process does (an MLflow client reports FINISHED from its exit handler, before that).
  std::optional<RunStatus> to;
  if (status && run.job_type == JobType::kExternal) {
    if (*status == "FINISHED") to = RunStatus::kCompleted;
    if (*status == "FAILED") to = RunStatus::kFailed;
    if (*status == "KILLED") to = RunStatus::kCanceled;
  }
  if (to) {
    RunUpdate u;
    u.ended_at = end_ms ? static_cast<double>(*end_ms) / 1000.0 : WallSeconds();
    if (*to != RunStatus::kCompleted) u.status_reason = "set to " + *status + " through the MLflow API";
    OD_TRY(c.ws->store().TransitionRun(run.id, *to, u));
  }
  if (!new_name.empty()) OD_TRY(c.ws->store().SetRunTags(run.id, {{kRunNameTag, new_name}}));
  if (to || !new_name.empty()) ctx.Notify();
  OD_ASSIGN_OR_RETURN(auto now, c.ws->store().GetRun(run.id));
  return json{{"run_info", RunInfoJson(now)}};
}

Reply<json> RunsGet(ServerContext&, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  OD_ASSIGN_OR_RETURN(auto j, RunJson(*c.ws, run));
  return json{{"run", j}};
}

Reply<json> LogMetric(ServerContext& ctx, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  OD_ASSIGN_OR_RETURN(auto point, ParseMetric(f, ""));
  std::vector<MetricPoint> points = {point};
  OD_TRY(WriteToRun(ctx, c, run, std::move(points), {}, {}));
  return json::object();
}

Reply<json> LogParam(ServerContext& ctx, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  OD_ASSIGN_OR_RETURN(auto key, RequiredString(f, "key"));
  OD_TRY(CheckKey("param", key));
  OD_ASSIGN_OR_RETURN(auto value, ValueText(f, "value", ""));
  OD_TRY(CheckLength("param", key, value, kMaxParamValueLength));
  OD_TRY(WriteToRun(ctx, c, run, {}, {{key, value}}, {}));
  return json::object();
}

Reply<json> SetTag(ServerContext& ctx, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  OD_ASSIGN_OR_RETURN(auto key, RequiredString(f, "key"));
  OD_TRY(CheckKey("tag", key));
  OD_ASSIGN_OR_RETURN(auto value, ValueText(f, "value", ""));
  OD_TRY(CheckLength("tag", key, value, kMaxTagValueLength));
  OD_TRY(WriteToRun(ctx, c, run, {}, {}, {{key, value}}));
  return json::object();
}

Reply<void> CheckBatchLimit(const char* what, std::size_t limit, std::size_t n) {
  if (n <= limit) return {};
  return Invalid("a batch logging request can contain at most " + std::to_string(limit) + " " +
                 what + "; got " + std::to_string(n) + ". Split them across several requests");
}

Reply<json> LogBatch(ServerContext& ctx, Call& c, const json& f) {
  if (c.body.size() > kMaxBatchRequestBytes) {
    return Invalid("a batch logging request may be at most " +
                   std::to_string(kMaxBatchRequestBytes) + " bytes; got " +
                   std::to_string(c.body.size()) + ". Split it across several requests");
  }
  auto list = [&](const char* name) -> Reply<json> {
    if (!Has(f, name)) return json::array();
    if (!f[name].is_array()) return Invalid(std::string("'") + name + "' must be a list");
    return f[name];
  };
  OD_ASSIGN_OR_RETURN(auto metrics, list("metrics"));
  OD_ASSIGN_OR_RETURN(auto params, list("params"));
  OD_ASSIGN_OR_RETURN(auto tags, list("tags"));
  // The limits first, before the run is even looked up: a rejected batch writes nothing.
  OD_TRY(CheckBatchLimit("metrics", kMaxMetricsPerBatch, metrics.size()));
  OD_TRY(CheckBatchLimit("params", kMaxParamsPerBatch, params.size()));
  OD_TRY(CheckBatchLimit("tags", kMaxTagsPerBatch, tags.size()));
  OD_TRY(CheckBatchLimit("metrics, params and tags in total", kMaxEntitiesPerBatch,
                         metrics.size() + params.size() + tags.size()));
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  std::vector<MetricPoint> points;
  points.reserve(metrics.size());
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    OD_ASSIGN_OR_RETURN(auto p, ParseMetric(metrics[i], "metrics[" + std::to_string(i) + "]."));
    points.push_back(std::move(p));
  }
  OD_ASSIGN_OR_RETURN(auto param_kv, ParseKeyValues(params, "params", "param", kMaxParamValueLength));
  OD_ASSIGN_OR_RETURN(auto tag_kv, ParseKeyValues(tags, "tags", "tag", kMaxTagValueLength));
  OD_TRY(WriteToRun(ctx, c, run, std::move(points), param_kv, tag_kv));
  return json::object();
}

Reply<json> MetricHistory(ServerContext&, Call& c, const json& f) {
  OD_ASSIGN_OR_RETURN(auto run, FindRun(c, f));
  OD_ASSIGN_OR_RETURN(auto key, RequiredString(f, "metric_key"));
  OD_ASSIGN_OR_RETURN(auto max_results, OptionalInt64(f, "max_results"));
  std::int64_t offset = 0;
  std::string token = OptionalString(f, "page_token");
  if (!token.empty()) {
    auto o = Int64Of(json(token));
    if (!o || *o < 0) return Invalid("invalid page_token '" + token + "'");
    offset = *o;
  }
  OD_ASSIGN_OR_RETURN(auto history, c.ws->store().GetMetricHistory(run.id, key));
  const auto total = static_cast<std::int64_t>(history.size());
  std::int64_t end = total;
  if (max_results && *max_results > 0) end = std::min(total, offset + *max_results);
  json points = json::array();
  for (std::int64_t i = offset; i < end; ++i) {
    const auto& p = history[static_cast<std::size_t>(i)];
    points.push_back({{"key", p.name},
                      {"value", MetricValueJson(p.value)},
                      {"timestamp", Millis(p.timestamp)},
                      {"step", p.step}});
  }
  json out = {{"metrics", points}};
  if (end < total) out["next_page_token"] = std::to_string(end);
  return out;
}

using Handler = Reply<json> (*)(ServerContext&, Call&, const json&);

// The fields of a request: a POST's JSON object, or a GET's query parameters.
Reply<json> Fields(const Request& req) {
  if (req.method == "GET") {
    json f = json::object();
    for (const auto& [k, v] : req.params) {
      if (!f.contains(k)) f[k] = v;
    }
    return f;
  }
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  // The nesting depth was bounded when the body was read (PostWithBody).
  auto parsed = ParseJsonBounded(req.body, std::numeric_limits<int>::max());
  if (!parsed) return std::unexpected(ApiError(400, "BAD_REQUEST", parsed.error().message));
  json f = std::move(*parsed);
  if (!f.is_object()) {
    return std::unexpected(ApiError(400, "BAD_REQUEST",
                                    "the request body must be a JSON object (Content-Type: "
                                    "application/json)"));
  }
  return f;
}

void Serve(ServerContext& ctx, const Request& req, Response& res, Scope needed, Handler h) {
  // The server's pre-routing handler has already authenticated every /api/ request.
  auto who = ctx.Authorize(req, res, Scope::kRead);
  if (!who) return;
  if (!who->Allows(needed)) {
    return SendMlflowError(
        res, ApiError(403, "PERMISSION_DENIED",
                      "token " + who->token_id + " has scope '" + ScopeName(who->scope) +
                          "'; this needs '" + ScopeName(needed) + "'"));
  }
  auto lease = ctx.pool->Acquire();
  if (!lease) return SendMlflowError(res, ApiError(lease.error()));
  auto fields = Fields(req);
  if (!fields) return SendMlflowError(res, fields.error());
  Call call{*who, std::move(*lease), req.body};
  auto reply = h(ctx, call, *fields);
  if (!reply) return SendMlflowError(res, reply.error());
  SendJson(res, 200, *reply);
}

}  // namespace

void RegisterMlflowRoutes(httplib::Server& http, ServerContext& ctx) {
  struct Route {
    const char* method;
    const char* path;
    Scope scope;
    Handler handler;
  };
  static const Route kRoutes[] = {
      {"POST", "experiments/create", Scope::kWrite, ExperimentsCreate},
      {"GET", "experiments/get", Scope::kRead, ExperimentsGet},
      {"GET", "experiments/get-by-name", Scope::kRead, ExperimentsGetByName},
      {"POST", "runs/create", Scope::kWrite, RunsCreate},
      {"POST", "runs/update", Scope::kWrite, RunsUpdate},
      {"GET", "runs/get", Scope::kRead, RunsGet},
      {"POST", "runs/log-metric", Scope::kWrite, LogMetric},
      {"POST", "runs/log-parameter", Scope::kWrite, LogParam},
      {"POST", "runs/set-tag", Scope::kWrite, SetTag},
      {"POST", "runs/log-batch", Scope::kWrite, LogBatch},
      {"GET", "metrics/get-history", Scope::kRead, MetricHistory},
  };
  for (const Route& r : kRoutes) {
    std::string path = std::string(R"(/api/2\.0/mlflow/)") + r.path;
    auto fn = [&ctx, r](const Request& req, Response& res) {
      Serve(ctx, req, res, r.scope, r.handler);
    };
    if (std::string(r.method) == "GET") {
      http.Get(path, fn);
    } else {
      PostWithBody(http, path, ctx.options.limits.max_body_bytes,
                   ctx.options.limits.max_json_depth, fn);
    }
  }
  // The rest of MLflow's API (artifacts, search, model registry...) is not served: say so in
  // MLflow's shape, so its client reports the endpoint rather than a parse failure.
  auto missing = [](const Request& req, Response& res) {
    SendMlflowError(res, ApiError(404, "ENDPOINT_NOT_FOUND",
                                  "overdrive does not serve " + req.method + " " + req.path +
                                      " (supported: experiments create/get/get-by-name, runs "
                                      "create/update/get/log-metric/log-parameter/set-tag/"
                                      "log-batch, metrics/get-history)"));
  };
  http.Get(R"(/api/2\.0/mlflow/.*)", missing);
  PostWithBody(http, R"(/api/2\.0/mlflow/.*)", ctx.options.limits.max_body_bytes,
               ctx.options.limits.max_json_depth, missing);
}

}  // namespace overdrive
