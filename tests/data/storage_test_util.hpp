// The storage emulators the data tests run against: Azurite (Azure Blob Storage) and s3rver,
// started by scripts/storage.sh, which scripts/test.sh runs; it exports OVERDRIVE_TEST_AZURITE
// and OVERDRIVE_TEST_S3. Without them the tests fail, unless OVERDRIVE_TEST_STORAGE=0 skips them
// on purpose.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace overdrive {

// Azurite's published well-known account and key.
inline constexpr const char* kAzuriteAccount = "devstoreaccount1";
inline constexpr const char* kAzuriteKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

inline std::string EnvOr(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
// http://127.0.0.1:PORT/devstoreaccount1
inline std::string AzuriteUrl() { return EnvOr("OVERDRIVE_TEST_AZURITE"); }
// http://127.0.0.1:PORT
inline std::string S3Url() { return EnvOr("OVERDRIVE_TEST_S3"); }

inline std::string StorageUnavailable() {
  if (EnvOr("OVERDRIVE_TEST_STORAGE") == "0") {
    return "OVERDRIVE_TEST_STORAGE=0: the storage emulator cases are skipped on purpose";
  }
  if (AzuriteUrl().empty() || S3Url().empty()) {
    return "no storage emulators: run `eval \"$(scripts/storage.sh start)\"` first (scripts/test.sh "
           "does), or OVERDRIVE_TEST_STORAGE=0 to skip these cases";
  }
  return "";
}

// A name no other test (or earlier run against the same emulator) uses: lowercase, digits, '-'.
inline std::string UniqueStorageName(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
         std::to_string(static_cast<long long>(::time(nullptr)) % 100000);
}

// Makes a container (Azurite) or bucket (s3rver) with the emulator's admin credentials, as an
// operator would before registering a datastore. Returns rclone's exit code.
inline int MakeContainer(const std::string& name) {
  std::string cmd = "RCLONE_CONFIG=/dev/null RCLONE_CONFIG_E_TYPE=azureblob RCLONE_CONFIG_E_USE_EMULATOR=true "
                    "RCLONE_CONFIG_E_ENDPOINT='" + AzuriteUrl() + "' rclone -q mkdir e:" + name;
  return std::system(cmd.c_str());
}
inline int MakeBucket(const std::string& name) {
  std::string cmd = "env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_S_TYPE=s3 "
                    "RCLONE_CONFIG_S_PROVIDER=Other RCLONE_CONFIG_S_ENDPOINT='" + S3Url() +
                    "' RCLONE_CONFIG_S_FORCE_PATH_STYLE=true RCLONE_CONFIG_S_ACCESS_KEY_ID=S3RVER "
                    "RCLONE_CONFIG_S_SECRET_ACCESS_KEY=S3RVER rclone -q mkdir s:" + name;
  return std::system(cmd.c_str());
}

}  // namespace overdrive

// In a test's body or SetUp: skips without the emulators; fails instead under
// OVERDRIVE_TEST_STORAGE=1, which scripts/test.sh sets (there they must not pass by skipping).
#define OD_REQUIRE_STORAGE()                                                         \
  do {                                                                               \
    if (std::string od_why = ::overdrive::StorageUnavailable(); !od_why.empty()) {  \
      if (::overdrive::EnvOr("OVERDRIVE_TEST_STORAGE") == "1") FAIL() << od_why;     \
      GTEST_SKIP() << od_why;                                                        \
    }                                                                                \
  } while (0)
