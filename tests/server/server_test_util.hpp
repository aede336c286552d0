// An in-process `overdrive server` on a free loopback port with a fresh workspace, and a small
// HTTP client, for the server's tests.
#pragma once

#include <gtest/gtest.h>

#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "../store/store_test_util.hpp"
#include "server/server.hpp"
#include "sweep/workspace.hpp"

namespace overdrive::testing_util {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class ServerTest : public ::testing::Test {
 protected:
  // Starts the server; options.location.root defaults to a fresh folder.
  void StartServer(ServerOptions options = {}) {
    if (options.location.root.empty()) options.location.root = dir_.path() / "ws";
    options.port = 0;
    options.quiet = true;
    auto s = Server::Create(options);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    server_ = std::move(*s);
    auto bound = server_->Bind();
    ASSERT_TRUE(bound.has_value()) << bound.error().message;
    thread_ = std::thread([this] { server_->Run(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
    // Listening before the test goes on: a Stop() that came before the listening thread started
    // would find nothing to stop, and the join in TearDown would wait forever.
    for (int i = 0; i < 500; ++i) {
      if (auto r = client_->Get("/api/v1/health"); r) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void StopServer() {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  void TearDown() override { StopServer(); }

  httplib::Headers Auth() const {
    httplib::Headers h;
    if (!token_.empty()) h.emplace("Authorization", "Bearer " + token_);
    return h;
  }
  static HttpReply From(const httplib::Result& r) {
    HttpReply out;
    if (!r) return out;
    out.status = r->status;
    out.body = r->body;
    out.content_type = r->get_header_value("Content-Type");
    return out;
  }
  HttpReply Get(const std::string& path) { return From(client_->Get(path, Auth())); }
  HttpReply Post(const std::string& path, const std::string& body,
                 const std::string& type = "application/json") {
    return From(client_->Post(path, Auth(), body, type));
  }
  HttpReply PostJson(const std::string& path, const nlohmann::json& body) {
    return Post(path, body.dump());
  }
  HttpReply Delete(const std::string& path) { return From(client_->Delete(path, Auth())); }

  std::filesystem::path workspace() const { return dir_.path() / "ws"; }
  // The server's workspace, opened as another process would (its own store connection).
  std::unique_ptr<Workspace> OpenWs() {
    auto ws = Workspace::Open(workspace(), true);
    EXPECT_TRUE(ws.has_value()) << ws.error().message;
    return std::move(*ws);
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
  std::string token_;  // sent as a bearer token when set
};

}  // namespace overdrive::testing_util
