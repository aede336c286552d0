// `overdrive environment ...`: environment assets on the command line (create, list, show).
// Thin glue over spec/environment_spec.hpp (the YAML) and the MetadataStore's environments.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

// Adds the `environment` subcommand group to `app` and returns it, so that more subcommands
// (build, prune) can join it. Its callbacks read `g` and set `code` (the exit code), so both
// must outlive the parse.
CLI::App* AddEnvironmentCommands(CLI::App& app, const Globals& g, int& code);

}  // namespace overdrive
