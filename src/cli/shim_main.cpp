// overdrive-shim: the process that owns one run, started by the local executor. A program of its
// own so that starting a run loads only what the shim needs (see src/executor/shim.cpp).
#include <cstring>
#include <cstdio>

#include "executor/executor.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "_shim") == 0) return overdrive::RunShim(argc, argv);
  std::fprintf(stderr, "overdrive-shim is started by overdrive's local executor, not by people\n");
  return 2;
}
