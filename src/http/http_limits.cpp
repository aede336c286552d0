#include "http/http_limits.hpp"

#include <dirent.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/input_limits.hpp"
#include <nlohmann/json.hpp>

namespace overdrive {

// --- Connections -------------------------------------------------------------------------------

void ConnectionThreads::enqueue(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(fn));
  if (static_cast<int>(queue_.size()) > idle_ && threads_ < max_) {
    ++threads_;
    std::thread([this] { Work(); }).detach();
  } else {
    cv_.notify_one();
  }
}

void ConnectionThreads::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (queue_.empty()) {
      if (stopping_) break;
      ++idle_;
      // A thread idle for a minute ends, so a burst of connections does not keep its threads.
      bool woken = cv_.wait_for(lock, std::chrono::seconds(60),
                                [&] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (!woken) break;
      continue;
    }
    auto fn = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    ++busy_;
    fn();  // serves one connection until it closes
    --busy_;
    lock.lock();
  }
  if (--threads_ == 0) done_cv_.notify_all();
}

void ConnectionThreads::shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  cv_.notify_all();
  done_cv_.wait(lock, [&] { return threads_ == 0; });
}

// --- Replies that close the connection ---------------------------------------------------------

std::string DefaultErrorBody(int, const std::string& code, const std::string& message) {
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void TuneAllocatorForRequestBodies() {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

void RaiseListenBacklog(int fd) {
  if (fd >= 0) ::listen(fd, SOMAXCONN);
}

namespace {

std::string NumericHost(const sockaddr_storage& addr, socklen_t len, int* port) {
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "";
  }
  *port = std::atoi(serv);
  return host;
}

// The socket of the connection `req` came on. httplib does not hand it to handlers: with TLS
// it is the SSL object's; otherwise the one whose two ends are the request's addresses.
int ConnectionSocket(const httplib::Request& req) {
  if (req.ssl != nullptr) return SSL_get_fd(req.ssl);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || fd == dirfd(dir)) continue;
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, self{};
    socklen_t plen = sizeof(peer), slen = sizeof(self);
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &plen) != 0 ||
        getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&self), &slen) != 0) {
      continue;
    }
    int pport = -1, sport = -1;
    if (NumericHost(peer, plen, &pport) == req.remote_addr && pport == req.remote_port &&
        NumericHost(self, slen, &sport) == req.local_addr && sport == req.local_port) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
  }
}

}  // namespace

bool ReplyAndClose(const httplib::Request& req, const httplib::Response& res) {
  int fd = ConnectionSocket(req);
  if (fd < 0) return false;
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + Reason(res.status) + "\r\n";
  for (const auto& [k, v] : res.headers) {
    if (k != "Content-Length" && k != "Connection") out += k + ": " + v + "\r\n";
  }
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\nConnection: close\r\n\r\n";
  out += res.body;
  if (req.ssl != nullptr) {
    (void)SSL_write(const_cast<SSL*>(req.ssl), out.data(), static_cast<int>(out.size()));
  } else {
    std::size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
  }
  // A lingering close: stop sending, then read and drop what the client is still sending for a
  // moment (bounded), so that it reads the reply before the connection resets under it.
  shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  std::size_t drained = 0;
  char buf[16384];
  while (drained < (8u << 20)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
  // httplib's own reply to this request now fails, which ends the connection.
  shutdown(fd, SHUT_RDWR);
  return true;
}

bool ReplyAndClose(const httplib::Request& req, int status, const std::string& code,
                   const std::string& message, const ErrorBody& body) {
  httplib::Response res;
  res.status = status;
  res.body = body(status, code, message);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Content-Type", "application/json; charset=utf-8");
  return ReplyAndClose(req, res);
}

// --- Bodies ------------------------------------------------------------------------------------

bool DeclaresBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  std::string cl = req.get_header_value("Content-Length");
  return !cl.empty() && cl.find_first_not_of('0') != std::string::npos;
}

namespace {

// Answers and closes; falls back to an ordinary reply when the socket cannot be found.
void Refuse(const httplib::Request& req, httplib::Response& res, int status,
            const std::string& code, const std::string& message, const ErrorBody& body) {
  res.status = status;
  res.set_content(body(status, code, message), "application/json; charset=utf-8");
  (void)ReplyAndClose(req, res);
}

std::string Mib(std::size_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}

}  // namespace

