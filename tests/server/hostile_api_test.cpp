// The server against hostile and broken requests (issue 11): each case a hostile tester found
// is replayed against a real server on loopback with a real SQLite workspace. Bounded: bodies
// are refused after the limit (the tests time that), floods are sized to the limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "raw_http.hpp"
#include "server/auth.hpp"
#include "server_test_util.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing_util::RawConnection;
using testing_util::ServerTest;
using ::testing::HasSubstr;
using ::testing::Not;

class HostileTest : public ServerTest {
 protected:
  void AddRun(Workspace& ws, const std::string& id, const std::string& exp) {
    RunRecord r;
    r.id = id;
    r.experiment_name = exp;
    r.job_type = JobType::kCommand;
    r.status = RunStatus::kCompleted;
    ASSERT_TRUE(ws.store().CreateRun(r, {}, {}).has_value());
  }
  std::string Token(Workspace& ws, Scope scope, const std::string& exp = "") {
    auto t = CreateApiToken(ws.store(), scope, exp, 0, "test");
    EXPECT_TRUE(t.has_value());
    return t ? t->secret : "";
  }
  // Sends `head` and then up to `max_bytes` of body in 1 MiB pieces while the server still
  // reads; returns the reply and how much of the body went out.
  std::pair<std::string, std::size_t> Flood(RawConnection& c, const std::string& head,
                                            std::size_t max_bytes, bool chunked) {
    EXPECT_TRUE(c.Send(head));
    std::string piece(1 << 20, '[');
    std::string chunk = chunked ? "100000\r\n" + piece + "\r\n" : piece;
    std::size_t sent = 0;
    while (sent < max_bytes && c.Send(chunk)) sent += piece.size();
    return {c.Read(3000), sent};
  }
};

// 1. A token made while the server runs applies at once, made through the server or not.
TEST_F(HostileTest, TokensApplyFromTheFirstOneMadeWhileRunning) {
  StartServer();
  EXPECT_EQ(Get("/api/v1/jobs").status, 200);
  EXPECT_EQ(Get("/api/v1/health").Json()["auth"], false);
  auto ws = OpenWs();
  std::string secret = Token(*ws, Scope::kAdmin);  // as `overdrive token create` does
  EXPECT_EQ(Get("/api/v1/jobs").status, 401);
  EXPECT_EQ(Get("/api/v1/health").Json()["auth"], true);
  token_ = secret;
  EXPECT_EQ(Get("/api/v1/jobs").status, 200);
  // Revoking every token does not open the server again.
  auto list = ws->store().ListTokens();
  ASSERT_TRUE(list.has_value());
  for (const auto& t : *list) ASSERT_TRUE(ws->store().RevokeToken(t.id).has_value());
  token_.clear();
  EXPECT_EQ(Get("/api/v1/jobs").status, 401);
}

// 2. Prefix matching sees only what the token may see; misses all read alike.
TEST_F(HostileTest, RunIdPrefixesStayInsideTheTokensExperiment) {
  StartServer();
  auto ws = OpenWs();
  AddRun(*ws, "wa1", "a");
  AddRun(*ws, "wb2", "b");
  token_ = Token(*ws, Scope::kRead, "a");
  auto r = Get("/api/v1/runs/w");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["id"], "wa1");
  EXPECT_THAT(r.body, Not(HasSubstr("wb2")));
  for (const std::string path : {"/api/v1/runs/wb", "/api/v1/runs/wb/metrics",
                                  "/api/v1/events?run=wb"}) {
    auto hidden = Get(path);
    std::string miss = path;
    miss.replace(miss.find("wb"), 2, "zq");
    auto missing = Get(miss);
    EXPECT_EQ(hidden.status, 404) << path;
    EXPECT_EQ(missing.status, 404) << miss;
    auto msg = [](const testing_util::HttpReply& x) {
      std::string m = x.Json()["error"]["message"].get<std::string>();
      auto at = m.find("'");
      return m.substr(0, at) + m.substr(m.find("'", at + 1));
    };
    EXPECT_EQ(msg(hidden), msg(missing)) << "a hidden run must read as a missing one";
  }
}

// 3. Bodies: bounded for every transfer encoding, nesting bounded, framing checked.
TEST_F(HostileTest, AChunkedBodyIsRefusedAtTheLimitNotAfterItAll) {
  ServerOptions o;
  o.limits.max_body_bytes = 2u << 20;
  StartServer(o);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.ok());
  auto start = std::chrono::steady_clock::now();
  auto [reply, sent] = Flood(c,
                             "POST /api/v1/runs/r1/metrics HTTP/1.1\r\nHost: x\r\n"
                             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                             std::size_t{200} << 20, true);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(RawConnection::Status(reply), 413) << reply.substr(0, 300);
  EXPECT_THAT(reply, HasSubstr("--max-body-mb"));
  EXPECT_LT(sent, std::size_t{100} << 20) << "the server kept reading past its 2 MiB limit";
  EXPECT_LT(s, 10.0);
  EXPECT_TRUE(c.ClosedWithin(2000)) << "the unread rest must not be parsed as a request";
  EXPECT_EQ(Get("/api/v1/health").status, 200);
}

