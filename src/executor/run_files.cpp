#include "executor/run_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace overdrive::run_files {

std::string RankLog(int rank, bool stderr_log) {
  if (rank == 0) return stderr_log ? kStderr : kStdout;
  return "rank-" + std::to_string(rank) + (stderr_log ? ".stderr.log" : ".stdout.log");
}

const std::string& RankWrapperScript() {
  // Under mpirun the rank comes from Open MPI's or PMI's variables; "nodes" are simulated on
  // this machine, so LOCAL_RANK and NODE_RANK follow from the rank as for local pytorch runs.
  static const std::string k =
      "case $1 in\n"
      "  slurm) RANK=$SLURM_PROCID; LOCAL_RANK=$SLURM_LOCALID; NODE_RANK=$SLURM_NODEID;\n"
      "         WORLD_SIZE=$SLURM_NTASKS ;;\n"
      "  *) RANK=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-0}}};\n"
      "     LOCAL_RANK=$((RANK % $3)); NODE_RANK=$((RANK / $3));\n"
      "     WORLD_SIZE=${OMPI_COMM_WORLD_SIZE:-${PMI_SIZE:-$WORLD_SIZE}} ;;\n"
      "esac\n"
      "LOCAL_WORLD_SIZE=$3\n"
      "export RANK LOCAL_RANK NODE_RANK WORLD_SIZE LOCAL_WORLD_SIZE\n"
      "if [ \"$RANK\" != 0 ]; then\n"
      "  exec >>\"$2/rank-$RANK.stdout.log\" 2>>\"$2/rank-$RANK.stderr.log\"\n"
      "fi\n"
      "/bin/sh -c \"$4\"\n"
      "rc=$?\n"
      "if [ \"$rc\" != 0 ]; then (set -C; echo \"$RANK $rc\" >\"$2/failed_rank\") 2>/dev/null; fi\n"
      "exit \"$rc\"\n";
  return k;
}

Result<void> WriteFileAtomic(const std::filesystem::path& path, const std::string& content) {
  // The pid in the temporary name keeps two writers (an old and a new shim) from sharing it.
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(ErrorCode::kIo,
                     "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  std::string_view rest = content;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return MakeError(ErrorCode::kIo, "cannot write " + path.string() + ": " + std::strerror(err));
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return MakeError(ErrorCode::kIo, "cannot write " + path.string() + ": " + std::strerror(err));
  }
  return {};
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     "cannot read " + path.string() + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return MakeError(ErrorCode::kIo, "cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<ProcInfo> ReadProcInfo(pid_t pid) {
  auto text = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // The command name (field 2) is in parentheses and may itself hold spaces or ')': the fields
  // we want come after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(*text).substr(close + 1);
  ProcInfo info;
  int field = 2;
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (start == i) break;
    ++field;
    std::string_view tok = rest.substr(start, i - start);
    if (field == 3) info.state = tok[0];
    if (field == 22) {
      info.start_time = std::strtoull(std::string(tok).c_str(), nullptr, 10);
      return info;
    }
  }
  return std::nullopt;
}

}  // namespace overdrive::run_files
