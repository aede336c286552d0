// The MetadataStore contract, run against every backend. To add a backend, append a
// MetadataStoreBackend to kBackends below (its factory gets a fresh scratch folder per test and
// must return an empty store). PostgreSQL runs against the server named by OVERDRIVE_TEST_PG_URL
// (`make test` starts one); without it its tests are reported as skipped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "store/metadata_store.hpp"
#include "postgres_test_util.hpp"
#include "store_test_util.hpp"

namespace overdrive {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct MetadataStoreBackend {
  std::string name;
  std::function<Result<std::unique_ptr<MetadataStore>>(const std::filesystem::path& scratch)>
      open;
  // Why this backend cannot run here (its tests are skipped), or nullopt.
  std::function<std::optional<std::string>()> unavailable = [] { return std::nullopt; };
};

const MetadataStoreBackend kBackends[] = {
    {"Sqlite",
     [](const std::filesystem::path& scratch) {
       return OpenSqliteMetadataStore((scratch / "workspace.db").string());
     }},
    // A fresh schema of the test database per test.
    {"Postgres",
     [](const std::filesystem::path&) -> Result<std::unique_ptr<MetadataStore>> {
       OD_ASSIGN_OR_RETURN(auto url,
                           testing_util::FreshPostgresSchema(*testing_util::PostgresTestUrl()));
       return OpenPostgresMetadataStore(url);
     },
     []() -> std::optional<std::string> {
       if (testing_util::PostgresTestUrl()) return std::nullopt;
       return testing_util::PostgresSkipReason();
     }},
};

// Failure messages name the backend instead of dumping its bytes.
void PrintTo(const MetadataStoreBackend& backend, std::ostream* os) { *os << backend.name; }

RunFilter Filter(std::optional<std::string> experiment, std::optional<std::string> parent = {},
                 std::optional<RunStatus> status = {}, int limit = 0) {
  RunFilter f;
  f.experiment = std::move(experiment);
  f.parent_id = std::move(parent);
  f.status = status;
  f.limit = limit;
  return f;
}

class MetadataStoreConformance : public ::testing::TestWithParam<MetadataStoreBackend> {
 protected:
  void SetUp() override {
    if (auto why = GetParam().unavailable()) GTEST_SKIP() << *why;
    auto opened = GetParam().open(scratch_.path());
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    store_ = std::move(*opened);
    auto exp = store_->GetOrCreateExperiment("exp");
    ASSERT_TRUE(exp.has_value()) << exp.error().message;
    exp_id_ = *exp;
  }

  RunRecord MakeRun(const std::string& id, double created_at, const std::string& parent = "") {
    RunRecord r;
    r.id = id;
    r.experiment_id = exp_id_;
    r.parent_id = parent;
    r.job_type = parent.empty() ? JobType::kCommand : JobType::kTrial;
    r.created_at = created_at;
    return r;
  }

  void Create(const RunRecord& r) {
    auto res = store_->CreateRun(r, {}, {});
    ASSERT_TRUE(res.has_value()) << res.error().message;
  }

  testing_util::TempDir scratch_;
  std::unique_ptr<MetadataStore> store_;
  std::int64_t exp_id_ = 0;
};

TEST_P(MetadataStoreConformance, ExperimentsAreCreatedOnceAndListed) {
  auto again = store_->GetOrCreateExperiment("exp");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, exp_id_);
  auto other = store_->GetOrCreateExperiment("another");
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(*other, exp_id_);
  auto list = store_->ListExperiments();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "another");
  EXPECT_EQ((*list)[1].name, "exp");
  EXPECT_GT((*list)[1].created_at, 0);
  auto empty = store_->GetOrCreateExperiment("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidInput);
}

TEST_P(MetadataStoreConformance, CreateRunRoundTripsEveryField) {
  Create(MakeRun("sweep1", 100));
  RunRecord r = MakeRun("trial1", 101, "sweep1");
  r.display_name = "lr search";
  r.description = "first try";
  r.tags_json = R"({"team":"vision"})";
  r.status = RunStatus::kStarting;
  r.status_reason = "why";
  r.spec_yaml = "command: python train.py\n";
  r.command = "python train.py --lr 0.1";
  r.compute = "cluster";
  r.snapshot_digest = std::string(64, 'a');
  r.run_dir = "/work/runs/trial1";
  r.executor_handle = R"({"pid":42})";
  r.launch_json = R"({"cpus":2})";
  r.exit_code = 3;
  r.started_at = 102.5;
  r.ended_at = 0;
  r.controller_pid = 77;
  r.controller_started_at = 99.25;
  r.cancel_requested = true;
  r.lost = true;
  ASSERT_TRUE(store_->CreateRun(r, {{"lr", "0.1"}, {"opt", "\"adam\""}},
                                {{5.0, "info", "created"}, {6.0, "warning", "slow"}}));
  auto got = store_->GetRun("trial1");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->id, "trial1");
  EXPECT_EQ(got->experiment_id, exp_id_);
  EXPECT_EQ(got->experiment_name, "exp");
  EXPECT_EQ(got->parent_id, "sweep1");
  EXPECT_EQ(got->job_type, JobType::kTrial);
  EXPECT_EQ(got->display_name, "lr search");
  EXPECT_EQ(got->description, "first try");
  EXPECT_EQ(got->tags_json, r.tags_json);
  EXPECT_EQ(got->status, RunStatus::kStarting);
  EXPECT_EQ(got->status_reason, "why");
  EXPECT_EQ(got->spec_yaml, r.spec_yaml);
  EXPECT_EQ(got->command, r.command);
  EXPECT_EQ(got->compute, "cluster");
  EXPECT_EQ(got->snapshot_digest, r.snapshot_digest);
  EXPECT_EQ(got->run_dir, r.run_dir);
  EXPECT_EQ(got->executor_handle, r.executor_handle);
  EXPECT_EQ(got->launch_json, r.launch_json);
  EXPECT_EQ(got->exit_code, std::optional<int>(3));
  EXPECT_DOUBLE_EQ(got->created_at, 101);
  EXPECT_DOUBLE_EQ(got->started_at, 102.5);
  EXPECT_DOUBLE_EQ(got->ended_at, 0);
  EXPECT_EQ(got->controller_pid, 77);
  EXPECT_DOUBLE_EQ(got->controller_started_at, 99.25);
  EXPECT_TRUE(got->cancel_requested);
  EXPECT_TRUE(got->lost);

  auto params = store_->GetParams("trial1");
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 2u);
  EXPECT_EQ((*params)[0].name, "lr");
  EXPECT_EQ((*params)[0].value_json, "0.1");
  EXPECT_EQ((*params)[1].value_json, "\"adam\"");
  auto events = store_->ListEvents("trial1");
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].message, "created");
  EXPECT_EQ((*events)[1].kind, "warning");
  EXPECT_DOUBLE_EQ((*events)[1].timestamp, 6.0);

  auto top = store_->GetRun("sweep1");
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->parent_id, "");
  EXPECT_EQ(top->exit_code, std::nullopt);
}

TEST_P(MetadataStoreConformance, CreateRunByExperimentNameCreatesTheExperiment) {
  RunRecord r;
  r.id = "byname";
  r.experiment_name = "fresh";
  ASSERT_TRUE(store_->CreateRun(r, {}, {}));
  auto got = store_->GetRun("byname");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->experiment_name, "fresh");
  EXPECT_GT(got->created_at, 0) << "created_at defaults to now";
}

TEST_P(MetadataStoreConformance, DuplicateRunIdIsRefusedAndKeepsTheOriginal) {
  RunRecord r = MakeRun("dup", 1);
  r.display_name = "original";
  Create(r);
  r.display_name = "impostor";
  auto res = store_->CreateRun(r, {{"x", "1"}}, {});
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kAlreadyExists);
  EXPECT_THAT(res.error().message, HasSubstr("dup"));
  EXPECT_EQ(store_->GetRun("dup")->display_name, "original");
  EXPECT_TRUE(store_->GetParams("dup")->empty()) << "the refused create stored its params";
}

