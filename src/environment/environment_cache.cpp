#include "environment/environment_cache.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "executor/container.hpp"
#include "store/sha256.hpp"

extern char** environ;

namespace overdrive {

namespace fs = std::filesystem;

namespace {

constexpr const char* kReady = "ready.json";
constexpr const char* kLog = "build.log";

std::unexpected<Error> IoError(const std::string& what, const fs::path& path, int err = errno) {
  return MakeError(ErrorCode::kIo, what + " '" + path.string() + "': " + std::strerror(err));
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read", path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last `n` lines of `text`, and the last line that looks like the error.
std::string LogTail(const fs::path& log, size_t n = 8) {
  auto text = ReadFile(log);
  if (!text) return "";
  std::vector<std::string> lines = Split(*text, '\n');
  while (!lines.empty() && Trim(lines.back()).empty()) lines.pop_back();
  std::string failing;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->find("ERROR") != std::string::npos || it->find("Error") != std::string::npos ||
        it->find("error:") != std::string::npos) {
      failing = Trim(*it);
      break;
    }
  }
  size_t from = lines.size() > n ? lines.size() - n : 0;
  std::string tail;
  for (size_t i = from; i < lines.size(); ++i) tail += "\n  | " + lines[i];
  return (failing.empty() ? "" : " — " + failing) + "\nlast lines of " + log.string() + ":" + tail;
}

// Runs argv with stdout and stderr appended to `log`, calling `tick` every ~0.5 s.
Result<int> RunLogged(const std::vector<std::string>& argv, const fs::path& log,
                      const std::function<void()>& tick) {
  {
    std::ofstream out(log, std::ios::app);
    out << "$ " << Join(argv, " ") << "\n";
  }
  int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open the build log", log);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fd, 1);
  posix_spawn_file_actions_adddup2(&actions, fd, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings = PodmanProcessEnvironment();
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fd);
  if (rc != 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "cannot run '" + argv[0] + "': " + std::strerror(rc));
  }
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return IoError("cannot wait for", argv[0]);
    if (tick) tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// RunLogged's tick: says "building" with the seconds since now, at its first call and then
// every 10 s (EnvironmentBuildOptions::progress).
std::function<void()> BuildTicker(const EnvironmentBuildOptions& options) {
  const double start = MonotonicSeconds();
  return [&options, start, said = -100.0]() mutable {
    const double elapsed = MonotonicSeconds() - start;
    if (!options.progress || elapsed - said < 10) return;
    said = elapsed;
    options.progress("building", elapsed);
  };
}

// An exclusive lock held for the object's life (flock: released if the process dies).
class FileLock {
 public:
  static Result<FileLock> Acquire(const fs::path& path, const std::function<void()>& waiting) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("cannot open the lock", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (waiting) waiting();
      while (::flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
          int err = errno;
          ::close(fd);
          return IoError("cannot lock", path, err);
        }
      }
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Whether someone holds the lock at `path` now.
  static bool Held(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    ::close(fd);
    return held;
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

std::uint64_t FolderBytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

// "3.11.2" matches "3.11", "3.11.2", "3", "3.11.*".
bool VersionMatches(const std::string& have, std::string want) {
  if (want.ends_with(".*")) want.resize(want.size() - 2);
  if (want.empty()) return true;
  return have == want || StartsWith(have, want + ".");
}

// "file:line:col: " before a message about the spec, or "" when the place is not known.
std::string At(const SourcePos& pos) {
  std::string s = pos.ToString();
  return s.empty() ? s : s + ": ";
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The distribution name at the start of a requirement ("numpy" of "numpy>=1.2").
std::string RequirementName(const std::string& req) {
  size_t end = req.find_first_of("<>=!~;[ @");
  return Trim(req.substr(0, end));
}

}  // namespace

bool IsPlainImage(const EnvironmentSpec& spec) {
  return !spec.image.empty() && !spec.conda_file && spec.conda_text.empty() && !spec.build_path;
}

RunPlacement BuiltEnvironment::Placement(const std::string& path) const {
  RunPlacement p;
  if (kind == "venv") {
    p.env["VIRTUAL_ENV"] = venv.string();
    p.env["PATH"] = (venv / "bin").string() + (path.empty() ? "" : ":" + path);
    return p;
  }
  p.container = ContainerSpec{};
  p.container->image = image;
  if (!network.empty()) p.container->network = network;
  if (!venv.empty()) {
    p.container->mounts.push_back({venv.string(), venv.string(), true});
    p.container->env["VIRTUAL_ENV"] = venv.string();
    p.container->env["PATH"] = (venv / "bin").string() + ":" + image_path;
  }
  return p;
}

Result<std::vector<std::string>> PipRequirements(const CondaSpec& conda) {
  std::vector<std::string> out = conda.pip;
  for (const std::string& dep : conda.conda_dependencies) {
    std::string d = Trim(dep);
    if (size_t colons = d.find("::"); colons != std::string::npos) d = d.substr(colons + 2);
    std::string name = RequirementName(d);
    std::string lname = ToLower(name);
    if (lname == "python" || lname == "pip") continue;  // the interpreter's own
    std::string rest = Trim(d.substr(name.size()));
    // Packages conda names differently from PyPI.
    if (lname == "pytorch") name = "torch";
    if (lname == "py-xgboost") name = "xgboost";
    if (rest.empty()) {
      out.push_back(name);
    } else if (rest[0] == '=' && rest.size() > 1 && rest[1] != '=') {
      // conda's `=1.26` is a prefix (1.26.*); `=1.26=py311_0` adds a build string pip knows not.
      std::string version = rest.substr(1);
      if (size_t eq = version.find('='); eq != std::string::npos) version.resize(eq);
      if (version.empty()) {
        out.push_back(name);
      } else {
        out.push_back(name + "==" + version + (version.ends_with("*") ? "" : ".*"));
      }
    } else if (rest[0] == '=' || rest[0] == '<' || rest[0] == '>' || rest[0] == '!') {
      out.push_back(name + rest);
    } else if (std::isdigit(static_cast<unsigned char>(rest[0]))) {
      out.push_back(name + "==" + rest);  // "numpy 1.26.4"
    } else {
      return MakeError(ErrorCode::kInvalidInput,
                       "conda dependency '" + dep + "' cannot be installed without conda: "
                       "write it as a pip requirement under `pip:`");
    }
  }
  return out;
}

EnvironmentCache::EnvironmentCache(fs::path root) : root_(std::move(root)) {}

Result<std::string> EnvironmentCache::Hash(const EnvironmentSpec& spec) const {
  Sha256 h;
  // Name, version, description and tags do not change what is built.
  EnvironmentSpec what = spec;
  what.name.clear();
  what.version.clear();
  what.description.clear();
  what.tags.clear();
  what.network.clear();  // where runs go, not what is built
  // Where the files were does not change what is built either: their content does (the conda
  // file's text is in the spec; a build context is hashed file by file below).
  if (what.conda_text.empty() && spec.conda_file) {
    OD_ASSIGN_OR_RETURN(what.conda_text, ReadFile(*spec.conda_file));
  }
  what.conda_file.reset();
  what.build_path.reset();
  h.Update("spec\n");
  h.Update(what.ToJson());
  if (spec.build_path) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(*spec.build_path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) || it->is_symlink(ec)) files.push_back(it->path());
    }
    if (ec) return IoError("cannot read the build context", *spec.build_path, ec.value());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      h.Update("\nfile " + fs::relative(f, *spec.build_path).string() + "\n");
      if (fs::is_symlink(f)) {
        h.Update("-> " + fs::read_symlink(f).string());
      } else {
        OD_ASSIGN_OR_RETURN(std::string bytes, ReadFile(f));
        h.Update(bytes);
      }
    }
  }
  return h.HexDigest();
}

