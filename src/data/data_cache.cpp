#include "data/data_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "common/input_limits.hpp"

namespace overdrive {
namespace fs = std::filesystem;

namespace {

class Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock() {
    if (fd_ >= 0) ::close(fd_);
  }
  // kind: LOCK_EX or LOCK_SH; `wait`: block, else try once.
  Result<bool> Take(const fs::path& path, int kind, bool wait, const std::function<void()>& waiting) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return MakeError(ErrorCode::kIo, "cannot open the cache lock " + path.string());
    if (::flock(fd_, kind | LOCK_NB) == 0) return true;
    if (!wait) return false;
    if (waiting) waiting();
    while (::flock(fd_, kind) != 0) {
      if (errno != EINTR) return MakeError(ErrorCode::kIo, "cannot lock " + path.string());
    }
    return true;
  }

 private:
  int fd_ = -1;
};

std::int64_t TreeBytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return static_cast<std::int64_t>(fs::file_size(p, ec));
  std::int64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += static_cast<std::int64_t>(it->file_size(ec));
  }
  return total;
}

void Touch(const fs::path& used) {
  std::ofstream(used, std::ios::trunc) << "";
  std::error_code ec;
  fs::last_write_time(used, fs::file_time_type::clock::now(), ec);
}

}  // namespace

Result<std::int64_t> DataCacheLimitBytes() {
  OD_ASSIGN_OR_RETURN(std::int64_t mb, EnvLimit("OVERDRIVE_DATA_CACHE_MB", 20 * 1024));
  return mb << 20;
}

Result<DataCache::Entry> DataCache::Get(const std::string& key,
                                        const std::function<Result<void>(const fs::path&)>& fill,
                                        const std::function<void()>& waiting) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create the data cache " + root_.string() + ": " + ec.message());
  fs::path dir = root_ / key;
  Entry e;
  e.data = dir / "data";
  Lock lock;
  OD_ASSIGN_OR_RETURN(bool got, lock.Take(root_ / (key + ".lock"), LOCK_EX, true, waiting));
  (void)got;
  if (fs::exists(dir / "ready", ec)) {
    e.hit = true;
    Touch(dir / "used");
    e.bytes = TreeBytes(e.data);
    return e;
  }
  fs::path tmp = root_ / ("tmp-" + key + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::remove_all(dir, ec);  // an entry without `ready` is a crashed fill's: never used
  fs::create_directories(tmp, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + tmp.string() + ": " + ec.message());
  if (auto r = fill(tmp); !r) {
    fs::remove_all(tmp, ec);
    return std::unexpected(r.error());
  }
  std::ofstream(tmp / "ready") << key << "\n";
  Touch(tmp / "used");
  fs::rename(tmp, dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    return MakeError(ErrorCode::kIo, "cannot move the cache entry into place: " + ec.message());
  }
  e.bytes = TreeBytes(e.data);
  if (max_bytes_ > 0) (void)Evict(key);
  return e;
}

Result<std::int64_t> DataCache::Evict(const std::string& keep_key) {
  std::error_code ec;
  struct Item {
    std::string key;
    fs::file_time_type used;
    std::int64_t bytes;
  };
  std::vector<Item> items;
  std::int64_t total = 0;
  for (const auto& d : fs::directory_iterator(root_, ec)) {
    if (!d.is_directory(ec) || !fs::exists(d.path() / "ready", ec)) continue;
    Item it{d.path().filename().string(), fs::last_write_time(d.path() / "used", ec),
            TreeBytes(d.path() / "data")};
    total += it.bytes;
    items.push_back(std::move(it));
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.used < b.used; });
  std::int64_t freed = 0;
  for (const auto& it : items) {
    if (max_bytes_ <= 0 || total <= max_bytes_) break;
    if (it.key == keep_key) continue;
    Lock lock;
    OD_ASSIGN_OR_RETURN(bool got, lock.Take(root_ / (it.key + ".lock"), LOCK_EX, false, {}));
    if (!got) continue;  // being filled or read
    // Renamed first, so no reader ever sees half an entry.
    fs::path gone = root_ / ("gone-" + it.key + "-" + std::to_string(::getpid()));
    fs::rename(root_ / it.key, gone, ec);
    if (ec) continue;
    fs::remove_all(gone, ec);
    total -= it.bytes;
    freed += it.bytes;
  }
  return freed;
}

}  // namespace overdrive
