// Azure ML CLI v2 job YAML -> JobSpec. yaml-cpp builds the tree; everything below walks it with
// explicit key lists so that a typo is an error with a position and a hint, never a silent default.
// yaml-cpp throws; every exception is caught in ParseJobText and turned into an InvalidInput error.
#include <sys/stat.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "common/input_limits.hpp"
#include "common/strings.hpp"
#include "spec/component_params.hpp"
#include "spec/environment_yaml.hpp"
#include "spec/yaml_fields.hpp"
#include "spec/job_spec.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;

using Keys = std::vector<std::string>;


std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsRemotePath(const std::string& path) {
  return StartsWith(path, "azureml:") || path.find("://") != std::string::npos;
}


const std::vector<DistributionType> kAllDists = {
    DistributionType::kChoice,     DistributionType::kRandint,     DistributionType::kUniform,
    DistributionType::kLoguniform, DistributionType::kQuniform,    DistributionType::kQloguniform,
    DistributionType::kNormal,     DistributionType::kLognormal,   DistributionType::kQnormal,
    DistributionType::kQlognormal};

std::optional<std::int64_t> ParseInt(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::optional<bool> ParseBool(std::string_view s) {
  std::string l = Lower(std::string(s));
  if (l == "true" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "no" || l == "off") return false;
  return std::nullopt;
}

// "4g", "512m", "1024" (MB), "2GiB", "1.5 GB" -> MB, rounded up. Decimal and binary units are both
// read as binary (1g = 1024 MB): what a user writing "4g" means for a memory reservation.
std::optional<std::int64_t> ParseMemoryMb(const std::string& text) {
  std::string s = Lower(Trim(text));
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  auto number = ParseDouble(s.substr(0, i));
  if (!number || *number <= 0) return std::nullopt;
  std::string unit = Trim(s.substr(i));
  double factor = 0;
  if (unit.empty() || unit == "m" || unit == "mb" || unit == "mi" || unit == "mib") factor = 1;
  else if (unit == "k" || unit == "kb" || unit == "ki" || unit == "kib") factor = 1.0 / 1024;
  else if (unit == "g" || unit == "gb" || unit == "gi" || unit == "gib") factor = 1024;
  else if (unit == "t" || unit == "tb" || unit == "ti" || unit == "tib") factor = 1024.0 * 1024;
  else return std::nullopt;
  double mb = std::ceil(*number * factor);
  if (mb > 1e15) return std::nullopt;
  return static_cast<std::int64_t>(mb);
}

std::string ScalarText(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string(); }

// A literal value as written: quoted -> string; otherwise bool, int, float, then string.
ParamValue ScalarToParam(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;
  std::string l = Lower(s);
  if (l == "true") return true;
  if (l == "false") return false;
  if (auto i = ParseInt(s)) return *i;
  if (auto d = ParseDouble(s)) return *d;
  return s;
}

constexpr size_t kMaxNodes = 200000;
constexpr int kMaxDepth = 200;

// What YAML::Load would build, counted from the parser's events without building it: a file
// with too many values is refused before its tree takes memory (yaml-cpp needs ~60 bytes of
// tree per byte of plain keys), and only a file that has aliases is told about aliases.
struct Shape {
  bool aliases = false;
  bool too_large = false;  // over kMaxNodes values or kMaxDepth levels, at `where`
  bool too_deep = false;
  YAML::Mark where;
};

class ShapeCounter : public YAML::EventHandler {
 public:
  struct Stop {};
  Shape shape;
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Count(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override {
    shape.aliases = true;
    Count(m);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Count(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Open(m);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Open(m);
  }
  void OnMapEnd() override { --depth_; }

 private:
  void Count(const YAML::Mark& m) {
    if (++nodes_ > kMaxNodes) {
      shape.too_large = true;
      shape.where = m;
      throw Stop{};  // nothing after this point is needed
    }
  }
  void Open(const YAML::Mark& m) {
    Count(m);
    if (++depth_ > kMaxDepth) {
      shape.too_deep = true;
      shape.where = m;
      throw Stop{};
    }
  }
  size_t nodes_ = 0;
  int depth_ = 0;
};

// The shape of the first document of `text`; a syntax error is left for YAML::Load to report.
Shape ScanShape(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ShapeCounter counter;
  try {
    parser.HandleNextDocument(counter);
  } catch (const ShapeCounter::Stop&) {
  } catch (const YAML::Exception&) {
  }
  return counter.shape;
}

class JobParser {
 public:
  JobParser(std::string file, fs::path base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  Result<JobSpec> Parse(const std::string& text, const std::vector<std::string>& overrides);

 private:
  SourcePos At(int line0, int col0) const { return SourcePos{file_, line0 + 1, col0 + 1}; }

  SourcePos Pos(const YAML::Node& n) const {
    if (!n.IsDefined()) return SourcePos{file_, 0, 0};
    {
      for (const auto& [node, pos] : override_pos_) {
        if (node.is(n)) return pos;
      }
    }
    YAML::Mark m = n.Mark();
    if (m.is_null()) return SourcePos{file_, 0, 0};
    return At(m.line, m.column);
  }
  // A value's position; a null value (`key:` with nothing) points at its key.
  SourcePos ValuePos(const Field& f) const {
    SourcePos p = f.present() ? Pos(f.value) : SourcePos{};
    return p.line > 0 ? p : Pos(f.key);
  }
  std::unexpected<Error> Fail(const SourcePos& pos, const std::string& message) const {
    return std::unexpected(InputError(pos, message));
  }
  std::unexpected<Error> FailAt(const Field& f, const std::string& message) const {
    return Fail(ValuePos(f), message);
  }
  void Ignore(const YAML::Node& key, const std::string& what) {
    ignored_.push_back(Pos(key).ToString() + ": '" + what + "' is Azure-only; ignored when running here");
  }

  // Every key and scalar of the tree: no NUL (a command or variable holding one is cut short when
  // passed to exec, so what runs is not what --dry-run shows) and valid UTF-8 (YAML is UTF-8; the
  // text is stored and printed as JSON).
  Result<void> CheckText(const YAML::Node& n) const;

  // --set overrides.
  Result<void> ApplyOverride(YAML::Node& root, const std::string& text, int index);
  void Register(const YAML::Node& node, const SourcePos& base);

  // Mapping access with unknown-key and duplicate-key checks. `allowed` empty = any key.
  Result<Fields> Map(const YAML::Node& node, const SourcePos& where, const std::string& context,
                     const Keys& allowed) const;
  Result<Fields> MapField(const Field& f, const std::string& context, const Keys& allowed) const {
    if (!f.present()) return Fields{};
    return Map(f.value, ValuePos(f), context, allowed);
  }

  // Typed scalars.
  Result<std::string> String(const Field& f) const;
  Result<std::string> NonEmptyString(const Field& f) const;
  Result<std::int64_t> Int(const Field& f, std::int64_t min, std::int64_t max) const;
  Result<double> Number(const Field& f) const;
  Result<double> Positive(const Field& f) const;
  Result<bool> Bool(const Field& f) const;
  Result<std::string> OneOf(const Field& f, const Keys& options) const;

  // Job sections.
  Result<void> ParseCommandPart(const Fields& fields, const std::string& prefix, CommandSpec& out);
  Result<void> ParseResources(const Field& f, const std::string& prefix, ResourcesSpec& out);
  Result<void> ParseDistribution(const Field& f, DistributionSpec& out);
  Result<void> ParseInputs(const Field& f, CommandSpec& out);
  Result<void> ParseOutputs(const Field& f, CommandSpec& out);
  Result<void> ParseSweep(const Fields& top, JobSpec& job);
  Result<SearchSpace> ParseSpace(const Field& f, bool top, std::map<std::string, SourcePos>& param_pos);
  Result<Distribution> ParseParam(const Field& f, std::map<std::string, SourcePos>& param_pos);
  Result<void> CheckSampler(const SearchSpace& space, const SamplingSpec& sampling,
                            const std::map<std::string, SourcePos>& param_pos) const;
  Result<void> ParseEarlyTermination(const Field& f, EarlyTerminationSpec& out);
  // The parameters of a sampler or policy as `decl` declares them: unknown keys, each value's
  // type and bounds at its own position, then the checks across parameters.
  template <class Spec>
  Result<void> ParseComponent(const Field& section, const ComponentDecl<Spec>& decl,
                              const std::string& context, Spec& out) const;
  Result<void> ParseExtensions(const Field& f, ExtensionSpec& out);
  Result<void> CheckReferences(const JobSpec& job) const;

  std::string file_;
  fs::path base_dir_;
  std::vector<std::pair<YAML::Node, SourcePos>> override_pos_;
  std::vector<std::string> ignored_;
};

// ---------- generic helpers ----------

Result<void> JobParser::CheckText(const YAML::Node& n) const {
  if (n.IsScalar()) {
    const std::string& text = n.Scalar();
    if (text.find('\0') != std::string::npos) {
      return Fail(Pos(n), "'" + Printable(text) +
                              "' holds a NUL character (\\0), which no command, path or "
                              "variable can pass to a program; remove it");
    }
    if (!IsValidUtf8(text)) {
      return Fail(Pos(n), "'" + Printable(text) +
                              "' is not valid UTF-8 (a job file must be UTF-8 text)");
    }
  } else if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      OD_TRY(CheckText(it->first));
      OD_TRY(CheckText(it->second));
    }
  } else if (n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it) OD_TRY(CheckText(*it));
  }
  return {};
}

Result<Fields> JobParser::Map(const YAML::Node& node, const SourcePos& where,
                              const std::string& context, const Keys& allowed) const {
  Fields out;
  if (!node.IsDefined() || node.IsNull()) return out;
  if (!node.IsMap()) return Fail(where, context + " must be a mapping of keys");
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;  // a copy: it-> yields a temporary
    if (!key.IsScalar()) return Fail(Pos(key), "keys in " + context + " must be plain names");
    std::string name = key.Scalar();
    if (const Field* prev = out.Find(name)) {
      return Fail(Pos(key), "duplicate key '" + name + "' in " + context + " (first at " +
                                Pos(prev->key).ToString() + ")");
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Fail(Pos(key),
                  "unknown key '" + name + "' in " + context + DidYouMeanSuffix(name, allowed));
    }
    out.list.push_back(Field{name, key, it->second});
  }
  return out;
}

