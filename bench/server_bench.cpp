// Load client of `overdrive server` (issue 5): metric ingestion throughput with no point lost,
// and the latency of the dashboard's heavy reads.
//
// It starts `overdrive server --port 0` itself (--overdrive BIN, --workspace DIR, optionally
// --db postgresql://...), after creating the query section's sweep through the store API, and
// stops it (SIGTERM) at the end. Sections (--sections, default ingest,single,query):
//   ingest  --clients threads (8), each with --runs-per-client runs of its own (1), created
//           through MLflow's runs/create; each thread POSTs /api/v1/runs/ID/metrics batches of
//           --batch points (1,000) until --points points in all (2,000,000) are sent.
//   single  the same, one point per request through MLflow's runs/log-metric (the per-call style
//           of mlflow.log_metric), --single-points in all (20,000).
//   query   one run of --query-points points (1,000,000), sent in batches of 10,000 by the
//           clients (timed too: an ingest row), then --queries (200) GET
//           /api/v1/runs/ID/metrics/loss?max_points=1000; a sweep of --trials trials (10,000)
//           made through the store API before the server starts (params and --trial-points
//           points of its primary metric each), then --queries GET
//           /api/v1/runs?parent=SWEEP&sort=metric&limit=50 (the trials table) and
//           --detail-queries (20) GET /api/v1/runs/SWEEP/trials/points (also with "br" offered, as
//           browsers do on https://) and GET /api/v1/runs/SWEEP.
// Request bodies are built before the clock starts, so the client's own work during the timing
// is sending and reading replies. Each thread keeps one keep-alive connection (httplib::Client,
// TCP_NODELAY). Latencies are one request at a time, after 3 unmeasured warm-up requests, with
// Accept-Encoding: gzip, deflate.
//
// Checks: every answer's shape and numbers (a 1,000,000-point series answers count 1,000,000 in
// 1,000 buckets; the trials page's first row is the best trial). Every ingested run is counted
// through GET /api/v1/runs/ID/metrics while the server runs, and after it stopped the store is
// read in full (GetMetricHistory): each step 0..n-1 exactly once with the value sent. A lost,
// duplicated or wrong point, a failed request or a wrong answer exits 1.
//
// --url URL measures a server already running (the Python peer, bench/server_peer.py): nothing
// is started, only ingest and single run, and the check is the count and distinct-step count its
// GET .../metrics reports. --server-pid PID gives its pid for the CPU column.
//
// Output: markdown rows appended to --ingest-rows FILE and --query-rows FILE (stdout when not
// given); bench/run_server_bench.sh prints the headers. Progress on stderr. --pidfile FILE gets
// the started server's pid, so that a script's trap can stop it if this program is killed.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "spec/job_spec.hpp"
#include "store/metadata_store.hpp"
#include "sweep/submission.hpp"
#include "sweep/workspace.hpp"

extern char** environ;

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Args {
  std::string overdrive;          // the binary to start (not with --url)
  std::string workspace;          // its --workspace
  std::string db;                 // its --db ("" = SQLite in the workspace)
  std::string url;                // a running server instead (peer)
  int server_pid = 0;             // the peer's pid, for its CPU time
  std::string backend = "sqlite"; // the table's backend column
  std::set<std::string> sections = {"ingest", "single", "query"};
  std::int64_t points = 2'000'000;
  int clients = 8;
  int runs_per_client = 1;
  int batch = 1000;
  std::int64_t single_points = 20'000;
  std::int64_t query_points = 1'000'000;
  int query_batch = 10'000;
  int trials = 10'000;
  int trial_points = 10;
  int queries = 200;
  int detail_queries = 20;
  std::string ingest_rows, query_rows, pidfile;
};

int g_failures = 0;

void Fail(const std::string& what) {
  std::cerr << "server_bench: FAILED: " << what << "\n";
  ++g_failures;
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "server_bench: " << what << "\n";
  std::exit(2);
}

void Note(const std::string& what) { std::cerr << "server_bench: " << what << "\n"; }

double Now() { return MonotonicSeconds(); }

std::string Thousands(std::int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out = v < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void AppendDouble(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  out.append(buf, r.ptr);
}

// The value sent for `step` of the run numbered `k`: exact in binary and in JSON text, so the
// store read can compare with ==.
double PointValue(int k, std::int64_t step) {
  return static_cast<double>(k) + static_cast<double>(step % 1000) * 0.25;
}

// ---- Processes ----

// CPU seconds (user + system) of one process, from /proc; 0 when it is gone.
double ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  std::vector<std::string> v;
  while (fields >> f) v.push_back(f);
  // After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based in proc(5)).
  if (v.size() < 13) return 0;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(v[11]) + std::stod(v[12])) / ticks;
}