TEST_P(MetadataStoreConformance, CreateRunWithUnknownExperimentOrParentIsNotFound) {
  RunRecord r = MakeRun("orphan", 1, "no-such-parent");
  auto res = store_->CreateRun(r, {}, {});
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(res.error().message, HasSubstr("no-such-parent"));
  r = MakeRun("orphan", 1);
  r.experiment_id = exp_id_ + 1000;
  res = store_->CreateRun(r, {}, {});
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetRun("orphan").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, UnknownRunIdsAreNotFoundEverywhere) {
  EXPECT_EQ(store_->GetRun("nope").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(store_->GetRun("nope").error().message, HasSubstr("nope"));
  EXPECT_EQ(store_->GetParams("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetMetricHistory("nope", "loss").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetMetricSummaries("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetCursors("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListArtifacts("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListEvents("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->AddEvent("nope", {1, "info", "x"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->AddArtifacts("nope", {{"a", "d", 1}}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->SetController("nope", 1, 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->RequestCancel("nope").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, ListRunsNewestFirstWithFilters) {
  auto other = store_->GetOrCreateExperiment("other");
  ASSERT_TRUE(other.has_value());
  Create(MakeRun("a-old", 10));
  Create(MakeRun("b-sweep", 20));
  Create(MakeRun("c-trial", 30, "b-sweep"));
  Create(MakeRun("d-trial", 40, "b-sweep"));
  RunRecord o = MakeRun("e-other", 50);
  o.experiment_id = *other;
  o.status = RunStatus::kCompleted;
  Create(o);

  auto ids = [&](const RunFilter& f) {
    std::vector<std::string> out;
    auto runs = store_->ListRuns(f);
    EXPECT_TRUE(runs.has_value());
    if (runs) {
      for (const auto& r : *runs) out.push_back(r.id);
    }
    return out;
  };
  EXPECT_THAT(ids({}), ElementsAre("e-other", "d-trial", "c-trial", "b-sweep", "a-old"));
  EXPECT_THAT(ids(Filter("exp")), ElementsAre("d-trial", "c-trial", "b-sweep", "a-old"));
  EXPECT_THAT(ids(Filter("missing")), ElementsAre());
  EXPECT_THAT(ids(Filter({}, "")), ElementsAre("e-other", "b-sweep", "a-old"));
  EXPECT_THAT(ids(Filter({}, "b-sweep")), ElementsAre("d-trial", "c-trial"));
  EXPECT_THAT(ids(Filter({}, {}, RunStatus::kCompleted)), ElementsAre("e-other"));
  EXPECT_THAT(ids(Filter("exp", "", RunStatus::kQueued)),
              ElementsAre("b-sweep", "a-old"));
  EXPECT_THAT(ids(Filter({}, {}, {}, 2)), ElementsAre("e-other", "d-trial"));

  auto runs = store_->ListRuns(Filter("other"));
  ASSERT_TRUE(runs.has_value());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].experiment_name, "other");
}

TEST_P(MetadataStoreConformance, ResolveRunIdPrefersExactThenUniquePrefix) {
  Create(MakeRun("abc", 1));
  Create(MakeRun("abcd1", 2));
  Create(MakeRun("abcd2", 3));
  Create(MakeRun("xyz9", 4));
  EXPECT_EQ(store_->ResolveRunId("abc").value(), "abc");
  EXPECT_EQ(store_->ResolveRunId("xy").value(), "xyz9");
  EXPECT_EQ(store_->ResolveRunId("abcd2").value(), "abcd2");
  auto ambiguous = store_->ResolveRunId("abcd");
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_EQ(ambiguous.error().code, ErrorCode::kInvalidInput);
  EXPECT_THAT(ambiguous.error().message, HasSubstr("abcd1"));
  EXPECT_THAT(ambiguous.error().message, HasSubstr("abcd2"));
  auto none = store_->ResolveRunId("q");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

// A caller limited to one experiment (a scoped token) must learn nothing of other experiments'
// runs from prefix matching: neither an ambiguity naming them nor a different "not found".
TEST_P(MetadataStoreConformance, ResolveRunIdWithinAnExperimentSeesOnlyItsRuns) {
  auto other = store_->GetOrCreateExperiment("other");
  ASSERT_TRUE(other.has_value());
  Create(MakeRun("wa1", 1));
  RunRecord o = MakeRun("wb2", 2);
  o.experiment_id = *other;
  Create(o);
  EXPECT_EQ(store_->ResolveRunId("w", "exp").value(), "wa1");
  EXPECT_EQ(store_->ResolveRunId("w", "other").value(), "wb2");
  EXPECT_FALSE(store_->ResolveRunId("w").has_value());  // unscoped: ambiguous
  auto hidden = store_->ResolveRunId("wb2", "exp");
  ASSERT_FALSE(hidden.has_value());
  EXPECT_EQ(hidden.error().code, ErrorCode::kNotFound);
  auto missing = store_->ResolveRunId("zz", "exp");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(hidden.error().message.substr(0, 10), missing.error().message.substr(0, 10));
}

TEST_P(MetadataStoreConformance, AmbiguousPrefixListsAtMostFiveIds) {
  for (int i = 0; i < 8; ++i) Create(MakeRun("run" + std::to_string(i), i));
  auto res = store_->ResolveRunId("run");
  ASSERT_FALSE(res.has_value());
  EXPECT_THAT(res.error().message, HasSubstr("run4"));
  EXPECT_THAT(res.error().message, ::testing::Not(HasSubstr("run5")));
}

TEST_P(MetadataStoreConformance, TransitionIsCompareAndSetAndFinalRunsNeverChange) {
  Create(MakeRun("r1", 1));
  RunUpdate start;
  start.started_at = 10;
  start.executor_handle = R"({"pid":1})";
  start.command = "python train.py";
  auto moved = store_->TransitionRun("r1", RunStatus::kRunning, start);
  ASSERT_TRUE(moved.has_value()) << moved.error().message;
  EXPECT_TRUE(*moved);
  auto run = store_->GetRun("r1").value();
  EXPECT_EQ(run.status, RunStatus::kRunning);
  EXPECT_DOUBLE_EQ(run.started_at, 10);
  EXPECT_EQ(run.executor_handle, R"({"pid":1})");
  EXPECT_EQ(run.command, "python train.py");

  RunUpdate done;
  done.ended_at = 20;
  done.exit_code = 0;
  done.status_reason = "finished";
  ASSERT_TRUE(store_->TransitionRun("r1", RunStatus::kCompleted, done).value());
  run = store_->GetRun("r1").value();
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_DOUBLE_EQ(run.started_at, 10) << "unset fields are kept";
  EXPECT_EQ(run.executor_handle, R"({"pid":1})");
  EXPECT_EQ(run.exit_code, std::optional<int>(0));

  RunUpdate late;
  late.status_reason = "killed";
  late.exit_code = 137;
  for (RunStatus to : {RunStatus::kRunning, RunStatus::kFailed, RunStatus::kCompleted}) {
    auto again = store_->TransitionRun("r1", to, late);
    ASSERT_TRUE(again.has_value());
    EXPECT_FALSE(*again) << RunStatusName(to);
  }
  run = store_->GetRun("r1").value();
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.status_reason, "finished");
  EXPECT_EQ(run.exit_code, std::optional<int>(0));

  auto missing = store_->TransitionRun("ghost", RunStatus::kRunning, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// "Lost" is a stored flag set with the final transition, read back by every read, kept when a
// later transition is refused, and independent of the reason's text.
TEST_P(MetadataStoreConformance, LostIsAFlagSetWithTheFinalTransition) {
  Create(MakeRun("lost1", 1));
  Create(MakeRun("failed1", 2));
  Create(MakeRun("prefixonly", 3));
  EXPECT_FALSE(store_->GetRun("lost1")->lost) << "a new run is not lost";
  ASSERT_TRUE(store_->TransitionRun("lost1", RunStatus::kRunning, {}).value());
  EXPECT_FALSE(IsLost(store_->GetRun("lost1").value())) << "unset: left as it is";

  RunUpdate lost;
  lost.lost = true;
  lost.status_reason = "lost: the run's process vanished without an exit record";
  lost.ended_at = 5;
  ASSERT_TRUE(store_->TransitionRun("lost1", RunStatus::kFailed, lost).value());
  RunRecord got = store_->GetRun("lost1").value();
  EXPECT_TRUE(got.lost);
  EXPECT_TRUE(IsLost(got));
  EXPECT_EQ(got.status, RunStatus::kFailed);
  EXPECT_EQ(got.status_reason, *lost.status_reason) << "the text people read stays";

  RunUpdate not_lost;
  not_lost.lost = false;
  EXPECT_FALSE(store_->TransitionRun("lost1", RunStatus::kFailed, not_lost).value());
  EXPECT_TRUE(store_->GetRun("lost1")->lost) << "a final run never changes";

  RunUpdate failed;
  failed.status_reason = "exit code 1";
  ASSERT_TRUE(store_->TransitionRun("failed1", RunStatus::kFailed, failed).value());
  EXPECT_FALSE(IsLost(store_->GetRun("failed1").value()));
  // The flag decides, not the words: a reason that reads "lost: " does not make a run lost.
  RunUpdate wording;
  wording.status_reason = "lost: my own words";
  ASSERT_TRUE(store_->TransitionRun("prefixonly", RunStatus::kFailed, wording).value());
  EXPECT_FALSE(IsLost(store_->GetRun("prefixonly").value()));

  // Lists and created runs carry it too.
  bool seen = false;
  auto listed = store_->ListRuns(Filter("exp"));
  ASSERT_TRUE(listed.has_value()) << listed.error().message;
  for (const auto& r : *listed) {
    EXPECT_EQ(r.lost, r.id == "lost1") << r.id;
    seen = seen || r.id == "lost1";
  }
  EXPECT_TRUE(seen);
  RunRecord created = MakeRun("created-lost", 4);
  created.status = RunStatus::kFailed;
  created.lost = true;
  Create(created);
  EXPECT_TRUE(store_->GetRun("created-lost")->lost);
}

TEST_P(MetadataStoreConformance, ControllerAndCancelAreRecordedUntilTheRunEnds) {
  Create(MakeRun("r1", 1));
  ASSERT_TRUE(store_->SetController("r1", 4242, 123.5));
  ASSERT_TRUE(store_->RequestCancel("r1"));
  auto run = store_->GetRun("r1").value();
  EXPECT_EQ(run.controller_pid, 4242);
  EXPECT_DOUBLE_EQ(run.controller_started_at, 123.5);
  EXPECT_TRUE(run.cancel_requested);
  ASSERT_TRUE(store_->TransitionRun("r1", RunStatus::kCanceled, {}).value());
  auto late = store_->RequestCancel("r1");
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(late.error().message, HasSubstr("canceled"));
  EXPECT_EQ(store_->SetController("r1", 1, 1).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetRun("r1")->controller_pid, 4242);
}

TEST_P(MetadataStoreConformance, IngestStoresPointsParamsAndCursors) {
  Create(MakeRun("r1", 1));
  IngestBatch b;
  b.run_id = "r1";
  b.points = {{"loss", 1, 0.9, 100}, {"loss", 0, 1.5, 99}, {"acc", 0, 0.1, 99}};
  b.params = {{"lr", "0.1"}};
  b.cursors = {{"stdout", 120}, {"metrics.jsonl", 40}};
  ASSERT_TRUE(store_->Ingest(b));
  IngestBatch b2;
  b2.run_id = "r1";
  b2.points = {{"loss", 2, 0.5, 101}};
  b2.params = {{"lr", "0.2"}, {"epochs", "3"}};
  b2.cursors = {{"stdout", 200}};
  ASSERT_TRUE(store_->Ingest(b2));

  auto loss = store_->GetMetricHistory("r1", "loss").value();
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_EQ(loss[0].step, 0);
  EXPECT_DOUBLE_EQ(loss[0].value, 1.5);
  EXPECT_DOUBLE_EQ(loss[0].timestamp, 99);
  EXPECT_EQ(loss[0].name, "loss");
  EXPECT_EQ(loss[2].step, 2);
  EXPECT_TRUE(store_->GetMetricHistory("r1", "unknown_metric")->empty());

  auto params = store_->GetParams("r1").value();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "epochs");
  EXPECT_EQ(params[1].value_json, "0.2") << "params are upserted by name";

  auto cursors = store_->GetCursors("r1").value();
  EXPECT_EQ(cursors.size(), 2u);
  EXPECT_EQ(cursors["stdout"], 200);
  EXPECT_EQ(cursors["metrics.jsonl"], 40);
}

TEST_P(MetadataStoreConformance, IngestIsAtomic) {
  IngestBatch bad;
  bad.run_id = "late";
  bad.points = {{"loss", 0, 1, 1}};
  bad.params = {{"lr", "1"}};
  bad.cursors = {{"stdout", 10}};
  auto res = store_->Ingest(bad);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kNotFound);
  // Once the run exists, nothing of the refused batch may show up in it.
  Create(MakeRun("late", 1));
  EXPECT_TRUE(store_->GetMetricHistory("late", "loss")->empty());
  EXPECT_TRUE(store_->GetParams("late")->empty());
  EXPECT_TRUE(store_->GetCursors("late")->empty());

  IngestBatch half;
  half.run_id = "late";
  half.points = {{"loss", 0, 1, 1}, {"", 1, 2, 2}};
  half.cursors = {{"stdout", 10}};
  res = store_->Ingest(half);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, ErrorCode::kInvalidInput);
  EXPECT_TRUE(store_->GetMetricHistory("late", "loss")->empty());
  EXPECT_TRUE(store_->GetCursors("late")->empty());
}

TEST_P(MetadataStoreConformance, IngestIntoAFinalRunIsAccepted) {
  Create(MakeRun("r1", 1));
  ASSERT_TRUE(store_->TransitionRun("r1", RunStatus::kFailed, {}).value());
  IngestBatch b;
  b.run_id = "r1";
  b.points = {{"loss", 7, 0.25, 5}};
  ASSERT_TRUE(store_->Ingest(b));
  EXPECT_EQ(store_->GetMetricHistory("r1", "loss")->size(), 1u);
}

TEST_P(MetadataStoreConformance, SummariesGiveCountLastMinMax) {
  Create(MakeRun("r1", 1));
  IngestBatch b;
  b.run_id = "r1";
  b.points = {{"loss", 0, 2.0, 1}, {"loss", 5, 0.7, 2}, {"loss", 3, 0.4, 3},
              {"loss", 4, 3.0, 4}, {"acc", 1, 0.5, 1},  {"acc", 0, 0.25, 1}};
  ASSERT_TRUE(store_->Ingest(b));
  auto sums = store_->GetMetricSummaries("r1").value();
  ASSERT_EQ(sums.size(), 2u);
  const auto& acc = sums[0];
  const auto& loss = sums[1];
  EXPECT_EQ(acc.name, "acc");
  EXPECT_EQ(acc.count, 2);
  EXPECT_EQ(acc.last_step, 1);
  EXPECT_DOUBLE_EQ(acc.last_value, 0.5);
  EXPECT_EQ(loss.name, "loss");
  EXPECT_EQ(loss.count, 4);
  EXPECT_EQ(loss.last_step, 5);
  EXPECT_DOUBLE_EQ(loss.last_value, 0.7) << "last = value at the highest step, not latest row";
  EXPECT_DOUBLE_EQ(loss.min_value, 0.4);
  EXPECT_DOUBLE_EQ(loss.max_value, 3.0);
  Create(MakeRun("empty", 2));
  EXPECT_TRUE(store_->GetMetricSummaries("empty")->empty());
}

// The summaries are kept up to date batch by batch: after any sequence of batches they equal the
// summary of all the points, as if computed from the full history.
TEST_P(MetadataStoreConformance, SummariesFollowEveryBatch) {
  Create(MakeRun("r1", 1));
  Create(MakeRun("r2", 2));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<MetricPoint>> batches = {
      {{"loss", 3, 0.5, 1}, {"loss", 1, 0.9, 1}, {"only_nan", 0, nan, 1}},
      {{"loss", 2, 0.1, 2}},                       // lower step: last stays at step 3
      {{"loss", 3, 0.6, 3}, {"acc", 0, nan, 3}},  // same step, written later: it is the last
      {{"acc", 1, 0.8, 4}, {"loss", 7, nan, 4}},  // NaN at the highest step is the last value
      {{"acc", 0, 0.2, 5}},
  };
  for (const auto& points : batches) ASSERT_TRUE(store_->Ingest({"r1", points, {}, {}}));
  ASSERT_TRUE(store_->Ingest({"r2", {{"loss", 9, 100, 1}}, {}, {}}));
  EXPECT_EQ(store_->Ingest({"ghost", {{"loss", 1, 1, 1}}, {}, {}}).error().code,
            ErrorCode::kNotFound);
  auto sums = store_->GetMetricSummaries("r1").value();
  ASSERT_EQ(sums.size(), 3u);
  for (const auto& sum : sums) {
    auto history = store_->GetMetricHistory("r1", sum.name).value();
    MetricSummary want = SummarizePoints(history).at(sum.name);
    SCOPED_TRACE(sum.name);
    EXPECT_EQ(sum.count, want.count);
    EXPECT_EQ(sum.last_step, want.last_step);
    if (std::isnan(want.last_value)) {
      EXPECT_TRUE(std::isnan(sum.last_value)) << sum.last_value;
    } else {
      EXPECT_DOUBLE_EQ(sum.last_value, want.last_value);
    }
    for (auto [got, ref] : {std::pair{sum.min_value, want.min_value},
                            std::pair{sum.max_value, want.max_value}}) {
      if (std::isnan(ref)) {
        EXPECT_TRUE(std::isnan(got)) << got;
      } else {
        EXPECT_DOUBLE_EQ(got, ref);
      }
    }
  }
  EXPECT_EQ(sums[1].name, "loss");
  EXPECT_EQ(sums[1].count, 5);
  EXPECT_EQ(sums[1].last_step, 7);
  EXPECT_TRUE(std::isnan(sums[1].last_value));
  EXPECT_DOUBLE_EQ(sums[1].min_value, 0.1);
  EXPECT_DOUBLE_EQ(sums[1].max_value, 0.9);
  EXPECT_EQ(sums[2].name, "only_nan");
  EXPECT_TRUE(std::isnan(sums[2].min_value));
  auto r2 = store_->GetMetricSummaries("r2").value();
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].count, 1) << "another run's points are its own";
}