Result<std::string> JobParser::String(const Field& f) const {
  if (!f.present()) return std::string();
  if (!f.value.IsScalar()) return FailAt(f, "'" + f.name + "' must be a string");
  return f.value.Scalar();
}

Result<std::string> JobParser::NonEmptyString(const Field& f) const {
  if (!f.present() || (f.value.IsScalar() && Trim(f.value.Scalar()).empty())) {
    return FailAt(f, "'" + f.name + "' must not be empty");
  }
  return String(f);
}

Result<std::int64_t> JobParser::Int(const Field& f, std::int64_t min, std::int64_t max) const {
  std::optional<std::int64_t> v;
  if (f.present() && f.value.IsScalar()) {
    v = ParseInt(f.value.Scalar());
    // 1e3 or 10.0 are integers a user may reasonably write.
    if (!v) {
      auto d = ParseDouble(f.value.Scalar());
      if (d && std::floor(*d) == *d && std::fabs(*d) < 9e15) v = static_cast<std::int64_t>(*d);
    }
  }
  if (!v) {
    return FailAt(f, "'" + f.name + "' must be an integer, got " +
                         (f.present() && f.value.IsScalar() ? "'" + f.value.Scalar() + "'"
                                                            : std::string("no number")));
  }
  if (*v < min || *v > max) {
    std::string range = max == std::numeric_limits<std::int64_t>::max()
                            ? "at least " + std::to_string(min)
                            : "between " + std::to_string(min) + " and " + std::to_string(max);
    return FailAt(f, "'" + f.name + "' must be " + range + ", got " + std::to_string(*v));
  }
  return *v;
}

Result<double> JobParser::Number(const Field& f) const {
  std::optional<double> v;
  if (f.present() && f.value.IsScalar()) v = ParseDouble(f.value.Scalar());
  if (!v) {
    return FailAt(f, "'" + f.name + "' must be a number, got " +
                         (f.present() && f.value.IsScalar() ? "'" + f.value.Scalar() + "'"
                                                            : std::string("no number")));
  }
  return *v;
}

Result<double> JobParser::Positive(const Field& f) const {
  OD_ASSIGN_OR_RETURN(double v, Number(f));
  if (v <= 0) return FailAt(f, "'" + f.name + "' must be greater than 0, got " + FormatDouble(v));
  return v;
}

Result<bool> JobParser::Bool(const Field& f) const {
  std::optional<bool> v;
  if (f.present() && f.value.IsScalar()) v = ParseBool(f.value.Scalar());
  if (!v) {
    return FailAt(f, "'" + f.name + "' must be true or false" +
                         (f.present() && f.value.IsScalar() ? ", got '" + f.value.Scalar() + "'"
                                                            : std::string()));
  }
  return *v;
}

Result<std::string> JobParser::OneOf(const Field& f, const Keys& options) const {
  OD_ASSIGN_OR_RETURN(std::string v, String(f));
  std::string l = Lower(Trim(v));
  if (std::find(options.begin(), options.end(), l) != options.end()) return l;
  return FailAt(f, "'" + f.name + "' must be one of " + Join(options, ", ") + ", got '" + v + "'" +
                       DidYouMeanSuffix(l, options));
}

// ---------- --set overrides ----------

void JobParser::Register(const YAML::Node& node, const SourcePos& base) {
  SourcePos p = base;
  YAML::Mark m = node.Mark();
  if (!m.is_null() && m.line == 0) p.column = base.column + m.column;
  override_pos_.emplace_back(node, p);
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      Register(it->first, base);
      Register(it->second, base);
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) Register(*it, base);
  }
}