// CPU seconds of every process named "postgres" (the cluster's backends): what the database does
// for a PostgreSQL-backed server. The cluster may serve others too, so it is an upper bound.
double PostgresCpuSeconds() {
  double total = 0;
  DIR* d = opendir("/proc");
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "postgres") total += ProcessCpuSeconds(std::atoi(e->d_name));
  }
  closedir(d);
  return total;
}

double SelfCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct StartedServer {
  pid_t pid = 0;
  std::string url;
};

StartedServer StartServer(const Args& a, const fs::path& log) {
  std::vector<std::string> argv = {a.overdrive, "--workspace", a.workspace};
  if (!a.db.empty()) {
    argv.push_back("--db");
    argv.push_back(a.db);
  }
  for (const char* s : {"server", "--port", "0"}) argv.push_back(s);
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, a.overdrive.c_str(), &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Die("cannot start " + a.overdrive + ": " + std::strerror(rc));
  if (!a.pidfile.empty()) std::ofstream(a.pidfile) << pid << "\n";
  // It prints "overdrive server: http://127.0.0.1:PORT/   (dashboard)" once it listens.
  static const std::regex kUrl(R"(overdrive server: (https?://[^ ]+?)/ )");
  for (int i = 0; i < 1200; ++i) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch m;
    if (std::regex_search(text, m, kUrl)) return {pid, m[1]};
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      Die("the server exited before listening; its output (" + log.string() + "):\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  Die("the server did not print its URL within 60 s (see " + log.string() + ")");
}

void StopServer(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Note("the server did not stop within 15 s of SIGTERM; killing it");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// ---- HTTP ----

std::unique_ptr<httplib::Client> MakeClient(const std::string& url) {
  auto c = std::make_unique<httplib::Client>(url);
  c->set_keep_alive(true);
  // As Python's urllib3 and browsers do: a request's headers and body go out in two writes,
  // and with Nagle on the body would wait for the server's delayed ACK (~40 ms).
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(10, 0);
  c->set_read_timeout(300, 0);
  c->set_write_timeout(300, 0);
  return c;
}

// What Python's requests and browsers on http:// send. Browsers add "br" on https:// only; the
// server then answers with brotli (one extra row measures that).
const httplib::Headers kClientHeaders = {{"Accept-Encoding", "gzip, deflate"}};
const httplib::Headers kHttpsBrowserHeaders = {{"Accept-Encoding", "gzip, deflate, br"}};

std::optional<json> PostJson(httplib::Client& c, const std::string& path, const std::string& body,
                             std::string* error) {
  auto r = c.Post(path, kClientHeaders, body, "application/json");
  if (!r) {
    *error = "POST " + path + ": " + httplib::to_string(r.error());
    return std::nullopt;
  }
  if (r->status != 200 && r->status != 201) {
    *error = "POST " + path + ": HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300);
    return std::nullopt;
  }
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    *error = "POST " + path + ": reply is not JSON: " + r->body.substr(0, 200);
    return std::nullopt;
  }
  return j;
}

std::optional<json> GetJson(httplib::Client& c, const std::string& path, std::string* error,
                            std::size_t* bytes = nullptr,
                            const httplib::Headers& headers = kClientHeaders) {
  auto r = c.Get(path, headers);
  if (!r) {
    *error = "GET " + path + ": " + httplib::to_string(r.error());
    return std::nullopt;
  }
  if (r->status != 200) {
    *error = "GET " + path + ": HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300);
    return std::nullopt;
  }
  if (bytes) *bytes = r->body.size();
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    *error = "GET " + path + ": reply is not JSON";
    return std::nullopt;
  }
  return j;
}

std::string CreateRun(httplib::Client& c, const std::string& name) {
  std::string err;
  auto j = PostJson(c, "/api/2.0/mlflow/runs/create",
                    json{{"experiment_id", "0"}, {"run_name", name},
                         {"start_time", static_cast<std::int64_t>(WallSeconds() * 1000)}}
                        .dump(),
                    &err);
  if (!j) Die("cannot create a run: " + err);
  try {
    return (*j)["run"]["info"]["run_id"].get<std::string>();
  } catch (const json::exception&) {
    Die("runs/create answered without run.info.run_id: " + j->dump());
  }
}

void FinishRun(httplib::Client& c, const std::string& id) {
  std::string err;
  if (!PostJson(c, "/api/2.0/mlflow/runs/update",
                json{{"run_id", id}, {"status", "FINISHED"},
                     {"end_time", static_cast<std::int64_t>(WallSeconds() * 1000)}}
                    .dump(),
                &err)) {
    Note("runs/update of " + id + ": " + err);
  }
}

// ---- Ingestion ----

struct IngestRun {
  std::string id;
  int k = 0;                 // numbers the values (PointValue)
  std::int64_t points = 0;   // sent, steps 0..points-1 of metric "loss"
};

