// Moving bytes between this machine and a datastore, by rclone (Debian's `rclone`): a remote is
// configured through RCLONE_CONFIG_* variables of the one rclone process, never a config file,
// so a credential sits in no file and on no command line. Azure account keys are turned into a
// short-lived container SAS here (HMAC-SHA256, OpenSSL), so the key itself never leaves this
// process; s3 datastores get their key pair the same way. Error messages carry rclone's words
// with every credential redacted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/data_spec.hpp"

namespace overdrive {

// An opened datastore: where rclone finds it and with what (credentials already resolved).
struct StorageRemote {
  std::string datastore;               // its name, for messages
  std::string display;                 // "http://127.0.0.1:10000/devstoreaccount1/data"
  bool local = false;                  // a folder on this machine: `root` is its path
  std::string root;                    // "od:CONTAINER", "od:BUCKET" or the local folder
  std::vector<std::string> env;        // RCLONE_CONFIG_OD_*=...
  std::vector<std::string> redact;     // strings never to show (keys, tokens, signatures)
  // The location of `rel` as rclone names it ("od:data/a/b" or "/ws/datastores/x/a/b").
  std::string Path(const std::string& rel) const;
  // A URL of `rel` for `mode: direct` inputs and messages (no credential in it).
  std::string Url(const std::string& rel) const;
};

// One object under a path, from `rclone lsjson`.
struct RemoteObject {
  std::string path;   // relative to what was listed
  std::int64_t size = 0;
  std::string hash;   // md5 when the backend keeps one, else ""
  std::string mod_time;
};

struct TransferOptions {
  int retries = 3;                  // rclone --retries and --low-level-retries
  // Called with a line of progress about every 10 s of a long transfer.
  std::function<void(const std::string&)> progress;
};

// Builds the remote of `ds`. `credential` is the credential in clear ("" when none).
Result<StorageRemote> MakeStorageRemote(const DatastoreSpec& ds, const std::string& credential);

// A service SAS for one container (read, add, create, write, delete, list), valid until
// `expiry_unix`, signed with the account key (base64). Query string without '?'.
Result<std::string> MakeContainerSas(const std::string& account, const std::string& container,
                                     const std::string& account_key_b64, std::int64_t expiry_unix);

// What is at `rel`: one object for a file, every file below it for a folder (recursive).
// kNotFound when nothing is there (blob and S3 have no empty folders; an empty local folder
// lists as empty).
Result<std::vector<RemoteObject>> ListRemote(const StorageRemote& r, const std::string& rel,
                                             const TransferOptions& opt);
// Copies `rel` (a file when `is_file`, else a folder) to the local path `dest` (the file itself,
// or a folder that receives the folder's content).
Result<void> CopyFromRemote(const StorageRemote& r, const std::string& rel, bool is_file,
                            const std::filesystem::path& dest, const TransferOptions& opt);
// Copies the local file or folder `src` to `rel` (a folder's content goes under `rel`).
Result<void> CopyToRemote(const StorageRemote& r, const std::filesystem::path& src,
                          const std::string& rel, const TransferOptions& opt);
// Downloads an http(s) URL to the file `dest`; `identity` is what the server says about it
// (size and modification time), "" when it says nothing.
Result<void> CopyUrl(const std::string& url, const std::filesystem::path& dest,
                     const TransferOptions& opt);
Result<std::string> UrlIdentity(const std::string& url, const TransferOptions& opt);

// Whether rclone runs on this machine (for a clear message before any transfer).
Result<void> CheckRclone();

}  // namespace overdrive
