// Runs in containers (LaunchSpec::container): the one place that knows the podman command line.
// The shim (shim.cpp) runs a run's command as
//
//   podman run HEAD... NODE-OPTIONS... TAIL...
//
// and the Slurm batch script (slurm_executor.cpp) runs the same words on the node, with the
// NODE-OPTIONS (the user, the GPUs) worked out there in POSIX sh (PodmanNodeOptionsShell). HEAD
// is what follows from the launch alone; TAIL is the image and `/bin/sh -c COMMAND`.
//
// How podman is run:
// - `--rm --replace --name od-<run id>`: nothing is left behind on a normal end, a stale
//   container of an earlier attempt is replaced, and the paths that stop a run early (cancel,
//   timeout, a killed shim) remove it by name (RemoveContainer, `podman rm -f`).
// - `--init`: catatonit is PID 1 and forwards signals, so SIGTERM reaches the command (a PID 1
//   without a handler would ignore it); `--sig-proxy` (podman's default) forwards the SIGTERM the
//   shim sends its process group to the container.
// - `--pull=never`: images come from the local image store only; a missing one is a clear run
//   failure (ContainerFailureReason), never a pull that hangs on an unreachable registry.
// - `--log-driver passthrough`: the command writes straight into the run's stdout.log and
//   stderr.log (the shim's descriptors), as a bare command would.
// - `--network` from ContainerSpec::network (default "none").
// - `-v DIR:DIR` for the run folder and the working directory, then ContainerSpec::mounts.
// - `--env NAME` for each LaunchSpec::env name: podman takes the value from its own environment
//   (which the shim / batch script sets), so values stay out of `ps`.
// - `-w WORKING_DIR`, `--user UID:GID` (the submitting user: the shim's own ids; `id -u`/`id -g`
//   on a Slurm node).
// - GPUs: `--device nvidia.com/gpu=<id>` (CDI; `nvidia-ctk cdi generate` makes the spec on a GPU
//   host) for each GPU the run got — the local executor's GPU ids (OVERDRIVE_GPUS / nvidia-smi
//   indexes), Slurm's SLURM_JOB_GPUS — and CUDA_VISIBLE_DEVICES=0,..,n-1 inside, because a
//   container sees only its own GPUs, numbered from 0.
// Podman's configuration: CONTAINERS_CONF as ContainersConf says (scripts/podman.sh setup writes
// the file: ulimits and a runtime that work on the machine).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "executor/executor.hpp"

namespace overdrive {

// The container of run `run_id`: "od-" + the id, characters podman refuses in a name as '-'.
std::string ContainerName(const std::string& run_id);

// What Submit checks: an image, a network name podman can take, mounts with absolute paths
// that fit `-v` (no ':' or ','). Errors name the run.
Result<void> ValidateContainer(const std::string& run_id, const ContainerSpec& c);

struct PodmanRun {
  std::string name;  // ContainerName(run_id)
  ContainerSpec container;
  std::string run_dir;                 // absolute
  std::string working_dir;             // absolute
  std::vector<std::string> env_names;  // passed as --env NAME (values from podman's environment)
  std::string command;                 // run by /bin/sh -c inside
};

// `podman run` and the options that follow from the launch (argv[0] is "podman").
std::vector<std::string> PodmanRunHead(const PodmanRun& r);
// The image and the command.
std::vector<std::string> PodmanRunTail(const PodmanRun& r);
// What depends on where the run runs: --user UID:GID, and for each of `gpu_ids` a CDI device
// plus --env CUDA_VISIBLE_DEVICES (set it to ContainerCudaVisibleDevices in podman's
// environment).
std::vector<std::string> PodmanNodeOptions(uid_t uid, gid_t gid,
                                           const std::vector<std::string>& gpu_ids);
// "0,1,..,n-1": the GPUs as the container numbers them.
std::string ContainerCudaVisibleDevices(size_t n);
// The same in POSIX sh, for the Slurm batch script: sets "$@" to PodmanNodeOptions' words, with
// the ids from `id`, and (gpus = the run asked for GPUs) the node's GPUs from SLURM_JOB_GPUS,
// else CUDA_VISIBLE_DEVICES, also exporting CUDA_VISIBLE_DEVICES=0,..,n-1. Uses od_* variables.
std::string PodmanNodeOptionsShell(bool gpus);

// The containers.conf podman should read, looked up in this order: $CONTAINERS_CONF when set
// (then nothing is changed: nullopt), else the first of ContainersConfCandidates that exists.
// nullopt also when none exists (podman's own configuration then).
// `getenv` is the environment to look in (the run's), so the shim and tests can pass theirs.
std::optional<std::string> ContainersConf(const std::function<const char*(const char*)>& getenv);
// $OVERDRIVE_CONTAINERS_CONF, /etc/overdrive/containers.conf,
// ${XDG_CONFIG_HOME:-$HOME/.config}/overdrive/containers.conf (empty entries left out).
std::vector<std::string> ContainersConfCandidates(
    const std::function<const char*(const char*)>& getenv);
// POSIX sh that exports CONTAINERS_CONF the same way (for the Slurm batch script).
std::string ContainersConfShell();

// Why a container run failed, when podman rather than the command did: `exit_code` 125 or 126
// (podman's own failures), given whether the image is in the local store and the last line of
// stderr that starts with "Error: " (podman's). "" = the exit is the command's own.
// `where` names the machine ("this machine", "node n1").
std::string ContainerFailureReason(const std::string& image, int exit_code, bool image_exists,
                                   const std::string& podman_error, const std::string& where);
// The last line of `text` that starts with "Error: " (without the prefix), "" if none.
std::string LastPodmanError(const std::string& text);

// This process's environment ("NAME=VALUE" strings) as a podman it starts should get it:
// CONTAINERS_CONF as ContainersConf says.
std::vector<std::string> PodmanProcessEnvironment();

// Runs podman with `args` (and CONTAINERS_CONF as ContainersConf says for this process's
// environment), output discarded, for at most `timeout_s`; its exit code, -1 when it could not
// run or was killed at the timeout.
int RunPodmanQuietly(const std::vector<std::string>& args, double timeout_s,
                     const std::string& podman = "podman");
// `podman image exists IMAGE`.
bool ImageExists(const std::string& image, const std::string& podman = "podman");
// Stops (SIGKILL) and removes the container `name` if there is one: the end of every path that
// stops a run early. Safe to call when it is already gone.
void RemoveContainer(const std::string& name, const std::string& podman = "podman");

}  // namespace overdrive