struct IngestResult {
  std::string mode;
  std::vector<IngestRun> runs;
  std::int64_t points = 0;
  int clients = 0;
  double seconds = 0;
  double server_cpu = 0, postgres_cpu = -1, client_cpu = 0;
  std::int64_t failed_requests = 0;
  // Filled by the checks.
  std::int64_t lost = 0, duplicated = 0, wrong = 0;
  bool store_read = false;
};

// A REST batch: {"metrics": [{"name": "loss", "value": v, "step": s}, ...]}.
std::string BatchBody(int k, std::int64_t first, std::int64_t n) {
  std::string b;
  b.reserve(static_cast<size_t>(n) * 48 + 16);
  b += "{\"metrics\":[";
  for (std::int64_t s = first; s < first + n; ++s) {
    if (s != first) b += ',';
    b += "{\"name\":\"loss\",\"value\":";
    AppendDouble(b, PointValue(k, s));
    b += ",\"step\":";
    b += std::to_string(s);
    b += '}';
  }
  b += "]}";
  return b;
}

// MLflow's runs/log-metric: one point.
std::string LogMetricBody(const std::string& run_id, int k, std::int64_t step) {
  std::string b = "{\"run_id\":\"" + run_id + "\",\"key\":\"loss\",\"value\":";
  AppendDouble(b, PointValue(k, step));
  b += ",\"timestamp\":" + std::to_string(static_cast<std::int64_t>(WallSeconds() * 1000));
  b += ",\"step\":" + std::to_string(step) + "}";
  return b;
}

struct Request {
  std::string path;
  std::string body;
  std::int64_t points = 0;
};

// Runs `per_client[i]` on client thread i, all starting together; returns the wall time.
double RunClients(const std::string& url, std::vector<std::vector<Request>>& per_client,
                  std::atomic<std::int64_t>& failed) {
  const int n = static_cast<int>(per_client.size());
  std::barrier start(n + 1);
  std::vector<std::thread> threads;
  std::mutex err_mu;
  std::string first_error;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      auto c = MakeClient(url);
      start.arrive_and_wait();
      for (const auto& r : per_client[static_cast<size_t>(i)]) {
        std::string err;
        auto j = PostJson(*c, r.path, r.body, &err);
        bool ok = j.has_value();
        // REST batches answer {"accepted": n}; MLflow's log-metric answers {}.
        if (ok && j->contains("accepted") && (*j)["accepted"] != r.points) {
          ok = false;
          err = "POST " + r.path + ": accepted " + (*j)["accepted"].dump() + " of " +
                std::to_string(r.points);
        }
        if (!ok) {
          ++failed;
          std::lock_guard<std::mutex> lock(err_mu);
          if (first_error.empty()) first_error = err;
        }
      }
    });
  }
  start.arrive_and_wait();
  double t0 = Now();
  for (auto& t : threads) t.join();
  double wall = Now() - t0;
  if (!first_error.empty()) Fail("a request failed (" + std::to_string(failed.load()) + " in all): " + first_error);
  return wall;
}

struct CpuMark {
  double server = 0, postgres = 0, self = 0;
};

CpuMark MarkCpu(int server_pid, bool pg) {
  return {server_pid > 0 ? ProcessCpuSeconds(server_pid) : 0, pg ? PostgresCpuSeconds() : 0,
          SelfCpuSeconds()};
}

