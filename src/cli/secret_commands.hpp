// `overdrive secret set|list|delete`: credentials sealed in the workspace's store
// (store/secret_box.hpp). Values are read from a file, a variable or stdin — never from the
// command line, where `ps` would show them — and never printed.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

// Adds the `secret` subcommand group. Its callbacks read `g` and set `code`.
void AddSecretCommands(CLI::App& app, const Globals& g, int& code);

// The name rules for secrets: a letter or digit first, then letters, digits, '-', '_', '.'
// (at most 128).
Result<void> ValidateSecretName(const std::string& name);

}  // namespace overdrive
