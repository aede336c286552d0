// `overdrive server` (the tracking server and dashboard) and `overdrive token` (its API tokens).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

// Both keep references to `g` and `code`, which must outlive the parse.
void AddServerCommand(CLI::App& app, const Globals& g, int& code);
void AddTokenCommands(CLI::App& app, const Globals& g, int& code);

}  // namespace overdrive
