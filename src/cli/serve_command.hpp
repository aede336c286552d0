// `overdrive serve`: an HTTP scoring endpoint for one model (see serving/endpoint.hpp).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"
#include "common/result.hpp"

namespace overdrive {

// A model reference (MODEL[:VERSION|@ALIAS]) resolved to a local folder of files.
struct ServedModel {
  std::filesystem::path folder;
  std::string name;
  std::string version;
};
using ModelResolver = std::function<Result<ServedModel>(const Globals& g, const std::string& ref)>;

// Adds `overdrive serve [MODEL] [--path DIR] [--host H] [--port P] [--workers N] ...`.
// `resolve` turns MODEL into a folder (the registry); without it only --path is accepted.
// Runs until SIGINT/SIGTERM, then stops gracefully. `g` and `code` must outlive the parse.
void AddServeCommand(CLI::App& app, const Globals& g, int& code, ModelResolver resolve = nullptr);

}  // namespace overdrive
