// Helpers shared by the fuzz targets: a checked invariant that says which one broke (libFuzzer
// then saves the input), and a scratch folder per fuzzer process.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

// An invariant of the code under test. On failure prints what broke and aborts, so the input is
// saved as a crash; plain assert() would vanish in a release-flags build.
#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "\nFUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__, \
                   __LINE__, #cond);                                           \
      std::fprintf(stderr, __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                              \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

namespace fuzz {

// A folder of this process under the temp dir, created once and removed at exit.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "overdrive-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline void WriteFile(const std::filesystem::path& p, std::string_view bytes, bool append = false) {
  std::ofstream out(p, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  FUZZ_CHECK(out.good(), "cannot write %s", p.c_str());
}

// Checks that are known to fail on today's src/ (reported, not yet fixed) can be switched off
// with OVERDRIVE_FUZZ_LENIENT=1 so a long run keeps looking for new problems past them.
inline bool Lenient() {
  static const bool lenient = [] {
    const char* v = std::getenv("OVERDRIVE_FUZZ_LENIENT");
    return v != nullptr && *v != '\0' && std::string_view(v) != "0";
  }();
  return lenient;
}

// A short printable rendering of bytes for failure messages.
inline std::string Hex(std::string_view s, std::size_t max = 64) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace fuzz
