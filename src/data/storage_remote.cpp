#include "data/storage_remote.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"

extern char** environ;

namespace overdrive {
namespace fs = std::filesystem;

namespace {

std::string Base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(len);
  return out;
}

Result<std::string> Unbase64(const std::string& text) {
  std::string out(3 * ((text.size() + 3) / 4) + 1, '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
  if (len < 0 || text.empty() || text.size() % 4 != 0) {
    return MakeError(ErrorCode::kInvalidInput, "the account key is not base64");
  }
  size_t pad = 0;
  while (pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;
    for (size_t p = text.find(s); p != std::string::npos; p = text.find(s, p)) {
      text.replace(p, s.size(), "[REDACTED]");
    }
    // rclone and the Azure SDK print query strings URL-encoded.
    std::string enc = UrlEncode(s);
    for (size_t p = text.find(enc); enc != s && p != std::string::npos; p = text.find(enc, p)) {
      text.replace(p, enc.size(), "[REDACTED]");
    }
  }
  // A SAS signature in any URL rclone prints.
  for (size_t p = text.find("sig="); p != std::string::npos; p = text.find("sig=", p + 4)) {
    size_t end = text.find_first_of("& \n\"'", p);
    text.replace(p + 4, (end == std::string::npos ? text.size() : end) - p - 4, "REDACTED");
  }
  return text;
}

struct ToolRun {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs rclone with only PATH/HOME/TMPDIR from our environment plus `env` (AWS_* or
// RCLONE_* variables of the caller's shell must not change what a datastore means), stdout
// captured, stderr captured and its stats lines passed to `progress`.
Result<ToolRun> RunRclone(std::vector<std::string> args, const std::vector<std::string>& env,
                          const TransferOptions& opt) {
  std::vector<std::string> argv = {"rclone", "--log-level", "ERROR", "--retries",
                                   std::to_string(opt.retries), "--low-level-retries",
                                   std::to_string(opt.retries), "--retries-sleep", "1s"};
  if (opt.progress) {
    for (const char* a : {"--stats", "10s", "--stats-one-line", "--stats-log-level", "ERROR"}) {
      argv.push_back(a);
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs = {"RCLONE_CONFIG=/dev/null"};
  for (const char* keep : {"PATH", "HOME", "TMPDIR"}) {
    if (const char* v = std::getenv(keep)) envs.push_back(std::string(keep) + "=" + v);
  }
  envs.insert(envs.end(), env.begin(), env.end());
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return MakeError(ErrorCode::kIo, "pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return MakeError(ErrorCode::kIo, "pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<char*> a, e;
  for (auto& s : argv) a.push_back(s.data());
  a.push_back(nullptr);
  for (auto& s : envs) e.push_back(s.data());
  e.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "rclone", &fa, nullptr, a.data(), e.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return MakeError(ErrorCode::kFailedPrecondition,
                     std::string("cannot run rclone (") + std::strerror(rc) +
                         "); install it with scripts/deps.sh or apt-get install rclone");
  }
  ToolRun run;
  std::string err_line;
  const double started = MonotonicSeconds();
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (i == 0) {
        run.out.append(buf, static_cast<size_t>(n));
      } else {
        run.err.append(buf, static_cast<size_t>(n));
        if (opt.progress) {
          err_line.append(buf, static_cast<size_t>(n));
          for (size_t nl; (nl = err_line.find('\n')) != std::string::npos;) {
            std::string line = err_line.substr(0, nl);
            err_line.erase(0, nl + 1);
            // "2026/12/03 21:23:30 ERROR : 12.3 MiB / 500 MiB, 2%, 12 MiB/s, ETA 40s"
            // Only for long transfers: the first stats line comes after 10 s anyway, but a
            // short one still prints its final line.
            if (size_t p = line.find(" : ");
                p != std::string::npos && line.find('%') != std::string::npos &&
                MonotonicSeconds() - started >= 9.5) {
              opt.progress(line.substr(p + 3));
            }
          }
        }
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (opt.progress) {
    // Stats lines are not errors: keep only the rest for messages.
    std::string kept;
    for (const auto& line : Split(run.err, '\n')) {
      if (line.find('%') != std::string::npos && line.find("ETA") != std::string::npos) continue;
      if (!line.empty()) kept += line + "\n";
    }
    run.err = kept;
  }
  return run;
}

// The last meaningful lines of rclone's stderr, redacted, for an error message.
std::string ErrTail(const ToolRun& run, const std::vector<std::string>& redact) {
  std::vector<std::string> lines;
  for (auto& l : Split(run.err, '\n')) {
    std::string t = Trim(l);
    if (t.empty() || t.find("NOTICE") != std::string::npos) continue;
    // "2026/12/03 21:23:30 ERROR : x: msg" -> "x: msg"
    if (size_t p = t.find(" : "); p != std::string::npos && p < 40) t = t.substr(p + 3);
    if (t.size() > 19 && t[4] == '/' && t[7] == '/') t = t.substr(20);
    lines.push_back(t);
  }
  std::string tail;
  size_t from = lines.size() > 3 ? lines.size() - 3 : 0;
  for (size_t i = from; i < lines.size(); ++i) tail += (tail.empty() ? "" : "; ") + lines[i];
  if (tail.size() > 600) tail = tail.substr(0, 600) + "...";
  return Redact(tail, redact);
}

// A clearer word for the failures users meet most.
std::string Explain(const std::string& tail) {
  if (tail.find("AuthorizationFailure") != std::string::npos ||
      tail.find("AuthenticationFailed") != std::string::npos || tail.find("403") != std::string::npos ||
      tail.find("InvalidAccessKeyId") != std::string::npos ||
      tail.find("SignatureDoesNotMatch") != std::string::npos) {
    return "the storage refused the credentials (403): check the datastore's key or token";
  }
  if (tail.find("ContainerNotFound") != std::string::npos) return "the container does not exist";
  if (tail.find("NoSuchBucket") != std::string::npos) return "the bucket does not exist";
  if (tail.find("connection refused") != std::string::npos ||
      tail.find("no such host") != std::string::npos) {
    return "the storage cannot be reached";
  }
  if (tail.find("no space left") != std::string::npos ||
      tail.find("remaining disk space") != std::string::npos ||
      tail.find("disk quota exceeded") != std::string::npos) {
    return "the disk is full";
  }
  return "";
}

Error TransferError(const StorageRemote& r, const std::string& what, const std::string& rel,
                    const ToolRun& run) {
  std::string tail = ErrTail(run, r.redact);
  std::string why = Explain(tail);
  return Error{ErrorCode::kIo, "datastore '" + r.datastore + "': " + what + " '" + r.Url(rel) +
                                   "' failed" + (why.empty() ? "" : ": " + why) +
                                   (tail.empty() ? "" : " (rclone: " + tail + ")")};
}

}  // namespace

std::string StorageRemote::Path(const std::string& rel) const {
  if (rel.empty()) return root;
  return root + "/" + rel;
}

std::string StorageRemote::Url(const std::string& rel) const {
  return rel.empty() ? display : display + "/" + rel;
}

Result<std::string> MakeContainerSas(const std::string& account, const std::string& container,
                                     const std::string& account_key_b64, std::int64_t expiry_unix) {
  OD_ASSIGN_OR_RETURN(std::string key, Unbase64(Trim(account_key_b64)));
  std::time_t t = static_cast<std::time_t>(expiry_unix);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char se[32];
  std::strftime(se, sizeof se, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const std::string sv = "2019-12-12", sp = "racwdl";
  // The service SAS string to sign of versions 2018-11-09 to 2020-02-10.
  std::string to_sign = sp + "\n\n" + se + "\n/blob/" + account + "/" + container + "\n\n\n\n" + sv +
                        "\nc\n\n\n\n\n\n";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(to_sign.data()), to_sign.size(), mac, &mac_len);
  return "sv=" + sv + "&se=" + UrlEncode(se) + "&sr=c&sp=" + sp + "&sig=" + UrlEncode(Base64(mac, mac_len));
}

Result<StorageRemote> MakeStorageRemote(const DatastoreSpec& ds, const std::string& credential) {
  StorageRemote r;
  r.datastore = ds.name;
  r.display = ds.Describe();
  if (!credential.empty()) r.redact.push_back(credential);
  if (ds.type == "local") {
    r.local = true;
    r.root = ds.path;
    r.display = ds.path;
    return r;
  }
  if (ds.type == "s3") {
    r.root = "od:" + ds.bucket;
    r.display = "s3://" + ds.bucket;
    r.env = {"RCLONE_CONFIG_OD_TYPE=s3", "RCLONE_CONFIG_OD_PROVIDER=" + std::string(ds.endpoint.empty() ? "AWS" : "Other"),
             "RCLONE_CONFIG_OD_FORCE_PATH_STYLE=true", "RCLONE_CONFIG_OD_ENV_AUTH=false"};
    if (!ds.endpoint.empty()) r.env.push_back("RCLONE_CONFIG_OD_ENDPOINT=" + ds.endpoint);
    if (!ds.region.empty()) r.env.push_back("RCLONE_CONFIG_OD_REGION=" + ds.region);
    if (!ds.access_key_id.empty()) {
      r.env.push_back("RCLONE_CONFIG_OD_ACCESS_KEY_ID=" + ds.access_key_id);
      r.env.push_back("RCLONE_CONFIG_OD_SECRET_ACCESS_KEY=" + credential);
    }
    return r;
  }
  // azure_blob: always through a container SAS URL (an account key becomes a one-hour SAS).
  std::string base = ds.endpoint.find("://") != std::string::npos
                         ? ds.endpoint
                         : ds.protocol + "://" + ds.account_name + ".blob." + ds.endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string container_url = base + "/" + ds.container_name;
  std::string sas;
  if (ds.credential_kind == "account_key") {
    OD_ASSIGN_OR_RETURN(sas, MakeContainerSas(ds.account_name, ds.container_name, credential,
                                              static_cast<std::int64_t>(std::time(nullptr)) + 3600));
  } else if (ds.credential_kind == "sas_token") {
    sas = credential;
  }
  r.redact.push_back(sas);
  r.root = "od:" + ds.container_name;
  r.display = container_url;
  r.env = {"RCLONE_CONFIG_OD_TYPE=azureblob"};
  if (sas.empty()) {
    // Anonymous access to a public container.
    r.env.push_back("RCLONE_CONFIG_OD_SAS_URL=" + container_url);
  } else {
    r.env.push_back("RCLONE_CONFIG_OD_SAS_URL=" + container_url + "?" + sas);
  }
  return r;
}

Result<void> CheckRclone() {
  TransferOptions opt;
  OD_ASSIGN_OR_RETURN(ToolRun run, RunRclone({"version"}, {}, opt));
  if (run.exit_code != 0) return MakeError(ErrorCode::kFailedPrecondition, "rclone does not run");
  return {};
}

Result<std::vector<RemoteObject>> ListRemote(const StorageRemote& r, const std::string& rel,
                                             const TransferOptions& opt) {
  std::vector<RemoteObject> out;
  if (r.local) {
    fs::path p = rel.empty() ? fs::path(r.root) : fs::path(r.root) / rel;
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (!fs::exists(st)) {
      return MakeError(ErrorCode::kNotFound, "datastore '" + r.datastore + "': nothing at '" +
                                                 p.string() + "'");
    }
    if (fs::is_regular_file(st)) {
      out.push_back({p.filename().string(), static_cast<std::int64_t>(fs::file_size(p, ec)), "",
                     std::to_string(fs::last_write_time(p, ec).time_since_epoch().count())});
      return out;
    }
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      out.push_back({fs::relative(it->path(), p, ec).string(),
                     static_cast<std::int64_t>(it->file_size(ec)), "",
                     std::to_string(it->last_write_time(ec).time_since_epoch().count())});
    }
    return out;
  }
  OD_ASSIGN_OR_RETURN(ToolRun run, RunRclone({"lsjson", "-R", "--files-only", "--hash", r.Path(rel)},
                                             r.env, opt));
  if (run.exit_code != 0) {
    if (run.exit_code == 3 || run.err.find("directory not found") != std::string::npos) {
      // Maybe a file: lsjson of a file's path lists its folder's match only with --stat.
      OD_ASSIGN_OR_RETURN(ToolRun one, RunRclone({"lsjson", "--stat", "--hash", r.Path(rel)}, r.env, opt));
      if (one.exit_code == 0) run = one;
    }
    if (run.exit_code != 0) {
      std::string tail = ErrTail(run, r.redact);
      if ((run.exit_code == 3 || tail.find("not found") != std::string::npos) &&
          Explain(tail).empty()) {
        return MakeError(ErrorCode::kNotFound,
                         "datastore '" + r.datastore + "': nothing at '" + r.Url(rel) + "'");
      }
      return std::unexpected(TransferError(r, "listing", rel, run));
    }
  }
  try {
    auto j = nlohmann::json::parse(run.out);
    if (j.is_object()) j = nlohmann::json::array({j});
    for (const auto& o : j) {
      if (o.value("IsDir", false)) continue;
      RemoteObject ob;
      ob.path = o.value("Path", "");
      ob.size = o.value("Size", std::int64_t{0});
      ob.mod_time = o.value("ModTime", "");
      if (o.contains("Hashes") && o["Hashes"].is_object()) {
        for (const auto& [k, v] : o["Hashes"].items()) {
          if (v.is_string() && !v.get<std::string>().empty()) ob.hash = k + ":" + v.get<std::string>();
        }
      }
      out.push_back(std::move(ob));
    }
    // Blob containers and buckets have no empty folders: nothing listed is nothing there.
    if (out.empty()) {
      return MakeError(ErrorCode::kNotFound,
                       "datastore '" + r.datastore + "': nothing at '" + r.Url(rel) + "'");
    }
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kIo, "datastore '" + r.datastore + "': rclone's listing of '" +
                                         r.Url(rel) + "' could not be read: " + e.what());
  }
  return out;
}

Result<void> CopyFromRemote(const StorageRemote& r, const std::string& rel, bool is_file,
                            const fs::path& dest, const TransferOptions& opt) {
  std::string src = r.local ? (rel.empty() ? r.root : r.root + "/" + rel) : r.Path(rel);
  OD_ASSIGN_OR_RETURN(ToolRun run, RunRclone({is_file ? "copyto" : "copy", src, dest.string()},
                                             r.env, opt));
  if (run.exit_code != 0) return std::unexpected(TransferError(r, "copying", rel, run));
  return {};
}

Result<void> CopyToRemote(const StorageRemote& r, const fs::path& src, const std::string& rel,
                          const TransferOptions& opt) {
  std::error_code ec;
  bool is_file = fs::is_regular_file(src, ec);
  std::string dest = r.local ? (rel.empty() ? r.root : r.root + "/" + rel) : r.Path(rel);
  OD_ASSIGN_OR_RETURN(ToolRun run, RunRclone({is_file ? "copyto" : "copy", src.string(), dest},
                                             r.env, opt));
  if (run.exit_code != 0) return std::unexpected(TransferError(r, "uploading to", rel, run));
  return {};
}

namespace {
// https://host/a/b.csv -> {"https://host/a", "b.csv"}
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  std::string u = url;
  if (size_t q = u.find('?'); q != std::string::npos) u = u.substr(0, q);
  size_t slash = u.rfind('/');
  return {u.substr(0, slash), u.substr(slash + 1)};
}
}  // namespace

Result<std::string> UrlIdentity(const std::string& url, const TransferOptions& opt) {
  auto [dir, name] = SplitUrl(url);
  OD_ASSIGN_OR_RETURN(ToolRun run, RunRclone({"lsjson", "--stat", "--http-url", dir, ":http:" + name},
                                             {}, opt));
  if (run.exit_code != 0) {
    std::string tail = ErrTail(run, {});
    if (run.exit_code == 3 || tail.find("not found") != std::string::npos) {
      return MakeError(ErrorCode::kNotFound, "nothing at '" + url + "' (" + tail + ")");
    }
    return MakeError(ErrorCode::kIo, "cannot reach '" + url + "': " + tail);
  }
  try {
    auto j = nlohmann::json::parse(run.out);
    return std::to_string(j.value("Size", std::int64_t{-1})) + "@" + j.value("ModTime", "");
  } catch (const std::exception&) {
    return std::string();
  }
}

Result<void> CopyUrl(const std::string& url, const fs::path& dest, const TransferOptions& opt) {
  OD_ASSIGN_OR_RETURN(ToolRun run, RunRclone({"copyurl", url, dest.string()}, {}, opt));
  if (run.exit_code != 0) {
    return MakeError(ErrorCode::kIo, "downloading '" + url + "' failed: " + ErrTail(run, {}));
  }
  return {};
}

}  // namespace overdrive
