#include "server/auth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstdio>

#include "common/clock.hpp"
#include "common/strings.hpp"

namespace overdrive {

std::optional<Scope> ParseScope(const std::string& name) {
  if (name == "read") return Scope::kRead;
  if (name == "write") return Scope::kWrite;
  if (name == "admin") return Scope::kAdmin;
  return std::nullopt;
}

const char* ScopeName(Scope s) {
  switch (s) {
    case Scope::kRead: return "read";
    case Scope::kWrite: return "write";
    case Scope::kAdmin: return "admin";
  }
  return "read";
}

namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

Result<std::string> RandomHex(size_t bytes) {
  unsigned char buf[64];
  if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1) {
    return MakeError(ErrorCode::kInternal, "the OS random source failed");
  }
  return Hex(buf, bytes);
}

}  // namespace

std::string HashTokenSecret(const std::string& secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(secret.data(), secret.size(), md, &n, EVP_sha256(), nullptr);
  return Hex(md, n);
}

Result<CreatedToken> CreateApiToken(MetadataStore& store, Scope scope,
                                    const std::string& experiment, double expires_in_s,
                                    const std::string& name) {
  CreatedToken c;
  OD_ASSIGN_OR_RETURN(std::string id, RandomHex(6));
  OD_ASSIGN_OR_RETURN(std::string secret, RandomHex(20));
  c.secret = "odt_" + secret;
  c.token.id = "tok_" + id;
  c.token.name = name;
  c.token.secret_hash = HashTokenSecret(c.secret);
  c.token.scope = ScopeName(scope);
  c.token.experiment = experiment;
  c.token.created_at = WallSeconds();
  c.token.expires_at = expires_in_s > 0 ? c.token.created_at + expires_in_s : 0;
  OD_TRY(store.CreateToken(c.token));
  return c;
}

Result<double> ParseTtl(const std::string& text) {
  std::string t = Trim(text);
  double mult = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 's': mult = 1; t.pop_back(); break;
      case 'm': mult = 60; t.pop_back(); break;
      case 'h': mult = 3600; t.pop_back(); break;
      case 'd': mult = 86400; t.pop_back(); break;
      default: break;
    }
  }
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size() || v <= 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "invalid duration '" + text + "': use a number with s, m, h or d (24h, 7d)");
  }
  return v * mult;
}

Result<bool> Authenticator::Refresh(MetadataStore& store) {
  if (required_.load()) return true;
  OD_ASSIGN_OR_RETURN(auto list, store.ListTokens());
  for (const auto& t : list) {
    if (t.revoked_at == 0) required_.store(true);
  }
  return required_.load();
}

Result<Principal> Authenticator::Authenticate(MetadataStore* store,
                                              const std::string& authorization,
                                              const std::string& query_token) {
  if (!required_) return Principal{true, Scope::kAdmin, "", ""};
  if (store == nullptr) return MakeError(ErrorCode::kInternal, "no store to check tokens against");
  std::string secret = query_token;
  if (StartsWith(authorization, "Bearer ")) secret = Trim(authorization.substr(7));
  if (secret.empty()) {
    return MakeError(ErrorCode::kInvalidInput,
                     "this server needs a token: send 'Authorization: Bearer <token>' "
                     "(create one with `overdrive token create`)");
  }
  std::string hash = HashTokenSecret(secret);
  std::optional<ApiToken> token;
  auto now = std::chrono::steady_clock::now();
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now - it->second.at < std::chrono::seconds(2)) {
      token = it->second.token;
      cached = true;
    }
  }
  if (!cached) {
    auto found = store->FindToken(hash);
    if (found) {
      token = *found;
    } else if (found.error().code != ErrorCode::kNotFound) {
      return std::unexpected(found.error());
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() > 10000) cache_.clear();
    cache_[hash] = Cached{token, now};
  }
  if (!token) return MakeError(ErrorCode::kInvalidInput, "unknown token");
  if (token->revoked_at > 0) {
    return MakeError(ErrorCode::kInvalidInput, "token " + token->id + " was revoked");
  }
  if (token->expires_at > 0 && WallSeconds() >= token->expires_at) {
    return MakeError(ErrorCode::kInvalidInput, "token " + token->id + " has expired");
  }
  Principal p;
  p.scope = ParseScope(token->scope).value_or(Scope::kRead);
  p.experiment = token->experiment;
  p.token_id = token->id;
  return p;
}

}  // namespace overdrive