TEST_P(MetadataStoreConformance, NanIsReadBackAsNanAndIgnoredByMinMax) {
  Create(MakeRun("r1", 1));
  const double inf = std::numeric_limits<double>::infinity();
  IngestBatch b;
  b.run_id = "r1";
  b.points = {{"loss", 0, 1.0, 1},
              {"loss", 1, std::numeric_limits<double>::quiet_NaN(), 2},
              {"big", 0, inf, 1},
              {"big", 1, -inf, 2}};
  ASSERT_TRUE(store_->Ingest(b));
  auto hist = store_->GetMetricHistory("r1", "loss").value();
  ASSERT_EQ(hist.size(), 2u);
  EXPECT_TRUE(std::isnan(hist[1].value));
  auto sums = store_->GetMetricSummaries("r1").value();
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[1].name, "loss");
  EXPECT_EQ(sums[1].count, 2);
  EXPECT_TRUE(std::isnan(sums[1].last_value));
  EXPECT_DOUBLE_EQ(sums[1].min_value, 1.0);
  EXPECT_DOUBLE_EQ(sums[1].max_value, 1.0);
  EXPECT_EQ(sums[0].max_value, inf);
  EXPECT_EQ(sums[0].min_value, -inf);
}

TEST_P(MetadataStoreConformance, ArtifactsAreUpsertedByPath) {
  Create(MakeRun("r1", 1));
  ASSERT_TRUE(store_->AddArtifacts("r1", {{"outputs/model.pkl", "d1", 10}, {"logs/stdout.log", "d2", 5}}));
  ASSERT_TRUE(store_->AddArtifacts("r1", {{"outputs/model.pkl", "d3", 12}}));
  auto list = store_->ListArtifacts("r1").value();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].path, "logs/stdout.log");
  EXPECT_EQ(list[1].path, "outputs/model.pkl");
  EXPECT_EQ(list[1].digest, "d3");
  EXPECT_EQ(list[1].size, 12);
}

