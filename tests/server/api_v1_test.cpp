// The REST API against a real server on loopback with a real SQLite workspace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/auth.hpp"
#include "server_test_util.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace {

using testing_util::ServerTest;
using ::testing::HasSubstr;

TEST_F(ServerTest, HealthSaysReadyWithoutTokens) {
  StartServer();
  auto r = Get("/api/v1/health");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["status"], "ok");
  EXPECT_EQ(r.Json()["store"], "sqlite");
  EXPECT_EQ(r.Json()["auth"], false);
}

TEST_F(ServerTest, UnknownEndpointsAndRunsAreJsonErrors) {
  StartServer();
  auto r = Get("/api/v1/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json()["error"]["code"], "not_found");
  r = Get("/api/v1/runs/doesnotexist");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.Json()["error"]["message"].get<std::string>(), HasSubstr("doesnotexist"));
}

}  // namespace
}  // namespace overdrive
