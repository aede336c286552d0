#include "executor/run_records.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/clock.hpp"
#include "executor/run_files.hpp"

namespace overdrive {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The exit record's field names: the codec below and the shell writer use these, nothing else.
constexpr const char* kExitCode = "exit_code";
constexpr const char* kSignal = "signal";
constexpr const char* kTimedOut = "timed_out";
constexpr const char* kCanceled = "canceled";
constexpr const char* kStartedAt = "started_at";
constexpr const char* kEndedAt = "ended_at";
constexpr const char* kRank = "rank";
constexpr const char* kError = "error";
constexpr const char* kSlurmJobId = "slurm_job_id";

// A decoding problem; caught once per Decode and turned into kInvalidInput.
struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The object in `text`, or BadField. `what` names the record in messages.
json ParseObject(std::string_view text, const char* what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw BadField(std::string(what) + " is not JSON");
  if (!j.is_object()) throw BadField(std::string(what) + " is not a JSON object");
  return j;
}

// A field's value when present and not null; nullptr otherwise.
const json* Find(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& Need(const json& j, const char* key) {
  const json* v = Find(j, key);
  if (!v) throw BadField(std::string("'") + key + "' is missing");
  return *v;
}

double Number(const json& v, const char* key) {
  if (!v.is_number()) throw BadField(std::string("'") + key + "' is not a number");
  return v.get<double>();
}

std::int64_t Integer(const json& v, const char* key) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  }
  throw BadField(std::string("'") + key + "' is not an integer");
}

bool Boolean(const json& v, const char* key) {
  if (!v.is_boolean()) throw BadField(std::string("'") + key + "' is not true or false");
  return v.get<bool>();
}

std::string Text(const json& v, const char* key) {
  if (!v.is_string()) throw BadField(std::string("'") + key + "' is not a string");
  return v.get<std::string>();
}

std::vector<std::string> Texts(const json& v, const char* key) {
  if (!v.is_array()) throw BadField(std::string("'") + key + "' is not a list");
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(Text(e, key));
  return out;
}

int Int(const json& v, const char* key) {
  std::int64_t n = Integer(v, key);
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
    throw BadField(std::string("'") + key + "' is out of range");
  }
  return static_cast<int>(n);
}

std::uint64_t Unsigned(const json& v, const char* key) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  std::int64_t n = Integer(v, key);
  if (n < 0) throw BadField(std::string("'") + key + "' is negative");
  return static_cast<std::uint64_t>(n);
}

// Runs `decode`, turning a BadField (or a library exception) into kInvalidInput.
template <class T, class F>
Result<T> Decoding(const char* what, F&& decode) {
  try {
    return decode();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInvalidInput, std::string("bad ") + what + ": " + e.what());
  }
}

}  // namespace

// ---- exit record -----------------------------------------------------------------------------

std::string EncodeExitRecord(const ExitRecord& r) {
  json j = {{kExitCode, r.exit_code},   {kSignal, r.signal},         {kTimedOut, r.timed_out},
            {kCanceled, r.canceled},    {kStartedAt, r.started_at},  {kEndedAt, r.ended_at}};
  if (r.rank >= 0) j[kRank] = r.rank;
  if (!r.error.empty()) j[kError] = r.error;
  if (!r.slurm_job_id.empty()) j[kSlurmJobId] = r.slurm_job_id;
  return j.dump() + "\n";
}

Result<ExitRecord> DecodeExitRecord(std::string_view text) {
  return Decoding<ExitRecord>("exit record", [&] {
    json j = ParseObject(text, "the exit record");
    ExitRecord r;
    if (auto* v = Find(j, kExitCode)) r.exit_code = Int(*v, kExitCode);
    if (auto* v = Find(j, kSignal)) r.signal = Int(*v, kSignal);
    if (auto* v = Find(j, kTimedOut)) r.timed_out = Boolean(*v, kTimedOut);
    if (auto* v = Find(j, kCanceled)) r.canceled = Boolean(*v, kCanceled);
    if (auto* v = Find(j, kStartedAt)) r.started_at = Number(*v, kStartedAt);
    if (auto* v = Find(j, kEndedAt)) r.ended_at = Number(*v, kEndedAt);
    if (auto* v = Find(j, kRank)) r.rank = Int(*v, kRank);
    if (auto* v = Find(j, kError)) r.error = Text(*v, kError);
    // The batch script writes it as a string; a number is taken too.
    if (auto* v = Find(j, kSlurmJobId)) {
      r.slurm_job_id = v->is_string() ? v->get<std::string>() : std::to_string(Integer(*v, kSlurmJobId));
    }
    return r;
  });
}