// Creates `runs` runs (through the server), sends each its points from `clients` threads (run r
// belongs to client r % clients, batches round-robin over a client's runs) and times it.
IngestResult Ingest(const Args& a, const std::string& url, int server_pid, const std::string& mode,
                    int clients, int runs, std::int64_t total, int batch, bool single,
                    int first_k) {
  IngestResult res;
  res.mode = mode;
  res.clients = clients;
  auto admin = MakeClient(url);
  std::int64_t per_run = (total + runs - 1) / runs;
  for (int r = 0; r < runs; ++r) {
    IngestRun run;
    run.id = CreateRun(*admin, "bench " + mode + " " + std::to_string(r));
    run.k = first_k + r;
    run.points = per_run;
    res.runs.push_back(run);
    res.points += per_run;
  }
  // Each run's requests in step order; a client's runs interleaved (run 0 batch 0, run 1 batch 0,
  // ..., run 0 batch 1). With fewer runs than clients, the requests are dealt out round-robin:
  // several clients then write into one run at once.
  std::vector<std::vector<Request>> by_run;
  for (const auto& run : res.runs) {
    std::vector<Request> reqs;
    if (single) {
      for (std::int64_t s = 0; s < run.points; ++s) {
        reqs.push_back({"/api/2.0/mlflow/runs/log-metric", LogMetricBody(run.id, run.k, s), 1});
      }
    } else {
      for (std::int64_t s = 0; s < run.points; s += batch) {
        std::int64_t n = std::min<std::int64_t>(batch, run.points - s);
        reqs.push_back({"/api/v1/runs/" + run.id + "/metrics", BatchBody(run.k, s, n), n});
      }
    }
    by_run.push_back(std::move(reqs));
  }
  std::vector<std::vector<Request>> per_client(static_cast<size_t>(clients));
  auto interleave = [&](const std::vector<size_t>& run_indexes, auto&& place) {
    for (size_t i = 0;; ++i) {
      bool any = false;
      for (size_t r : run_indexes) {
        if (i < by_run[r].size()) {
          place(std::move(by_run[r][i]));
          any = true;
        }
      }
      if (!any) break;
    }
  };
  if (runs >= clients) {
    for (int c = 0; c < clients; ++c) {
      std::vector<size_t> mine;
      for (int r = c; r < runs; r += clients) mine.push_back(static_cast<size_t>(r));
      interleave(mine, [&](Request&& q) { per_client[static_cast<size_t>(c)].push_back(std::move(q)); });
    }
  } else {
    std::vector<size_t> all;
    for (int r = 0; r < runs; ++r) all.push_back(static_cast<size_t>(r));
    size_t next = 0;
    interleave(all, [&](Request&& q) {
      per_client[next++ % static_cast<size_t>(clients)].push_back(std::move(q));
    });
  }
  Note(mode + ": " + Thousands(res.points) + " points into " + std::to_string(runs) +
       " run(s) from " + std::to_string(clients) + " clients...");
  bool pg = !a.db.empty();
  std::atomic<std::int64_t> failed{0};
  CpuMark before = MarkCpu(server_pid, pg);
  res.seconds = RunClients(url, per_client, failed);
  CpuMark after = MarkCpu(server_pid, pg);
  res.failed_requests = failed.load();
  res.server_cpu = after.server - before.server;
  if (pg) res.postgres_cpu = after.postgres - before.postgres;
  res.client_cpu = after.self - before.self;
  Note(mode + ": " + Fixed(res.seconds, 2) + " s, " +
       Thousands(static_cast<std::int64_t>(static_cast<double>(res.points) / res.seconds)) +
       " points/s; server CPU " + Fixed(res.server_cpu, 2) + " s, client CPU " +
       Fixed(res.client_cpu, 2) + " s" +
       (pg ? ", postgres CPU " + Fixed(res.postgres_cpu, 2) + " s" : ""));
  return res;
}

// Through the API: GET /api/v1/runs/ID/metrics must count every point (and, where the server
// says, as many distinct steps).
void CheckCountsOverHttp(const std::string& url, IngestResult& res) {
  auto c = MakeClient(url);
  for (const auto& run : res.runs) {
    std::string err;
    auto j = GetJson(*c, "/api/v1/runs/" + run.id + "/metrics", &err);
    if (!j) {
      Fail(err);
      continue;
    }
    std::int64_t count = 0, distinct = -1, last_step = -1;
    for (const auto& m : (*j)["metrics"]) {
      if (m.value("name", "") != "loss") continue;
      count = m.value("count", std::int64_t{0});
      last_step = m.value("last_step", std::int64_t{-1});
      if (m.contains("distinct_steps")) distinct = m["distinct_steps"].get<std::int64_t>();
    }
    if (count != run.points || last_step != run.points - 1) {
      Fail(res.mode + ": run " + run.id + " counts " + std::to_string(count) + " points (last step " +
           std::to_string(last_step) + ") over HTTP; " + std::to_string(run.points) + " were sent");
    }
    if (distinct >= 0) {
      // The peer reports distinct steps; the store read below does this for Overdrive.
      res.lost += std::max<std::int64_t>(0, run.points - distinct);
      res.duplicated += std::max<std::int64_t>(0, count - distinct);
    }
  }
}

// The whole series of every run, read from the store: steps 0..n-1 each exactly once, with the
// value sent.
void CheckStore(MetadataStore& store, IngestResult& res) {
  res.store_read = true;
  res.lost = res.duplicated = res.wrong = 0;
  for (const auto& run : res.runs) {
    auto h = store.GetMetricHistory(run.id, "loss");
    if (!h) {
      Fail(res.mode + ": cannot read run " + run.id + ": " + h.error().message);
      res.lost += run.points;
      continue;
    }
    std::vector<int> seen(static_cast<size_t>(run.points), 0);
    std::int64_t outside = 0;
    for (const auto& p : *h) {
      if (p.step < 0 || p.step >= run.points) {
        ++outside;
        continue;
      }
      if (seen[static_cast<size_t>(p.step)]++ == 0 && p.value != PointValue(run.k, p.step)) {
        ++res.wrong;
      }
    }
    for (int n : seen) {
      if (n == 0) ++res.lost;
      if (n > 1) res.duplicated += n - 1;
    }
    res.wrong += outside;
  }
  if (res.lost || res.duplicated || res.wrong) {
    Fail(res.mode + ": the store holds " + std::to_string(res.lost) + " lost, " +
         std::to_string(res.duplicated) + " duplicated, " + std::to_string(res.wrong) +
         " wrong points");
  }
}

