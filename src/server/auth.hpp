// API tokens: like a shared-access signature, a token is limited (a scope, optionally one
// experiment), may expire, and is revocable. The secret ("odt_" + 40 hex characters) is shown
// once; the store keeps only its SHA-256.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {

enum class Scope { kRead = 0, kWrite = 1, kAdmin = 2 };
std::optional<Scope> ParseScope(const std::string& name);
const char* ScopeName(Scope s);

std::string HashTokenSecret(const std::string& secret);

struct CreatedToken {
  ApiToken token;
  std::string secret;
};
// expires_in_s 0 = never.
Result<CreatedToken> CreateApiToken(MetadataStore& store, Scope scope,
                                    const std::string& experiment, double expires_in_s,
                                    const std::string& name);

// "90" / "90s", "30m", "24h", "7d" -> seconds; kInvalidInput naming the value otherwise.
Result<double> ParseTtl(const std::string& text);

// Who is asking. With auth off everyone is an anonymous admin (the server then listens on
// loopback only).
struct Principal {
  bool anonymous = false;
  Scope scope = Scope::kRead;
  std::string experiment;  // "" = all
  std::string token_id;
  bool Allows(Scope needed) const { return static_cast<int>(scope) >= static_cast<int>(needed); }
  bool SeesExperiment(const std::string& name) const {
    return experiment.empty() || experiment == name;
  }
};

// Checks bearer tokens against the store. Lookups are cached for two seconds, so a token
// revoked with `overdrive token revoke` stops working within two seconds (at once when revoked
// through this server).
class Authenticator {
 public:
  explicit Authenticator(bool required) : required_(required) {}
  // Once a token exists, every request needs one, and that never switches off again while the
  // server runs (revoking every token locks everyone out rather than opening the server).
  bool required() const { return required_.load(); }
  // While tokens are not yet required: looks in the store for one made meanwhile (through this
  // server or by `overdrive token create` on its workspace) and requires tokens from now on
  // if there is.
  Result<bool> Refresh(MetadataStore& store);
  // `store` may be null when tokens are not required.
  // kInvalidInput (-> 401) with the reason when the request carries no valid token. The token
  // comes from "Authorization: Bearer X", or ?token=X (EventSource and download links cannot
  // set headers).
  Result<Principal> Authenticate(MetadataStore* store, const std::string& authorization,
                                 const std::string& query_token);
  void Forget() {
    std::lock_guard<std::mutex> lock(mu_);
    cache_.clear();
  }

 private:
  std::atomic<bool> required_;
  std::mutex mu_;
  struct Cached {
    std::optional<ApiToken> token;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Cached> cache_;  // by secret hash
};

}  // namespace overdrive