Result<void> JobParser::ApplyOverride(YAML::Node& root, const std::string& text, int index) {
  auto pos = [&](size_t offset) { return SourcePos{"--set", index, static_cast<int>(offset) + 1}; };
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Fail(pos(0), "expected --set path.to.key=value, got '" + text + "'");
  }
  std::string path = text.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    size_t col = e.mark.is_null() ? 0 : static_cast<size_t>(e.mark.column);
    return Fail(pos(eq + 1 + col), "bad value for '" + path + "': " + e.msg);
  }
  size_t budget = 10000;
  if (!YamlWithinLimits(value, kMaxDepth, budget)) return Fail(pos(eq + 1), "value for '" + path + "' is too large");
  Register(value, pos(eq + 1));

  std::vector<std::string> segments = Split(path, '.');
  YAML::Node cur = root;
  size_t offset = 0;
  for (size_t s = 0; s < segments.size(); ++s) {
    const std::string& seg = segments[s];
    std::string so_far = path.substr(0, offset + seg.size());
    bool last = s + 1 == segments.size();
    if (seg.empty()) return Fail(pos(offset), "empty key in --set path '" + path + "'");
    if (cur.IsSequence()) {
      auto idx = ParseInt(seg);
      if (!idx || *idx < 0 || *idx > static_cast<std::int64_t>(cur.size()) ||
          (!last && *idx == static_cast<std::int64_t>(cur.size()))) {
        return Fail(pos(offset), "'" + path.substr(0, offset ? offset - 1 : 0) +
                                     "' is a list; use an index from 0 to " +
                                     std::to_string(cur.size() ? cur.size() - 1 : 0) +
                                     " instead of '" + seg + "'");
      }
      if (last) {
        if (*idx == static_cast<std::int64_t>(cur.size())) cur.push_back(value);
        else cur[static_cast<size_t>(*idx)] = value;
        return {};
      }
      YAML::Node child = cur[static_cast<size_t>(*idx)];
      cur.reset(child);
    } else {
      if (!cur.IsMap()) {
        return Fail(pos(offset), "cannot set '" + path + "': '" + path.substr(0, offset - 1) +
                                     "' is a value, not a mapping");
      }
      std::optional<YAML::Node> existing;
      for (auto it = cur.begin(); it != cur.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == seg) existing = it->second;
      }
      if (last) {
        if (existing) {
          *existing = value;
        } else {
          YAML::Node key(seg);
          override_pos_.emplace_back(key, pos(offset));
          cur.force_insert(key, value);
        }
        return {};
      }
      if (!existing) {
        YAML::Node key(seg);
        YAML::Node child(YAML::NodeType::Map);
        override_pos_.emplace_back(key, pos(offset));
        override_pos_.emplace_back(child, pos(offset));
        cur.force_insert(key, child);
        existing = child;
      } else if (existing->IsNull()) {
        YAML::Node child(YAML::NodeType::Map);
        override_pos_.emplace_back(child, pos(offset));
        *existing = child;
      }
      cur.reset(*existing);
    }
    offset += seg.size() + 1;
  }
  return {};
}

// ---------- command part ----------

Result<void> JobParser::ParseResources(const Field& f, const std::string& prefix,
                                       ResourcesSpec& out) {
  OD_ASSIGN_OR_RETURN(Fields r, MapField(f, prefix + "resources",
                                         {"instance_count", "instance_type", "shm_size",
                                          "properties", "docker_args", "locations", "cpus", "gpus",
                                          "memory"}));
  for (const auto& k : r.list) {
    if (k.name == "instance_type" || k.name == "properties" || k.name == "docker_args" ||
        k.name == "locations") {
      Ignore(k.key, prefix + "resources." + k.name);
    }
  }
  if (auto* x = r.Get("instance_count")) {
    OD_ASSIGN_OR_RETURN(std::int64_t v, Int(*x, 1, 100000));
    out.instance_count = static_cast<int>(v);
    out.instance_count_pos = ValuePos(*x);
  }
  if (auto* x = r.Get("instance_type")) { OD_ASSIGN_OR_RETURN(out.instance_type, String(*x)); }
  if (auto* x = r.Get("shm_size")) { OD_ASSIGN_OR_RETURN(out.shm_size, String(*x)); }
  if (auto* x = r.Find("cpus")) { OD_ASSIGN_OR_RETURN(out.cpus, Positive(*x)); }
  if (auto* x = r.Find("gpus")) {
    OD_ASSIGN_OR_RETURN(out.gpus, Number(*x));
    out.gpus_pos = ValuePos(*x);
    if (!(out.gpus >= 0)) {
      return FailAt(*x, "'gpus' must be 0 or more, got " + FormatDouble(out.gpus));
    }
    // A fraction shares one GPU; more than one GPU is only handed out whole.
    if (out.gpus > 1 && out.gpus != std::floor(out.gpus)) {
      return FailAt(*x, "'gpus' above 1 must be a whole number, got " + FormatDouble(out.gpus) +
                            " (a fraction below 1, like 0.5, shares one GPU with other runs)");
    }
  }
  if (auto* x = r.Find("memory")) {
    std::optional<std::int64_t> mb;
    if (x->present() && x->value.IsScalar()) mb = ParseMemoryMb(x->value.Scalar());
    if (!mb) {
      return FailAt(*x, "'memory' must be a size like 4g, 512m or 2GiB (a plain number is MB), got '" +
                            ScalarText(x->value) + "'");
    }
    out.memory_mb = *mb;
  }
  return {};
}

Result<void> JobParser::ParseDistribution(const Field& f, DistributionSpec& out) {
  OD_ASSIGN_OR_RETURN(Fields d, MapField(f, "distribution",
                                         {"type", "process_count_per_instance", "worker_count",
                                          "parameter_server_count"}));
  if (!f.present()) return {};
  const Field* type = d.Get("type");
  if (!type) return FailAt(f, "distribution needs a 'type' (pytorch or mpi)");
  OD_ASSIGN_OR_RETURN(out.type, OneOf(*type, {"pytorch", "mpi", "tensorflow"}));
  out.pos = ValuePos(*type);
  if (out.type == "tensorflow") {
    return FailAt(*type, "distribution type 'tensorflow' is not supported by Overdrive (it does "
                         "not build TF_CONFIG for workers and parameter servers); use type: "
                         "pytorch (torch.distributed env:// variables) or mpi, or remove "
                         "'distribution' to run one process");
  }
  if (auto* x = d.Find("process_count_per_instance")) {
    OD_ASSIGN_OR_RETURN(std::int64_t v, Int(*x, 1, 4096));
    out.process_count_per_instance = static_cast<int>(v);
  }
  for (const char* tf_only : {"worker_count", "parameter_server_count"}) {
    if (auto* x = d.Find(tf_only)) {
      return Fail(Pos(x->key), std::string("'") + tf_only +
                                   "' belongs to type: tensorflow; with type: " + out.type +
                                   " use 'process_count_per_instance' (processes per instance)");
    }
  }
  return {};
}