std::optional<BuiltEnvironment> EnvironmentCache::Find(const std::string& hash) const {
  const fs::path dir = root_ / hash;
  auto text = ReadFile(dir / kReady);
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    BuiltEnvironment b;
    b.hash = hash;
    b.kind = j.value("kind", "");
    b.image = j.value("image", "");
    b.built_at = j.value("built_at", 0.0);
    if (b.kind == "venv" || j.value("venv", false)) b.venv = dir / "venv";
    b.image_path = j.value("image_path", "");
    b.image_bytes = j.value("image_bytes", std::uint64_t{0});
    b.built_image = j.value("built_image", false);
    b.log = dir / kLog;
    return b;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

namespace {

constexpr const char* kBuiltImageRepo = "localhost/overdrive-env";

// The PATH a container of the base images has when the image says nothing.
constexpr const char* kDefaultImagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::unexpected<Error> PodmanMissing() {
  return MakeError(ErrorCode::kFailedPrecondition,
                   "container environments need podman, which does not run on this machine; "
                   "install and configure it with scripts/podman.sh setup (Debian: podman)");
}

// `podman run` words that run a build step in `image` with the cache entry `dir` mounted at its
// own path, as the user that builds, with pip's configuration passed in: every PIP_* variable
// by name (values stay out of the command line), the local folders of PIP_FIND_LINKS and the
// pip.conf files that exist, read-only at their own paths. The network is the host's, as for a
// build on the host (a private index must be reachable).
std::vector<std::string> InImage(const std::string& image, const fs::path& dir,
                                 const std::string& hash) {
  std::vector<std::string> a = {"podman", "run", "--rm", "--replace", "--name",
                                "od-envbuild-" + hash.substr(0, 16), "--pull=never",
                                "--network", "host", "--user",
                                std::to_string(::getuid()) + ":" + std::to_string(::getgid()),
                                "-w", dir.string(), "-v", dir.string() + ":" + dir.string()};
  std::set<std::string> mounted;
  auto mount = [&](std::string path) {
    if (StartsWith(path, "file://")) path = path.substr(7);
    std::error_code ec;
    if (path.empty() || path[0] != '/' || !fs::exists(path, ec) ||
        path.find_first_of(":,") != std::string::npos || !mounted.insert(path).second) {
      return;
    }
    a.push_back("-v");
    a.push_back(path + ":" + path + ":ro");
  };
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    const size_t eq = kv.find('=');
    if (!StartsWith(kv, "PIP_") || eq == std::string_view::npos) continue;
    const std::string name(kv.substr(0, eq)), value(kv.substr(eq + 1));
    a.push_back("--env");
    a.push_back(name);
    if (name == "PIP_FIND_LINKS") {
      std::istringstream links(value);
      for (std::string link; links >> link;) mount(link);
    }
    // A real file only (PIP_CONFIG_FILE=/dev/null is the image's own /dev/null).
    if (name == "PIP_CONFIG_FILE" && fs::is_regular_file(value)) mount(value);
  }
  for (const char* conf : {"/etc/pip.conf", "/etc/xdg/pip/pip.conf"}) mount(conf);
  a.push_back(image);
  return a;
}

}  // namespace

