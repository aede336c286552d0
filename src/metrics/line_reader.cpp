#include "metrics/line_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/input_limits.hpp"
#include "metrics/collector.hpp"

namespace overdrive {
namespace metrics_internal {
namespace {

// Large reads keep the syscall count negligible next to parsing; the carry-over between chunks
// is at most one partial line.
constexpr std::int64_t kChunkBytes = 4 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
 private:
  int fd_;
};

}  // namespace

void WarningSink::Add(std::string message) {
  if (static_cast<int>(kept_.size()) < kMaxWarnings) {
    // Warnings quote the run's own bytes and become events that `--json` prints: keep them
    // valid UTF-8 without control characters whatever the run wrote.
    kept_.push_back(Printable(message, 4096));
  } else {
    ++dropped_;
  }
}

void WarningSink::MoveTo(std::vector<std::string>& out) {
  for (auto& w : kept_) out.push_back(std::move(w));
  if (dropped_ > 0) {
    out.push_back("... and " + std::to_string(dropped_) + " more malformed line(s)");
  }
  kept_.clear();
  dropped_ = 0;
}

std::string Snippet(std::string_view line) { return Printable(line, 80); }

Result<std::int64_t> ForEachCompleteLine(
    const std::filesystem::path& file, std::int64_t offset, std::int64_t max_bytes,
    WarningSink& warnings, const std::function<void(std::string_view, const LineInfo&)>& on_line,
    bool final_read) {
  if (offset < 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "negative offset " + std::to_string(offset) + " for " + file.string());
  }
  if (max_bytes <= 0) {
    return MakeError(ErrorCode::kInvalidInput, "max_bytes must be positive");
  }
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    // The run has not written anything yet: nothing to collect, not an error.
    if (errno == ENOENT) return offset;
    return MakeError(ErrorCode::kIo,
                     "cannot open metrics file " + file.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return MakeError(ErrorCode::kIo, "cannot stat " + file.string() + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kIo, file.string() + " is not a regular file");
  }
  const std::int64_t size = st.st_size;
  if (size < offset) {
    warnings.Add(file.filename().string() + " is shorter (" + std::to_string(size) +
                 " bytes) than the " + std::to_string(offset) +
                 " bytes already collected: it was truncated or replaced; its lines before byte " +
                 std::to_string(offset) + " are not read again");
    return offset;
  }
  const std::int64_t end = std::min(size, offset + max_bytes);

  std::string buf;
  std::int64_t read_pos = offset;   // next byte to read from the file
  std::int64_t consumed = offset;   // file offset of buf[0]
  LineInfo info;
  while (read_pos < end) {
    const std::int64_t want = std::min(kChunkBytes, end - read_pos);
    const std::size_t old = buf.size();
    buf.resize(old + static_cast<std::size_t>(want));
    const ssize_t got = ::pread(fd.get(), buf.data() + old, static_cast<std::size_t>(want),
                                static_cast<off_t>(read_pos));
    if (got < 0) {
      if (errno == EINTR) {
        buf.resize(old);
        continue;
      }
      return MakeError(ErrorCode::kIo, "cannot read " + file.string() + ": " + std::strerror(errno));
    }
    buf.resize(old + static_cast<std::size_t>(got));
    if (got == 0) break;  // the file shrank while we read it; take what we have
    read_pos += got;

    std::string_view view(buf);
    std::size_t start = 0;
    // Only the new bytes can hold the first '\n' not seen before.
    std::size_t scan = old;
    while (true) {
      const void* nl = std::memchr(view.data() + scan, '\n', view.size() - scan);
      if (nl == nullptr) break;
      const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(nl) - view.data());
      std::string_view line = view.substr(start, pos - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      info.byte_offset = consumed + static_cast<std::int64_t>(start);
      ++info.index;
      on_line(line, info);
      start = pos + 1;
      scan = start;
    }
    consumed += static_cast<std::int64_t>(start);
    buf.erase(0, start);
  }
  // The writer has ended: what follows the last '\n' at the end of the file is a whole line.
  if (final_read && read_pos >= size && !buf.empty() &&
      static_cast<std::int64_t>(buf.size()) < max_bytes) {
    std::string_view line(buf);
    if (line.back() == '\r') line.remove_suffix(1);
    info.byte_offset = consumed;
    ++info.index;
    on_line(line, info);
    consumed += static_cast<std::int64_t>(buf.size());
    buf.clear();
  }
  if (consumed == offset && static_cast<std::int64_t>(buf.size()) >= max_bytes) {
    warnings.Add(file.filename().string() + ": the line at byte " + std::to_string(offset) +
                 " is longer than " + std::to_string(max_bytes) + " bytes; skipped");
    consumed += static_cast<std::int64_t>(buf.size());
  }
  return consumed;
}

}  // namespace metrics_internal

void StepCounter::Seed(const std::string& name, std::int64_t last_step) {
  auto& next = next_[name];
  next = std::max(next, last_step + 1);
}

std::int64_t StepCounter::Next(const std::string& name) { return next_[name]++; }

void StepCounter::Observe(const std::string& name, std::int64_t step) {
  auto& next = next_[name];
  next = std::max(next, step + 1);
}

}  // namespace overdrive