TEST_F(HostileTest, ContentLengthsThatLieOrOverflowGetAnAnswer) {
  ServerOptions o;
  o.limits.max_body_bytes = 1u << 20;
  StartServer(o);
  struct Case {
    std::string length;
    int status;
  };
  for (const Case& k : {Case{"-5", 400}, Case{"abc", 400}, Case{"1e3", 400},
                        Case{"99999999999999999999999", 400}, Case{"1000000000000", 413},
                        Case{"2097152", 413}}) {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.ok());
    c.Send("POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: " + k.length + "\r\n\r\n{}");
    std::string reply = c.Read(3000);
    EXPECT_EQ(RawConnection::Status(reply), k.status) << k.length << ": " << reply.substr(0, 200);
    EXPECT_TRUE(c.ClosedWithin(2000)) << k.length;
  }
  RawConnection get(server_->port());
  get.Send("GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n");
  EXPECT_EQ(RawConnection::Status(get.Read(3000)), 400) << "a GET takes no body";
  RawConnection gzip(server_->port());
  gzip.Send("POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_EQ(RawConnection::Status(gzip.Read(3000)), 501);
}

TEST_F(HostileTest, DeepJsonIsRefusedBeforeItIsParsed) {
  StartServer();
  auto ws = OpenWs();
  AddRun(*ws, "r1", "exp");
  std::string deep(10u << 20, '[');
  auto start = std::chrono::steady_clock::now();
  auto r = Post("/api/v1/runs/r1/metrics", deep);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("nests deeper than 64"));
  EXPECT_LT(s, 10.0);
  // Brackets inside strings are not nesting.
  r = PostJson("/api/v1/runs/r1/metrics",
               {{"metrics", {{{"name", std::string(5000, '[')}, {"value", 1}}}}});
  EXPECT_EQ(r.status, 400) << "a 5,000-byte name is over the 250-byte limit";
  EXPECT_THAT(r.body, HasSubstr("longer than 250"));
}

