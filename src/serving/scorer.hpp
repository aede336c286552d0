// Internal seam of the serving part: what the HTTP front end asks of a model. Two
// implementations: the in-process XGBoost scorer and the pool of Python scoring-script workers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "serving/endpoint.hpp"

namespace overdrive::serving {

// An HTTP answer: status code and a JSON body.
struct ScoreReply {
  int status = 200;
  std::string body;
};

// {"error": message} plus `extra`'s fields, with the given status.
ScoreReply ErrorReply(int status, std::string_view message,
                      nlohmann::json extra = nlohmann::json::object());

class Scorer {
 public:
  virtual ~Scorer() = default;
  // Scores one request. `raw` is the request body as received and `parsed` its JSON (already
  // checked to be valid). Never throws; every failure is a reply with an error status.
  virtual ScoreReply Score(std::string_view raw, const nlohmann::json& parsed) = 0;
  virtual bool Ready() const = 0;
  // Fields added to /metadata ("kind", "input", ...).
  virtual nlohmann::json Metadata() const = 0;
  // Fields added to /health ("workers", "last_error", ...).
  virtual nlohmann::json Health() const = 0;
  virtual std::vector<int> WorkerPids() const = 0;
  // Stops background work (workers) and waits for it. Idempotent.
  virtual void Shutdown() = 0;
};

// Whether libxgboost loads `file` as a model; on failure `error` gets libxgboost's message.
bool XgboostLoads(const std::filesystem::path& file, std::string* error);

Result<std::unique_ptr<Scorer>> MakeXgboostScorer(const ModelLayout& layout);
Result<std::unique_ptr<Scorer>> MakeScriptScorer(const ModelLayout& layout,
                                                 const EndpointOptions& options);

// The source of scoring_worker.py, embedded at build time.
extern const char* const kScoringWorkerSource;

}  // namespace overdrive::serving
