// The `overdrive` command line: thin glue that parses flags and calls the parts.
#pragma once

namespace overdrive {

// Exit codes: 0 success; 1 the operation or the run failed; 2 bad input (job file, flags);
// a foreground `job submit` exits with the run's own exit code when it failed with one.
int RunCli(int argc, char** argv);

}  // namespace overdrive
