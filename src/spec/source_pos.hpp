// Where a value was written: every message about user input says file:line:col. Shared by the
// job parser and the environment parser (environment_spec.hpp), which job_spec.hpp includes.
#pragma once

#include <string>

#include "common/result.hpp"

namespace overdrive {

struct SourcePos {
  std::string file;  // as given on the command line, or "--set"
  int line = 0;      // 1-based; 0 = unknown
  int column = 0;    // 1-based
  // "file:line:col" (or just "file" when the position is unknown).
  std::string ToString() const;
};

// "pos: message" as an InvalidInput error.
Error InputError(const SourcePos& pos, const std::string& message);

}  // namespace overdrive
