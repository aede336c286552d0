// `overdrive workspace prune`: the retention command for run folders (sweep/run_retention.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

// Keeps references to `g` and `code`, which must outlive the parse.
void AddWorkspaceCommands(CLI::App& app, const Globals& g, int& code);

}  // namespace overdrive