TEST_P(MetadataStoreConformance, EventsKeepInsertionOrder) {
  Create(MakeRun("r1", 1));
  ASSERT_TRUE(store_->AddEvent("r1", {3.0, "status", "running"}));
  ASSERT_TRUE(store_->AddEvent("r1", {2.0, "warning", "clock skew"}));
  auto events = store_->ListEvents("r1").value();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].message, "running");
  EXPECT_EQ(events[1].kind, "warning");
  EXPECT_DOUBLE_EQ(events[1].timestamp, 2.0);
}

TEST_P(MetadataStoreConformance, ComputesArePutReplacedAndListed) {
  EXPECT_EQ(store_->GetCompute("gpu").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store_->PutCompute({"gpu", ComputeType::kSlurm, R"({"partition":"a"})"}));
  ASSERT_TRUE(store_->PutCompute({"cpu", ComputeType::kLocal, "{}"}));
  ASSERT_TRUE(store_->PutCompute({"gpu", ComputeType::kSlurm, R"({"partition":"b"})"}));
  EXPECT_EQ(store_->GetCompute("gpu")->config_json, R"({"partition":"b"})");
  auto list = store_->ListComputes().value();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "cpu");
  EXPECT_EQ(list[1].type, ComputeType::kSlurm);
}

ModelVersion MakeModelVersion(const std::string& model, const std::string& run_id) {
  ModelVersion v;
  v.model = model;
  v.run_id = run_id;
  v.path = "outputs/model";
  v.tags_json = R"({"team":"a"})";
  v.lineage_json = R"({"run_id":")" + run_id + R"("})";
  v.files = {{"weights.bin", "d2", 20}, {"config.json", "d1", 10}};
  return v;
}

TEST_P(MetadataStoreConformance, ModelVersionsAreNumberedPerModelAndKeepTheirFiles) {
  Create(MakeRun("r1", 1));
  auto v1 = store_->CreateModelVersion(MakeModelVersion("churn", "r1"));
  ASSERT_TRUE(v1.has_value()) << v1.error().message;
  EXPECT_EQ(v1->version, 1);
  EXPECT_GT(v1->created_at, 0);
  EXPECT_EQ(store_->CreateModelVersion(MakeModelVersion("churn", "r1"))->version, 2);
  EXPECT_EQ(store_->CreateModelVersion(MakeModelVersion("fraud", "r1"))->version, 1);

  auto got = store_->GetModelVersion("churn", 2);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->run_id, "r1");
  EXPECT_EQ(got->path, "outputs/model");
  EXPECT_EQ(got->tags_json, R"({"team":"a"})");
  EXPECT_EQ(got->lineage_json, R"({"run_id":"r1"})");
  ASSERT_EQ(got->files.size(), 2u);
  EXPECT_EQ(got->files[0].path, "config.json") << "files are ordered by path";
  EXPECT_EQ(got->files[0].digest, "d1");
  EXPECT_EQ(got->files[1].size, 20);

  // The version keeps its files whatever happens to the run's artifacts later.
  ASSERT_TRUE(store_->AddArtifacts("r1", {{"outputs/model/config.json", "changed", 1}}));
  EXPECT_EQ(store_->GetModelVersion("churn", 1)->files[0].digest, "d1");

  auto versions = store_->ListModelVersions("churn").value();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 1);
  EXPECT_EQ(versions[1].files.size(), 2u);
  EXPECT_TRUE(store_->ListModelVersions("nothing").value().empty());

  auto models = store_->ListModels().value();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "churn");
  EXPECT_EQ(models[0].versions, 2);
  EXPECT_EQ(models[0].latest_version, 2);
  EXPECT_EQ(models[1].name, "fraud");
}

