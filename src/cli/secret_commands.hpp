// `overdrive secret set|list|delete`: credentials sealed in the workspace's store
// (store/secret_box.hpp). Values are read from a file, a variable or stdin — never from the
// command line, where `ps` would show them — and never printed.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

// Adds the `secret` subcommand group (also against a server: --server). Its callbacks read `g`
// and set `code`.
void AddSecretCommands(CLI::App& app, const Globals& g, int& code);

}  // namespace overdrive
