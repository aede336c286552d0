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
//
// Images (Kind() "image" / "build"), with podman (a missing podman is a clear error):
// - `image:` alone: nothing is built; the image must be in the local image store.
// - `image:` + `conda_file`: the same venv build, made by the image's interpreter in a container
//   of the image (`--network host`, the entry's folder mounted at its own path, pip's PIP_*
//   variables passed by name and its local find-links folders and pip.conf files mounted
//   read-only). The image is not changed: runs mount the venv read-only. The image's Python
//   needs the venv module and ensurepip (Debian: python3-venv).
// - `build: {path, dockerfile_path}`: `podman build --pull=never` of the context, tagged
//   localhost/overdrive-env:<hash prefix>; prune removes the image with its entry.
// The image is named by its name (a tag re-pointed later is not noticed by the hash).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"
#include "spec/environment_spec.hpp"

namespace overdrive {

// What a run in a built environment gets: variables on top of its own, and for an image
// environment the container it runs in.
struct RunPlacement {
  std::map<std::string, std::string> env;
  std::optional<ContainerSpec> container;
};

struct BuiltEnvironment {
  std::string hash;
  std::string kind;               // "venv" or "image"
  std::filesystem::path venv;     // kind venv: the virtual environment's folder; kind image: a
                                  // venv made in the image (image + conda_file), or empty
  std::string image;              // kind image: the image a run starts (for build: contexts,
                                  // localhost/overdrive-env:<hash prefix>, built here)
  std::string image_path;         // kind image: the PATH the image sets
  bool built_image = false;       // the image was built here (prune removes it)
  std::uint64_t image_bytes = 0;  // its size in podman's store
  std::string network;            // kind image: the spec's network for runs ("" = none)
  std::filesystem::path log;      // the build log ("" when nothing was built here)
  double built_at = 0;
  bool built_now = false;         // this call built it (false: found in the cache)
  // Where a run goes: a venv's runs get VIRTUAL_ENV and PATH with its bin/ first (`path` is the
  // PATH they would have had); an image's run in a container of it, with a venv made in it
  // mounted read-only at its own path and first on the container's PATH.
  RunPlacement Placement(const std::string& path) const;
};

struct EnvironmentBuildOptions {
  // Called when a build starts and then every 10 s while it runs (seconds since it started),
  // and once (0 s) when waiting for another process's build of the same hash: each call is a
  // line worth showing.
  std::function<void(const std::string& what, double elapsed_s)> progress;
};

struct CachedEnvironment {
  std::string hash;
  std::string kind;
  std::string image;        // an image built for it (podman's store), or ""
  std::uint64_t bytes = 0;  // the cache folder, plus that image
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
  // A venv in `dir`/venv: of spec.python on this machine, or (spec.image set) of the image's
  // interpreter, made in a container of the image with `dir` mounted at its own path.
  Result<BuiltEnvironment> EnsureBuilt(const EnvironmentSpec& spec,
                                       const EnvironmentBuildOptions& options);
  Result<void> BuildVenv(const EnvironmentSpec& spec, const std::filesystem::path& dir,
                         const std::string& hash, const EnvironmentBuildOptions& options);
  // `podman build` of spec's build context; the image's tag.
  Result<std::string> BuildImage(const EnvironmentSpec& spec, const std::filesystem::path& dir,
                                 const std::string& hash, const EnvironmentBuildOptions& options);
  std::filesystem::path root_;
};

// An image environment with nothing to build on top (no conda file, no build context): runs
// start that image as it is.
bool IsPlainImage(const EnvironmentSpec& spec);

// The pip requirement lines for a venv of `conda` (its pip list, then its other dependencies
// translated), or kInvalidInput naming a dependency that cannot be honoured with pip.
Result<std::vector<std::string>> PipRequirements(const CondaSpec& conda);

}  // namespace overdrive