Result<void> JobParser::ParseInputs(const Field& f, CommandSpec& out) {
  OD_ASSIGN_OR_RETURN(Fields inputs, MapField(f, "inputs", {}));
  for (const auto& in : inputs.list) {
    InputSpec spec;
    spec.pos = ValuePos(in);
    if (!in.present()) return FailAt(in, "input '" + in.name + "' has no value");
    if (in.value.IsScalar()) {
      spec.kind = InputSpec::Kind::kLiteral;
      spec.literal = ScalarToParam(in.value);
      out.inputs[in.name] = std::move(spec);
      continue;
    }
    if (!in.value.IsMap()) {
      return FailAt(in, "input '" + in.name +
                            "' must be a literal (number, string, boolean) or a mapping with type and path");
    }
    OD_ASSIGN_OR_RETURN(Fields m, MapField(in, "inputs." + in.name,
                                           {"type", "path", "mode", "description", "datastore"}));
    spec.type = "uri_folder";
    if (auto* t = m.Get("type")) {
      OD_ASSIGN_OR_RETURN(spec.type, OneOf(*t, {"uri_file", "uri_folder", "mlflow_model",
                                                "custom_model", "mltable", "triton_model"}));
    }
    if (auto* x = m.Get("mode")) {
      OD_ASSIGN_OR_RETURN(spec.mode, OneOf(*x, {"ro_mount", "download", "direct", "eval_mount",
                                                "eval_download"}));
      // Azure's eval_* modes read MLTable data the way ro_mount and download do.
      if (spec.mode == "eval_mount") spec.mode = "ro_mount";
      if (spec.mode == "eval_download") spec.mode = "download";
    }
    if (auto* x = m.Get("datastore")) Ignore(x->key, "inputs." + in.name + ".datastore");
    const Field* path = m.Get("path");
    if (!path) return FailAt(in, "input '" + in.name + "' needs a 'path'");
    OD_ASSIGN_OR_RETURN(spec.path, NonEmptyString(*path));
    spec.kind = spec.type == "uri_file"     ? InputSpec::Kind::kUriFile
                : spec.type == "uri_folder" ? InputSpec::Kind::kUriFolder
                                            : InputSpec::Kind::kOther;
    spec.pos = ValuePos(*path);
    OD_ASSIGN_OR_RETURN(spec.location, ParseDataLocation(spec.path, spec.pos, base_dir_));
    if (spec.location.remote()) {
      if (spec.type != "uri_file" && spec.type != "uri_folder" && spec.type != "mltable") {
        return FailAt(*path, "input '" + in.name + "' of type " + spec.type +
                                 " cannot be read from '" + spec.path +
                                 "' here: data inputs are uri_file, uri_folder or mltable");
      }
    } else {
      fs::path p = spec.location.local_path;
      std::error_code ec;
      auto st = fs::status(p, ec);
      std::string where = " (resolved to " + p.string() + ")";
      if (!fs::exists(st)) {
        return FailAt(*path, "input '" + in.name + "' " +
                                 (spec.type == "uri_file" ? "file" : spec.type == "uri_folder" ? "folder" : "path") +
                                 " '" + spec.path + "' does not exist" + where);
      }
      if (spec.type == "uri_file" && fs::is_directory(st)) {
        return FailAt(*path, "input '" + in.name + "' is uri_file but '" + spec.path +
                                 "' is a folder" + where);
      }
      if (spec.type == "uri_folder" && !fs::is_directory(st)) {
        return FailAt(*path, "input '" + in.name + "' is uri_folder but '" + spec.path +
                                 "' is not a folder" + where);
      }
      spec.local_path = p;
    }
    out.inputs[in.name] = std::move(spec);
  }
  return {};
}

Result<void> JobParser::ParseOutputs(const Field& f, CommandSpec& out) {
  OD_ASSIGN_OR_RETURN(Fields outputs, MapField(f, "outputs", {}));
  for (const auto& o : outputs.list) {
    OutputSpec spec;
    spec.pos = ValuePos(o);
    OD_ASSIGN_OR_RETURN(Fields m, MapField(o, "outputs." + o.name,
                                           {"type", "mode", "path", "description", "name", "version"}));
    if (auto* t = m.Get("type")) {
      OD_ASSIGN_OR_RETURN(spec.type, OneOf(*t, {"uri_folder", "uri_file", "mlflow_model",
                                                "custom_model", "mltable", "triton_model"}));
    }
    if (auto* x = m.Get("mode")) {
      OD_ASSIGN_OR_RETURN(spec.mode, OneOf(*x, {"upload", "rw_mount"}));
    }
    if (auto* x = m.Get("path")) {
      OD_ASSIGN_OR_RETURN(std::string text, NonEmptyString(*x));
      OD_ASSIGN_OR_RETURN(DataLocation loc, ParseDataLocation(text, ValuePos(*x), base_dir_));
      if (loc.kind == DataLocation::Kind::kLocal || loc.kind == DataLocation::Kind::kAsset ||
          loc.kind == DataLocation::Kind::kWeb) {
        return FailAt(*x, "output '" + o.name + "' path '" + text +
                              "' must be a datastore location (azureml://datastores/NAME/paths/PATH, "
                              "or a wasbs/abfss/s3 URL of a registered datastore)");
      }
      spec.path = loc;
    }
    if (auto* x = m.Get("name")) {
      OD_ASSIGN_OR_RETURN(spec.asset_name, NonEmptyString(*x));
      if (auto ok = ValidateDataAssetName(spec.asset_name); !ok) return FailAt(*x, ok.error().message);
    }
    if (auto* x = m.Get("version")) {
      if (spec.asset_name.empty()) {
        return FailAt(*x, "output '" + o.name + "' has a version but no name to register it as");
      }
      OD_ASSIGN_OR_RETURN(spec.asset_version, NonEmptyString(*x));
      spec.version_pos = ValuePos(*x);
      if (auto ok = ValidateDataAssetVersion(spec.asset_version); !ok) {
        return FailAt(*x, ok.error().message);
      }
    }
    out.outputs[o.name] = std::move(spec);
  }
  return {};
}

Result<void> JobParser::ParseCommandPart(const Fields& fields, const std::string& prefix,
                                         CommandSpec& out) {
  const Field* command = fields.Get("command");
  if (!command) {
    const Field* present = fields.Find("command");
    if (present) return FailAt(*present, "'command' must not be empty");
    return std::unexpected(Error{});  // the caller reports where the command is missing
  }
  OD_ASSIGN_OR_RETURN(out.command, NonEmptyString(*command));
  out.command_pos = ValuePos(*command);

  if (auto* c = fields.Get("code")) {
    OD_ASSIGN_OR_RETURN(std::string code, NonEmptyString(*c));
    if (IsRemotePath(code)) {
      return FailAt(*c, "code '" + code + "' is not a local folder; give a folder path relative to the job file");
    }
    fs::path p = (base_dir_ / fs::path(code)).lexically_normal();
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (!fs::exists(st)) {
      return FailAt(*c, "code folder '" + code + "' does not exist (resolved to " + p.string() + ")");
    }
    if (!fs::is_directory(st)) {
      return FailAt(*c, "code '" + code + "' is not a folder (resolved to " + p.string() + ")");
    }
    out.code = p;
    out.code_pos = ValuePos(*c);
  }
  if (auto* e = fields.Get("environment")) {
    // Recorded as an EnvironmentRef; resolved at submit and built before the first run
    // (sweep/environment_prep.hpp).
    EnvironmentRef& ref = out.environment_ref;
    if (e->value.IsScalar()) {
      out.environment = e->value.Scalar();
      OD_ASSIGN_OR_RETURN(ref, ParseEnvironmentName(out.environment, ValuePos(*e)));
    } else if (e->value.IsMap()) {
      YAML::Node image = e->value["image"];
      out.environment = image.IsDefined() && image.IsScalar() ? image.Scalar() : "inline";
      OD_ASSIGN_OR_RETURN(
          EnvironmentSpec spec,
          ParseEnvironmentNode(e->value, ValuePos(*e),
                               [this](const YAML::Node& n) { return Pos(n); }, base_dir_,
                               prefix + "environment"));
      ignored_.insert(ignored_.end(), spec.ignored.begin(), spec.ignored.end());
      ref.kind = EnvironmentRef::Kind::kInline;
      ref.inline_spec = std::move(spec);
      ref.text = out.environment;
      ref.pos = ValuePos(*e);
    } else {
      return FailAt(*e, "'environment' must be a name (azureml:NAME:VERSION) or a mapping");
    }
  }
  if (auto* e = fields.Get("environment_variables")) {
    OD_ASSIGN_OR_RETURN(Fields vars, MapField(*e, prefix + "environment_variables", {}));
    for (const auto& v : vars.list) {
      if (!IsValidEnvName(v.name)) {
        return Fail(Pos(v.key), "environment variable name '" + Printable(v.name) +
                                    "' is not valid: use letters, digits and '_', not starting "
                                    "with a digit");
      }
      if (v.present() && !v.value.IsScalar()) {
        return FailAt(v, "environment variable '" + v.name + "' must be a string");
      }
      out.environment_variables[v.name] = v.present() ? v.value.Scalar() : "";
    }
  }
  if (auto* d = fields.Find("distribution")) OD_TRY(ParseDistribution(*d, out.distribution));
  if (auto* r = fields.Find("resources")) OD_TRY(ParseResources(*r, prefix, out.resources));
  const ResourcesSpec& res = out.resources;
  if (!out.distribution.type.empty() && res.gpus > 0 && res.gpus != std::floor(res.gpus)) {
    return Fail(res.gpus_pos, "a distributed run takes whole GPUs per process, got gpus: " +
                                  FormatDouble(res.gpus) +
                                  " (fractional GPUs are for single-process runs)");
  }
  if (out.distribution.type.empty() && res.instance_count > 1) {
    ignored_.push_back(res.instance_count_pos.ToString() + ": '" + prefix +
                       "resources.instance_count: " + std::to_string(res.instance_count) +
                       "' without a 'distribution' runs the command once; add distribution: "
                       "{type: pytorch} to start a process per instance");
  }
  return {};
}

