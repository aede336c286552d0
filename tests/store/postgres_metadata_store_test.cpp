// PostgreSQL-only behaviour: connection errors, migrations shared by concurrent openers, model
// version numbers and ingestion under several connections, strings that need no escaping.
// Everything but the connection errors needs OVERDRIVE_TEST_PG_URL (see postgres_test_util.hpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "postgres_test_util.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PostgresUrlTest, UrlsPickPostgresAndEverythingElseIsASqlitePath) {
  EXPECT_TRUE(IsPostgresUrl("postgresql://u@h:5432/db"));
  EXPECT_TRUE(IsPostgresUrl("postgres://h/db"));
  EXPECT_FALSE(IsPostgresUrl("/work/.overdrive/workspace.db"));
  EXPECT_FALSE(IsPostgresUrl("postgresql.db"));
}

TEST(PostgresConnectTest, RefusedConnectionNamesTheServerAndHowToStartIt) {
  // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
  auto store = OpenPostgresMetadataStore("postgresql://alice:s3cret@127.0.0.1:1/trackdb");
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kStorage);
  EXPECT_THAT(store.error().message, HasSubstr("127.0.0.1:1/trackdb"));
  EXPECT_THAT(store.error().message, HasSubstr("scripts/postgres.sh start"));
  EXPECT_THAT(store.error().message, Not(HasSubstr("s3cret"))) << "never the password";
  EXPECT_EQ(store.error().message.find('\n'), std::string::npos) << "one line";
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = testing_util::PostgresTestUrl();
    if (!base) GTEST_SKIP() << testing_util::PostgresSkipReason();
    auto url = testing_util::FreshPostgresSchema(*base);
    ASSERT_TRUE(url.has_value()) << url.error().message;
    url_ = *url;
  }

  std::unique_ptr<MetadataStore> Open() {
    auto store = OpenPostgresMetadataStore(url_);
    EXPECT_TRUE(store.has_value()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  std::string Query(const std::string& sql) {
    auto out = testing_util::PostgresQuery(url_, sql);
    EXPECT_TRUE(out.has_value()) << out.error().message;
    return out.value_or("");
  }

  static RunRecord MakeRun(const std::string& id, std::int64_t exp) {
    RunRecord r;
    r.id = id;
    r.experiment_id = exp;
    r.created_at = 1;
    return r;
  }

  std::string url_;
};

TEST_F(PostgresStoreTest, ReopenKeepsDataAndAppliesMigrationsOnce) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto exp = store->GetOrCreateExperiment("e").value();
    ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {{"lr", "0.1"}}, {}));
    ASSERT_TRUE(store->Ingest({"r1", {{"loss", 0, 0.5, 1}}, {}, {{"stdout", 9}}}));
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetRun("r1")->experiment_name, "e");
  EXPECT_EQ(store->GetMetricHistory("r1", "loss")->size(), 1u);
  EXPECT_EQ(store->GetCursors("r1").value()["stdout"], 9);
  const std::string version = Query("SELECT MAX(version) FROM schema_migrations");
  EXPECT_NE(version, "");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM schema_migrations"), version);
}

// A database written before the series summaries existed (schema version 1) gets them from its
// points at the next start.
TEST_F(PostgresStoreTest, UpgradeAddsSummariesOfExistingPoints) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto exp = store->GetOrCreateExperiment("e").value();
    ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {}, {}));
    ASSERT_TRUE(store->Ingest(
        {"r1", {{"loss", 0, 0.5, 1}, {"loss", 2, 0.25, 2}, {"loss", 1, 0.9, 3}}, {}, {}}));
  }
  Query("DROP TABLE metric_series");
  Query("DROP TABLE metric_blocks");
  Query("ALTER TABLE runs DROP COLUMN activity");
  Query("ALTER TABLE runs DROP COLUMN lost");
  Query("DROP TABLE environments");  // later steps, applied again on open
  Query("DROP TABLE secrets");
  Query("DROP TABLE run_inputs");
  Query("DROP TABLE data_assets");
  Query("DROP TABLE datastores");
  const std::string latest = Query("SELECT MAX(version) FROM schema_migrations");
  Query("DELETE FROM schema_migrations WHERE version >= 2");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Query("SELECT MAX(version) FROM schema_migrations"), latest);
  EXPECT_EQ(Query("SELECT block || ':' || step_first || '-' || step_last || ':' || count || ':' || "
                  "last_value FROM metric_blocks"),
            "0:0-2:3:0.25");
  auto sums = store->GetMetricSummaries("r1").value();
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0].count, 3);
  EXPECT_EQ(sums[0].last_step, 2);
  EXPECT_DOUBLE_EQ(sums[0].last_value, 0.25);
  EXPECT_DOUBLE_EQ(sums[0].min_value, 0.25);
  EXPECT_DOUBLE_EQ(sums[0].max_value, 0.9);
  ASSERT_TRUE(store->Ingest({"r1", {{"loss", 5, 0.1, 4}}, {}, {}}));
  EXPECT_EQ(store->GetMetricSummaries("r1").value()[0].count, 4);
}

