// End to end: the deep-learning example (examples/fashion-mnist-cnn) as a user runs it, shrunk
// through --set to two tiny trials. Needs Debian's dataset-fashion-mnist and python3-torch.
#include <cstdlib>

#include "cli_test_util.hpp"

namespace overdrive::testing {
namespace {

const fs::path kDataDir = "/usr/share/datasets/fashion-mnist";

// Why the example cannot run here, or "" when it can.
std::string MissingPrerequisite() {
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
    if (!fs::exists(kDataDir / f)) {
      return (kDataDir / f).string() +
             " is missing: apt-get install dataset-fashion-mnist (scripts/deps.sh demo)";
    }
  }
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    return "/usr/bin/python3 cannot import torch: apt-get install python3-torch "
           "(scripts/deps.sh demo)";
  }
  return "";
}

class FashionMnistTest : public CliTest {
 protected:
  static fs::path Example() {
    return fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "fashion-mnist-cnn" / "sweep.yml";
  }
};

TEST_F(FashionMnistTest, TinySweepTrainsTheCnnAndRecordsValidationAccuracyEveryEpoch) {
  if (std::string why = MissingPrerequisite(); !why.empty()) GTEST_SKIP() << why;
  // Its curated environment, mapped as the README says.
  CommandResult env = Run({"environment", "create", "-f",
                           (fs::path(OVERDRIVE_SOURCE_DIR) / "examples" / "environments" /
                            "pytorch-1.13.yml")
                               .string()});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  constexpr int kEpochs = 2;
  CommandResult r = Run({"job", "submit", Example().string(),
                         "--set", "limits.max_total_trials=2",
                         "--set", "inputs.epochs=" + std::to_string(kEpochs),
                         "--set", "inputs.train_size=300",
                         "--set", "inputs.val_size=200",
                         "--set", "inputs.test_size=100"},
                        180);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("best trial"), std::string::npos) << r.err;

  nlohmann::json runs = Json({"job", "list", "--json"});
  ASSERT_FALSE(runs.empty());
  std::string id = runs[0]["id"];
  nlohmann::json sweep = Json({"job", "show", id, "--json"});
  EXPECT_EQ(sweep["status"], "completed");
  EXPECT_EQ(sweep["experiment"], "fashion-mnist-cnn");
  ASSERT_EQ(sweep["trials"].size(), 2u) << sweep.dump();

  for (const auto& t : sweep["trials"]) {
    std::string tid = t["id"];
    // The bandit policy may stop the weaker trial at its second epoch; nothing may fail.
    std::string status = t["status"];
    EXPECT_TRUE(status == "completed" || status == "early_terminated") << t.dump();
    for (const char* p : {"learning_rate", "batch_size", "width", "dropout"}) {
      EXPECT_TRUE(t["params"].contains(p)) << p << " " << t.dump();
    }
    if (status != "completed") continue;
    // One val_accuracy point per epoch, in order, each a fraction of the 200 images.
    nlohmann::json series = Json({"runs", "metrics", tid, "--name", "val_accuracy", "--json"});
    const auto& points = series["metrics"]["val_accuracy"];
    ASSERT_EQ(points.size(), static_cast<size_t>(kEpochs)) << series.dump();
    for (int e = 0; e < kEpochs; ++e) {
      EXPECT_EQ(points[e]["step"], e);
      double v = points[e]["value"];
      EXPECT_GT(v, 0.0);
      EXPECT_LE(v, 1.0);
    }
    nlohmann::json trial = Json({"job", "show", tid, "--json"});
    EXPECT_EQ(trial["metrics"]["test_accuracy"]["count"], 1) << trial.dump();
    EXPECT_EQ(trial["metrics"]["train_loss"]["count"], kEpochs);
    // The command got the overridden sizes, and the model was kept as artifacts.
    std::string command = trial["command"];
    EXPECT_NE(command.find("--train-size 300"), std::string::npos) << command;
    EXPECT_NE(command.find("--epochs 2"), std::string::npos) << command;
    std::vector<std::string> paths;
    for (const auto& a : trial["artifacts"]) paths.push_back(a["path"]);
    for (const char* f : {"outputs/model/model.pt", "outputs/model/score.py",
                          "outputs/model/fmnist.py", "outputs/model/overdrive-model.json"}) {
      EXPECT_NE(std::find(paths.begin(), paths.end(), f), paths.end()) << f;
    }
  }
  // The best trial ran to the end and learned something: chance on 10 classes is 0.1.
  const auto& best = sweep["trials"][0];
  EXPECT_EQ(best["id"], sweep["best_trial"]);
  EXPECT_EQ(best["status"], "completed");
  EXPECT_GT(best["metrics"]["val_accuracy"]["best"].get<double>(), 0.3) << best.dump();
}

// The overrides the example's README gives for GPUs are accepted where a sweep keeps them.
TEST_F(FashionMnistTest, ReadmeOverridesForGpusAndSizesAreValid) {
  CommandResult r = Run({"job", "submit", Example().string(), "--dry-run", "--set",
                         "trial.resources.gpus=1", "--set", "inputs.epochs=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gpus: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epochs: 3"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(workspace_ / "overdrive.db")) << "a dry run stores nothing";
}

}  // namespace
}  // namespace overdrive::testing
