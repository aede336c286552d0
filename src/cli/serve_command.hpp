// `overdrive serve`: an HTTP scoring endpoint for one model (see serving/endpoint.hpp).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"
#include "common/result.hpp"
#include "executor/executor.hpp"

namespace overdrive {

// A model reference (MODEL[:VERSION|@ALIAS]) resolved to a local folder of files.
struct ServedModel {
  std::filesystem::path folder;
  std::string name;
  std::string version;
  // The environment of the run that made the model (built or found again); its scoring script
  // runs there. Empty label: the run had none.
  std::string environment_label;
  std::string environment_kind;   // "venv" or "image"
  std::string environment_hash;
  std::filesystem::path venv;     // a venv (on this machine, or made in the image)
  std::optional<ContainerSpec> container;  // an image environment
};
// `environment`: also prepare the model's environment (false: --python was given).
using ModelResolver = std::function<Result<ServedModel>(const Globals& g, const std::string& ref,
                                                        bool environment)>;

// Adds `overdrive serve [MODEL] [--path DIR] [--host H] [--port P] [--workers N] ...`.
// `resolve` turns MODEL into a folder (the registry); without it only --path is accepted.
// Runs until SIGINT/SIGTERM, then stops gracefully. `g` and `code` must outlive the parse.
void AddServeCommand(CLI::App& app, const Globals& g, int& code, ModelResolver resolve = nullptr);

}  // namespace overdrive