Result<void> EnvironmentCache::BuildVenv(const EnvironmentSpec& spec, const fs::path& dir,
                                         const std::string& hash,
                                         const EnvironmentBuildOptions& options) {
  const fs::path log = dir / kLog;
  const auto tick = BuildTicker(options);
  const std::string where = At(spec.conda_file_pos);
  // In an image, every step runs in a container of it (the venv is made by its interpreter).
  const bool in_image = !spec.image.empty();
  auto run = [&](std::vector<std::string> argv) {
    if (!in_image) return RunLogged(argv, log, tick);
    std::vector<std::string> wrapped = InImage(spec.image, dir, hash);
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    return RunLogged(wrapped, log, tick);
  };
  const std::string interpreter =
      in_image ? "the image's interpreter '" + spec.python + "'" : "'" + spec.python + "'";
  if (!in_image && ::access(spec.python.c_str(), X_OK) != 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "the environment's interpreter '" + spec.python +
                         "' cannot be run here; name one with `overdrive: {python: PATH}` in the "
                         "environment");
  }
  std::vector<std::string> requirements;
  if (spec.conda) {
    auto reqs = PipRequirements(*spec.conda);
    if (!reqs) {
      return MakeError(ErrorCode::kInvalidInput, where + reqs.error().message);
    }
    requirements = std::move(*reqs);
  }
  if (in_image || (spec.conda && spec.conda->python)) {
    // The interpreter's version decides: there is no conda to fetch another. (In an image this
    // is also where a missing interpreter shows.)
    fs::path out = dir / "python-version";
    OD_ASSIGN_OR_RETURN(int rc, run({spec.python, "-c",
                                     "import sys; open(sys.argv[1], 'w').write('%d.%d.%d' "
                                     "% sys.version_info[:3])",
                                     out.string()}));
    auto have = ReadFile(out);
    if (rc != 0 || !have) {
      return MakeError(ErrorCode::kInvalidInput,
                       "cannot ask " + interpreter + " for its version" +
                           (in_image ? " (in image '" + spec.image +
                                           "'; name the image's Python 3 with `overdrive: "
                                           "{python: PATH}` in the environment)"
                                     : std::string()) +
                           LogTail(log));
    }
    if (spec.conda && spec.conda->python && !VersionMatches(*have, *spec.conda->python)) {
      auto pos = spec.conda->dependency_pos.find("python=" + *spec.conda->python);
      std::string at = pos != spec.conda->dependency_pos.end() ? At(pos->second) : where;
      return MakeError(ErrorCode::kInvalidInput,
                       at + "conda dependency python=" + *spec.conda->python +
                           " cannot be honoured: " + interpreter + " is Python " + *have +
                           "; install that Python and name it with `overdrive: {python: "
                           "/usr/bin/python3.X}` in the environment, or change the conda file");
    }
  }
  const fs::path venv = dir / "venv";
  // Without requirements no pip is needed in the venv; with the system's packages visible the
  // system's pip serves (and installs into the venv), which saves ensurepip's seconds. An image
  // may have no pip of its own: there the venv gets one.
  bool need_pip = !requirements.empty() && (!spec.system_site_packages || in_image);
  std::vector<std::string> make = {spec.python, "-m", "venv"};
  if (spec.system_site_packages) make.push_back("--system-site-packages");
  if (!need_pip) make.push_back("--without-pip");
  make.push_back(venv.string());
  OD_ASSIGN_OR_RETURN(int rc, run(make));
  if (rc != 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "creating the virtual environment failed" +
                         (in_image ? " (in image '" + spec.image +
                                         "': its Python needs the venv module and ensurepip; "
                                         "Debian: python3-venv)"
                                   : std::string()) +
                         LogTail(log));
  }
  if (!requirements.empty()) {
    std::ofstream req(dir / "requirements.txt");
    for (const auto& r : requirements) req << r << "\n";
    req.close();
    OD_ASSIGN_OR_RETURN(rc, run({(venv / "bin" / "python").string(), "-m", "pip", "install",
                                 "--disable-pip-version-check", "--no-input", "-r",
                                 (dir / "requirements.txt").string()}));
    if (rc != 0) {
      return MakeError(ErrorCode::kInvalidInput,
                       where + "installing the environment's requirements failed (pip's own "
                       "configuration applies: PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX, "
                       "pip.conf)" + LogTail(log));
    }
  }
  return {};
}

