#include <cstring>

#include "cli/app.hpp"
#include "executor/executor.hpp"

int main(int argc, char** argv) {
  // The process that owns one run (started by the local executor); not for people.
  if (argc > 1 && std::strcmp(argv[1], "_shim") == 0) return overdrive::RunShim(argc, argv);
  return overdrive::RunCli(argc, argv);
}