// ---- Queries ----

struct Latency {
  std::string query;
  std::vector<double> ms;
  std::size_t bytes = 0;  // of one reply, as received (after decompression)
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Times `n` GETs of `path` one at a time (after 3 warm-ups), checking each answer. `before`, if
// set, runs before each request, outside the timing (the live variants log a point first).
Latency TimeQuery(const std::string& url, const std::string& label, const std::string& path, int n,
                  const std::function<std::string(const json&)>& check,
                  const httplib::Headers& headers = kClientHeaders,
                  const std::function<void()>& before = nullptr) {
  Latency lat;
  lat.query = label;
  auto c = MakeClient(url);
  for (int i = -3; i < n; ++i) {
    std::string err;
    if (before) before();
    double t0 = Now();
    auto j = GetJson(*c, path, &err, &lat.bytes, headers);
    double ms = (Now() - t0) * 1000;
    if (!j) {
      Fail(err);
      return lat;
    }
    if (i == -3) {
      if (std::string why = check(*j); !why.empty()) {
        Fail(label + ": wrong answer: " + why);
        return lat;
      }
    }
    if (i >= 0) lat.ms.push_back(ms);
  }
  Note(label + ": p50 " + Fixed(Percentile(lat.ms, 0.5), 1) + " ms, p99 " +
       Fixed(Percentile(lat.ms, 0.99), 1) + " ms, reply " + Thousands(static_cast<std::int64_t>(lat.bytes)) +
       " bytes");
  return lat;
}

// A value in [0.5, 0.99) from (trial, step): a deterministic, scattered accuracy.
double TrialValue(int trial, int step) {
  std::uint64_t x = static_cast<std::uint64_t>(trial) * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return 0.5 + 0.49 * static_cast<double>(x >> 11) / static_cast<double>(1ull << 53);
}

struct Sweep {
  std::string id;
  double best = -1;
  std::string best_trial;
  std::vector<std::string> trials;  // in creation order
};

// A completed sweep of `trials` completed trials, each with 3 params and `points` points of
// "accuracy" (maximize), written through the store as the sweep controller would have.
Sweep MakeSweep(Workspace& ws, const Args& a) {
  const std::string yaml =
      "type: sweep\n"
      "experiment_name: server-bench\n"
      "trial:\n"
      "  command: true --lr ${{search_space.lr}} --batch ${{search_space.batch_size}} "
      "--opt ${{search_space.optimizer}}\n"
      "compute: local\n"
      "sampling_algorithm: random\n"
      "search_space:\n"
      "  lr: {type: loguniform, min_value: -9.2, max_value: -1.6}\n"
      "  batch_size: {type: choice, values: [16, 32, 64, 128]}\n"
      "  optimizer: {type: choice, values: [adam, sgd, rmsprop]}\n"
      "objective: {goal: maximize, primary_metric: accuracy}\n"
      "limits: {max_total_trials: " +
      std::to_string(a.trials) + ", max_concurrent_trials: 2}\n";
  auto spec = ParseJobText(yaml, "server-bench-sweep.yml", fs::path(a.workspace));
  if (!spec) Die("the bench's sweep file: " + spec.error().message);
  auto job = SubmitJob(ws, *spec);
  if (!job) Die("cannot store the sweep: " + job.error().message);
  Sweep sweep;
  sweep.id = job->run.id;
  MetadataStore& store = ws.store();
  double t0 = WallSeconds() - a.trials * 2.0;
  static const char* kOptimizers[] = {"adam", "sgd", "rmsprop"};
  for (int i = 0; i < a.trials; ++i) {
    RunRecord tr;
    tr.id = NewRunId();
    tr.experiment_id = job->run.experiment_id;
    tr.parent_id = sweep.id;
    tr.job_type = JobType::kTrial;
    tr.display_name = "trial " + std::to_string(i + 1);
    tr.status = RunStatus::kCompleted;
    tr.compute = "local";
    tr.run_dir = ws.RunDir(tr.id).string();
    tr.created_at = t0 + i * 2.0;
    tr.started_at = tr.created_at + 0.1;
    tr.ended_at = tr.created_at + 1.9;
    tr.exit_code = 0;
    double lr = std::exp(-9.2 + 7.6 * TrialValue(i, 1000));
    int bs = 16 << (i % 4);
    std::string opt = kOptimizers[i % 3];
    tr.command = "true --lr " + std::to_string(lr) + " --batch " + std::to_string(bs) + " --opt " + opt;
    std::string lr_json;
    AppendDouble(lr_json, lr);
    std::vector<Param> params = {{"batch_size", std::to_string(bs)}, {"lr", lr_json},
                                 {"optimizer", "\"" + opt + "\""}};
    if (auto ok = store.CreateRun(tr, params, {}); !ok) Die("cannot create a trial: " + ok.error().message);
    sweep.trials.push_back(tr.id);
    IngestBatch b;
    b.run_id = tr.id;
    for (int s = 0; s < a.trial_points; ++s) {
      double v = TrialValue(i, s);
      b.points.push_back({"accuracy", s, v, tr.started_at + s * 0.1});
      if (v > sweep.best) {
        sweep.best = v;
        sweep.best_trial = tr.id;
      }
    }
    if (auto ok = store.Ingest(b); !ok) Die("cannot store a trial's metrics: " + ok.error().message);
  }
  RunUpdate u;
  u.started_at = t0;
  u.ended_at = t0 + a.trials * 2.0;
  u.exit_code = 0;
  auto moved = store.TransitionRun(sweep.id, RunStatus::kCompleted, u);
  if (!moved || !*moved) Die("cannot complete the bench's sweep");
  return sweep;
}

// ---- Output ----

void AppendRow(const std::string& file, const std::string& row) {
  if (file.empty()) {
    std::cout << row << "\n";
    return;
  }
  std::ofstream out(file, std::ios::app);
  out << row << "\n";
}

std::string IngestRow(const Args& a, const IngestResult& r) {
  double rate = r.seconds > 0 ? static_cast<double>(r.points) / r.seconds : 0;
  std::string cpu = Fixed(r.server_cpu, 1);
  if (r.postgres_cpu >= 0) cpu += " + " + Fixed(r.postgres_cpu, 1) + " postgres";
  std::string checked = r.store_read ? "store read in full" : "count + distinct steps over HTTP";
  return "| " + a.backend + " | " + r.mode + " | " + Thousands(r.points) + " | " +
         std::to_string(r.runs.size()) + " | " + std::to_string(r.clients) + " | " +
         Fixed(r.seconds, 2) + " | " + Thousands(static_cast<std::int64_t>(rate)) + " | " + cpu +
         " | " + Fixed(r.client_cpu, 1) + " | " + std::to_string(r.lost) + " | " +
         std::to_string(r.duplicated + r.wrong) + " | " +
         (r.failed_requests ? std::to_string(r.failed_requests) + " failed requests; " : "") +
         checked + " |";
}

std::string QueryRow(const Args& a, const Latency& l) {
  return "| " + l.query + " | " + a.backend + " | " + std::to_string(l.ms.size()) + " | " +
         Fixed(Percentile(l.ms, 0.5), 1) + " | " + Fixed(Percentile(l.ms, 0.99), 1) + " | " +
         Fixed(l.ms.empty() ? 0 : *std::max_element(l.ms.begin(), l.ms.end()), 1) + " | " +
         Thousands(static_cast<std::int64_t>(l.bytes)) + " |";
}

// ---- Main ----

std::set<std::string> SplitSet(const std::string& s) {
  std::set<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    std::string key = arg.substr(0, eq), value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (key != "--help") {
      if (i + 1 >= argc) Die(key + " needs a value (see --help)");
      value = argv[++i];
    }
    auto num = [&] { return std::stoll(value); };
    if (key == "--help") {
      std::puts(
          "server_bench --overdrive BIN --workspace DIR [--db postgresql://...] | --url URL\n"
          "  [--backend NAME] [--sections ingest,single,query] [--points 2000000] [--clients 8]\n"
          "  [--runs-per-client 1] [--batch 1000] [--single-points 20000]\n"
          "  [--query-points 1000000] [--query-batch 10000] [--trials 10000] [--trial-points 10]\n"
          "  [--queries 200] [--detail-queries 20] [--server-pid PID]\n"
          "  [--ingest-rows FILE] [--query-rows FILE] [--pidfile FILE]");
      std::exit(0);
    } else if (key == "--overdrive") {
      a.overdrive = value;
    } else if (key == "--workspace") {
      a.workspace = value;
    } else if (key == "--db") {
      a.db = value;
    } else if (key == "--url") {
      a.url = value;
    } else if (key == "--server-pid") {
      a.server_pid = static_cast<int>(num());
    } else if (key == "--backend") {
      a.backend = value;
    } else if (key == "--sections") {
      a.sections = SplitSet(value);
    } else if (key == "--points") {
      a.points = num();
    } else if (key == "--clients") {
      a.clients = static_cast<int>(num());
    } else if (key == "--runs-per-client") {
      a.runs_per_client = static_cast<int>(num());
    } else if (key == "--batch") {
      a.batch = static_cast<int>(num());
    } else if (key == "--single-points") {
      a.single_points = num();
    } else if (key == "--query-points") {
      a.query_points = num();
    } else if (key == "--query-batch") {
      a.query_batch = static_cast<int>(num());
    } else if (key == "--trials") {
      a.trials = static_cast<int>(num());
    } else if (key == "--trial-points") {
      a.trial_points = static_cast<int>(num());
    } else if (key == "--queries") {
      a.queries = static_cast<int>(num());
    } else if (key == "--detail-queries") {
      a.detail_queries = static_cast<int>(num());
    } else if (key == "--ingest-rows") {
      a.ingest_rows = value;
    } else if (key == "--query-rows") {
      a.query_rows = value;
    } else if (key == "--pidfile") {
      a.pidfile = value;
    } else {
      Die("unknown argument '" + arg + "' (see --help)");
    }
  }
  if (a.url.empty() && (a.overdrive.empty() || a.workspace.empty())) {
    Die("give --overdrive BIN and --workspace DIR (or --url URL of a running server)");
  }
  if (a.clients < 1 || a.runs_per_client < 1 || a.batch < 1 || a.batch > 10000 ||
      a.query_batch < 1 || a.query_batch > 10000 || a.trial_points < 1 || a.queries < 1) {
    Die("--clients, --runs-per-client, --trial-points and --queries must be >= 1; --batch and "
        "--query-batch between 1 and 10000 (the server's limit per request)");
  }
  return a;
}

