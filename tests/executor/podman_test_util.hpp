// Whether the container cases can run here: real podman and the test base image. scripts/test.sh
// sets both up and sets OVERDRIVE_TEST_PODMAN=1, which turns "cannot" into a failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "executor/container.hpp"

namespace overdrive {

inline constexpr const char* kTestImage = "localhost/overdrive-base:latest";

// Why container runs cannot be tried here ("" = they can). Asked once per test binary.
inline const std::string& PodmanUnavailable() {
  static const std::string why = [] {
    const char* flag = std::getenv("OVERDRIVE_TEST_PODMAN");
    if (flag && std::string(flag) == "0") {
      return std::string("OVERDRIVE_TEST_PODMAN=0: the container cases are skipped on purpose");
    }
    std::string problem;
    if (RunPodmanQuietly({"--version"}, 30) != 0) {
      problem = "podman is not installed";
    } else if (!ImageExists(kTestImage)) {
      problem = std::string("the test base image ") + kTestImage + " is not in podman's image store";
    }
    if (problem.empty()) return problem;
    return problem +
           "; `scripts/podman.sh setup && scripts/podman.sh base-image` set it up "
           "(scripts/test.sh does, and sets OVERDRIVE_TEST_PODMAN=1)";
  }();
  return why;
}

inline bool PodmanRequired() {
  const char* flag = std::getenv("OVERDRIVE_TEST_PODMAN");
  return flag && std::string(flag) == "1";
}

}  // namespace overdrive

// In a test's body or SetUp: skips it (fails it under OVERDRIVE_TEST_PODMAN=1) without podman.
#define OD_REQUIRE_PODMAN()                                                 \
  do {                                                                      \
    if (const std::string& od_why = ::overdrive::PodmanUnavailable();       \
        !od_why.empty()) {                                                  \
      if (::overdrive::PodmanRequired()) FAIL() << od_why;                  \
      GTEST_SKIP() << od_why;                                               \
    }                                                                       \
  } while (0)