// ---------- sweep ----------

Result<Distribution> JobParser::ParseParam(const Field& f, std::map<std::string, SourcePos>& param_pos) {
  Distribution d;
  if (!f.present() || !f.value.IsMap()) {
    return FailAt(f, "parameter '" + f.name + "' must be a mapping with a 'type' (choice, uniform, ...)");
  }
  Keys names;
  for (auto t : kAllDists) names.push_back(DistributionTypeName(t));
  YAML::Node type_node = f.value["type"];
  if (!type_node.IsDefined() || type_node.IsNull()) {
    return FailAt(f, "parameter '" + f.name + "' needs a 'type' (one of " + Join(names, ", ") + ")");
  }
  Field type_field{"type", f.key, type_node};
  OD_ASSIGN_OR_RETURN(std::string type, OneOf(type_field, names));
  for (auto t : kAllDists) {
    if (type == DistributionTypeName(t)) d.type = t;
  }
  Keys allowed;
  switch (d.type) {
    case DistributionType::kChoice: allowed = {"type", "values"}; break;
    case DistributionType::kRandint: allowed = {"type", "upper"}; break;
    case DistributionType::kUniform:
    case DistributionType::kLoguniform: allowed = {"type", "min_value", "max_value"}; break;
    case DistributionType::kQuniform:
    case DistributionType::kQloguniform: allowed = {"type", "min_value", "max_value", "q"}; break;
    case DistributionType::kNormal:
    case DistributionType::kLognormal: allowed = {"type", "mu", "sigma"}; break;
    case DistributionType::kQnormal:
    case DistributionType::kQlognormal: allowed = {"type", "mu", "sigma", "q"}; break;
  }
  std::string context = "parameter '" + f.name + "' (" + type + ")";
  OD_ASSIGN_OR_RETURN(Fields m, MapField(f, context, allowed));
  for (const auto& k : allowed) {
    if (!m.Find(k)) return FailAt(f, context + " needs '" + k + "'");
  }
  if (d.type == DistributionType::kChoice) {
    const Field& values = *m.Find("values");
    if (!values.present() || !values.value.IsSequence() || values.value.size() == 0) {
      return FailAt(values, "'values' of parameter '" + f.name + "' must be a non-empty list");
    }
    bool conditional = false;
    std::vector<SearchSpace> subs;
    for (auto it = values.value.begin(); it != values.value.end(); ++it) {
      YAML::Node item = *it;
      Field item_field{"values", values.key, item};
      if (item.IsScalar()) {
        d.values.push_back(ScalarToParam(item));
        subs.emplace_back();
        continue;
      }
      if (!item.IsMap()) {
        return FailAt(item_field, "choice values of '" + f.name +
                                      "' must be numbers, strings, booleans or {value, search_space}");
      }
      OD_ASSIGN_OR_RETURN(Fields c, Map(item, Pos(item), "a conditional choice value",
                                        {"value", "search_space"}));
      const Field* v = c.Get("value");
      if (!v || !v->value.IsScalar()) {
        return FailAt(v ? *v : item_field, "a conditional choice value needs a scalar 'value'");
      }
      d.values.push_back(ScalarToParam(v->value));
      SearchSpace sub;
      if (const Field* s = c.Find("search_space")) {
        OD_ASSIGN_OR_RETURN(sub, ParseSpace(*s, false, param_pos));
        conditional = true;
      }
      subs.push_back(std::move(sub));
    }
    if (conditional) d.sub_spaces = std::move(subs);
    return d;
  }
  if (d.type == DistributionType::kRandint) {
    OD_ASSIGN_OR_RETURN(d.upper, Int(*m.Find("upper"), 1, std::numeric_limits<std::int64_t>::max()));
    return d;
  }
  if (const Field* q = m.Find("q")) { OD_ASSIGN_OR_RETURN(d.q, Positive(*q)); }
  if (m.Find("min_value")) {
    OD_ASSIGN_OR_RETURN(d.min_value, Number(*m.Find("min_value")));
    OD_ASSIGN_OR_RETURN(d.max_value, Number(*m.Find("max_value")));
    if (d.min_value >= d.max_value) {
      return FailAt(*m.Find("min_value"), "'min_value' (" + FormatDouble(d.min_value) +
                                              ") must be less than 'max_value' (" +
                                              FormatDouble(d.max_value) + ") in parameter '" +
                                              f.name + "'");
    }
  } else {
    OD_ASSIGN_OR_RETURN(d.mu, Number(*m.Find("mu")));
    OD_ASSIGN_OR_RETURN(d.sigma, Positive(*m.Find("sigma")));
  }
  return d;
}

Result<SearchSpace> JobParser::ParseSpace(const Field& f, bool top,
                                          std::map<std::string, SourcePos>& param_pos) {
  SearchSpace space;
  OD_ASSIGN_OR_RETURN(Fields params, MapField(f, "search_space", {}));
  if (top && params.list.empty()) {
    return FailAt(f, "search_space must define at least one parameter");
  }
  for (const auto& p : params.list) {
    if (Trim(p.name).empty()) return Fail(Pos(p.key), "parameter names must not be empty");
    auto prev = param_pos.find(p.name);
    if (prev != param_pos.end()) {
      return Fail(Pos(p.key), "parameter '" + p.name + "' is defined twice (first at " +
                                  prev->second.ToString() + "); names must be unique across the search space");
    }
    param_pos[p.name] = Pos(p.key);
    OD_ASSIGN_OR_RETURN(Distribution d, ParseParam(p, param_pos));
    space.params.emplace_back(p.name, std::move(d));
  }
  return space;
}

