#include "cli/remote_commands.hpp"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/strings.hpp"
#include "spec/job_spec.hpp"
#include "store/artifact_store.hpp"

namespace overdrive {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::atomic<int> g_remote_interrupts{0};
void OnRemoteInterrupt(int) { g_remote_interrupts.fetch_add(1); }

// One server connection with the bearer token; replies parsed as JSON, errors as Error.
class Remote {
 public:
  explicit Remote(const Globals& g) : url_(ServerUrl(g)), client_(url_) {
    token_ = g.token;
    if (token_.empty()) {
      if (const char* env = std::getenv("OVERDRIVE_TOKEN"); env && *env) token_ = env;
    }
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(60, 0);
    if (const char* ca = std::getenv("OVERDRIVE_CA_CERT"); ca && *ca) {
      client_.set_ca_cert_path(ca);
    }
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
  }
  const std::string& url() const { return url_; }
  std::string RunUrl(const std::string& id) const { return url_ + "/#/runs/" + id; }

  Result<json> Get(const std::string& path) { return Reply(client_.Get(path, Headers())); }
  Result<json> Post(const std::string& path, const json& body) {
    return Reply(client_.Post(path, Headers(), body.dump(), "application/json"));
  }
  Result<json> PostForm(const std::string& path, const httplib::MultipartFormDataItems& items) {
    return Reply(client_.Post(path, Headers(), items));
  }
  Result<json> Delete(const std::string& path) { return Reply(client_.Delete(path, Headers())); }

 private:
  httplib::Headers Headers() const {
    httplib::Headers h;
    if (!token_.empty()) h.emplace("Authorization", "Bearer " + token_);
    return h;
  }
  Result<json> Reply(const httplib::Result& r) {
    if (!r) {
      return MakeError(ErrorCode::kUnavailable,
                       "cannot reach the server at " + url_ + " (" + httplib::to_string(r.error()) +
                           "); is `overdrive server` running there?");
    }
    json body = json::parse(r->body, nullptr, false);
    if (r->status >= 200 && r->status < 300) {
      if (body.is_discarded()) {
        return MakeError(ErrorCode::kInternal, "the server at " + url_ + " sent a reply that is not JSON");
      }
      return body;
    }
    std::string msg = body.is_object() && body.contains("error") && body["error"].is_object()
                          ? body["error"].value("message", r->body)
                          : r->body;
    ErrorCode code = ErrorCode::kInternal;
    if (r->status == 400) code = ErrorCode::kInvalidInput;
    if (r->status == 404) code = ErrorCode::kNotFound;
    if (r->status == 409) code = ErrorCode::kFailedPrecondition;
    if (r->status == 401 || r->status == 403) {
      code = ErrorCode::kInvalidInput;
      msg += token_.empty() ? " (pass --token or set OVERDRIVE_TOKEN)" : "";
    }
    return MakeError(code, msg);
  }

  std::string url_;
  std::string token_;
  httplib::Client client_;
};

std::string Text(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : DumpJson(j[key], -1);
}

double Num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0;
}

RunStatus StatusOf(const json& run) {
  return ParseRunStatus(Text(run, "status")).value_or(RunStatus::kQueued);
}

int ExitCodeOf(const json& run) {
  std::optional<int> code;
  if (run.contains("exit_code") && run["exit_code"].is_number_integer()) {
    code = run["exit_code"].get<int>();
  }
  return ExitCodeFor(StatusOf(run), code);
}

// The code folder of a job as the tar the server unpacks (the same deterministic archive as a
// local snapshot, .amlignore/.gitignore honoured).
Result<std::string> PackCode(const fs::path& folder) {
  fs::path tmp = fs::temp_directory_path() / ("overdrive-upload-" + NewRunId());
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  OD_ASSIGN_OR_RETURN(auto store, OpenLocalArtifactStore(tmp));
  OD_ASSIGN_OR_RETURN(auto snap, SnapshotFolder(*store, folder));
  return store->GetBytes(snap.digest);
}

// Prints new bytes of a run's stream from `offset`; returns the next offset and whether the
// stream is complete (the run ended and everything was read).
Result<std::pair<std::int64_t, bool>> PumpLog(Remote& r, const std::string& id,
                                              const std::string& stream, std::int64_t offset,
                                              int wait_s, FILE* out) {
  OD_ASSIGN_OR_RETURN(json j, r.Get("/api/v1/runs/" + id + "/logs?stream=" + stream +
                                    "&offset=" + std::to_string(offset) +
                                    "&wait=" + std::to_string(wait_s)));
  std::string data = Text(j, "data");
  if (!data.empty()) {
    fwrite(data.data(), 1, data.size(), out);
    fflush(out);
  }
  return std::make_pair(static_cast<std::int64_t>(Num(j, "next_offset")),
                        j.value("final", false));
}