int Main(int argc, char** argv) {
  Args a = ParseArgs(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const bool peer = !a.url.empty();
  if (peer) a.sections.erase("query");

  std::optional<Sweep> sweep;
  WorkspaceLocation loc{fs::path(a.workspace), a.db, {}};
  if (!peer && a.sections.count("query")) {
    double t0 = Now();
    auto ws = Workspace::Open(loc);
    if (!ws) Die("cannot open the workspace: " + ws.error().message);
    sweep = MakeSweep(**ws, a);
    Note("sweep " + sweep->id + " with " + Thousands(a.trials) + " trials made through the store in " +
         Fixed(Now() - t0, 1) + " s");
  }

  StartedServer server;
  std::string url = a.url;
  int server_pid = a.server_pid;
  if (!peer) {
    fs::path log = fs::path(a.workspace).parent_path() / (fs::path(a.workspace).filename().string() + "-server.log");
    server = StartServer(a, log);
    url = server.url;
    server_pid = server.pid;
    Note("server pid " + std::to_string(server.pid) + " at " + url + " (log " + log.string() + ")");
  }

  std::vector<IngestResult> ingests;
  std::vector<Latency> latencies;
  int k = 0;  // run numbers, so every run's values differ
  if (a.sections.count("ingest")) {
    int runs = a.clients * a.runs_per_client;
    ingests.push_back(Ingest(a, url, server_pid,
                             "REST batches of " + Thousands(a.batch), a.clients, runs, a.points,
                             a.batch, false, k));
    k += runs;
  }
  if (a.sections.count("single")) {
    ingests.push_back(Ingest(a, url, server_pid, "MLflow log-metric, 1 point per request",
                             a.clients, a.clients, a.single_points, 1, true, k));
    k += a.clients;
  }
  if (a.sections.count("query")) {
    IngestResult big = Ingest(a, url, server_pid,
                              "REST batches of " + Thousands(a.query_batch) + ", one run",
                              a.clients, 1, a.query_points, a.query_batch, false, k);
    ingests.push_back(big);
    ++k;
    const std::string& run = big.runs[0].id;
    const std::int64_t n = big.runs[0].points;
    latencies.push_back(TimeQuery(
        url, "metric history, " + Thousands(n) + " points, max_points=1000 (a running run: computed each time)",
        "/api/v1/runs/" + run + "/metrics/loss?max_points=1000", a.queries,
        [n](const json& j) -> std::string {
          auto pts = j.value("points", json::array());
          if (j.value("count", std::int64_t{0}) != n) return "count " + j.value("count", json()).dump();
          // At most 1,000 buckets (a long series is bucketed by whole 64-step blocks), at least
          // half that many.
          const auto want = static_cast<size_t>(std::min<std::int64_t>(n, 1000));
          if (pts.size() > want || pts.size() < want / 2) return std::to_string(pts.size()) + " points";
          if (n > 1000 && !j.value("downsampled", false)) return "not downsampled";
          if (pts[0].value("step", std::int64_t{-1}) != 0) return "first bucket at step " + pts[0]["step"].dump();
          return "";
        }));
    const int trials = a.trials;
    const Sweep sw = *sweep;
    auto trials_page_ok = [trials, sw](const json& j) -> std::string {
      if (j.value("total", 0) != trials) return "total " + j.value("total", json()).dump();
      const auto& runs = j["runs"];
      if (runs.size() != static_cast<size_t>(std::min(trials, 50))) return std::to_string(runs.size()) + " rows";
      if (runs[0].value("id", "") != sw.best_trial) return "first row " + runs[0].value("id", "") + ", best is " + sw.best_trial;
      if (runs[0]["metric"].value("best", 0.0) != sw.best) return "best " + runs[0]["metric"].dump();
      if (j.value("best_trial", "") != sw.best_trial) return "best_trial " + j["best_trial"].dump();
      return "";
    };
    latencies.push_back(TimeQuery(
        url, "trials page, " + Thousands(trials) + " trials, sort=metric limit=50",
        "/api/v1/runs?parent=" + sw.id + "&sort=metric&limit=50", a.queries, trials_page_ok));
    // Live: before each request (outside the timing) a point is logged, as runs do on a busy
    // server: by another run, and by one of this sweep's trials (in turn, a low accuracy at a
    // new step, so the best trial stays), which the server must show at once.
    auto ticker_client = MakeClient(url);
    const std::string ticker = CreateRun(*ticker_client, "bench-ticker");
    auto log_point = [&ticker_client](const std::string& run, const std::string& name,
                                      std::int64_t step) {
      std::string err;
      json body = {{"metrics", json::array({{{"name", name}, {"value", 0.0}, {"step", step}}})}};
      auto j = PostJson(*ticker_client, "/api/v1/runs/" + run + "/metrics", body.dump(), &err);
      if (!j || j->value("accepted", 0) != 1) {
        Fail("the live variant's point was not stored: " + (j ? j->dump() : err));
      }
    };
    auto tick = [&log_point, ticker, step = std::int64_t{0}]() mutable {
      log_point(ticker, "tick", step++);
    };
    auto trial_tick = [&log_point, sw, k = size_t{0}]() mutable {
      const std::string& trial = sw.trials[k % sw.trials.size()];
      log_point(trial, "accuracy", 1000 + static_cast<std::int64_t>(k++));
    };
    latencies.push_back(TimeQuery(
        url, "trials page, " + Thousands(trials) + " trials, sort=metric limit=50, another run logs before each",
        "/api/v1/runs?parent=" + sw.id + "&sort=metric&limit=50", a.queries, trials_page_ok,
        kClientHeaders, tick));
    latencies.push_back(TimeQuery(
        url, "trials page, " + Thousands(trials) + " trials, sort=metric limit=50, live: a trial logs before each",
        "/api/v1/runs?parent=" + sw.id + "&sort=metric&limit=50", a.queries, trials_page_ok,
        kClientHeaders, trial_tick));
    latencies.push_back(TimeQuery(
        url, "trials/points, " + Thousands(trials) + " trials", "/api/v1/runs/" + sw.id + "/trials/points",
        a.detail_queries, [trials](const json& j) -> std::string {
          if (j["trials"].size() != static_cast<size_t>(trials)) return std::to_string(j["trials"].size()) + " trials";
          return "";
        }));
    latencies.push_back(TimeQuery(
        url, "trials/points, " + Thousands(trials) + " trials, Accept-Encoding br (https browsers)",
        "/api/v1/runs/" + sw.id + "/trials/points", a.detail_queries,
        [trials](const json& j) -> std::string {
          if (j["trials"].size() != static_cast<size_t>(trials)) return std::to_string(j["trials"].size()) + " trials";
          return "";
        },
        kHttpsBrowserHeaders));
    latencies.push_back(TimeQuery(
        url, "sweep detail (runs/ID), " + Thousands(trials) + " trials", "/api/v1/runs/" + sw.id,
        a.detail_queries, [trials](const json& j) -> std::string {
          if (j.value("trials", 0) != trials) return "trials " + j.value("trials", json()).dump();
          return "";
        }));
    latencies.push_back(TimeQuery(
        url, "trials/points, " + Thousands(trials) + " trials, live: a trial logs before each",
        "/api/v1/runs/" + sw.id + "/trials/points", a.detail_queries,
        [trials](const json& j) -> std::string {
          if (j["trials"].size() != static_cast<size_t>(trials)) return std::to_string(j["trials"].size()) + " trials";
          return "";
        },
        kClientHeaders, trial_tick));
  }

  for (auto& r : ingests) CheckCountsOverHttp(url, r);
  {
    auto c = MakeClient(url);
    for (const auto& r : ingests)
      for (const auto& run : r.runs) FinishRun(*c, run.id);
  }
  if (!peer) {
    StopServer(server.pid);
    if (!a.pidfile.empty()) fs::remove(a.pidfile);
    double t0 = Now();
    auto ws = Workspace::Open(loc);
    if (!ws) Die("cannot reopen the workspace: " + ws.error().message);
    std::int64_t total = 0;
    for (auto& r : ingests) {
      CheckStore((*ws)->store(), r);
      total += r.points;
    }
    Note("read " + Thousands(total) + " points back from the store in " + Fixed(Now() - t0, 1) + " s");
  }
  for (const auto& r : ingests) AppendRow(a.ingest_rows, IngestRow(a, r));
  for (const auto& l : latencies) AppendRow(a.query_rows, QueryRow(a, l));
  if (g_failures > 0) {
    std::cerr << "server_bench: " << g_failures << " check(s) failed\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace overdrive

int main(int argc, char** argv) { return overdrive::Main(argc, argv); }
