// `overdrive model ...`: the model registry on the command line (register, list, show,
// download, alias). Thin glue over registry/model_registry.hpp.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

// Adds the `model` subcommand group to `app`. Its callbacks read `g` and set `code` (the exit
// code), so both must outlive the parse.
void AddModelCommands(CLI::App& app, const Globals& g, int& code);

}  // namespace overdrive