TEST_F(HostileTest, AnUnauthenticatedBodyIsNotReadAsTheNextRequest) {
  StartServer();
  auto ws = OpenWs();
  (void)Token(*ws, Scope::kAdmin);
  RawConnection c(server_->port());
  std::string body = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  c.Send("POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string reply = c.Read(3000);
  EXPECT_EQ(RawConnection::Status(reply), 401);
  EXPECT_TRUE(c.ClosedWithin(2000));
  EXPECT_THAT(reply, Not(HasSubstr("\"status\":\"ok\""))) << "the body ran as a request";
}

// 9. Wrong answers: 400s, not 500s or silent substitutions.
TEST_F(HostileTest, BodiesOfTheWrongShapeAre400s) {
  StartServer();
  auto ws = OpenWs();
  AddRun(*ws, "r1", "exp");
  for (const char* body : {"null", "[]", "123", "\"str\"", "{\"expires_in_s\": 1e400}"}) {
    auto r = Post("/api/v1/tokens", body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
  }
  struct Case {
    json point;
    std::string message;
  };
  for (const Case& k : {Case{{{"name", "a"}, {"value", 1}, {"step", -1}}, "step"},
                        Case{{{"name", "a"}, {"value", 1}, {"step", 1e30}}, "step"},
                        Case{{{"name", "a"}, {"value", 1}, {"step", 1.5}}, "step"},
                        Case{{{"name", "a\nb"}, {"value", 1}}, "control character"},
                        Case{{{"name", "a"}, {"value", "x"}}, "must be a number"}}) {
    auto r = PostJson("/api/v1/runs/r1/metrics", {{"metrics", {k.point}}});
    EXPECT_EQ(r.status, 400) << k.point.dump() << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr(k.message)) << k.point.dump();
  }
  auto bad_utf8 = Post("/api/v1/runs/r1/metrics",
                       "{\"metrics\": [{\"name\": \"a\xff\", \"value\": 1}]}");
  EXPECT_EQ(bad_utf8.status, 400);
  auto big = Post("/api/v1/runs/r1/metrics", "{\"metrics\": [{\"name\": \"a\", \"value\": 1e400}]}");
  EXPECT_EQ(big.status, 400);
  EXPECT_THAT(big.body, HasSubstr("range of a double"));
  EXPECT_TRUE(ws->store().GetMetricSummaries("r1")->empty()) << "nothing refused was stored";
  // What is representable is stored as sent, NaN and infinities included.
  auto ok = PostJson("/api/v1/runs/r1/metrics",
                     {{"metrics", {{{"name", "a"}, {"value", "NaN"}, {"step", 0}},
                                   {{"name", "a"}, {"value", "-Infinity"}, {"step", 1}}}}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// 5 and 9. Code uploads: a bomb is a 413, garbage and escapes are 400s, a gzip'ed tar works.
class UploadTest : public HostileTest {
 protected:
  void SetUp() override {
    code_ = dir_.path() / "code";
    fs::create_directories(code_);
    std::ofstream(code_ / "run.sh") << "echo hi\n";
  }
  std::string Sh(const std::string& cmd) {
    std::string full = "cd '" + dir_.path().string() + "' && " + cmd;
    EXPECT_EQ(std::system(full.c_str()), 0) << cmd;
    return "";
  }
  std::string Bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  testing_util::HttpReply Submit(const std::string& tar) {
    httplib::MultipartFormDataItems items = {
        {"spec", "type: command\ncommand: sh run.sh\ncode: .\nexperiment_name: up\n", "", ""},
        {"code", tar, "code.tar", "application/x-tar"}};
    return From(client_->Post("/api/v1/jobs", Auth(), items));
  }
  fs::path code_;
};

TEST_F(UploadTest, ASparseBombIsRefusedWithoutWritingIt) {
  ServerOptions o;
  o.limits.max_unpacked_bytes = 64u << 20;
  StartServer(o);
  Sh("truncate -s 1G code/big && tar -C code -S -cf bomb.tar run.sh big && rm code/big");
  std::string tar = Bytes(dir_.path() / "bomb.tar");
  ASSERT_LT(tar.size(), 1u << 20) << "the test needs a small sparse tar";
  auto bytes = [&] {
    std::uintmax_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(workspace(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) n += it->file_size(ec);
    }
    return n;
  };
  std::uintmax_t before = bytes();
  auto r = Submit(tar);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(r.body, HasSubstr("--max-upload-unpacked-mb"));
  EXPECT_LT(bytes(), before + (1u << 20)) << "the workspace grew by the bomb";
}

TEST_F(UploadTest, GarbageAndEscapingArchivesAre400s) {
  StartServer();
  auto junk = Submit("this is not a tar");
  EXPECT_EQ(junk.status, 400) << junk.body;
  Sh("ln -s / code/evil && echo x > payload && tar -C code -cf esc.tar evil && "
     "tar -rf esc.tar --transform 's,^payload$,evil/tmp/od-escaped,' payload");
  auto esc = Submit(Bytes(dir_.path() / "esc.tar"));
  EXPECT_EQ(esc.status, 400) << esc.body;
  EXPECT_THAT(esc.body, HasSubstr("symlink"));
  EXPECT_FALSE(fs::exists("/tmp/od-escaped"));
}

// Attached environment files (attach_file: what an inline environment names outside `code:`)
// land where the job file says, and never outside the upload folder.
TEST_F(UploadTest, AttachedFilesStayInsideTheUploadFolder) {
  StartServer();
  std::string spec = "type: command\ncommand: echo hi\nexperiment_name: up\n"
                     "environment:\n  conda_file: ../envs/conda.yml\n";
  auto submit = [&](const std::string& name) {
    httplib::MultipartFormDataItems items = {
        {"spec", spec, "", ""}, {"attach_file", "dependencies: [pip]\n", name, "application/yaml"}};
    return From(client_->Post("/api/v1/jobs", Auth(), items));
  };
  for (const std::string bad : {"/etc/od-escaped.yml", "../../../../../../../../../../../../../../../"
                                                       "../../../../../tmp/od-escaped.yml"}) {
    auto r = submit(bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
  }
  EXPECT_FALSE(fs::exists("/etc/od-escaped.yml"));
  EXPECT_FALSE(fs::exists("/tmp/od-escaped.yml"));
  // Without the attachment the conda file is missing, named at its place in the job file.
  httplib::MultipartFormDataItems bare = {{"spec", spec, "", ""}};
  auto missing = From(client_->Post("/api/v1/jobs", Auth(), bare));
  EXPECT_EQ(missing.status, 400) << missing.body;
  EXPECT_THAT(missing.body, HasSubstr("conda.yml"));
  auto ok = submit("../envs/conda.yml");
  EXPECT_EQ(ok.status, 201) << ok.body;
}

TEST_F(UploadTest, AGzippedTarAsDocumentedIsAccepted) {
  StartServer();
  Sh("tar -C code -czf code.tgz run.sh");
  auto r = Submit(Bytes(dir_.path() / "code.tgz"));
  EXPECT_EQ(r.status, 201) << r.body;
}

}  // namespace
}  // namespace overdrive
