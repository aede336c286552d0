#include "store/secret_box.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/strings.hpp"
#include "store/metadata_store.hpp"
#include "store/sha256.hpp"

namespace overdrive {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "od1:";
constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Unbase64(const std::string& text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::optional<std::string> FromHex(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    char* end = nullptr;
    std::string pair = hex.substr(i, 2);
    long v = std::strtol(pair.c_str(), &end, 16);
    if (end != pair.c_str() + 2) return std::nullopt;
    out.push_back(static_cast<char>(v));
  }
  return out;
}

std::string KeyId(const std::string& key) {
  Sha256 h;
  h.Update(key);
  return h.HexDigest().substr(0, 8);
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

const unsigned char* U(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Reads a key file: 32 raw bytes, or 64 hex digits (with a trailing newline allowed).
Result<std::string> ReadKeyFile(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return MakeError(ErrorCode::kNotFound, "no secret key file " + path.string());
  }
  if ((st.st_mode & 077) != 0) {
    return MakeError(ErrorCode::kInvalidInput,
                     "the secret key file " + path.string() +
                         " may be read by others; make it private: chmod 600 " + path.string());
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() == kKeyBytes) return text;
  if (auto bytes = FromHex(Trim(text)); bytes && bytes->size() == kKeyBytes) return *bytes;
  return MakeError(ErrorCode::kInvalidInput, "the secret key file " + path.string() +
                                                 " holds no key (32 bytes, or 64 hex digits)");
}

}  // namespace

Result<SecretBox> SecretBox::FromKey(std::string key) {
  if (key.size() != kKeyBytes) {
    return MakeError(ErrorCode::kInvalidInput, "a secret key is 32 bytes (64 hex digits)");
  }
  std::string id = KeyId(key);
  return SecretBox(std::move(key), std::move(id));
}

Result<SecretBox> SecretBox::Load(const fs::path& default_file, bool create) {
  if (const char* hex = std::getenv("OVERDRIVE_SECRET_KEY"); hex && *hex) {
    auto key = FromHex(Trim(hex));
    if (!key || key->size() != kKeyBytes) {
      return MakeError(ErrorCode::kInvalidInput,
                       "OVERDRIVE_SECRET_KEY must be 64 hex digits (openssl rand -hex 32)");
    }
    return FromKey(std::move(*key));
  }
  fs::path file = default_file;
  bool named = false;
  if (const char* f = std::getenv("OVERDRIVE_SECRET_KEY_FILE"); f && *f) {
    file = f;
    named = true;
  }
  auto key = ReadKeyFile(file);
  if (key) return FromKey(std::move(*key));
  if (key.error().code != ErrorCode::kNotFound) return std::unexpected(key.error());
  if (!create || named) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "no secret key: " + file.string() +
                         " does not exist (set OVERDRIVE_SECRET_KEY or OVERDRIVE_SECRET_KEY_FILE "
                         "to the key the secrets were sealed with)");
  }
  std::string fresh(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(fresh.data()), kKeyBytes) != 1) {
    return MakeError(ErrorCode::kIo, "cannot make a random secret key");
  }
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  // O_EXCL: two first users at once make one key; the loser reads the winner's.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Load(default_file, false);
    return MakeError(ErrorCode::kIo, "cannot create the secret key file " + file.string() + ": " +
                                         std::strerror(errno));
  }
  bool ok = ::write(fd, fresh.data(), fresh.size()) == static_cast<ssize_t>(fresh.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    fs::remove(file, ec);
    return MakeError(ErrorCode::kIo, "cannot write the secret key file " + file.string());
  }
  return FromKey(std::move(fresh));
}

std::string SecretBox::Seal(const std::string& name, const std::string& value) const {
  std::string nonce(kNonceBytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes);
  std::string out(value.size(), '\0'), tag(kTagBytes, '\0');
  CipherCtx c;
  int len = 0;
  EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr);
  EVP_EncryptInit_ex(c.ctx, nullptr, nullptr, U(key_), U(nonce));
  EVP_EncryptUpdate(c.ctx, nullptr, &len, U(name), static_cast<int>(name.size()));  // AAD
  EVP_EncryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(out.data()), &len, U(value),
                    static_cast<int>(value.size()));
  EVP_EncryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &len);
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data());
  return std::string(kPrefix) + key_id_ + ":" + Base64(nonce + out + tag);
}

Result<std::string> SecretBox::Open(const std::string& name, const std::string& sealed) const {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidInput, "secret '" + name + "' " + why);
  };
  if (!StartsWith(sealed, kPrefix) || sealed.size() < 4 + 9) return bad("is not a sealed value");
  std::string id = sealed.substr(4, 8);
  if (sealed[12] != ':') return bad("is not a sealed value");
  if (id != key_id_) {
    return bad("was sealed with key " + id + ", not this key (" + key_id_ +
               "): set OVERDRIVE_SECRET_KEY or OVERDRIVE_SECRET_KEY_FILE to the key it was "
               "sealed with");
  }
  auto raw = Unbase64(sealed.substr(13));
  if (!raw || raw->size() < kNonceBytes + kTagBytes) return bad("is not a sealed value");
  const std::string nonce = raw->substr(0, kNonceBytes);
  const std::string body = raw->substr(kNonceBytes, raw->size() - kNonceBytes - kTagBytes);
  std::string tag = raw->substr(raw->size() - kTagBytes);
  std::string out(body.size(), '\0');
  CipherCtx c;
  int len = 0;
  EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr);
  EVP_DecryptInit_ex(c.ctx, nullptr, nullptr, U(key_), U(nonce));
  EVP_DecryptUpdate(c.ctx, nullptr, &len, U(name), static_cast<int>(name.size()));
  EVP_DecryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(out.data()), &len, U(body),
                    static_cast<int>(body.size()));
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data());
  if (EVP_DecryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &len) != 1) {
    return bad("does not open: it was changed, or sealed under another name");
  }
  return out;
}

Result<void> ValidateSecretName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 128 &&
            std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  }
  if (!ok) {
    return MakeError(ErrorCode::kInvalidInput,
                     "secret name '" + name + "': a letter or digit first, then letters, digits, "
                     "'-', '_' or '.' (at most 128)");
  }
  return {};
}

Result<void> StoreSecret(MetadataStore& store, const SecretBox& box, const std::string& name,
                         const std::string& value) {
  OD_TRY(ValidateSecretName(name));
  if (value.empty()) return MakeError(ErrorCode::kInvalidInput, "the secret's value is empty");
  if (value.size() > (1u << 20)) return MakeError(ErrorCode::kTooLarge, "a secret is at most 1 MiB");
  // One key per store: one stored value tells which key sealed them all.
  OD_ASSIGN_OR_RETURN(auto existing, store.ListSecrets());
  if (!existing.empty()) {
    OD_ASSIGN_OR_RETURN(SecretRecord first, store.GetSecret(existing.front().name));
    OD_TRY(box.Open(first.name, first.sealed));
  }
  SecretRecord r;
  r.name = name;
  r.sealed = box.Seal(name, value);
  return store.PutSecret(r);
}

}  // namespace overdrive
