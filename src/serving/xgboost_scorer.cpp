// Native models: an XGBoost booster loaded from JSON/UBJSON and scored in-process through
// libxgboost's C API (in-place prediction from a dense float matrix; no Python, no DMatrix).
#include <xgboost/c_api.h>

#include <cmath>
#include <limits>
#include <mutex>

#include "serving/scorer.hpp"

namespace overdrive::serving {

namespace {

using nlohmann::json;

std::string LastXgbError() {
  const char* e = XGBGetLastError();
  std::string s = e ? e : "unknown error";
  // libxgboost prefixes messages with "[time] path:line: "; keep only what a user can act on.
  if (auto pos = s.find(": "); s.starts_with("[") && pos != std::string::npos)
    s = s.substr(pos + 2);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (auto nl = s.find('\n'); nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

class Booster {
 public:
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() {
    if (handle_) XGBoosterFree(handle_);
  }
  bool Load(const std::filesystem::path& file, std::string* error) {
    if (XGBoosterCreate(nullptr, 0, &handle_) != 0) {
      *error = LastXgbError();
      handle_ = nullptr;
      return false;
    }
    if (XGBoosterLoadModel(handle_, file.c_str()) != 0) {
      *error = LastXgbError();
      return false;
    }
    return true;
  }
  BoosterHandle get() const { return handle_; }

 private:
  BoosterHandle handle_ = nullptr;
};

// Nested JSON array of `shape` from a flat buffer (row-major).
json Reshape(const float* values, const std::vector<std::size_t>& shape, std::size_t dim,
             std::size_t& offset) {
  json out = json::array();
  if (dim + 1 == shape.size()) {
    for (std::size_t i = 0; i < shape[dim]; ++i)
      out.push_back(static_cast<double>(values[offset++]));
    return out;
  }
  for (std::size_t i = 0; i < shape[dim]; ++i)
    out.push_back(Reshape(values, shape, dim + 1, offset));
  return out;
}

class XgboostScorer final : public Scorer {
 public:
  explicit XgboostScorer(ModelLayout layout) : layout_(std::move(layout)) {}

  Result<void> Load() {
    std::string error;
    if (!booster_.Load(layout_.file, &error)) {
      return MakeError(ErrorCode::kInvalidInput,
                       "cannot load XGBoost model " + layout_.file.string() + ": " + error);
    }
    bst_ulong n = 0;
    if (XGBoosterGetNumFeature(booster_.get(), &n) != 0) {
      return MakeError(ErrorCode::kInvalidInput, "XGBoost model " + layout_.file.string() +
                                                     " has no feature count: " + LastXgbError());
    }
    num_features_ = static_cast<std::size_t>(n);
    bst_ulong len = 0;
    const char** names = nullptr;
    if (XGBoosterGetStrFeatureInfo(booster_.get(), "feature_name", &len, &names) == 0) {
      for (bst_ulong i = 0; i < len; ++i) feature_names_.emplace_back(names[i]);
    }
    const char* config = nullptr;
    if (XGBoosterSaveJsonConfig(booster_.get(), &len, &config) == 0 && config) {
      auto cfg = json::parse(std::string(config, len), nullptr, false);
      if (!cfg.is_discarded()) {
        auto ptr = json::json_pointer("/learner/objective/name");
        if (cfg.contains(ptr) && cfg[ptr].is_string()) objective_ = cfg[ptr].get<std::string>();
      }
    }
    return {};
  }

  ScoreReply Score(std::string_view raw, const json& parsed) override {
    const json* rows = &parsed;
    if (parsed.is_object()) {
      auto it = parsed.find("data");
      if (it == parsed.end()) {
        return ErrorReply(400, "the body has no \"data\" key: send {\"data\": [[...], ...]} with " +
                                   std::to_string(num_features_) + " features per row");
      }
      rows = &*it;
    }
    if (!rows->is_array()) {
      return ErrorReply(400, "\"data\" must be a list of rows, each a list of " +
                                 std::to_string(num_features_) + " numbers");
    }
    if (rows->empty()) return ErrorReply(400, "\"data\" has no rows");
    std::vector<float> matrix;
    matrix.reserve(rows->size() * num_features_);
    constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
    for (std::size_t r = 0; r < rows->size(); ++r) {
      const json& row = (*rows)[r];
      if (row.is_array()) {
        if (row.size() != num_features_) {
          return ErrorReply(400,
                            "row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                                " values; the model expects " + std::to_string(num_features_) +
                                " features",
                            {{"expected_features", num_features_}, {"row", r}});
        }
        for (std::size_t c = 0; c < row.size(); ++c) {
          const json& v = row[c];
          if (v.is_null()) {
            matrix.push_back(kMissing);
          } else if (v.is_number()) {
            matrix.push_back(v.get<float>());
          } else {
            return ErrorReply(400, "row " + std::to_string(r) + ", column " + std::to_string(c) +
                                       " is " + v.dump() + ", not a number (null means missing)");
          }
        }
      } else if (row.is_object() && !feature_names_.empty()) {
        // Rows keyed by the feature names the model was trained with.
        std::size_t start = matrix.size();
        matrix.resize(start + num_features_, kMissing);
        for (const auto& [key, v] : row.items()) {
          auto pos = std::find(feature_names_.begin(), feature_names_.end(), key);
          if (pos == feature_names_.end()) {
            return ErrorReply(400, "row " + std::to_string(r) + " has unknown feature '" + key +
                                       "'" + DidYouMean(key));
          }
          if (!v.is_null() && !v.is_number()) {
            return ErrorReply(400, "row " + std::to_string(r) + ", feature '" + key + "' is " +
                                       v.dump() + ", not a number");
          }
          if (v.is_number()) matrix[start + (pos - feature_names_.begin())] = v.get<float>();
        }
      } else {
        return ErrorReply(400,
                          "row " + std::to_string(r) + " is " + std::string(row.type_name()) +
                              "; each row must be a list of " + std::to_string(num_features_) +
                              " numbers",
                          {{"expected_features", num_features_}, {"row", r}});
      }
    }
    json array_interface = {
        {"data", {reinterpret_cast<std::uintptr_t>(matrix.data()), true}},
        {"shape", {rows->size(), num_features_}},
        {"typestr", "<f4"},
        {"version", 3},
    };
    // "missing" must be NaN, which JSON cannot spell; libxgboost's parser reads the literal NaN.
    std::string config =
        R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
        R"("strict_shape": false, "cache_id": 0, "missing": NaN})";
    std::string values = array_interface.dump();
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    if (XGBoosterPredictFromDense(booster_.get(), values.c_str(), config.c_str(), nullptr, &shape,
                                  &dim, &out) != 0) {
      return ErrorReply(500, "XGBoost prediction failed: " + LastXgbError());
    }
    std::vector<std::size_t> dims(shape, shape + dim);
    std::size_t offset = 0;
    json predictions = dims.empty() ? json::array() : Reshape(out, dims, 0, offset);
    return ScoreReply{200, json{{"predictions", std::move(predictions)}}.dump()};
  }

  bool Ready() const override { return true; }

  json Metadata() const override {
    json input = {{"features", num_features_}};
    if (!feature_names_.empty()) input["feature_names"] = feature_names_;
    json meta = {{"kind", ModelKindName(ModelKind::kXgboost)},
                 {"file", layout_.file.filename().string()},
                 {"input", input}};
    if (!objective_.empty()) meta["objective"] = objective_;
    return meta;
  }
  json Health() const override { return json::object(); }
  std::vector<int> WorkerPids() const override { return {}; }
  void Shutdown() override {}

 private:
  std::string DidYouMean(const std::string& key) const {
    std::string best;
    std::size_t shown = 0;
    for (const auto& n : feature_names_) {
      if (shown++ == 10) break;
      best += (best.empty() ? "" : ", ") + n;
    }
    return "; the model's features are: " + best + (feature_names_.size() > 10 ? ", ..." : "");
  }

  ModelLayout layout_;
  Booster booster_;
  std::size_t num_features_ = 0;
  std::vector<std::string> feature_names_;
  std::string objective_;
};

}  // namespace

bool XgboostLoads(const std::filesystem::path& file, std::string* error) {
  Booster booster;
  return booster.Load(file, error);
}

Result<std::unique_ptr<Scorer>> MakeXgboostScorer(const ModelLayout& layout) {
  auto scorer = std::make_unique<XgboostScorer>(layout);
  OD_TRY(scorer->Load());
  return std::unique_ptr<Scorer>(std::move(scorer));
}

}  // namespace overdrive::serving
