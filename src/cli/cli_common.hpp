// What the command groups of the `overdrive` CLI share: exit codes, the error line, the global
// flags and opening the workspace they name.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "store/records.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// Exit codes (see app.hpp): 1 the operation failed, 2 the user's input is wrong.
constexpr int kExitFailure = 1;
constexpr int kExitInvalidInput = 2;

// Prints "overdrive: <message>" to stderr; returns the exit code for the error.
int Fail(const Error& e);

// Every `--json` output goes through here: `j` as text (`indent` -1: one line) and a newline.
// Invalid UTF-8 that reached the store before names were checked is written as U+FFFD instead
// of aborting the command (nlohmann throws on it by default).
std::string DumpJson(const nlohmann::json& j, int indent = 2);
void PrintJson(const nlohmann::json& j, int indent = 2);  // to stdout

// Flags given before the subcommand.
struct Globals {
  std::string workspace;
  std::string db;      // --db postgresql://... ($OVERDRIVE_DB): the metadata store elsewhere
  std::string server;  // --server URL ($OVERDRIVE_SERVER): talk to `overdrive server` instead
  std::string token;   // --token ($OVERDRIVE_TOKEN): bearer token for --server
};

// Exit code of a foreground run: 0 completed, 124 timed out, 130 canceled, the run's own exit
// code when it failed with one, else 1.
int ExitCodeFor(RunStatus status, std::optional<int> exit_code);
inline int ExitCodeFor(const RunRecord& run) { return ExitCodeFor(run.status, run.exit_code); }

// The workspace of --workspace / $OVERDRIVE_WORKSPACE / ./.overdrive (with its metadata in
// --db / $OVERDRIVE_DB when set); `create` makes it.
Result<std::unique_ptr<Workspace>> OpenWorkspace(const Globals& g, bool create);

// A run by id or unique prefix.
Result<RunRecord> FindRun(Workspace& ws, const std::string& id_or_prefix);

}  // namespace overdrive