Result<void> WriteExitRecord(const fs::path& run_dir, const ExitRecord& r) {
  const fs::path reserve = run_dir / run_files::kExitReserve;
  const std::string text = EncodeExitRecord(r);
  auto written = run_files::WriteFileAtomic(run_dir / run_files::kExit, text);
  if (!written && ::unlink(reserve.c_str()) == 0) {
    written = run_files::WriteFileAtomic(run_dir / run_files::kExit, text);
  }
  ::unlink(reserve.c_str());
  return written;
}

std::optional<ExitRecord> ReadExitRecord(const fs::path& run_dir) {
  auto text = run_files::ReadWholeFile(run_dir / run_files::kExit);
  if (!text) return std::nullopt;
  auto r = DecodeExitRecord(*text);
  if (!r) return std::nullopt;
  return *r;
}

void RemoveExitRecord(const fs::path& run_dir) {
  std::error_code ec;
  fs::remove(run_dir / run_files::kExit, ec);
}

void ReserveExitRoom(const fs::path& run_dir) {
  const fs::path path = run_dir / run_files::kExitReserve;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (::posix_fallocate(fd, 0, 64 * 1024) != 0) ::unlink(path.c_str());
  ::close(fd);
}

std::string ExitRecordShellWriter() {
  auto key = [](const char* k) { return std::string("\\\"") + k + "\\\""; };  // \"k\" in "..."
  // printf's format, in single quotes: the fixed fields, then the optional ones as one %s.
  const std::string format = std::string("{\"") + kExitCode + "\":%s,\"" + kSignal + "\":%s,\"" +
                             kTimedOut + "\":%s,\"" + kCanceled + "\":%s,\"" + kStartedAt +
                             "\":%s,\"" + kEndedAt + "\":%s,\"" + kSlurmJobId + "\":\"%s\"%s}\\n";
  std::string s;
  s += "write_exit() {  # EXIT_CODE SIGNAL RANK ERROR (written by ExitRecordShellWriter)\n";
  s += "  od_extra=''\n";
  s += "  case $3 in ''|*[!0-9]*) ;; *) od_extra=\"," + key(kRank) + ":$3\" ;; esac\n";
  s += "  if [ -n \"$4\" ]; then\n";
  // JSON string escaping: control characters become spaces (tabs, newlines) or go, then
  // backslashes and double quotes get their backslash.
  s += "    od_error=$(printf '%s' \"$4\" | tr '\\011\\012\\015' '   ' |"
       " tr -d '\\001-\\010\\013\\014\\016-\\037' | sed -e 's/\\\\/\\\\\\\\/g' -e 's/\"/\\\\\"/g')\n";
  s += "    od_extra=\"$od_extra," + key(kError) + ":\\\"$od_error\\\"\"\n";
  s += "  fi\n";
  s += "  od_tmp=\"$exit_file.tmp.$$\"\n";
  s += "  printf '" + format + "' \\\n";
  s += "    \"$1\" \"$2\" \"$timed_out\" \"$canceled\" \"$started_at\" \"$(date +%s.%N)\" "
       "\"${SLURM_JOB_ID:-}\" \"$od_extra\" >\"$od_tmp\" && mv -f \"$od_tmp\" \"$exit_file\"\n";
  s += "}\n";
  return s;
}

ExecUpdate InterpretExitRecord(const ExitRecord& r, const ExitContext& c) {
  ExecUpdate u;
  u.run_id = c.run_id;
  u.state = ExecState::kExited;
  u.exit_code = r.exit_code;
  u.signal = r.signal;
  u.rank = r.rank;
  u.ended_at = r.ended_at > 0 ? r.ended_at : WallSeconds();
  if (c.record_start_first) {
    u.started_at = r.started_at > 0 ? r.started_at : c.started_at;
  } else {
    u.started_at = c.started_at > 0 ? c.started_at : r.started_at;
  }
  const bool canceled_late =
      c.cancel_requested && (u.signal != 0 || (c.cancel_requested_at &&
                                               u.ended_at >= *c.cancel_requested_at));
  if (r.timed_out) {
    u.state = ExecState::kTimedOut;
    u.reason = "stopped after exceeding its time limit";
  } else if (r.canceled || canceled_late) {
    u.state = ExecState::kCanceled;
    u.reason = "canceled";
  } else if (u.signal != 0) {
    u.state = ExecState::kSignaled;
    u.reason = "killed by signal " + std::to_string(u.signal) + " (" + strsignal(u.signal) + ")";
  } else if (!r.error.empty()) {
    u.reason = r.error;
  } else if (u.exit_code != 0) {
    u.reason = (u.rank >= 0 ? "rank " + std::to_string(u.rank) + " " : std::string()) +
               "exited with code " + std::to_string(u.exit_code) + "; see " +
               (c.run_dir / run_files::RankLog(std::max(0, u.rank), true)).string();
  }
  return u;
}