// Follows a job until it ends: a command job's output, a sweep's trial counts.
Result<json> Follow(Remote& r, const json& run) {
  std::string id = Text(run, "id");
  bool sweep = Text(run, "type") == "sweep";
  std::int64_t out_off = 0, err_off = 0;
  std::string last_line;
  while (g_remote_interrupts.load() == 0) {
    if (!sweep) {
      OD_ASSIGN_OR_RETURN(auto o, PumpLog(r, id, "stdout", out_off, 2, stdout));
      out_off = o.first;
      OD_ASSIGN_OR_RETURN(auto e, PumpLog(r, id, "stderr", err_off, 0, stderr));
      err_off = e.first;
      if (o.second && e.second) break;
    } else {
      OD_ASSIGN_OR_RETURN(json now, r.Get("/api/v1/runs/" + id));
      std::string line = "  " + Text(now, "status");
      if (now.contains("trial_counts")) {
        for (const auto& [k, v] : now["trial_counts"].items()) {
          line += "  " + k + " " + DumpJson(v, -1);
        }
      }
      if (now.contains("best_value") && !now["best_value"].is_null()) {
        line += "  best " + Text(now["objective"], "primary_metric") + " " +
                FormatDouble(now["best_value"].is_number() ? now["best_value"].get<double>() : 0);
      }
      if (line != last_line) std::cerr << line << "\n";
      last_line = line;
      if (IsFinal(StatusOf(now))) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  return r.Get("/api/v1/runs/" + id);
}

void PrintKeyValues(const json& obj, const char* title) {
  if (!obj.is_object() || obj.empty()) return;
  std::cout << "\n" << title << "\n";
  Table t({"name", "value"});
  for (const auto& [k, v] : obj.items()) t.Add({k, v.is_string() ? v.get<std::string>() : DumpJson(v, -1)});
  t.Print(std::cout, "  ");
}

}  // namespace

std::string ServerUrl(const Globals& g) {
  if (!g.server.empty()) return g.server;
  if (const char* env = std::getenv("OVERDRIVE_SERVER"); env && *env) return env;
  return "";
}

Result<json> RemoteCall(const Globals& g, const std::string& method, const std::string& path,
                        const json& body) {
  Remote r(g);
  if (method == "POST") return r.Post(path, body);
  if (method == "DELETE") return r.Delete(path);
  return r.Get(path);
}

std::string UrlEncode(const std::string& text) { return httplib::detail::encode_query_param(text); }

Result<nlohmann::json> RemoteCreateEnvironment(const Globals& g, const std::string& file,
                                               const EnvironmentSpec& spec,
                                               const std::string& name,
                                               const std::string& version) {
  if (spec.build_path) {
    return MakeError(ErrorCode::kInvalidInput,
                     spec.build_pos.ToString() + ": an environment with a build: context is "
                     "created on the server's machine (its context stays there): run `overdrive "
                     "environment create` there, with --workspace or --db");
  }
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  httplib::MultipartFormDataItems items;
  items.push_back({"spec", std::move(text), fs::path(file).filename().string(), "application/yaml"});
  items.push_back({"file_name", file, "", "text/plain"});
  if (!name.empty()) items.push_back({"name", name, "", "text/plain"});
  if (!version.empty()) items.push_back({"version", version, "", "text/plain"});
  if (spec.conda_file) {
    std::ifstream conda(*spec.conda_file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(conda)), std::istreambuf_iterator<char>());
    fs::path dir = fs::absolute(file).parent_path();
    items.push_back({"attach_file", std::move(bytes),
                     spec.conda_file->lexically_relative(dir).generic_string(), "application/yaml"});
  }
  Remote r(g);
  return r.PostForm("/api/v1/environments", items);
}