TEST_P(MetadataStoreConformance, ModelVersionErrors) {
  Create(MakeRun("r1", 1));
  EXPECT_EQ(store_->CreateModelVersion(MakeModelVersion("churn", "nope")).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->CreateModelVersion(MakeModelVersion("", "r1")).error().code,
            ErrorCode::kInvalidInput);
  auto dup = MakeModelVersion("churn", "r1");
  dup.files.push_back(dup.files[0]);
  EXPECT_EQ(store_->CreateModelVersion(dup).error().code, ErrorCode::kInvalidInput);
  // Nothing of a refused version is kept: the next one is still version 1.
  EXPECT_TRUE(store_->ListModels().value().empty());
  EXPECT_EQ(store_->CreateModelVersion(MakeModelVersion("churn", "r1"))->version, 1);
  auto missing = store_->GetModelVersion("churn", 7);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message, HasSubstr("no version 7"));
}

TEST_P(MetadataStoreConformance, ModelAliasesPointAtOneVersionAndMove) {
  Create(MakeRun("r1", 1));
  ASSERT_TRUE(store_->CreateModelVersion(MakeModelVersion("churn", "r1")));
  ASSERT_TRUE(store_->CreateModelVersion(MakeModelVersion("churn", "r1")));
  EXPECT_EQ(store_->ResolveModelAlias("churn", "production").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store_->SetModelAlias("churn", "production", 1));
  ASSERT_TRUE(store_->SetModelAlias("churn", "staging", 1));
  EXPECT_EQ(store_->ResolveModelAlias("churn", "production").value(), 1);
  EXPECT_THAT(store_->GetModelVersion("churn", 1)->aliases, ElementsAre("production", "staging"));
  ASSERT_TRUE(store_->SetModelAlias("churn", "production", 2));
  EXPECT_EQ(store_->ResolveModelAlias("churn", "production").value(), 2);
  EXPECT_THAT(store_->GetModelVersion("churn", 1)->aliases, ElementsAre("staging"));
  EXPECT_THAT(store_->GetModelVersion("churn", 2)->aliases, ElementsAre("production"));
  EXPECT_EQ(store_->SetModelAlias("churn", "production", 9).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->SetModelAlias("other", "production", 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->SetModelAlias("churn", "", 1).error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(store_->ResolveModelAlias("churn", "production").value(), 2)
      << "a refused move leaves the alias where it was";
}

TEST_P(MetadataStoreConformance, RunsPageWithOffsetCountAndLightRecords) {
  RunRecord sweep = MakeRun("sweep", 1);
  sweep.spec_yaml = "type: sweep";
  sweep.launch_json = R"({"big": true})";
  Create(sweep);
  for (int i = 0; i < 7; ++i) Create(MakeRun("t" + std::to_string(i), 10 + i, "sweep"));
  RunFilter f = Filter(std::nullopt, "sweep");
  f.limit = 3;
  f.offset = 2;
  auto page = store_->ListRuns(f);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].id, "t4") << "newest first, after skipping two";
  EXPECT_EQ((*page)[2].id, "t2");
  EXPECT_EQ(store_->CountRuns(f).value(), 7) << "the count ignores limit and offset";
  EXPECT_EQ(store_->CountRuns(Filter(std::nullopt, "")).value(), 1);
  RunFilter light = Filter(std::nullopt, "");
  light.light = true;
  auto top = store_->ListRuns(light);
  ASSERT_TRUE(top.has_value());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].spec_yaml, "");
  EXPECT_EQ((*top)[0].launch_json, "");
  EXPECT_EQ(store_->GetRun("sweep")->spec_yaml, "type: sweep") << "light only skips on lists";
}