Result<std::string> EnvironmentCache::BuildImage(const EnvironmentSpec& spec, const fs::path& dir,
                                                 const std::string& hash,
                                                 const EnvironmentBuildOptions& options) {
  const fs::path log = dir / kLog;
  const auto tick = BuildTicker(options);
  const fs::path context = *spec.build_path;
  const fs::path file = context / spec.dockerfile_path;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return MakeError(ErrorCode::kInvalidInput,
                     At(spec.build_pos) + "the build context " + context.string() +
                         " has no " + spec.dockerfile_path +
                         " (name another with build: {dockerfile_path: ...})");
  }
  const std::string tag = std::string(kBuiltImageRepo) + ":" + hash.substr(0, 16);
  // --pull=never: FROM names an image of the local store (no registry is reached).
  OD_ASSIGN_OR_RETURN(int rc, RunLogged({"podman", "build", "--pull=never", "--network", "host",
                                         "--file", file.string(), "--tag", tag, context.string()},
                                        log, tick));
  if (rc != 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     At(spec.build_pos) + "building the image of " + file.string() +
                         " failed (podman build; FROM must name an image of the local store)" +
                         LogTail(log));
  }
  return tag;
}

Result<BuiltEnvironment> EnvironmentCache::Ensure(const EnvironmentSpec& spec,
                                                  const EnvironmentBuildOptions& options) {
  auto built = EnsureBuilt(spec, options);
  if (built) built->network = spec.network;
  return built;
}