Result<void> JobParser::CheckSampler(const SearchSpace& space, const SamplingSpec& sampling,
                                     const std::map<std::string, SourcePos>& param_pos) const {
  for (const auto& [name, d] : space.params) {
    SourcePos pos = param_pos.at(name);
    if (sampling.type == "grid" && d.type != DistributionType::kChoice) {
      return Fail(pos, "parameter '" + name + "' is " + DistributionTypeName(d.type) +
                           ", but grid sampling supports only choice");
    }
    if (sampling.type == "bayesian") {
      if (d.type != DistributionType::kChoice && d.type != DistributionType::kUniform &&
          d.type != DistributionType::kQuniform) {
        return Fail(pos, "parameter '" + name + "' is " + DistributionTypeName(d.type) +
                             ", but bayesian sampling supports only choice, uniform and quniform");
      }
      if (!d.sub_spaces.empty()) {
        return Fail(pos, "parameter '" + name +
                             "' has conditional sub-spaces, which bayesian sampling does not support "
                             "(use tpe or random)");
      }
    }
    for (const auto& sub : d.sub_spaces) OD_TRY(CheckSampler(sub, sampling, param_pos));
  }
  return {};
}

template <class Spec>
Result<void> JobParser::ParseComponent(const Field& section, const ComponentDecl<Spec>& decl,
                                       const std::string& context, Spec& out) const {
  Keys allowed = {"type"};
  for (const auto& name : decl.ParamNames()) allowed.push_back(name);
  OD_ASSIGN_OR_RETURN(Fields m, MapField(section, context + " (" + decl.type + ")", allowed));
  for (const auto& p : decl.params) {
    // `rule:` with nothing after it counts as absent; a number left empty is an error.
    const Field* x = p.type() == ParamType::kChoice ? m.Get(p.name) : m.Find(p.name);
    if (!x) continue;
    ParamValue v;
    switch (p.type()) {
      case ParamType::kInt: {
        OD_ASSIGN_OR_RETURN(std::int64_t i, Int(*x, std::numeric_limits<std::int64_t>::min(),
                                                std::numeric_limits<std::int64_t>::max()));
        v = i;
        break;
      }
      case ParamType::kNumber: {
        OD_ASSIGN_OR_RETURN(double d, Number(*x));
        v = d;
        break;
      }
      case ParamType::kChoice: {
        OD_ASSIGN_OR_RETURN(std::string c, OneOf(*x, p.choices));
        v = c;
        break;
      }
    }
    if (auto message = p.Check(v)) return FailAt(*x, *message);
    p.Set(out, v);
  }
  if (auto issue = decl.Validate(out)) {
    const Field* at = issue->param.empty() ? nullptr : m.Find(issue->param);
    return FailAt(at ? *at : section, issue->message);
  }
  return {};
}

Result<void> JobParser::ParseEarlyTermination(const Field& f, EarlyTerminationSpec& out) {
  if (!f.present()) return {};
  out.pos = ValuePos(f);
  if (!f.value.IsMap()) return FailAt(f, "early_termination must be a mapping of keys");
  YAML::Node type_node = f.value["type"];
  const Keys types = PolicyTypes();
  if (!type_node.IsDefined() || type_node.IsNull()) {
    return FailAt(f, "early_termination needs a 'type' (one of " + Join(types, ", ") + ")");
  }
  OD_ASSIGN_OR_RETURN(out.type, OneOf(Field{"type", f.key, type_node}, types));
  return ParseComponent(f, *FindPolicyDecl(out.type), "early_termination", out);
}

Result<void> JobParser::ParseSweep(const Fields& top, JobSpec& job) {
  SweepSpec sweep;
  SourcePos root_pos{file_, 1, 1};
  for (const char* required : {"sampling_algorithm", "search_space", "objective", "trial"}) {
    if (!top.Get(required)) {
      const Field* f = top.Find(required);
      return Fail(f ? Pos(f->key) : root_pos,
                  std::string("a sweep job needs '") + required + "'");
    }
  }
  // Sampling algorithm: "random" or {type, and the sampler's parameters}.
  const Field& sa = *top.Get("sampling_algorithm");
  const Keys samplers = SamplerTypes();
  sweep.sampling.pos = ValuePos(sa);
  if (sa.value.IsScalar()) {
    OD_ASSIGN_OR_RETURN(sweep.sampling.type, OneOf(sa, samplers));
  } else {
    YAML::Node type_node = sa.value.IsMap() ? sa.value["type"] : YAML::Node();
    if (!type_node.IsDefined() || type_node.IsNull()) {
      return FailAt(sa, "sampling_algorithm must be a name or a mapping with a 'type' (one of " +
                            Join(samplers, ", ") + ")");
    }
    OD_ASSIGN_OR_RETURN(sweep.sampling.type, OneOf(Field{"type", sa.key, type_node}, samplers));
    OD_TRY(ParseComponent(sa, *FindSamplerDecl(sweep.sampling.type), "sampling_algorithm",
                          sweep.sampling));
  }
  OD_ASSIGN_OR_RETURN(sweep.search_space, ParseSpace(*top.Get("search_space"), true, sweep.param_pos));
  OD_TRY(CheckSampler(sweep.search_space, sweep.sampling, sweep.param_pos));

  const Field& obj = *top.Get("objective");
  OD_ASSIGN_OR_RETURN(Fields o, MapField(obj, "objective", {"goal", "primary_metric"}));
  const Field* goal = o.Get("goal");
  if (!goal) return FailAt(obj, "objective needs 'goal' (maximize or minimize)");
  OD_ASSIGN_OR_RETURN(std::string g, OneOf(*goal, {"maximize", "minimize"}));
  sweep.objective.goal = g == "maximize" ? Goal::kMaximize : Goal::kMinimize;
  const Field* metric = o.Get("primary_metric");
  if (!metric) return FailAt(obj, "objective needs 'primary_metric' (the metric name the trial logs)");
  OD_ASSIGN_OR_RETURN(sweep.objective.primary_metric, NonEmptyString(*metric));

  if (auto* l = top.Find("limits")) {
    OD_ASSIGN_OR_RETURN(Fields m, MapField(*l, "limits", {"max_total_trials", "max_concurrent_trials",
                                                          "timeout", "trial_timeout"}));
    if (auto* x = m.Find("max_total_trials")) {
      OD_ASSIGN_OR_RETURN(std::int64_t v, Int(*x, 1, 100000000));
      sweep.limits.max_total_trials = static_cast<int>(v);
    }
    if (auto* x = m.Find("max_concurrent_trials")) {
      OD_ASSIGN_OR_RETURN(std::int64_t v, Int(*x, 1, 100000000));
      sweep.limits.max_concurrent_trials = static_cast<int>(v);
    }
    if (auto* x = m.Find("timeout")) { OD_ASSIGN_OR_RETURN(sweep.limits.timeout_s, Positive(*x)); }
    if (auto* x = m.Find("trial_timeout")) {
      OD_ASSIGN_OR_RETURN(sweep.limits.trial_timeout_s, Positive(*x));
    }
  }
  if (auto* e = top.Find("early_termination")) OD_TRY(ParseEarlyTermination(*e, sweep.early_termination));

  const Field& trial = *top.Get("trial");
  OD_ASSIGN_OR_RETURN(Fields t, MapField(trial, "trial",
                                         {"command", "code", "environment", "environment_variables",
                                          "distribution", "resources", "type"}));
  if (auto* x = t.Get("type")) OD_TRY(OneOf(*x, {"command"}));
  auto parsed = ParseCommandPart(t, "trial.", job.command);
  if (!parsed) {
    if (!parsed.error().message.empty()) return std::unexpected(parsed.error());
    return Fail(Pos(trial.key), "trial needs a 'command'");
  }
  job.command.timeout_s = sweep.limits.trial_timeout_s;
  if (auto* r = top.Find("register_best_model")) {
    OD_ASSIGN_OR_RETURN(Fields m, MapField(*r, "register_best_model", {"name", "path"}));
    RegisterBestModelSpec reg;
    reg.pos = Pos(r->key);
    auto* name = m.Get("name");
    if (!name) return Fail(Pos(r->key), "register_best_model needs a 'name' (the model to register)");
    OD_ASSIGN_OR_RETURN(reg.name, NonEmptyString(*name));
    for (char c : reg.name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
        return Fail(ValuePos(*name), "model name '" + reg.name +
                                         "' may contain only letters, digits, '-', '_' and '.'");
      }
    }
    if (auto* path = m.Find("path")) { OD_ASSIGN_OR_RETURN(reg.path, NonEmptyString(*path)); }
    sweep.register_best_model = std::move(reg);
  }
  job.sweep = std::move(sweep);
  return {};
}