// A database written before runs had a `lost` flag (schema version 2): its lost runs — failed,
// with a reason starting "lost: " — are flagged at the next start, and nothing else is.
TEST_F(PostgresStoreTest, UpgradeFlagsRunsLostBeforeTheFlagExisted) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto exp = store->GetOrCreateExperiment("e").value();
    for (const char* id : {"lost", "failed", "running"}) {
      ASSERT_TRUE(store->CreateRun(MakeRun(id, exp), {}, {}));
    }
    RunUpdate u;
    u.status_reason = "lost: no process record found when the controller resumed";
    ASSERT_TRUE(store->TransitionRun("lost", RunStatus::kFailed, u).value());
    u.status_reason = "exit code 1: lost: not really";
    ASSERT_TRUE(store->TransitionRun("failed", RunStatus::kFailed, u).value());
    u.status_reason = "lost: a reason on a run that is not failed";
    ASSERT_TRUE(store->TransitionRun("running", RunStatus::kRunning, u).value());
  }
  const std::string latest = Query("SELECT MAX(version) FROM schema_migrations");
  Query("ALTER TABLE runs DROP COLUMN lost");
  Query("DROP TABLE environments");  // later steps, applied again on open
  Query("DROP TABLE secrets");
  Query("DROP TABLE run_inputs");
  Query("DROP TABLE data_assets");
  Query("DROP TABLE datastores");
  Query("DELETE FROM schema_migrations WHERE version > 2");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Query("SELECT MAX(version) FROM schema_migrations"), latest);
  EXPECT_TRUE(store->GetRun("lost")->lost);
  EXPECT_EQ(store->GetRun("lost")->status_reason,
            "lost: no process record found when the controller resumed");
  EXPECT_FALSE(store->GetRun("failed")->lost);
  EXPECT_FALSE(store->GetRun("running")->lost);
}

TEST_F(PostgresStoreTest, ConcurrentOpenersOfAFreshDatabaseMigrateItOnce) {
  std::vector<std::thread> threads;
  std::vector<std::string> errors(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto store = OpenPostgresMetadataStore(url_);
      if (!store) errors[i] = store.error().message;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM schema_migrations"),
            Query("SELECT COUNT(DISTINCT version) FROM schema_migrations"));
  EXPECT_EQ(Query("SELECT COUNT(*) FROM schema_migrations"),
            Query("SELECT MAX(version) FROM schema_migrations"));
}

TEST_F(PostgresStoreTest, ADatabaseFromANewerOverdriveIsRefused) {
  ASSERT_NE(Open(), nullptr);
  Query("INSERT INTO schema_migrations VALUES (9999, 0)");
  auto store = OpenPostgresMetadataStore(url_);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kStorage);
  EXPECT_THAT(store.error().message, HasSubstr("9999"));
  EXPECT_THAT(store.error().message, HasSubstr("upgrade overdrive"));
}

