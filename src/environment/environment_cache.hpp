// The environment cache: environments built once per content hash and shared by every run, job
// and process of a workspace (`<workspace>/environments/<hash>/`).
//
// - The hash covers the spec (EnvironmentSpec::ToJson), the text of its conda file and every
//   file of its build context: the same content gives the same build, whatever its name.
// - One builder per hash at a time across processes (an exclusive flock on `<hash>.lock`);
//   others wait for it and then use its result.
// - An entry is usable only once its `ready.json` is written, last, atomically: a build that
//   crashed leaves a folder without it, which the next builder removes and builds again.
// - A build's output goes to `<hash>/build.log`; a failed build's error carries the log's tail.
//
// Venvs (Kind() "venv"): `<interpreter> -m venv [--system-site-packages]`, then pip installs
// the conda file's `pip:` list and its other dependencies translated to pip requirements
// (`numpy=1.26` -> `numpy==1.26.*`), with pip's own configuration honoured (PIP_INDEX_URL,
// PIP_FIND_LINKS, PIP_NO_INDEX, pip.conf: the build inherits our environment). `python=X.Y`
// must match the interpreter's version; `pip` and `python` themselves need nothing.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/environment_spec.hpp"

namespace overdrive {

struct BuiltEnvironment {
  std::string hash;
  std::string kind;               // "venv" or "image"
  std::filesystem::path venv;     // kind venv: the virtual environment's folder
  std::string image;              // kind image: the image a run starts
  std::filesystem::path log;      // the build log ("" when nothing was built here)
  double built_at = 0;
  bool built_now = false;         // this call built it (false: found in the cache)
  // The variables a run in this environment gets on top of its own: for a venv VIRTUAL_ENV and
  // PATH with the venv's bin/ first (`path` is the PATH it would have had).
  std::map<std::string, std::string> RunEnv(const std::string& path) const;
};

struct EnvironmentBuildOptions {
  // Called about every half second while something is built (seconds since the build started)
  // and once when waiting for another process's build of the same hash.
  std::function<void(const std::string& what, double elapsed_s)> progress;
};

struct CachedEnvironment {
  std::string hash;
  std::string kind;
  std::uint64_t bytes = 0;
  double built_at = 0;
  bool ready = false;  // false: a build that never finished (removed by Prune)
};

class EnvironmentCache {
 public:
  explicit EnvironmentCache(std::filesystem::path root);

  // The content hash of `spec` (reads its conda file and build context).
  Result<std::string> Hash(const EnvironmentSpec& spec) const;
  // The built environment for `spec`, building it first when the cache has none.
  Result<BuiltEnvironment> Ensure(const EnvironmentSpec& spec,
                                  const EnvironmentBuildOptions& options = {});
  // A ready entry, if any.
  std::optional<BuiltEnvironment> Find(const std::string& hash) const;
  Result<std::vector<CachedEnvironment>> List() const;
  // Removes entries whose hash is not in `keep` (and unfinished builds nobody holds the lock
  // of). Returns what was (or, with dry_run, would be) removed.
  Result<std::vector<CachedEnvironment>> Prune(const std::set<std::string>& keep, bool dry_run);

  const std::filesystem::path& root() const { return root_; }

 private:
  Result<void> BuildVenv(const EnvironmentSpec& spec, const std::filesystem::path& dir,
                         const EnvironmentBuildOptions& options);
  std::filesystem::path root_;
};

// An image environment with nothing to build on top (no conda file, no build context): runs
// start that image as it is.
bool IsPlainImage(const EnvironmentSpec& spec);

// The pip requirement lines for a venv of `conda` (its pip list, then its other dependencies
// translated), or kInvalidInput naming a dependency that cannot be honoured with pip.
Result<std::vector<std::string>> PipRequirements(const CondaSpec& conda);

}  // namespace overdrive
