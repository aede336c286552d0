// The CLI against `overdrive server` (--server URL / $OVERDRIVE_SERVER): the same commands as on
// a local workspace, through the REST API of docs/api.md, printing the dashboard URL of the job
// submitted or shown.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_common.hpp"
#include "spec/environment_spec.hpp"

namespace overdrive {

int RemoteSubmit(const Globals& g, const std::string& file, const std::vector<std::string>& sets,
                 bool detach, bool json);
int RemoteList(const Globals& g, const std::string& experiment, const std::string& status,
               int limit, bool json);
int RemoteShow(const Globals& g, const std::string& id, bool json);
int RemoteLogs(const Globals& g, const std::string& id, bool follow);
int RemoteCancel(const Globals& g, const std::string& id);
int RemoteExport(const Globals& g, const std::string& id, bool csv);
int RemoteMetrics(const Globals& g, const std::string& id, const std::string& name, bool json);

// --server, else $OVERDRIVE_SERVER; "" = local workspace.
std::string ServerUrl(const Globals& g);

// One API call to the server of `g` (GET, POST with a JSON body, DELETE), the reply's JSON or an
// error carrying the server's message: for commands that print what the server answers.
Result<nlohmann::json> RemoteCall(const Globals& g, const std::string& method,
                                  const std::string& path,
                                  const nlohmann::json& body = nlohmann::json());

// `environment create` against the server: the file's text (and its conda file, attached by
// its path relative to the file) in POST /api/v1/environments; the reply is EnvironmentJson's
// plus "created". `spec` is the file as parsed here (a build: context is refused: it would have
// to stay on the server's machine).
Result<nlohmann::json> RemoteCreateEnvironment(const Globals& g, const std::string& file,
                                               const EnvironmentSpec& spec,
                                               const std::string& name, const std::string& version);
// Text for a URL's path segment or query value.
std::string UrlEncode(const std::string& text);

}  // namespace overdrive