TEST_P(MetadataStoreConformance, ActivityStampMovesOnTrialStatusAndMetrics) {
  Create(MakeRun("sweep", 1));
  Create(MakeRun("t1", 2, "sweep"));
  Create(MakeRun("other", 3));
  auto s0 = store_->ActivityStamp("sweep");
  ASSERT_TRUE(s0.has_value()) << s0.error().message;
  EXPECT_EQ(store_->ActivityStamp("sweep").value(), *s0) << "nothing changed, same stamp";
  ASSERT_TRUE(store_->TransitionRun("t1", RunStatus::kRunning, {}).value());
  auto s1 = store_->ActivityStamp("sweep").value();
  EXPECT_NE(s1, *s0) << "a trial's transition moves its sweep's stamp";
  ASSERT_TRUE(store_->Ingest({"t1", {{"acc", 1, 0.5, 1}}, {}, {}}));
  auto s2 = store_->ActivityStamp("sweep").value();
  EXPECT_NE(s2, s1) << "a trial's metric point moves it";
  ASSERT_TRUE(store_->TransitionRun("t1", RunStatus::kCompleted, {}).value());
  auto s3 = store_->ActivityStamp("sweep").value();
  EXPECT_NE(s3, s2);
  ASSERT_TRUE(store_->Ingest({"other", {{"acc", 1, 0.5, 1}}, {}, {}}));
  EXPECT_EQ(store_->ActivityStamp("sweep").value(), s3) << "another run's points leave it";
  ASSERT_TRUE(store_->Ingest({"t1", {}, {{"lr", "0.1"}}, {}}));
  EXPECT_NE(store_->ActivityStamp("sweep").value(), s3) << "a trial's logged param moves it";
  EXPECT_EQ(store_->ActivityStamp("nope").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, ChildStatesShowWhatMovedPerTrial) {
  Create(MakeRun("sweep", 1));
  Create(MakeRun("t1", 2, "sweep"));
  Create(MakeRun("t2", 3, "sweep"));
  Create(MakeRun("other", 4));
  auto states = [&] {
    std::map<std::string, ChildState> out;
    auto all = store_->GetChildStates("sweep");
    EXPECT_TRUE(all.has_value()) << all.error().message;
    for (auto& c : all.value_or(std::vector<ChildState>())) out[c.id] = c;
    return out;
  };
  auto before = states();
  ASSERT_EQ(before.size(), 2u) << "children only";
  ASSERT_TRUE(store_->Ingest({"t2", {{"acc", 1, 0.5, 1}}, {}, {}}));
  ASSERT_TRUE(store_->TransitionRun("t1", RunStatus::kRunning, {}).value());
  auto after = states();
  EXPECT_EQ(after["t1"].status, RunStatus::kRunning);
  EXPECT_EQ(after["t1"].activity, before["t1"].activity) << "no points, same activity";
  EXPECT_GT(after["t2"].activity, before["t2"].activity);
  EXPECT_EQ(after["t2"].status, RunStatus::kQueued);
  ASSERT_TRUE(store_->RequestCancel("t1"));
  EXPECT_TRUE(states()["t1"].cancel_requested);
  EXPECT_EQ(store_->GetChildStates("nope").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, TagsMergeAndSurviveTheEnd) {
  Create(MakeRun("r1", 1));
  ASSERT_TRUE(store_->SetRunTags("r1", {{"team", "search"}, {"mlflow.runName", "first"}}));
  ASSERT_TRUE(store_->SetRunTags("r1", {{"team", "ranking"}}));
  ASSERT_TRUE(store_->TransitionRun("r1", RunStatus::kCompleted, {}).value());
  ASSERT_TRUE(store_->SetRunTags("r1", {{"note", "ok"}})) << "tags annotate final runs too";
  EXPECT_EQ(store_->GetRun("r1")->tags_json,
            R"({"mlflow.runName":"first","note":"ok","team":"ranking"})");
  EXPECT_EQ(store_->SetRunTags("nope", {{"a", "b"}}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->SetRunTags("r1", {{"", "b"}}).error().code, ErrorCode::kInvalidInput);
}

TEST_P(MetadataStoreConformance, ExperimentsAreFoundById) {
  auto e = store_->GetExperiment(exp_id_);
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_EQ(e->name, "exp");
  EXPECT_EQ(store_->GetExperiment(exp_id_ + 1000).error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, MetricBucketsDownsampleInStepOrder) {
  Create(MakeRun("r1", 1));
  IngestBatch b{"r1", {}, {}, {}};
  // Written out of order: buckets follow steps, not arrival.
  for (int step = 999; step >= 0; --step) {
    double v = step == 500 ? 1e6 : step;  // one spike
    b.points.push_back({"loss", step, v, 1});
  }
  b.points.push_back({"other", 0, 7, 1});
  ASSERT_TRUE(store_->Ingest(b));
  auto buckets = store_->GetMetricBuckets("r1", "loss", 10);
  ASSERT_TRUE(buckets.has_value()) << buckets.error().message;
  ASSERT_EQ(buckets->size(), 10u);
  EXPECT_EQ((*buckets)[0].step_first, 0);
  EXPECT_EQ((*buckets)[0].step_last, 99);
  EXPECT_EQ((*buckets)[0].count, 100);
  EXPECT_EQ((*buckets)[0].value, 99) << "a bucket's value is its last point";
  EXPECT_EQ((*buckets)[0].min_value, 0);
  EXPECT_EQ((*buckets)[5].max_value, 1e6) << "the spike survives downsampling";
  EXPECT_EQ((*buckets)[9].step_last, 999);
  auto all = store_->GetMetricBuckets("r1", "loss", 5000);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 1000u) << "a short series comes back point by point";
  EXPECT_EQ((*all)[3].step_first, 3);
  EXPECT_EQ((*all)[3].count, 1);
  EXPECT_TRUE(store_->GetMetricBuckets("r1", "missing", 10)->empty());
  EXPECT_EQ(store_->GetMetricBuckets("nope", "loss", 10).error().code, ErrorCode::kNotFound);
}

// A long series is downsampled from its stored blocks: written in batches in any order, the
// buckets still tile its steps, count every point once and carry each range's true min, max and
// last value (checked against the full history).
TEST_P(MetadataStoreConformance, LongSeriesBucketsAgreeWithTheirPoints) {
  Create(MakeRun("r1", 1));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::int64_t n = kMetricBlocksMinPoints + 20'000;
  std::mt19937_64 rng(11);
  std::vector<std::int64_t> steps(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) steps[static_cast<size_t>(i)] = i;
  steps[5000] = 4999;  // a repeated step (written later: it is that step's last value)
  std::shuffle(steps.begin() + 50'000, steps.begin() + 60'000, rng);  // some out of order
  for (size_t at = 0; at < steps.size(); at += 10'000) {
    IngestBatch b{"r1", {}, {}, {}};
    for (size_t i = at; i < std::min(steps.size(), at + 10'000); ++i) {
      double v = rng() % 97 == 0 ? nan : static_cast<double>(rng() % 100'000) / 3;
      if (steps[i] == 77'777) v = 1e9;  // a spike
      b.points.push_back({"loss", steps[i], v, 1});
    }
    ASSERT_TRUE(store_->Ingest(b));
  }
  auto got = store_->GetMetricBuckets("r1", "loss", 1000);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  ASSERT_FALSE(got->empty());
  EXPECT_LE(got->size(), 1000u);
  EXPECT_GE(got->size(), 100u);
  auto history = store_->GetMetricHistory("r1", "loss").value();  // step order, then write order
  ASSERT_EQ(static_cast<std::int64_t>(history.size()), n);
  EXPECT_EQ(got->front().step_first, 0);
  EXPECT_EQ(got->back().step_last, n - 1);
  std::int64_t total = 0;
  size_t at = 0;
  bool spike = false;
  for (size_t k = 0; k < got->size(); ++k) {
    const MetricBucket& b = (*got)[k];
    if (k > 0) {
      EXPECT_GT(b.step_first, (*got)[k - 1].step_last) << k;
    }
    MetricBucket want{b.step_first, b.step_first, nan, nan, nan, 0};
    for (; at < history.size() && history[at].step <= b.step_last; ++at) {
      const MetricPoint& p = history[at];
      EXPECT_GE(p.step, b.step_first) << "a point outside every bucket";
      want.step_last = p.step;
      want.value = p.value;
      if (!std::isnan(p.value)) {
        if (std::isnan(want.min_value) || p.value < want.min_value) want.min_value = p.value;
        if (std::isnan(want.max_value) || p.value > want.max_value) want.max_value = p.value;
      }
      ++want.count;
    }
    SCOPED_TRACE("bucket " + std::to_string(k));
    EXPECT_EQ(b.count, want.count);
    EXPECT_EQ(b.step_last, want.step_last);
    auto same = [](double x, double y) { return (std::isnan(x) && std::isnan(y)) || x == y; };
    EXPECT_TRUE(same(b.value, want.value)) << b.value << " vs " << want.value;
    EXPECT_TRUE(same(b.min_value, want.min_value)) << b.min_value << " vs " << want.min_value;
    EXPECT_TRUE(same(b.max_value, want.max_value)) << b.max_value << " vs " << want.max_value;
    spike = spike || b.max_value == 1e9;
    total += b.count;
  }
  EXPECT_EQ(total, n);
  EXPECT_TRUE(spike) << "the spike survives downsampling";
}

TEST_P(MetadataStoreConformance, ChildParamsAndSummariesForTrialTables) {
  Create(MakeRun("sweep", 1));
  for (int i = 0; i < 3; ++i) {
    std::string id = "t" + std::to_string(i);
    ASSERT_TRUE(store_->CreateRun(MakeRun(id, 2 + i, "sweep"),
                                  {{"lr", std::to_string(i)}, {"opt", "\"adam\""}}, {}));
  }
  Create(MakeRun("elsewhere", 9));
  ASSERT_TRUE(store_->Ingest({"t0", {{"acc", 1, 0.5, 1}, {"acc", 2, 0.7, 1}, {"loss", 1, 3, 1}}, {}, {}}));
  ASSERT_TRUE(store_->Ingest({"t2", {{"acc", 1, 0.9, 1}}, {}, {}}));
  ASSERT_TRUE(store_->Ingest({"elsewhere", {{"acc", 1, 0.99, 1}}, {}, {}}));
  auto params = store_->GetChildParams("sweep");
  ASSERT_TRUE(params.has_value()) << params.error().message;
  ASSERT_EQ(params->size(), 3u);
  EXPECT_EQ(params->at("t1")[0].name, "lr");
  EXPECT_EQ(params->at("t1")[0].value_json, "1");
  auto sums = store_->GetChildMetricSummaries("sweep", "acc");
  ASSERT_TRUE(sums.has_value()) << sums.error().message;
  ASSERT_EQ(sums->size(), 2u) << "t1 has no acc, elsewhere is not a trial";
  EXPECT_EQ(sums->at("t0").count, 2);
  EXPECT_EQ(sums->at("t0").last_value, 0.7);
  EXPECT_EQ(sums->at("t0").max_value, 0.7);
  EXPECT_EQ(sums->at("t2").last_step, 1);
  EXPECT_EQ(store_->GetChildParams("nope").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, TokensAreFoundByHashListedAndRevokedOnce) {
  ApiToken t{"tok_1", "ci", "hash1", "read", "exp", 100, 0, 0};
  ASSERT_TRUE(store_->CreateToken(t));
  ASSERT_TRUE(store_->CreateToken({"tok_2", "", "hash2", "admin", "", 200, 300, 0}));
  EXPECT_EQ(store_->CreateToken(t).error().code, ErrorCode::kAlreadyExists);
  auto found = store_->FindToken("hash1");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found->id, "tok_1");
  EXPECT_EQ(found->scope, "read");
  EXPECT_EQ(found->experiment, "exp");
  EXPECT_EQ(store_->FindToken("nope").error().code, ErrorCode::kNotFound);
  auto list = store_->ListTokens();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].expires_at, 300);
  ASSERT_TRUE(store_->RevokeToken("tok_1"));
  double first = store_->FindToken("hash1")->revoked_at;
  EXPECT_GT(first, 0);
  ASSERT_TRUE(store_->RevokeToken("tok_1")) << "revoking twice is fine";
  EXPECT_EQ(store_->FindToken("hash1")->revoked_at, first) << "and keeps the first time";
  EXPECT_EQ(store_->RevokeToken("tok_9").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, SecretsAreReplacedListedWithoutValuesAndDeleted) {
  ASSERT_TRUE(store_->PutSecret({"blob-key", "od1:sealed-1", 0, 100}));
  ASSERT_TRUE(store_->PutSecret({"a-token", "od1:sealed-2", 0, 150}));
  auto got = store_->GetSecret("blob-key");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->sealed, "od1:sealed-1");
  EXPECT_EQ(got->created_at, 100);
  // Replaced: the new value, the first creation time kept.
  ASSERT_TRUE(store_->PutSecret({"blob-key", "od1:sealed-3", 0, 200}));
  got = store_->GetSecret("blob-key");
  EXPECT_EQ(got->sealed, "od1:sealed-3");
  EXPECT_EQ(got->created_at, 100);
  EXPECT_EQ(got->updated_at, 200);
  auto list = store_->ListSecrets();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a-token");
  for (const auto& s : *list) EXPECT_EQ(s.sealed, "") << "a listing carries no values";
  EXPECT_EQ(*store_->DeleteSecret("a-token"), true);
  EXPECT_EQ(*store_->DeleteSecret("a-token"), false);
  EXPECT_EQ(store_->GetSecret("a-token").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->PutSecret({"", "x", 0, 0}).error().code, ErrorCode::kInvalidInput);
}

EnvironmentRecord Env(const std::string& name, const std::string& version,
                      const std::string& spec, double created_at = 0) {
  EnvironmentRecord e;
  e.name = name;
  e.version = version;
  e.spec_json = spec;
  e.created_at = created_at;
  return e;
}

TEST_P(MetadataStoreConformance, EnvironmentVersionsAreNumberedAndRoundTrip) {
  EnvironmentRecord e = Env("sklearn-env", "", R"({"image":"x"})", 100);
  e.description = "scikit-learn";
  e.tags_json = R"({"team":"ml"})";
  auto first = store_->CreateEnvironment(e);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->version, "1");
  auto second = store_->CreateEnvironment(Env("sklearn-env", "", R"({"image":"y"})", 200));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->version, "2");
  // Versions the user names may be any text; only all-digit ones count for the next number.
  ASSERT_TRUE(store_->CreateEnvironment(Env("sklearn-env", "10", "{}", 300)));
  ASSERT_TRUE(store_->CreateEnvironment(Env("sklearn-env", "v2-gpu", "{}", 400)));
  EXPECT_EQ(store_->CreateEnvironment(Env("sklearn-env", "", "{}", 500))->version, "11");
  EXPECT_EQ(store_->CreateEnvironment(Env("other", "", "{}", 50))->version, "1");

  auto got = store_->GetEnvironment("sklearn-env", "1");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->spec_json, R"({"image":"x"})");
  EXPECT_EQ(got->description, "scikit-learn");
  EXPECT_EQ(got->tags_json, R"({"team":"ml"})");
  EXPECT_EQ(got->content_hash, "");
  EXPECT_EQ(got->created_at, 100);
  EXPECT_EQ(store_->GetEnvironment("sklearn-env", "3").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetEnvironment("nope", "1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->CreateEnvironment(Env("", "1", "{}")).error().code, ErrorCode::kInvalidInput);

  auto list = store_->ListEnvironments();
  ASSERT_TRUE(list.has_value()) << list.error().message;
  std::vector<std::string> refs;
  for (const auto& r : *list) refs.push_back(r.name + ":" + r.version);
  EXPECT_THAT(refs, ElementsAre("other:1", "sklearn-env:1", "sklearn-env:2", "sklearn-env:10",
                                "sklearn-env:v2-gpu", "sklearn-env:11"));
}

TEST_P(MetadataStoreConformance, EnvironmentVersionsAreImmutable) {
  ASSERT_TRUE(store_->CreateEnvironment(Env("e", "1", R"({"a":1})", 100)));
  auto again = store_->CreateEnvironment(Env("e", "1", R"({"a":1})", 999));
  ASSERT_TRUE(again.has_value()) << "the same spec again is idempotent: " << again.error().message;
  EXPECT_EQ(again->created_at, 100) << "and returns the stored version";
  auto changed = store_->CreateEnvironment(Env("e", "1", R"({"a":2})"));
  ASSERT_FALSE(changed.has_value());
  EXPECT_EQ(changed.error().code, ErrorCode::kAlreadyExists);
  EXPECT_THAT(changed.error().message, HasSubstr("versions are immutable"));
  EXPECT_EQ(store_->GetEnvironment("e", "1")->spec_json, R"({"a":1})");
  ASSERT_EQ(store_->ListEnvironments()->size(), 1u);
}

TEST_P(MetadataStoreConformance, LatestEnvironmentIsTheMostRecentlyCreated) {
  EXPECT_EQ(store_->GetLatestEnvironment("e").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store_->CreateEnvironment(Env("e", "5", "{}", 100)));
  ASSERT_TRUE(store_->CreateEnvironment(Env("e", "2", "{}", 200)));
  EXPECT_EQ(store_->GetLatestEnvironment("e")->version, "2") << "by creation, not by number";
  ASSERT_TRUE(store_->CreateEnvironment(Env("e", "3", "{}", 200)));
  EXPECT_EQ(store_->GetLatestEnvironment("e")->version, "3") << "a tie goes to the later insert";
}

TEST_P(MetadataStoreConformance, EnvironmentContentHashIsSetOnAVersion) {
  ASSERT_TRUE(store_->CreateEnvironment(Env("e", "1", "{}", 100)));
  ASSERT_TRUE(store_->CreateEnvironment(Env("e", "2", "{}", 200)));
  ASSERT_TRUE(store_->SetEnvironmentContentHash("e", "1", "sha256:ab"));
  EXPECT_EQ(store_->GetEnvironment("e", "1")->content_hash, "sha256:ab");
  EXPECT_EQ(store_->GetEnvironment("e", "2")->content_hash, "");
  EXPECT_EQ(store_->SetEnvironmentContentHash("e", "9", "x").error().code, ErrorCode::kNotFound);
}

TEST_P(MetadataStoreConformance, DatastoresAreReplacedListedAndDeleted) {
  DatastoreRecord blob{"blob", "azure_blob",
                       R"({"account":"acct","container":"c","credential":"blob-key"})",
                       "training data", 0, 100};
  ASSERT_TRUE(store_->PutDatastore(blob));
  ASSERT_TRUE(store_->PutDatastore({"a-local", "local", R"({"root":"/data"})", "", 50, 150}));
  auto got = store_->GetDatastore("blob");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->type, "azure_blob");
  EXPECT_EQ(got->spec_json, blob.spec_json);
  EXPECT_EQ(got->description, "training data");
  EXPECT_EQ(got->created_at, 100) << "created_at 0 is the time of the put";
  EXPECT_EQ(got->updated_at, 100);
  EXPECT_EQ(store_->GetDatastore("a-local")->created_at, 50);
  // Replaced: the new spec, the first creation time kept.
  ASSERT_TRUE(store_->PutDatastore({"blob", "s3", R"({"bucket":"b"})", "moved", 999, 200}));
  got = store_->GetDatastore("blob");
  EXPECT_EQ(got->type, "s3");
  EXPECT_EQ(got->spec_json, R"({"bucket":"b"})");
  EXPECT_EQ(got->description, "moved");
  EXPECT_EQ(got->created_at, 100);
  EXPECT_EQ(got->updated_at, 200);
  ASSERT_TRUE(store_->PutDatastore({"blob", "s3", "{}", "", 0, 0}));
  EXPECT_GT(store_->GetDatastore("blob")->updated_at, 200) << "updated_at 0 is now";
  auto list = store_->ListDatastores();
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a-local");
  EXPECT_EQ((*list)[0].spec_json, R"({"root":"/data"})");
  EXPECT_EQ((*list)[1].name, "blob");
  EXPECT_EQ(*store_->DeleteDatastore("a-local"), true);
  EXPECT_EQ(*store_->DeleteDatastore("a-local"), false);
  EXPECT_EQ(store_->GetDatastore("a-local").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListDatastores()->size(), 1u);
  EXPECT_EQ(store_->PutDatastore({"", "local", "{}", "", 0, 0}).error().code,
            ErrorCode::kInvalidInput);
}

DataAssetRecord Asset(const std::string& name, const std::string& version, const std::string& path,
                      double created_at = 0) {
  DataAssetRecord a;
  a.name = name;
  a.version = version;
  a.path = path;
  a.created_at = created_at;
  return a;
}

TEST_P(MetadataStoreConformance, DataAssetVersionsAreNumberedAndRoundTrip) {
  DataAssetRecord a = Asset("iris", "", "azureml://datastores/blob/paths/iris/", 100);
  a.type = "uri_file";
  a.description = "the iris table";
  a.tags_json = R"({"team":"ml"})";
  a.spec_json = R"({"digest":"sha256:ab","size":4551})";
  auto first = store_->CreateDataAsset(a);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->version, "1");
  auto second = store_->CreateDataAsset(Asset("iris", "", "s3://bucket/iris-2/", 200));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->version, "2");
  EXPECT_EQ(second->type, "uri_folder") << "the default type";
  // Versions the user names may be any text; only all-digit ones count for the next number.
  ASSERT_TRUE(store_->CreateDataAsset(Asset("iris", "10", "https://x/iris", 300)));
  ASSERT_TRUE(store_->CreateDataAsset(Asset("iris", "v2-clean", "https://x/clean", 400)));
  EXPECT_EQ(store_->CreateDataAsset(Asset("iris", "", "https://x/11", 500))->version, "11");
  EXPECT_EQ(store_->CreateDataAsset(Asset("other", "", "/data/other", 50))->version, "1");

  auto got = store_->GetDataAsset("iris", "1");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->type, "uri_file");
  EXPECT_EQ(got->path, "azureml://datastores/blob/paths/iris/");
  EXPECT_EQ(got->description, "the iris table");
  EXPECT_EQ(got->tags_json, R"({"team":"ml"})");
  EXPECT_EQ(got->spec_json, R"({"digest":"sha256:ab","size":4551})");
  EXPECT_EQ(got->created_at, 100);
  EXPECT_EQ(store_->GetDataAsset("iris", "3").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetDataAsset("nope", "1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->CreateDataAsset(Asset("", "1", "/x")).error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(store_->CreateDataAsset(Asset("iris", "12", "")).error().code,
            ErrorCode::kInvalidInput);
  EXPECT_GT(store_->CreateDataAsset(Asset("fresh", "", "/x"))->created_at, 0)
      << "created_at 0 is now";

  auto list = store_->ListDataAssets();
  ASSERT_TRUE(list.has_value()) << list.error().message;
  std::vector<std::string> refs;
  for (const auto& r : *list) refs.push_back(r.name + ":" + r.version);
  EXPECT_THAT(refs, ElementsAre("fresh:1", "iris:1", "iris:2", "iris:10", "iris:v2-clean",
                                "iris:11", "other:1"));
}

