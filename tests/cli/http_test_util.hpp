// HTTP from CLI tests with nothing but sockets: one request per connection (HTTP/1.0), and an
// `overdrive serve` process started on a free port, waited for until ready, stopped at the end.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.hpp"

namespace overdrive::testing {

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// One HTTP/1.0 request over a fresh connection to 127.0.0.1 (the server closes it after the
// reply).
inline HttpReply Http(int port, const std::string& method, const std::string& path,
                      const std::string& body = "") {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return reply;
  }
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" +
                    "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!write(fd, req.data(), req.size());
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t sp = raw.find(' ');
  size_t head_end = raw.find("\r\n\r\n");
  if (sp == std::string::npos || head_end == std::string::npos) return reply;
  reply.status = std::atoi(raw.c_str() + sp + 1);
  reply.body = raw.substr(head_end + 4);
  return reply;
}

// A port nothing listens on now (an ephemeral one, released).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// `overdrive serve ARGS... --port P`, started by `spawn` (CliTest::Spawn), stopped (SIGTERM)
// when destroyed.
class ServeProcess {
 public:
  template <typename SpawnFn>
  ServeProcess(SpawnFn spawn, std::vector<std::string> args) : port_(FreePort()) {
    args.insert(args.begin(), "serve");
    args.push_back("--port");
    args.push_back(std::to_string(port_));
    pid_ = spawn(args);
  }
  ~ServeProcess() { Stop(); }
  // Waits until /health says ready (up to `seconds`).
  bool WaitReady(double seconds = 30) {
    for (int i = 0; i < seconds * 10; ++i) {
      HttpReply health = Http(port_, "GET", "/health");
      if (health.status == 200 &&
          nlohmann::json::parse(health.body, nullptr, false).value("status", "") == "ready") {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // SIGTERM, then the exit status (-1 when already stopped).
  int Stop() {
    if (pid_ <= 0) return -1;
    int status = 0;
    if (kill(pid_, SIGTERM) == 0) waitpid(pid_, &status, 0);
    pid_ = 0;
    return status;
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  pid_t pid_ = 0;
};

}  // namespace overdrive::testing