TEST_F(PostgresStoreTest, ConcurrentModelVersionsFromTwoConnectionsGetDistinctNumbers) {
  auto setup = Open();
  ASSERT_NE(setup, nullptr);
  auto exp = setup->GetOrCreateExperiment("e").value();
  ASSERT_TRUE(setup->CreateRun(MakeRun("r1", exp), {}, {}));
  constexpr int kPerThread = 15;
  std::vector<std::vector<std::int64_t>> got(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto store = OpenPostgresMetadataStore(url_);
      if (!store) {
        errors[t] = store.error().message;
        return;
      }
      for (int i = 0; i < kPerThread; ++i) {
        ModelVersion v;
        v.model = "churn";
        v.run_id = "r1";
        v.path = "outputs/model";
        v.files = {{"model.pkl", "d" + std::to_string(i), 1}};
        auto made = (*store)->CreateModelVersion(v);
        if (!made) {
          errors[t] = made.error().message;
          return;
        }
        got[t].push_back(made->version);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  std::set<std::int64_t> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  ASSERT_EQ(all.size(), 2u * kPerThread) << "two creators got the same number";
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 2 * kPerThread);
  EXPECT_EQ(setup->ListModels().value().at(0).versions, 2 * kPerThread);
}

TEST_F(PostgresStoreTest, StringsNeedNoEscapingAndNulBytesAreRefusedNotCut) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto exp = store->GetOrCreateExperiment("e").value();
  const std::string tricky = "it's \"quoted\", {braced}, back\\slash, NULL, tab\there\nline 2 ü ∑";
  RunRecord r = MakeRun("r'1", exp);
  r.display_name = tricky;
  r.spec_yaml = tricky;
  ASSERT_TRUE(store->CreateRun(r, {{"p,1", tricky}}, {{1, "info", tricky}}));
  ASSERT_TRUE(store->Ingest(
      {"r'1", {{"a \"b\"", 0, 1, 1}, {"NULL", 0, 2, 1}}, {{"q", tricky}}, {{"{x}", 3}}}));
  auto got = store->GetRun("r'1").value();
  EXPECT_EQ(got.display_name, tricky);
  EXPECT_EQ(got.spec_yaml, tricky);
  auto params = store->GetParams("r'1").value();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "p,1");
  EXPECT_EQ(params[0].value_json, tricky);
  EXPECT_EQ(params[1].value_json, tricky);
  EXPECT_EQ(store->ListEvents("r'1")->at(0).message, tricky);
  EXPECT_EQ(store->GetMetricHistory("r'1", "a \"b\"")->size(), 1u);
  EXPECT_EQ(store->GetMetricHistory("r'1", "NULL")->at(0).value, 2);
  EXPECT_EQ(store->GetCursors("r'1").value()["{x}"], 3);

  auto nul = store->Ingest({"r'1", {}, {{"q", std::string("before\0after", 12)}}, {}});
  ASSERT_FALSE(nul.has_value()) << "PostgreSQL text cannot hold NUL; it must not be cut short";
  EXPECT_EQ(nul.error().code, ErrorCode::kStorage);
  EXPECT_THAT(nul.error().message, HasSubstr("postgresql database ")) << "names the server";
  EXPECT_EQ(store->GetParams("r'1")->at(1).value_json, tricky);
}

// The reference the SQL downsampling must agree with: point i of n in bucket i * B / n.
std::vector<MetricBucket> ReferenceBuckets(const std::vector<MetricPoint>& series, int b) {
  std::vector<MetricBucket> out;
  const std::int64_t n = static_cast<std::int64_t>(series.size());
  std::int64_t current = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& p = series[static_cast<size_t>(i)];
    if (i * b / n != current) {
      current = i * b / n;
      out.push_back({p.step, p.step, p.value, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::quiet_NaN(), 0});
    }
    auto& m = out.back();
    m.step_last = p.step;
    m.value = p.value;
    if (!std::isnan(p.value)) {
      if (std::isnan(m.min_value) || p.value < m.min_value) m.min_value = p.value;
      if (std::isnan(m.max_value) || p.value > m.max_value) m.max_value = p.value;
    }
    ++m.count;
  }
  return out;
}