// ---- launch record ---------------------------------------------------------------------------

std::string EncodeLaunchRecord(const LaunchRecord& r) {
  json j = {
      {"run_id", r.run_id},       {"command", r.command},     {"working_dir", r.working_dir},
      {"env", r.env},             {"cpus", r.cpus},           {"gpus", r.gpus},
      {"gpu_ids", r.gpu_ids},     {"gpu_share", r.gpu_share}, {"memory_mb", r.memory_mb},
      {"grace_s", r.grace_s},     {"started_at", r.started_at},
  };
  j["timeout_s"] = r.timeout_s ? json(*r.timeout_s) : json(nullptr);
  if (r.cuda_visible_devices) j["cuda_visible_devices"] = *r.cuda_visible_devices;
  if (!r.distribution.empty()) {
    j["distribution"] = {{"type", r.distribution},
                         {"nodes", r.nodes},
                         {"processes_per_node", r.processes_per_node}};
  }
  if (!r.cuda_visible_devices_per_node.empty()) {
    j["cuda_visible_devices_per_node"] = r.cuda_visible_devices_per_node;
  }
  if (r.container) {
    json mounts = json::array();
    for (const auto& m : r.container->mounts) {
      mounts.push_back({{"source", m.source}, {"target", m.target}, {"read_only", m.read_only}});
    }
    j["container"] = {{"image", r.container->image},
                      {"network", r.container->network},
                      {"mounts", std::move(mounts)}};
    if (!r.container->env.empty()) j["container"]["env"] = r.container->env;
  }
  return j.dump();
}

Result<LaunchRecord> DecodeLaunchRecord(std::string_view text) {
  return Decoding<LaunchRecord>("launch record", [&] {
    json j = ParseObject(text, "the launch record");
    LaunchRecord r;
    if (auto* v = Find(j, "run_id")) r.run_id = Text(*v, "run_id");
    r.command = Text(Need(j, "command"), "command");
    r.working_dir = Text(Need(j, "working_dir"), "working_dir");
    if (auto* v = Find(j, "env")) {
      if (!v->is_object()) throw BadField("'env' is not an object");
      for (const auto& [k, val] : v->items()) r.env[k] = Text(val, "env");
    }
    if (auto* v = Find(j, "cpus")) r.cpus = Number(*v, "cpus");
    if (auto* v = Find(j, "gpus")) r.gpus = Number(*v, "gpus");
    if (auto* v = Find(j, "gpu_ids")) r.gpu_ids = Texts(*v, "gpu_ids");
    if (auto* v = Find(j, "gpu_share")) r.gpu_share = Number(*v, "gpu_share");
    if (auto* v = Find(j, "memory_mb")) r.memory_mb = Integer(*v, "memory_mb");
    if (auto* v = Find(j, "grace_s")) r.grace_s = Number(*v, "grace_s");
    if (auto* v = Find(j, "started_at")) r.started_at = Number(*v, "started_at");
    if (auto* v = Find(j, "timeout_s")) r.timeout_s = Number(*v, "timeout_s");
    if (auto* v = Find(j, "cuda_visible_devices")) {
      r.cuda_visible_devices = Text(*v, "cuda_visible_devices");
    }
    if (auto* d = Find(j, "distribution")) {
      if (!d->is_object()) throw BadField("'distribution' is not an object");
      r.distribution = Text(Need(*d, "type"), "distribution.type");
      if (auto* v = Find(*d, "nodes")) r.nodes = std::max(1, Int(*v, "distribution.nodes"));
      if (auto* v = Find(*d, "processes_per_node")) {
        r.processes_per_node = std::max(1, Int(*v, "distribution.processes_per_node"));
      }
    }
    if (auto* v = Find(j, "cuda_visible_devices_per_node")) {
      r.cuda_visible_devices_per_node = Texts(*v, "cuda_visible_devices_per_node");
    }
    if (auto* c = Find(j, "container")) {
      if (!c->is_object()) throw BadField("'container' is not an object");
      ContainerSpec spec;
      spec.image = Text(Need(*c, "image"), "container.image");
      if (auto* v = Find(*c, "network")) spec.network = Text(*v, "container.network");
      if (auto* ms = Find(*c, "mounts")) {
        if (!ms->is_array()) throw BadField("'container.mounts' is not a list");
        for (const auto& m : *ms) {
          if (!m.is_object()) throw BadField("a container mount is not an object");
          ContainerMount mount;
          mount.source = Text(Need(m, "source"), "container.mounts.source");
          mount.target = Text(Need(m, "target"), "container.mounts.target");
          if (auto* v = Find(m, "read_only")) mount.read_only = Boolean(*v, "container.mounts.read_only");
          spec.mounts.push_back(std::move(mount));
        }
      }
      if (auto* e = Find(*c, "env")) {
        if (!e->is_object()) throw BadField("'container.env' is not an object");
        for (const auto& [k, v] : e->items()) spec.env[k] = Text(v, "container.env");
      }
      r.container = std::move(spec);
    }
    return r;
  });
}