Result<void> JobParser::ParseExtensions(const Field& f, ExtensionSpec& out) {
  OD_ASSIGN_OR_RETURN(Fields m, MapField(f, "overdrive",
                                         {"stdout_metrics", "metrics_pattern", "environment"}));
  if (auto* x = m.Get("environment")) {
    OD_ASSIGN_OR_RETURN(std::string v, String(*x));
    if (Lower(Trim(v)) != "host") {
      return FailAt(*x, "'overdrive.environment' can only be 'host' (run in the node's own "
                        "Python, whatever 'environment' says), got '" + v + "'");
    }
    out.environment = "host";
    out.environment_pos = ValuePos(*x);
  }
  if (auto* x = m.Find("stdout_metrics")) { OD_ASSIGN_OR_RETURN(out.stdout_metrics, Bool(*x)); }
  if (auto* x = m.Find("metrics_pattern")) {
    OD_ASSIGN_OR_RETURN(out.metrics_pattern, NonEmptyString(*x));
    out.metrics_pattern_pos = ValuePos(*x);
  }
  return {};
}

Result<void> JobParser::CheckReferences(const JobSpec& job) const {
  SubstitutionContext ctx;
  for (const auto& [name, in] : job.command.inputs) ctx.inputs[name] = "x";
  for (const auto& [name, out] : job.command.outputs) ctx.outputs[name] = "x";
  if (job.sweep) {
    for (const auto& [name, pos] : job.sweep->param_pos) ctx.search_space[name] = "x";
  }
  OD_TRY(SubstituteCommand(job.command.command, ctx, job.command.command_pos));
  return {};
}

// ---------- the document ----------

const Keys kCommonTop = {"$schema", "type", "name", "display_name", "experiment_name",
                         "description", "tags", "compute", "inputs", "outputs", "identity",
                         "queue_settings", "overdrive", "limits", "properties"};
const Keys kCommandOnly = {"command", "code", "environment", "environment_variables",
                           "distribution", "resources", "services"};
const Keys kSweepOnly = {"sampling_algorithm", "search_space", "objective", "early_termination",
                         "trial", "register_best_model"};

// The first tab in a line's indentation at or before `line0` (yaml-cpp's own messages about
// tabs are cryptic), as a position.
std::optional<std::pair<int, int>> TabInIndentation(const std::string& text, int line0) {
  int line = 0;
  size_t i = 0;
  while (i <= text.size() && line <= line0) {
    size_t end = text.find('\n', i);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + i, end - i);
    size_t first = l.find_first_not_of(" \t");
    if (first != std::string_view::npos && l[first] != '#') {
      size_t tab = l.substr(0, first).find('\t');
      if (tab != std::string_view::npos) return std::make_pair(line, static_cast<int>(tab));
    }
    ++line;
    i = end + 1;
  }
  return std::nullopt;
}

