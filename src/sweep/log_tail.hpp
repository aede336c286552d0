// LogTail: copies what a run's log file gained since the last call to a stream — the foreground
// `job submit`, `job resume` and `job logs -f` all follow logs this way.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "common/result.hpp"

namespace overdrive {

class LogTail {
 public:
  // `from_end`: start after what the file holds now (resuming), else from its beginning.
  LogTail(std::filesystem::path path, FILE* to, bool from_end = false);
  void Pump();
  // Copies what `read(offset, max_bytes)` gives from where Pump stopped, until it gives nothing:
  // for a run that ended and whose folder was emptied, its log as the artifact store keeps it
  // (the same bytes). A read error ends it quietly.
  void PumpFrom(const std::function<Result<std::string>(std::int64_t, std::int64_t)>& read);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  FILE* to_;
  std::int64_t offset_ = 0;
};

}  // namespace overdrive