int RemoteSubmit(const Globals& g, const std::string& file, const std::vector<std::string>& sets,
                 bool detach, bool json_out) {
  // Validated here first: errors name file:line:col of the user's own file, before any upload.
  auto spec = ParseJobFile(file, sets);
  if (!spec) return Fail(spec.error());
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  httplib::MultipartFormDataItems items;
  items.push_back({"spec", text, fs::path(file).filename().string(), "application/yaml"});
  items.push_back({"file_name", file, "", "text/plain"});
  for (const auto& s : sets) items.push_back({"set", s, "", "text/plain"});
  if (spec->command.code) {
    auto tar = PackCode(*spec->command.code);
    if (!tar) return Fail(tar.error());
    items.push_back({"code", std::move(*tar), "code.tar", "application/x-tar"});
    fs::path yaml_dir = fs::absolute(file).parent_path();
    items.push_back({"code_dir", spec->command.code->lexically_relative(yaml_dir).generic_string(),
                     "", "text/plain"});
  }
  // Files the job's inline environment names outside `code:` travel with it, each at its path
  // relative to the job file: a conda file as itself, a build context as a tar.
  if (const auto& env = spec->command.environment_ref.inline_spec) {
    fs::path yaml_dir = fs::absolute(file).parent_path();
    auto inside_code = [&](const fs::path& p) {
      if (!spec->command.code) return false;
      auto rel = p.lexically_relative(*spec->command.code);
      return !rel.empty() && *rel.begin() != "..";
    };
    if (env->conda_file && !inside_code(*env->conda_file)) {
      std::ifstream in(*env->conda_file, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      items.push_back({"attach_file", std::move(bytes),
                       env->conda_file->lexically_relative(yaml_dir).generic_string(),
                       "application/yaml"});
    }
    if (env->build_path && !inside_code(*env->build_path)) {
      auto tar = PackCode(*env->build_path);
      if (!tar) return Fail(tar.error());
      items.push_back({"attach_tar", std::move(*tar),
                       env->build_path->lexically_relative(yaml_dir).generic_string(),
                       "application/x-tar"});
    }
  }
  Remote r(g);
  auto reply = r.PostForm("/api/v1/jobs", items);
  if (!reply) return Fail(reply.error());
  std::string id = Text(*reply, "id");
  for (const auto& w : reply->value("warnings", json::array())) {
    std::cerr << "overdrive: warning: " << w.get<std::string>() << "\n";
  }
  if (!json_out) {
    std::cerr << "overdrive: " << Text(*reply, "type") << " job " << id << " submitted to "
              << r.url() << " (experiment " << Text(*reply, "experiment") << ")\n"
              << "  dashboard: " << r.RunUrl(id) << "\n";
  }
  if (detach) {
    if (json_out) {
      PrintJson(json{{"id", id}, {"status", "queued"}, {"url", r.RunUrl(id)}}, -1);
    } else {
      std::cout << id << "\n";
    }
    return 0;
  }
  signal(SIGINT, OnRemoteInterrupt);
  auto final_run = Follow(r, *reply);
  if (!final_run) return Fail(final_run.error());
  if (g_remote_interrupts.load() > 0) {
    std::cerr << "\noverdrive: stopped watching; job " << id << " keeps running on the server:\n"
              << "  overdrive --server " << r.url() << " job cancel " << id << "\n";
    return kExitFailure;
  }
  if (json_out) {
    PrintJson(*final_run);
  } else {
    std::cerr << "overdrive: run " << id << " " << Text(*final_run, "status");
    if (!Text(*final_run, "status_reason").empty()) std::cerr << ": " << Text(*final_run, "status_reason");
    std::cerr << "\n  see: " << r.RunUrl(id) << "\n";
  }
  return ExitCodeOf(*final_run);
}

int RemoteList(const Globals& g, const std::string& experiment, const std::string& status,
               int limit, bool json_out) {
  Remote r(g);
  std::string path = "/api/v1/jobs?limit=" + std::to_string(limit > 0 ? limit : 1000);
  if (!experiment.empty()) path += "&experiment=" + httplib::detail::encode_query_param(experiment);
  if (!status.empty()) path += "&status=" + httplib::detail::encode_query_param(status);
  auto reply = r.Get(path);
  if (!reply) return Fail(reply.error());
  const json& jobs = (*reply)["jobs"];
  if (json_out) {
    PrintJson(jobs);
    return 0;
  }
  if (jobs.empty()) {
    std::cout << "no jobs yet: overdrive --server " << r.url() << " job submit FILE\n";
    return 0;
  }
  Table t({"id", "type", "status", "experiment", "name", "created", "duration"});
  for (const auto& j : jobs) {
    t.Add({Text(j, "id"), Text(j, "type"), Text(j, "status"), Text(j, "experiment"),
           Text(j, "display_name"), FormatTimestamp(Num(j, "created_at")),
           j["started_at"].is_null() ? "-" : FormatDuration(Num(j, "duration_s"))});
  }
  t.Print(std::cout);
  std::cout << "dashboard: " << r.url() << "/\n";
  return 0;
}

int RemoteShow(const Globals& g, const std::string& id, bool json_out) {
  Remote r(g);
  auto run = r.Get("/api/v1/runs/" + id);
  if (!run) return Fail(run.error());
  if (json_out) {
    PrintJson(*run);
    return 0;
  }
  const json& j = *run;
  std::string rid = Text(j, "id");
  std::cout << "run         " << rid << "  (" << Text(j, "type") << ")\n"
            << "status      " << Text(j, "status");
  if (!Text(j, "exit_code").empty()) std::cout << "  exit code " << Text(j, "exit_code");
  std::cout << "\n";
  if (!Text(j, "status_reason").empty()) std::cout << "reason      " << Text(j, "status_reason") << "\n";
  if (!Text(j, "parent_id").empty()) std::cout << "sweep       " << Text(j, "parent_id") << "\n";
  std::cout << "experiment  " << Text(j, "experiment") << "\n"
            << "created     " << FormatTimestamp(Num(j, "created_at"));
  if (!j["started_at"].is_null()) std::cout << "   ran " << FormatDuration(Num(j, "duration_s"));
  std::cout << "\ncommand     " << Text(j, "command") << "\n"
            << "dashboard   " << r.RunUrl(rid) << "\n";
  PrintKeyValues(j.value("params", json::object()), "params");
  if (j.contains("metrics") && !j["metrics"].empty()) {
    std::cout << "\nmetrics\n";
    Table t({"name", "last", "min", "max", "points"});
    for (const auto& [k, v] : j["metrics"].items()) {
      t.Add({k, Text(v, "last"), Text(v, "min"), Text(v, "max"), Text(v, "count")});
    }
    t.Print(std::cout, "  ");
  }
  if (j.contains("artifacts") && !j["artifacts"].empty()) {
    std::cout << "\nartifacts\n";
    Table t({"path", "size"});
    for (const auto& a : j["artifacts"]) t.Add({Text(a, "path"), FormatBytes(Num(a, "size"))});
    t.Print(std::cout, "  ");
  }
  if (Text(j, "type") == "sweep" && j.contains("objective")) {
    std::string metric = Text(j["objective"], "primary_metric");
    std::cout << "\nobjective   " << Text(j["objective"], "goal") << " " << metric
              << "   sampling " << Text(j, "sampling") << "   early termination "
              << Text(j, "early_termination") << "\n"
              << "trials      " << Text(j, "trials") << " of " << Text(j, "max_total_trials");
    if (!Text(j, "best_trial").empty()) std::cout << "   best " << Text(j, "best_trial");
    std::cout << "\n";
    auto page = r.Get("/api/v1/runs?parent=" + rid + "&sort=metric&limit=10");
    if (page) {
      std::cout << "\ntop trials (best " << metric << " first; all in the dashboard)\n";
      Table t({"id", "status", metric, "params"});
      for (const auto& row : (*page)["runs"]) {
        std::string best = row["metric"].is_null() ? "-" : Text(row["metric"], "best");
        std::vector<std::string> ps;
        for (const auto& [k, v] : row["params"].items()) ps.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : DumpJson(v, -1)));
        t.Add({Text(row, "id"), Text(row, "status"), best, Join(ps, " ")});
      }
      t.Print(std::cout, "  ");
    }
  }
  return 0;
}

