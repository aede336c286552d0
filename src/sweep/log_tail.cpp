#include "sweep/log_tail.hpp"

#include <fstream>

namespace overdrive {

LogTail::LogTail(std::filesystem::path path, FILE* to, bool from_end)
    : path_(std::move(path)), to_(to) {
  std::error_code ec;
  if (from_end && std::filesystem::exists(path_, ec)) {
    offset_ = static_cast<std::int64_t>(std::filesystem::file_size(path_, ec));
  }
}

void LogTail::Pump() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(offset_);
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    auto n = in.gcount();
    std::fwrite(buf, 1, static_cast<size_t>(n), to_);
    offset_ += n;
  }
  std::fflush(to_);
}

void LogTail::PumpFrom(
    const std::function<Result<std::string>(std::int64_t, std::int64_t)>& read) {
  for (;;) {
    auto data = read(offset_, 1 << 20);
    if (!data || data->empty()) break;
    std::fwrite(data->data(), 1, data->size(), to_);
    offset_ += static_cast<std::int64_t>(data->size());
  }
  std::fflush(to_);
}

}  // namespace overdrive
