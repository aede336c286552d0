// `overdrive datastore create|list|show|delete` and `overdrive data create|list|show|download`
// (issue 14): Azure ML CLI v2's datastore and data asset commands on the local workspace.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"

namespace overdrive {

void AddDataCommands(CLI::App& app, const Globals& g, int& code);

}  // namespace overdrive