bool SameDouble(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Series shaped to take each path of GetMetricBuckets: evenly spaced steps (ranged in one
// GROUP BY), and the shapes that must fall back to ranking points.
TEST_F(PostgresStoreTest, BucketsMatchTheReferenceWhateverTheStepsLookLike) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto exp = store->GetOrCreateExperiment("e").value();
  ASSERT_TRUE(store->CreateRun(MakeRun("r1", exp), {}, {}));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::mt19937 rng(7);
  auto value = [&] { return (rng() % 50 == 0) ? nan : static_cast<double>(rng() % 1000) / 7; };
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (int i = 0; i < 3000; ++i) shapes["dense"].push_back(i);
  for (int i = 2999; i >= 0; --i) shapes["dense_reversed_from_5"].push_back(5 + i);
  for (int i = 0; i < 1000; ++i) shapes["every_100"].push_back(100 * i);
  for (int i = 0; i < 3000; ++i) {
    shapes["random"].push_back(static_cast<std::int64_t>(rng() % 3000));
  }
  // 0..999 with step 500 written twice and step 501 missing: inside one bucket when there are
  // few buckets, across two when there are many.
  for (int i = 0; i < 1000; ++i) shapes["repeat_and_gap"].push_back(i == 501 ? 500 : i);
  shapes["repeated_first"] = {0, 0, 1, 2, 3};
  shapes["one_point"] = {42};
  shapes["huge_steps"] = {-(1LL << 62), 0, 1LL << 62};
  for (const auto& [name, steps] : shapes) {
    IngestBatch b{"r1", {}, {}, {}};
    for (auto step : steps) b.points.push_back({name, step, value(), 1});
    ASSERT_TRUE(store->Ingest(b));
    auto series = store->GetMetricHistory("r1", name).value();
    for (int buckets : {1, 3, 7, 100, 999, 1000, 1001, 5000}) {
      auto got = store->GetMetricBuckets("r1", name, buckets);
      ASSERT_TRUE(got.has_value()) << got.error().message;
      auto want = ReferenceBuckets(series, buckets);
      ASSERT_EQ(got->size(), want.size()) << name << " in " << buckets;
      for (size_t i = 0; i < want.size(); ++i) {
        SCOPED_TRACE(name + " in " + std::to_string(buckets) + ", #" + std::to_string(i));
        EXPECT_EQ((*got)[i].step_first, want[i].step_first);
        EXPECT_EQ((*got)[i].step_last, want[i].step_last);
        EXPECT_EQ((*got)[i].count, want[i].count);
        EXPECT_TRUE(SameDouble((*got)[i].value, want[i].value));
        EXPECT_TRUE(SameDouble((*got)[i].min_value, want[i].min_value));
        EXPECT_TRUE(SameDouble((*got)[i].max_value, want[i].max_value));
      }
    }
  }
  ASSERT_TRUE(store->Ingest({"r1", {{"only_nan", 0, nan, 1}}, {}, {}}));
  auto nan_only = store->GetMetricBuckets("r1", "only_nan", 10).value();
  ASSERT_EQ(nan_only.size(), 1u);
  EXPECT_TRUE(std::isnan(nan_only[0].value));
  EXPECT_TRUE(std::isnan(nan_only[0].min_value));
  EXPECT_EQ(nan_only[0].count, 1);
}

TEST_F(PostgresStoreTest, EightClientsIngestingAtOnceLoseNothing) {
  auto setup = Open();
  ASSERT_NE(setup, nullptr);
  auto exp = setup->GetOrCreateExperiment("e").value();
  constexpr int kClients = 8, kBatches = 20, kPerBatch = 1000;
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(setup->CreateRun(MakeRun("r" + std::to_string(c), exp), {}, {}));
  }
  std::vector<std::string> errors(kClients);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto store = OpenPostgresMetadataStore(url_);
      if (!store) {
        errors[c] = store.error().message;
        return;
      }
      const std::string run = "r" + std::to_string(c);
      for (int k = 0; k < kBatches; ++k) {
        IngestBatch b{run, {}, {}, {{"stdout", (k + 1) * 100}}};
        for (int i = 0; i < kPerBatch; ++i) {
          b.points.push_back({"loss", k * kPerBatch + i, 1.0 / (i + 1), 1});
        }
        auto ok = (*store)->Ingest(b);
        if (!ok) {
          errors[c] = ok.error().message;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& e : errors) ASSERT_EQ(e, "");
  for (int c = 0; c < kClients; ++c) {
    const std::string run = "r" + std::to_string(c);
    auto sums = setup->GetMetricSummaries(run).value();
    ASSERT_EQ(sums.size(), 1u);
    EXPECT_EQ(sums[0].count, kBatches * kPerBatch);
    EXPECT_EQ(sums[0].last_step, kBatches * kPerBatch - 1);
    EXPECT_EQ(setup->GetCursors(run).value()["stdout"], kBatches * 100);
  }
  std::printf("ingest: %d points from %d clients in %.2f s (%.0f points/s)\n",
              kClients * kBatches * kPerBatch, kClients, seconds,
              kClients * kBatches * kPerBatch / seconds);
}

// Clients logging several series of one run at once: each batch folds into the same summary
// rows under row locks, in one order (by name), so none deadlocks and every point is counted.
TEST_F(PostgresStoreTest, ClientsLoggingToOneRunAtOnceKeepItsSummariesExact) {
  auto setup = Open();
  ASSERT_NE(setup, nullptr);
  auto exp = setup->GetOrCreateExperiment("e").value();
  ASSERT_TRUE(setup->CreateRun(MakeRun("shared", exp), {}, {}));
  constexpr int kClients = 4, kBatches = 30;
  std::vector<std::string> errors(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto store = OpenPostgresMetadataStore(url_);
      if (!store) {
        errors[c] = store.error().message;
        return;
      }
      for (int k = 0; k < kBatches; ++k) {
        IngestBatch b{"shared", {}, {}, {}};
        // Names in a different order per client.
        for (const char* n : (c % 2 ? std::vector<const char*>{"a", "b", "c"}
                                    : std::vector<const char*>{"c", "b", "a"})) {
          b.points.push_back({n, c * 1000 + k, static_cast<double>(c * 1000 + k), 1});
        }
        if (auto ok = (*store)->Ingest(b); !ok) {
          errors[c] = ok.error().message;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) ASSERT_EQ(e, "");
  auto sums = setup->GetMetricSummaries("shared").value();
  ASSERT_EQ(sums.size(), 3u);
  for (const auto& sum : sums) {
    EXPECT_EQ(sum.count, kClients * kBatches) << sum.name;
    EXPECT_EQ(sum.last_step, (kClients - 1) * 1000 + kBatches - 1) << sum.name;
    EXPECT_DOUBLE_EQ(sum.last_value, (kClients - 1) * 1000 + kBatches - 1) << sum.name;
    EXPECT_DOUBLE_EQ(sum.min_value, 0) << sum.name;
  }
}

}  // namespace
}  // namespace overdrive
