// Secrets sealed at rest (issue 14: the credentials of datastores, Azure's Key Vault part).
// AES-256-GCM with a 32-byte key that never sits in the database:
//   $OVERDRIVE_SECRET_KEY (64 hex digits), else the key file $OVERDRIVE_SECRET_KEY_FILE, else
//   the workspace's `secret.key` (made on first use: 32 random bytes, mode 0600; a key file
//   others may read is refused, as ssh refuses such keys).
// A sealed value is "od1:<key id>:<base64 of nonce | ciphertext | tag>"; the secret's name is
// authenticated with it (a sealed value copied to another name does not open), and the key id
// (8 hex digits of the key's SHA-256) lets a wrong key be named rather than guessed at.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace overdrive {

class SecretBox {
 public:
  // `key`: 32 bytes. kInvalidInput otherwise.
  static Result<SecretBox> FromKey(std::string key);
  // The key as the header says; `create`: make the default key file when there is no key yet.
  // Errors name where the key was looked for and how to provide one.
  static Result<SecretBox> Load(const std::filesystem::path& default_file, bool create);

  std::string Seal(const std::string& name, const std::string& value) const;
  // kInvalidInput when `sealed` is not a sealed value, was sealed with another key (both ids
  // named), or does not open (tampered with, or sealed under another name).
  Result<std::string> Open(const std::string& name, const std::string& sealed) const;
  const std::string& key_id() const { return key_id_; }

 private:
  SecretBox(std::string key, std::string key_id) : key_(std::move(key)), key_id_(std::move(key_id)) {}
  std::string key_;
  std::string key_id_;
};

class MetadataStore;

// The name rules for secrets: a letter or digit first, then letters, digits, '-', '_', '.'
// (at most 128).
Result<void> ValidateSecretName(const std::string& name);

// Seals `value` as secret `name` and stores it (replacing one of that name). Refused (naming
// both key ids) when the store's secrets were sealed with another key, since values sealed
// with two keys could not all be opened later. Values: 1 byte to 1 MiB.
Result<void> StoreSecret(MetadataStore& store, const SecretBox& box, const std::string& name,
                         const std::string& value);

}  // namespace overdrive
