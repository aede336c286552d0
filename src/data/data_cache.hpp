// The node-local cache of job inputs (issue 14): one copy per content key (a digest of what the
// storage says about the bytes: sizes, MD5s or ETags, modification times), shared by every run
// and process on the machine.
//   - one filler per key across processes (flock on <key>.lock); the others wait and reuse it,
//     so a sweep of 100 trials reading one asset transfers it once;
//   - an entry becomes visible only when whole: it is filled in tmp-<key>-<pid> and renamed into
//     place, so a crash or a failed transfer leaves nothing a later run could take for data;
//   - a size limit with least-recently-used eviction (the time of the entry's `used` file, which
//     every run that takes the entry touches); an entry being filled is never evicted, and an
//     evicted entry is renamed away before it is deleted. A limit below what running trials read
//     at once can evict an entry a trial still reads: size it above the working set.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "common/result.hpp"

namespace overdrive {

class DataCache {
 public:
  // `max_bytes` 0 = no limit.
  DataCache(std::filesystem::path root, std::int64_t max_bytes)
      : root_(std::move(root)), max_bytes_(max_bytes) {}

  struct Entry {
    std::filesystem::path data;  // the file or folder
    bool hit = false;            // it was there already (no transfer)
    std::int64_t bytes = 0;
  };
  // The entry of `key` (hex), filled by `fill(dir)` when missing: `fill` puts the content at
  // `dir / "data"`. `waiting` is called once when another process is filling it.
  Result<Entry> Get(const std::string& key,
                    const std::function<Result<void>(const std::filesystem::path& dir)>& fill,
                    const std::function<void()>& waiting = {});
  // Removes least recently used entries until the cache holds at most `max_bytes` (entries
  // locked by a filler are skipped). Returns the bytes freed.
  Result<std::int64_t> Evict(const std::string& keep_key = "");
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  std::int64_t max_bytes_;
};

// The default limit: $OVERDRIVE_DATA_CACHE_MB MiB, else 20 GiB.
Result<std::int64_t> DataCacheLimitBytes();

}  // namespace overdrive
