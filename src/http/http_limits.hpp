// What keeps an httplib server (`overdrive server`, `overdrive serve`) answering under hostile
// or broken clients: one thread per
// connection up to a limit (idle and slow clients cannot starve the rest), and one path that
// reads every request body within the limits whatever its transfer encoding. Refusals that
// leave a body unread close the connection after the reply, so the rest of the body is never
// read as if it were the next request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include <httplib.h>

namespace overdrive {

// The JSON body of an error reply in the server's own shape: the team server's
// {"error": {"code", "message"}} (DefaultErrorBody), the scoring endpoint's {"error": message}.
using ErrorBody = std::function<std::string(int status, const std::string& code,
                                            const std::string& message)>;
std::string DefaultErrorBody(int status, const std::string& code, const std::string& message);

struct HttpLimits {
  std::size_t max_body_bytes = 16u << 20;     // JSON bodies (REST, MLflow); 413 past it
  std::size_t max_upload_bytes = 256u << 20;  // POST /api/v1/jobs (job file + code tar)
  std::int64_t max_unpacked_bytes = std::int64_t{1} << 30;  // what an uploaded tar unpacks to
  int max_json_depth = 64;                    // nesting of arrays/objects in a JSON body
  int max_connections = 1024;                 // open connections served at once; more wait
  int read_timeout_s = 10;                    // a client silent this long mid-request is dropped
  int idle_timeout_s = 5;                     // a kept-alive connection idle this long is closed
};

// httplib's task queue: a thread per connection, started on demand and kept a while for the
// next one, at most `max` at once; connections beyond that wait for a free thread.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(int max) : max_(max > 0 ? max : 1) {}
  ~ConnectionThreads() override { shutdown(); }
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;
  int busy() const { return busy_.load(); }

 private:
  void Work();  // a thread's loop: serve queued connections, end after a minute idle
  const int max_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<std::function<void()>> queue_;
  int threads_ = 0, idle_ = 0;
  bool stopping_ = false;
  std::atomic<int> busy_{0};
};

// Sends `status` with a JSON error (and `extra` headers) straight to the client of `req` and
// closes the connection once the client has had a moment to read it. For refusals that leave
// a request body unread. Returns false when the connection's socket could not be found (the
// caller then answers normally).
bool ReplyAndClose(const httplib::Request& req, int status, const std::string& code,
                   const std::string& message, const ErrorBody& body = DefaultErrorBody);
// The same with a reply already made (status, headers, body).
bool ReplyAndClose(const httplib::Request& req, const httplib::Response& res);

// Whether the request says it carries a body (Content-Length > 0 or a Transfer-Encoding).
bool DeclaresBody(const httplib::Request& req);

// Checks a request's framing before anything reads its body: a Content-Length that is not a
// plain number, a Transfer-Encoding other than chunked, a body on a method that takes none,
// or a declared length over `max_body`. Returns true (and has answered and closed) when the
// request is refused.
bool RefuseBadFraming(const httplib::Request& req, httplib::Response& res, std::size_t max_body,
                      const ErrorBody& body = DefaultErrorBody);

// Registers a POST route whose body is read here: at most `max_body` bytes whatever the
// transfer encoding (413 and the connection closed past it), JSON-looking bodies no deeper
// than `max_json_depth` (400), multipart forms parsed into req.files. `handler` then runs
// with req.body / req.files filled as httplib would have.
void PostWithBody(httplib::Server& http, const std::string& pattern, std::size_t max_body,
                  int max_json_depth, httplib::Server::Handler handler,
                  ErrorBody body = DefaultErrorBody);

// Request bodies are large, short-lived buffers on many threads. glibc raises its mmap
// threshold after the first large free, so later bodies come from per-thread heaps it keeps
// (100 refused 10 MB bodies left a server at twice its size); a fixed threshold keeps such
// buffers mapped on their own and returned when freed. Process-wide: call it in a server.
void TuneAllocatorForRequestBodies();

// After bind: httplib listens with a backlog of 5, so a burst of connections waits for SYN
// retries (1 s, 3 s, ...). `fd` is the listening socket (seen in set_socket_options).
void RaiseListenBacklog(int fd);

}  // namespace overdrive