bool RefuseBadFraming(const httplib::Request& req, httplib::Response& res, std::size_t max_body,
                      const ErrorBody& body) {
  std::string te = req.get_header_value("Transfer-Encoding");
  bool has_te = req.has_header("Transfer-Encoding");
  if (has_te && (te != "chunked" || req.get_header_value_count("Transfer-Encoding") > 1)) {
    Refuse(req, res, 501, "not_implemented",
           "Transfer-Encoding '" + Printable(te) + "' is not supported: send Content-Length or "
           "chunked", body);
    return true;
  }
  std::uint64_t length = 0;
  if (req.has_header("Content-Length")) {
    std::string cl = req.get_header_value("Content-Length");
    bool digits = !cl.empty() && cl.size() <= 19 &&
                  cl.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || req.get_header_value_count("Content-Length") > 1 || has_te) {
      Refuse(req, res, 400, "invalid_input",
             "invalid Content-Length '" + Printable(cl) +
                 "': one non-negative number, and not together with Transfer-Encoding", body);
      return true;
    }
    length = std::strtoull(cl.c_str(), nullptr, 10);
  }
  bool has_body = has_te || length > 0;
  if (has_body && req.method != "POST") {
    Refuse(req, res, 400, "invalid_input", "a " + req.method + " request takes no body", body);
    return true;
  }
  if (length > max_body) {
    Refuse(req, res, 413, "too_large",
           "the request body (" + std::to_string(length) + " bytes) is larger than this "
           "server's limit of " + Mib(max_body) + " (--max-body-mb / "
           "--max-upload-mb)", body);
    return true;
  }
  if (has_te && req.is_multipart_form_data()) {
    Refuse(req, res, 411, "length_required",
           "multipart uploads need a Content-Length (not chunked transfer encoding)", body);
    return true;
  }
  return false;
}

void PostWithBody(httplib::Server& http, const std::string& pattern, std::size_t max_body,
                  int max_json_depth, httplib::Server::Handler handler, ErrorBody body) {
  http.Post(pattern, [=](const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
    // httplib's request object is not const (it is filled in before it reaches here); the
    // body and form fields are set on it as httplib's own reader would.
    auto& r = const_cast<httplib::Request&>(req);
    std::size_t total = 0;
    bool too_large = false;
    auto take = [&](std::string& into, const char* data, std::size_t n) {
      if (total + n > max_body) {
        too_large = true;
        return false;
      }
      total += n;
      into.append(data, n);
      return true;
    };
    bool ok;
    if (req.is_multipart_form_data()) {
      httplib::MultipartFormData* part = nullptr;
      ok = reader(
          [&](const httplib::MultipartFormData& f) {
            part = &r.files.emplace(f.name, f)->second;
            return true;
          },
          [&](const char* data, std::size_t n) { return part && take(part->content, data, n); });
    } else if (!DeclaresBody(req)) {
      ok = true;  // httplib would read a body without a length until the client closes
    } else {
      std::string cl = req.get_header_value("Content-Length");
      if (!cl.empty()) r.body.reserve(std::min<std::size_t>(std::strtoull(cl.c_str(), nullptr, 10), max_body));
      ok = reader([&](const char* data, std::size_t n) { return take(r.body, data, n); });
    }
    if (too_large) {
      return Refuse(req, res, 413, "too_large",
                    "the request body is larger than this server's limit of " + Mib(max_body) +
                        " (--max-body-mb / --max-upload-mb)", body);
    }
    if (!ok) {
      return Refuse(req, res, 400, "invalid_input",
                    "could not read the request body (malformed chunked encoding or multipart "
                    "form, or the client stopped sending)", body);
    }
    std::size_t first = r.body.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && (r.body[first] == '[' || r.body[first] == '{') &&
        JsonNestingDepth(r.body, max_json_depth) > max_json_depth) {
      res.status = 400;
      return res.set_content(body(400, "invalid_input",
                                  "the JSON body nests deeper than " +
                                      std::to_string(max_json_depth) + " levels (--max-json-depth)"),
                             "application/json; charset=utf-8");
    }
    handler(req, res);
  });
}

}  // namespace overdrive