Result<BuiltEnvironment> EnvironmentCache::EnsureBuilt(const EnvironmentSpec& spec,
                                                       const EnvironmentBuildOptions& options) {
  OD_ASSIGN_OR_RETURN(std::string hash, Hash(spec));
  if (auto found = Find(hash)) return *found;
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return IoError("cannot create", root_, ec.value());
  OD_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(root_ / (hash + ".lock"), [&] {
                        if (options.progress) options.progress("waiting for another build", 0);
                      }));
  if (auto found = Find(hash)) return *found;  // built while we waited
  const fs::path dir = root_ / hash;
  fs::remove_all(dir, ec);  // a build that never finished
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create", dir, ec.value());
  const std::string kind = spec.Kind();
  nlohmann::json ready = {{"hash", hash}, {"name", spec.name}, {"version", spec.version}};
  if (kind == "venv") {
    OD_TRY(BuildVenv(spec, dir, hash, options));
    ready["kind"] = "venv";
  } else {
    if (RunPodmanQuietly({"--version"}, 30) != 0) return PodmanMissing();
    std::string image = spec.image;
    if (spec.build_path) {
      OD_ASSIGN_OR_RETURN(image, BuildImage(spec, dir, hash, options));
    } else if (!ImageExists(spec.image)) {
      // The image must be in the local image store (no registry is reached).
      return MakeError(ErrorCode::kInvalidInput,
                       At(spec.image_pos) + "container image '" + spec.image +
                           "' is not in the local image store of this machine; build or load "
                           "it (podman build / podman load; scripts/podman.sh base-image makes "
                           "localhost/overdrive-base:latest)");
    } else if (!IsPlainImage(spec)) {
      // An image and a conda file: a venv made in the image, kept here and mounted into runs.
      OD_TRY(BuildVenv(spec, dir, hash, options));
      ready["venv"] = true;
    }
    ready["kind"] = "image";
    ready["image"] = image;
    // What the image's processes find on their PATH (a venv goes first).
    const fs::path out = dir / "image-env";
    OD_ASSIGN_OR_RETURN(int rc, RunLogged({"podman", "image", "inspect", "--format",
                                           "{{range .Config.Env}}{{println .}}{{end}}size={{.Size}}",
                                           image},
                                          out, nullptr));
    std::string path = kDefaultImagePath;
    if (rc == 0) {
      if (auto text = ReadFile(out)) {
        for (const auto& line : Split(*text, '\n')) {
          if (StartsWith(line, "PATH=")) path = line.substr(5);
          if (StartsWith(line, "size=")) ready["image_bytes"] = std::strtoull(line.c_str() + 5, nullptr, 10);
        }
      }
    }
    ready["image_path"] = path;
    ready["built_image"] = spec.build_path.has_value();
  }
  ready["built_at"] = WallSeconds();
  const fs::path tmp = dir / (std::string(kReady) + ".tmp");
  {
    std::ofstream out(tmp);
    out << ready.dump() << "\n";
    if (!out) return IoError("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), (dir / kReady).c_str()) != 0) return IoError("cannot write", dir / kReady);
  auto built = Find(hash);
  if (!built) return MakeError(ErrorCode::kIo, "the environment build left no record in " + dir.string());
  built->built_now = true;
  return *built;
}

Result<std::vector<CachedEnvironment>> EnvironmentCache::List() const {
  std::vector<CachedEnvironment> out;
  std::error_code ec;
  if (!fs::exists(root_, ec)) return out;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (!e.is_directory()) continue;
    CachedEnvironment c;
    c.hash = e.path().filename().string();
    c.bytes = FolderBytes(e.path());
    if (auto b = Find(c.hash)) {
      c.ready = true;
      c.kind = b->kind;
      c.built_at = b->built_at;
      if (b->built_image) {
        c.image = b->image;
        c.bytes += b->image_bytes;
      }
    }
    out.push_back(std::move(c));
  }
  if (ec) return IoError("cannot list", root_, ec.value());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.built_at < b.built_at; });
  return out;
}

Result<std::vector<CachedEnvironment>> EnvironmentCache::Prune(const std::set<std::string>& keep,
                                                               bool dry_run) {
  OD_ASSIGN_OR_RETURN(auto all, List());
  std::vector<CachedEnvironment> removed;
  for (const auto& c : all) {
    if (keep.count(c.hash)) continue;
    const fs::path lock = root_ / (c.hash + ".lock");
    if (FileLock::Held(lock)) continue;  // being built right now
    if (!dry_run) {
      // An image built for it goes too (when no container uses it; podman refuses otherwise).
      if (!c.image.empty()) RunPodmanQuietly({"rmi", "--ignore", c.image}, 120);
      std::error_code ec;
      fs::remove_all(root_ / c.hash, ec);
      if (ec) return IoError("cannot remove", root_ / c.hash, ec.value());
      fs::remove(lock, ec);
    }
    removed.push_back(c);
  }
  return removed;
}

}  // namespace overdrive