TEST_P(MetadataStoreConformance, DataAssetVersionsAreImmutable) {
  DataAssetRecord a = Asset("d", "1", "s3://b/d/", 100);
  a.spec_json = R"({"size":1})";
  ASSERT_TRUE(store_->CreateDataAsset(a));
  DataAssetRecord same = a;
  same.created_at = 999;
  same.description = "a description is no part of the content";
  auto again = store_->CreateDataAsset(same);
  ASSERT_TRUE(again.has_value()) << "the same content again is idempotent: "
                                 << again.error().message;
  EXPECT_EQ(again->created_at, 100) << "and returns the stored version";
  EXPECT_EQ(again->description, "");
  DataAssetRecord moved = a;
  moved.path = "s3://b/elsewhere/";
  DataAssetRecord retyped = a;
  retyped.type = "uri_file";
  DataAssetRecord changed = a;
  changed.spec_json = R"({"size":2})";
  for (const auto& other : {moved, retyped, changed}) {
    auto refused = store_->CreateDataAsset(other);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
    EXPECT_EQ(refused.error().message,
              "data asset 'd' version '1' already exists with a different path or content; "
              "versions are immutable: create a new version");
  }
  EXPECT_EQ(store_->GetDataAsset("d", "1")->path, "s3://b/d/");
  EXPECT_EQ(store_->GetDataAsset("d", "1")->spec_json, R"({"size":1})");
  ASSERT_EQ(store_->ListDataAssets()->size(), 1u);
}