Result<JobSpec> JobParser::Parse(const std::string& text, const std::vector<std::string>& overrides) {
  const Shape shape = ScanShape(text);
  if (shape.too_large) {
    return Fail(At(shape.where.line, shape.where.column),
                "the job file has more than " + std::to_string(kMaxNodes) +
                    " values (keys, items and scalars); a job file is far smaller: is this the "
                    "right file?");
  }
  if (shape.too_deep) {
    return Fail(At(shape.where.line, shape.where.column),
                "the job file nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    int line0 = e.mark.is_null() ? 0 : e.mark.line;
    if (auto tab = TabInIndentation(text, line0)) {
      return Fail(At(tab->first, tab->second),
                  "tab character in indentation; YAML indentation must use spaces");
    }
    if (e.mark.is_null()) return Fail(At(0, 0), e.msg);
    return Fail(At(e.mark.line, e.mark.column), e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) {
    if (overrides.empty()) return Fail(At(0, 0), "the job file is empty");
    root = YAML::Node(YAML::NodeType::Map);
  }
  size_t budget = kMaxNodes;
  if (!YamlWithinLimits(root, kMaxDepth, budget)) {
    // The scan above bounds the file as written, so only aliases can get here.
    return Fail(At(0, 0), shape.aliases
                              ? "the document is too large or too deeply nested once aliases "
                                "are expanded"
                              : "the document is too large or too deeply nested");
  }
  for (size_t i = 0; i < overrides.size(); ++i) {
    if (!root.IsMap()) break;  // reported below
    OD_TRY(ApplyOverride(root, overrides[i], static_cast<int>(i) + 1));
  }
  budget = kMaxNodes;
  if (!YamlWithinLimits(root, kMaxDepth, budget)) {
    return Fail(SourcePos{"--set", 1, 1}, "the overridden document is too large or too deeply nested");
  }
  OD_TRY(CheckText(root));

  JobSpec job;
  YAML::Emitter emitter;
  emitter << root;
  job.resolved_yaml = emitter.c_str();

  if (!root.IsMap()) return Fail(Pos(root), "a job file must be a mapping of keys (type, command, ...)");

  // Type first: it decides which keys are valid.
  OD_ASSIGN_OR_RETURN(Fields any, Map(root, Pos(root), "the job file", {}));
  if (const Field* t = any.Get("type")) {
    OD_ASSIGN_OR_RETURN(std::string type, String(*t));
    std::string l = Lower(Trim(type));
    if (l == "command") job.type = JobType::kCommand;
    else if (l == "sweep") job.type = JobType::kSweep;
    else if (l == "pipeline" || l == "parallel" || l == "spark" || l == "automl")
      return FailAt(*t, "job type '" + type + "' is not supported; use command or sweep");
    else return FailAt(*t, "'type' must be command or sweep, got '" + type + "'" +
                               DidYouMeanSuffix(l, {"command", "sweep"}));
  } else if (any.Find("trial") || any.Find("search_space")) {
    return Fail(At(0, 0), "missing 'type: sweep' (the file has a trial/search_space)");
  } else if (!any.Get("command")) {
    // A typo such as 'comand' explains the missing command better than "missing 'command'".
    Keys all = kCommonTop;
    all.insert(all.end(), kCommandOnly.begin(), kCommandOnly.end());
    all.insert(all.end(), kSweepOnly.begin(), kSweepOnly.end());
    OD_TRY(Map(root, Pos(root), "the job file", all));
    return Fail(At(0, 0), "missing 'command' (a command job needs one; a sweep needs 'type: sweep')");
  }
  bool sweep = job.type == JobType::kSweep;
  Keys valid = kCommonTop;
  const Keys& own = sweep ? kSweepOnly : kCommandOnly;
  const Keys& other = sweep ? kCommandOnly : kSweepOnly;
  valid.insert(valid.end(), own.begin(), own.end());
  for (const auto& f : any.list) {
    if (std::find(other.begin(), other.end(), f.name) != other.end()) {
      return Fail(Pos(f.key), sweep ? "'" + f.name + "' is not a top-level key of a sweep job; put it under 'trial'"
                                    : "'" + f.name + "' is only valid in a sweep job (type: sweep)");
    }
  }
  OD_ASSIGN_OR_RETURN(Fields top, Map(root, Pos(root), "the job file", valid));

  for (const char* azure : {"identity", "queue_settings", "services", "properties"}) {
    if (const Field* f = top.Find(azure)) Ignore(f->key, azure);
  }
  if (auto* f = top.Get("name")) { OD_ASSIGN_OR_RETURN(job.name, String(*f)); }
  if (auto* f = top.Get("display_name")) { OD_ASSIGN_OR_RETURN(job.display_name, String(*f)); }
  if (auto* f = top.Get("description")) { OD_ASSIGN_OR_RETURN(job.description, String(*f)); }
  if (auto* f = top.Get("experiment_name")) {
    OD_ASSIGN_OR_RETURN(job.experiment_name, NonEmptyString(*f));
    if (auto ok = ValidateName("experiment_name", job.experiment_name); !ok) {
      return FailAt(*f, ok.error().message);
    }
  } else {
    fs::path dir = base_dir_;
    if (dir.filename().empty()) dir = dir.parent_path();
    job.experiment_name = dir.filename().string();
    if (job.experiment_name.empty()) job.experiment_name = "default";
  }
  if (auto* f = top.Get("tags")) {
    OD_ASSIGN_OR_RETURN(Fields tags, MapField(*f, "tags", {}));
    for (const auto& t : tags.list) {
      if (t.present() && !t.value.IsScalar()) return FailAt(t, "tag '" + t.name + "' must be a string");
      job.tags[t.name] = t.present() ? t.value.Scalar() : "";
    }
  }
  if (auto* f = top.Get("compute")) {
    OD_ASSIGN_OR_RETURN(std::string compute, NonEmptyString(*f));
    if (StartsWith(compute, "azureml:")) compute = compute.substr(8);
    if (Trim(compute).empty()) return FailAt(*f, "'compute' names no target after 'azureml:'");
    job.compute = compute;
    job.compute_pos = ValuePos(*f);
  } else {
    job.compute_pos = At(0, 0);
  }
  if (auto* f = top.Find("inputs")) OD_TRY(ParseInputs(*f, job.command));
  if (auto* f = top.Find("outputs")) OD_TRY(ParseOutputs(*f, job.command));
  if (auto* f = top.Find("overdrive")) OD_TRY(ParseExtensions(*f, job.extensions));

  if (sweep) {
    OD_TRY(ParseSweep(top, job));
  } else {
    auto parsed = ParseCommandPart(top, "", job.command);
    if (!parsed) {
      if (!parsed.error().message.empty()) return std::unexpected(parsed.error());
      return Fail(At(0, 0), "missing 'command' (a command job needs one)");
    }
    if (auto* l = top.Find("limits")) {
      OD_ASSIGN_OR_RETURN(Fields m, MapField(*l, "limits", {"timeout"}));
      if (auto* x = m.Find("timeout")) {
        OD_ASSIGN_OR_RETURN(double t, Positive(*x));
        job.command.timeout_s = t;
      }
    }
  }
  if (job.extensions.environment == "host") {
    // The explicit choice of the node's own Python wins over whatever `environment:` says.
    job.command.environment_ref.kind = EnvironmentRef::Kind::kHost;
    job.command.environment_ref.inline_spec.reset();
    job.command.environment_ref.pos = job.extensions.environment_pos;
  }
  OD_TRY(CheckReferences(job));
  job.ignored = std::move(ignored_);
  return job;
}

}  // namespace

Result<JobSpec> ParseJobText(const std::string& text, const std::string& file_name,
                             const std::filesystem::path& base_dir,
                             const std::vector<std::string>& overrides) {
  std::error_code ec;
  fs::path dir = fs::absolute(base_dir, ec);
  if (ec) dir = base_dir;
  JobParser parser(file_name, dir.lexically_normal());
  try {
    auto job = parser.Parse(text, overrides);
    if (job) {
      fs::path f(file_name);
      job->source_file = f.is_absolute() ? f : (dir / f.filename()).lexically_normal();
    }
    return job;
  } catch (const YAML::Exception& e) {
    SourcePos pos{file_name, e.mark.is_null() ? 0 : e.mark.line + 1,
                  e.mark.is_null() ? 0 : e.mark.column + 1};
    return std::unexpected(InputError(pos, e.msg));
  } catch (const std::exception& e) {
    return std::unexpected(InputError(SourcePos{file_name, 0, 0}, e.what()));
  }
}

Result<JobSpec> ParseJobFile(const std::filesystem::path& path,
                             const std::vector<std::string>& overrides) {
  OD_ASSIGN_OR_RETURN(const std::int64_t max_mb,
                      EnvLimit(kMaxJobFileMbEnv, kDefaultMaxJobFileMb));
  const std::int64_t max_bytes = max_mb << 20;
  // Checked before reading: /dev/zero or a huge file would otherwise be read until memory runs out.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return MakeError(ErrorCode::kNotFound,
                     path.string() + ": cannot read the job file: " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidInput, path.string() + ": is a folder, not a job file");
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidInput,
                     path.string() + ": is not a regular file (a device, pipe or socket); a job "
                                     "file must be a regular file");
  }
  const std::string too_large =
      path.string() + ": the job file is larger than the limit of " + std::to_string(max_mb) +
      " MiB; a job file is a few KiB (raise the limit with " + kMaxJobFileMbEnv + "=N)";
  if (st.st_size > max_bytes) return MakeError(ErrorCode::kInvalidInput, too_large);
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kNotFound, path.string() + ": cannot read the job file");
  // Still bounded, should the file grow after the stat.
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  while (in && static_cast<std::int64_t>(text.size()) <= max_bytes) {
    char buf[1 << 16];
    in.read(buf, sizeof buf);
    text.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  if (static_cast<std::int64_t>(text.size()) > max_bytes) {
    return MakeError(ErrorCode::kInvalidInput, too_large);
  }
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) abs = path;
  auto job = ParseJobText(text, path.string(), abs.parent_path(), overrides);
  if (job) job->source_file = abs.lexically_normal();
  return job;
}

}  // namespace overdrive