// ---- shim and group records ------------------------------------------------------------------

namespace {

// shim.json and group.json: a process id under `key` and its start time.
std::string EncodeProcess(const char* key, pid_t id, std::uint64_t start_time) {
  return json{{key, id}, {"start_time", start_time}}.dump() + "\n";
}

template <typename Record>
Result<Record> DecodeProcess(std::string_view text, const char* what, const char* key,
                             pid_t Record::*id) {
  return Decoding<Record>(what, [&] {
    json j = ParseObject(text, ("the " + std::string(what)).c_str());
    Record r;
    r.*id = static_cast<pid_t>(Int(Need(j, key), key));
    if (auto* v = Find(j, "start_time")) r.start_time = Unsigned(*v, "start_time");
    return r;
  });
}

}  // namespace

std::string EncodeShimRecord(const ShimRecord& r) {
  return EncodeProcess("pid", r.pid, r.start_time);
}

Result<ShimRecord> DecodeShimRecord(std::string_view text) {
  return DecodeProcess<ShimRecord>(text, "shim record", "pid", &ShimRecord::pid);
}

std::string EncodeGroupRecord(const GroupRecord& r) {
  return EncodeProcess("pgid", r.pgid, r.start_time);
}

Result<GroupRecord> DecodeGroupRecord(std::string_view text) {
  return DecodeProcess<GroupRecord>(text, "process group record", "pgid", &GroupRecord::pgid);
}

// ---- handles ---------------------------------------------------------------------------------

std::string EncodeLocalHandle(const LocalHandle& h) {
  return json{{"pid", h.pid}, {"start_time", h.start_time}, {"run_dir", h.run_dir}}.dump();
}

Result<LocalHandle> DecodeLocalHandle(std::string_view text) {
  return Decoding<LocalHandle>("local executor handle", [&] {
    json j = ParseObject(text, "the handle");
    LocalHandle h;
    h.pid = static_cast<pid_t>(Int(Need(j, "pid"), "pid"));
    if (auto* v = Find(j, "start_time")) h.start_time = Unsigned(*v, "start_time");
    h.run_dir = Text(Need(j, "run_dir"), "run_dir");
    return h;
  });
}

std::string EncodeSlurmHandle(const SlurmHandle& h) {
  return json{{"slurm_job_id", h.slurm_job_id},
              {"job_name", h.job_name},
              {"run_dir", h.run_dir},
              {"phase", h.running ? "running" : "queued"}}
      .dump();
}

Result<SlurmHandle> DecodeSlurmHandle(std::string_view text) {
  return Decoding<SlurmHandle>("Slurm executor handle", [&] {
    json j = ParseObject(text, "the handle");
    SlurmHandle h;
    h.slurm_job_id = Integer(Need(j, "slurm_job_id"), "slurm_job_id");
    if (auto* v = Find(j, "job_name")) h.job_name = Text(*v, "job_name");
    h.run_dir = Text(Need(j, "run_dir"), "run_dir");
    if (auto* v = Find(j, "phase")) h.running = Text(*v, "phase") == "running";
    return h;
  });
}

}  // namespace overdrive
