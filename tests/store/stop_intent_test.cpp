// The stop-intent codec (records.hpp): what RunTracker::Stop writes before it signals a run, and
// what a resumed controller and the REST API read back, in the current and the older form.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "store/records.hpp"

namespace overdrive {
namespace {

TEST(StopIntentTest, EncodeWritesOneKindWithAJsonPayloadThatDecodesBack) {
  for (RunStatus status : {RunStatus::kCanceled, RunStatus::kEarlyTerminated,
                           RunStatus::kTimedOut, RunStatus::kFailed, RunStatus::kCompleted}) {
    for (std::string reason : {"", "canceled by user", "bandit: 0.5 < 0.9 \"quoted\" \\ ; stop:x\n"}) {
      RunEvent e = EncodeStopIntent({status, reason}, 12.5);
      EXPECT_EQ(e.kind, kStopEventKind);
      EXPECT_EQ(e.kind, "stop");
      EXPECT_DOUBLE_EQ(e.timestamp, 12.5);
      EXPECT_TRUE(IsStopIntentEvent(e));
      auto back = DecodeStopIntent(e);
      ASSERT_TRUE(back.has_value()) << e.message;
      EXPECT_EQ(back->status, status);
      EXPECT_EQ(back->reason, reason);
    }
  }
  EXPECT_EQ(EncodeStopIntent({RunStatus::kEarlyTerminated, "why"}, 0).message,
            R"({"reason":"why","status":"early_terminated"})");
}

TEST(StopIntentTest, DecodeReadsBothFormsAndNothingElse) {
  struct Case {
    std::string kind, message;
    std::optional<RunStatus> status;  // nullopt: not a readable stop intent
    std::string reason;
    bool is_stop_event;
  };
  const Case kCases[] = {
      // The current form.
      {"stop", R"({"status":"canceled","reason":"canceled by user"})", RunStatus::kCanceled,
       "canceled by user", true},
      {"stop", R"({"status":"early_terminated"})", RunStatus::kEarlyTerminated, "", true},
      {"stop", R"({"status":"early_terminated","reason":"r","extra":1})",
       RunStatus::kEarlyTerminated, "r", true},
      // Workspaces written before: "stop:<status>" with the reason as the message.
      {"stop:canceled", "interrupted (Ctrl-C)", RunStatus::kCanceled, "interrupted (Ctrl-C)", true},
      {"stop:early_terminated", "median stopping", RunStatus::kEarlyTerminated,
       "median stopping", true},
      {"stop:timed_out", "", RunStatus::kTimedOut, "", true},
      // Unreadable stop intents: still bookkeeping (never shown), but decide nothing.
      {"stop", "not json", std::nullopt, "", true},
      {"stop", "[]", std::nullopt, "", true},
      {"stop", R"({"reason":"no status"})", std::nullopt, "", true},
      {"stop", R"({"status":3})", std::nullopt, "", true},
      {"stop", R"({"status":"canceled","reason":7})", std::nullopt, "", true},
      {"stop", R"({"status":"cancelled"})", std::nullopt, "", true},
      {"stop", R"({"status":"running"})", std::nullopt, "", true},  // not a final status
      {"stop:", "x", std::nullopt, "", true},
      {"stop:Canceled", "x", std::nullopt, "", true},
      {"stop:queued", "x", std::nullopt, "", true},
      // Other events.
      {"warning", R"({"status":"canceled"})", std::nullopt, "", false},
      {"summary", "{}", std::nullopt, "", false},
      {"stopped", R"({"status":"canceled"})", std::nullopt, "", false},
      {"Stop", R"({"status":"canceled"})", std::nullopt, "", false},
      {"", "", std::nullopt, "", false},
  };
  for (const auto& c : kCases) {
    RunEvent e{1, c.kind, c.message};
    auto got = DecodeStopIntent(e);
    EXPECT_EQ(IsStopIntentEvent(e), c.is_stop_event) << c.kind << " " << c.message;
    if (!c.status) {
      EXPECT_FALSE(got.has_value()) << c.kind << " " << c.message;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << c.kind << " " << c.message;
    EXPECT_EQ(got->status, *c.status) << c.kind << " " << c.message;
    EXPECT_EQ(got->reason, c.reason) << c.kind << " " << c.message;
  }
}

TEST(LostTest, IsLostReadsTheFlagNotTheReason) {
  RunRecord r;
  r.status = RunStatus::kFailed;
  r.status_reason = "lost: the run's process vanished without an exit record";
  EXPECT_FALSE(IsLost(r));
  r.lost = true;
  EXPECT_TRUE(IsLost(r));
  r.status_reason = "";
  EXPECT_TRUE(IsLost(r));
}

}  // namespace
}  // namespace overdrive