TEST_P(MetadataStoreConformance, LatestDataAssetIsTheMostRecentlyCreated) {
  EXPECT_EQ(store_->GetLatestDataAsset("d").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store_->CreateDataAsset(Asset("d", "5", "/d5", 100)));
  ASSERT_TRUE(store_->CreateDataAsset(Asset("d", "2", "/d2", 200)));
  EXPECT_EQ(store_->GetLatestDataAsset("d")->version, "2") << "by creation, not by number";
  ASSERT_TRUE(store_->CreateDataAsset(Asset("d", "3", "/d3", 200)));
  EXPECT_EQ(store_->GetLatestDataAsset("d")->version, "3") << "a tie goes to the later insert";
  EXPECT_EQ(store_->GetLatestDataAsset("d")->path, "/d3");
}

TEST_P(MetadataStoreConformance, RunInputsAreReplacedAndFoundByTheAssetsTheyRead) {
  Create(MakeRun("r1", 100));
  Create(MakeRun("r2", 200));
  ASSERT_TRUE(store_->AddRunInputs({}));
  auto added = store_->AddRunInputs({
      {"r1", "train", "iris", "1", "s3://b/iris/1/", 300},
      {"r1", "config", "", "", "https://x/config.json", 300},
      {"r2", "train", "iris", "2", "s3://b/iris/2/", 250},
  });
  ASSERT_TRUE(added.has_value()) << added.error().message;
  ASSERT_TRUE(store_->AddRunInputs({{"r2", "eval", "iris", "1", "s3://b/iris/1/", 400}}));

  auto inputs = store_->ListRunInputs("r1");
  ASSERT_TRUE(inputs.has_value()) << inputs.error().message;
  ASSERT_EQ(inputs->size(), 2u);
  EXPECT_EQ((*inputs)[0].input_name, "config") << "by input name";
  EXPECT_EQ((*inputs)[0].asset_name, "");
  EXPECT_EQ((*inputs)[0].uri, "https://x/config.json");
  EXPECT_EQ((*inputs)[1].input_name, "train");
  EXPECT_EQ((*inputs)[1].asset_version, "1");
  EXPECT_EQ((*inputs)[1].created_at, 300);

  // Stored again: replaced, not duplicated.
  ASSERT_TRUE(store_->AddRunInputs({{"r1", "train", "iris", "2", "s3://b/iris/2/", 0}}));
  inputs = store_->ListRunInputs("r1");
  ASSERT_EQ(inputs->size(), 2u);
  EXPECT_EQ((*inputs)[1].asset_version, "2");
  EXPECT_EQ((*inputs)[1].uri, "s3://b/iris/2/");
  EXPECT_EQ((*inputs)[1].created_at, 300) << "the first record's time is kept";

  // An unknown run: nothing of the batch is stored.
  auto unknown = store_->AddRunInputs({{"r2", "extra", "iris", "1", "s3://b/iris/1/", 500},
                                       {"nope", "train", "iris", "1", "s3://b/iris/1/", 500}});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListRunInputs("r2")->size(), 2u) << "one transaction: r2's input undone";
  EXPECT_EQ(store_->ListRunInputs("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->AddRunInputs({{"r1", "", "", "", "/x", 0}}).error().code,
            ErrorCode::kInvalidInput);

  auto readers = [&](const std::string& name, const std::string& version) {
    std::vector<std::string> out;
    auto got = store_->ListDataAssetReaders(name, version);
    EXPECT_TRUE(got.has_value()) << got.error().message;
    if (got) {
      for (const auto& r : *got) out.push_back(r.run_id + "/" + r.input_name);
    }
    return out;
  };
  EXPECT_THAT(readers("iris", "1"), ElementsAre("r2/eval"));
  EXPECT_THAT(readers("iris", "2"), ElementsAre("r2/train", "r1/train")) << "oldest first";
  EXPECT_THAT(readers("iris", ""), ElementsAre("r2/train", "r1/train", "r2/eval"))
      << "every version";
  EXPECT_THAT(readers("other", ""), ElementsAre());
  EXPECT_EQ(store_->ListDataAssetReaders("", "").error().code, ErrorCode::kInvalidInput);
}

INSTANTIATE_TEST_SUITE_P(Backends, MetadataStoreConformance, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace overdrive
