// LogTail: copies what a run's log file gained since the last call to a stream — the foreground
// `job submit`, `job resume` and `job logs -f` all follow logs this way.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>

namespace overdrive {

class LogTail {
 public:
  // `from_end`: start after what the file holds now (resuming), else from its beginning.
  LogTail(std::filesystem::path path, FILE* to, bool from_end = false);
  void Pump();

 private:
  std::filesystem::path path_;
  FILE* to_;
  std::int64_t offset_ = 0;
};

}  // namespace overdrive