int RemoteLogs(const Globals& g, const std::string& id, bool follow) {
  Remote r(g);
  auto run = r.Get("/api/v1/runs/" + id);
  if (!run) return Fail(run.error());
  std::string rid = Text(*run, "id");
  std::int64_t out_off = 0, err_off = 0;
  signal(SIGINT, OnRemoteInterrupt);
  while (g_remote_interrupts.load() == 0) {
    auto o = PumpLog(r, rid, "stdout", out_off, follow ? 2 : 0, stdout);
    if (!o) return Fail(o.error());
    auto e = PumpLog(r, rid, "stderr", err_off, 0, stderr);
    if (!e) return Fail(e.error());
    bool progressed = o->first != out_off || e->first != err_off;
    out_off = o->first;
    err_off = e->first;
    if (!follow && !progressed) break;
    if (o->second && e->second) break;
  }
  return 0;
}

int RemoteCancel(const Globals& g, const std::string& id) {
  Remote r(g);
  auto run = r.Get("/api/v1/runs/" + id);
  if (!run) return Fail(run.error());
  std::string rid = Text(*run, "id");
  if (IsFinal(StatusOf(*run))) {
    std::cerr << "overdrive: job " << rid << " already " << Text(*run, "status") << "\n";
    return 0;
  }
  auto ok = r.Post("/api/v1/runs/" + rid + "/cancel", json::object());
  if (!ok) return Fail(ok.error());
  double deadline = MonotonicSeconds() + 30;
  json now = *run;
  while (MonotonicSeconds() < deadline) {
    auto cur = r.Get("/api/v1/runs/" + rid);
    if (!cur) return Fail(cur.error());
    now = *cur;
    if (IsFinal(StatusOf(now))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cout << rid << " " << Text(now, "status") << "\n";
  return IsFinal(StatusOf(now)) ? 0 : kExitFailure;
}

int RemoteMetrics(const Globals& g, const std::string& id, const std::string& name,
                  bool json_out) {
  Remote r(g);
  auto run = r.Get("/api/v1/runs/" + id);
  if (!run) return Fail(run.error());
  std::string rid = Text(*run, "id");
  auto sums = r.Get("/api/v1/runs/" + rid + "/metrics");
  if (!sums) return Fail(sums.error());
  if (name.empty() && !json_out) {
    Table t({"name", "last", "min", "max", "points", "last step"});
    for (const auto& s : (*sums)["metrics"]) {
      t.Add({Text(s, "name"), Text(s, "last"), Text(s, "min"), Text(s, "max"), Text(s, "count"),
             Text(s, "last_step")});
    }
    t.Print(std::cout);
    return 0;
  }
  json all = json::object();
  for (const auto& s : (*sums)["metrics"]) {
    std::string n = Text(s, "name");
    if (!name.empty() && n != name) continue;
    auto hist = r.Get("/api/v1/runs/" + rid + "/metrics/" + httplib::detail::encode_query_param(n) +
                      "?max_points=10000");
    if (!hist) return Fail(hist.error());
    all[n] = (*hist)["points"];
  }
  if (!name.empty() && all.empty()) {
    return Fail({ErrorCode::kNotFound, "run " + rid + " has no metric '" + name + "'"});
  }
  if (json_out) {
    PrintJson(json{{"id", rid}, {"metrics", all}});
    return 0;
  }
  Table t({"step", name});
  for (const auto& p : all[name]) t.Add({Text(p, "step"), Text(p, "value")});
  t.Print(std::cout);
  return 0;
}

int RemoteExport(const Globals& g, const std::string& id, bool csv) {
  Remote r(g);
  auto run = r.Get("/api/v1/runs/" + id);
  if (!run) return Fail(run.error());
  std::string rid = Text(*run, "id");
  if (Text(*run, "type") != "sweep") {
    return Fail({ErrorCode::kInvalidInput, "job " + rid + " is a " + Text(*run, "type") +
                                               " job; export works on sweeps"});
  }
  // Every trial, oldest first, a page at a time.
  json rows = json::array();
  std::string metric;
  std::vector<std::string> names;
  for (int offset = 0;; offset += 1000) {
    auto page = r.Get("/api/v1/runs?parent=" + rid + "&sort=created_at&order=asc&limit=1000&offset=" +
                      std::to_string(offset));
    if (!page) return Fail(page.error());
    metric = Text(*page, "metric");
    names = (*page)["param_names"].get<std::vector<std::string>>();
    for (auto& row : (*page)["runs"]) rows.push_back(std::move(row));
    if (static_cast<double>(rows.size()) >= Num(*page, "total") || (*page)["runs"].empty()) break;
  }
  if (!csv) {
    PrintJson(rows);
    return 0;
  }
  std::vector<std::string> header = {"trial_id", "name", "status"};
  for (const auto& n : names) header.push_back(CsvField(n));
  for (const auto& h : {"final_" + metric, "best_" + metric, std::string("intervals"),
                        std::string("duration_s")}) {
    header.push_back(CsvField(h));
  }
  std::cout << Join(header, ",") << "\n";
  for (const auto& row : rows) {
    std::vector<std::string> out = {Text(row, "id"), CsvField(Text(row, "display_name")),
                                    Text(row, "status")};
    for (const auto& n : names) {
      out.push_back(row["params"].contains(n) ? CsvField(Text(row["params"], n.c_str())) : "");
    }
    const json& m = row["metric"];
    out.push_back(m.is_null() ? "" : Text(m, "last"));
    out.push_back(m.is_null() ? "" : Text(m, "best"));
    out.push_back(m.is_null() ? "0" : Text(m, "count"));
    out.push_back(FormatDouble(Num(row, "duration_s")));
    std::cout << Join(out, ",") << "\n";
  }
  return 0;
}

}  // namespace overdrive
