#include "cli/secret_commands.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/table.hpp"
#include "common/clock.hpp"
#include "cli/remote_commands.hpp"
#include "store/secret_box.hpp"

namespace overdrive {

namespace {

struct SecretFlags {
  std::string name, from_file, from_env;
  bool json = false;
};

// The value to store: --from-file, --from-env or stdin (one trailing newline dropped).
Result<std::string> ReadValue(const SecretFlags& f) {
  if (!f.from_file.empty() && !f.from_env.empty()) {
    return MakeError(ErrorCode::kInvalidInput, "give --from-file or --from-env, not both");
  }
  std::string value;
  if (!f.from_env.empty()) {
    const char* v = std::getenv(f.from_env.c_str());
    if (!v) {
      return MakeError(ErrorCode::kInvalidInput, "--from-env " + f.from_env + ": not set");
    }
    value = v;
  } else if (!f.from_file.empty()) {
    std::ifstream in(f.from_file, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kInvalidInput, "--from-file " + f.from_file + ": cannot read it");
    value.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    if (::isatty(0)) std::cerr << "value of secret " << f.name << " (then Enter, Ctrl-D): ";
    value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  if (value.empty()) return MakeError(ErrorCode::kInvalidInput, "the secret's value is empty");
  return value;
}

int SaySet(const SecretFlags& f, const std::string& key_id) {
  if (f.json) {
    PrintJson({{"name", f.name}, {"key_id", key_id}});
  } else {
    std::cout << "secret " << f.name << " stored, sealed with key " << key_id << "\n";
  }
  return 0;
}

int CmdSet(const Globals& g, const SecretFlags& f) {
  if (auto ok = ValidateSecretName(f.name); !ok) return Fail(ok.error());
  auto value = ReadValue(f);
  if (!value) return Fail(value.error());
  if (!ServerUrl(g).empty()) {
    auto reply = RemoteCall(g, "POST", "/api/v1/secrets", {{"name", f.name}, {"value", *value}});
    if (!reply) return Fail(reply.error());
    return SaySet(f, reply->value("key_id", std::string()));
  }
  auto ws = OpenWorkspace(g, true);
  if (!ws) return Fail(ws.error());
  auto box = SecretBox::Load((*ws)->root() / "secret.key", true);
  if (!box) return Fail(box.error());
  if (auto stored = StoreSecret((*ws)->store(), *box, f.name, *value); !stored) {
    return Fail(stored.error());
  }
  return SaySet(f, box->key_id());
}

// Names and times: the workspace's, or (--server) the server's.
Result<std::vector<SecretRecord>> ListNames(const Globals& g) {
  if (!ServerUrl(g).empty()) {
    OD_ASSIGN_OR_RETURN(auto reply, RemoteCall(g, "GET", "/api/v1/secrets"));
    std::vector<SecretRecord> out;
    for (const auto& s : reply.value("secrets", nlohmann::json::array())) {
      out.push_back({s.value("name", ""), "", s.value("created_at", 0.0), s.value("updated_at", 0.0)});
    }
    return out;
  }
  OD_ASSIGN_OR_RETURN(auto ws, OpenWorkspace(g, false));
  return ws->store().ListSecrets();
}

int CmdList(const Globals& g, const SecretFlags& f) {
  auto list = ListNames(g);
  if (!list) return Fail(list.error());
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : *list) {
      arr.push_back({{"name", s.name}, {"created_at", s.created_at}, {"updated_at", s.updated_at}});
    }
    PrintJson(arr);
    return 0;
  }
  if (list->empty()) {
    std::cout << "no secrets yet: overdrive secret set NAME --from-file FILE (or stdin)\n";
    return 0;
  }
  Table t({"name", "created", "updated"});
  for (const auto& s : *list) {
    t.Add({s.name, FormatTimestamp(s.created_at), FormatTimestamp(s.updated_at)});
  }
  t.Print(std::cout);
  return 0;
}

int CmdDelete(const Globals& g, const SecretFlags& f) {
  if (!ServerUrl(g).empty()) {
    auto reply = RemoteCall(g, "DELETE", "/api/v1/secrets/" + UrlEncode(f.name));
    if (!reply) return Fail(reply.error());
    std::cout << "secret " << f.name << " deleted\n";
    return 0;
  }
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto gone = (*ws)->store().DeleteSecret(f.name);
  if (!gone) return Fail(gone.error());
  if (!*gone) {
    return Fail({ErrorCode::kNotFound,
                 "no secret named '" + f.name + "' (overdrive secret list shows them)"});
  }
  std::cout << "secret " << f.name << " deleted\n";
  return 0;
}

}  // namespace

void AddSecretCommands(CLI::App& app, const Globals& g, int& code) {
  auto f = std::make_shared<SecretFlags>();
  auto* secret = app.add_subcommand(
      "secret",
      "credentials sealed in the workspace (AES-256-GCM; the key is $OVERDRIVE_SECRET_KEY, "
      "$OVERDRIVE_SECRET_KEY_FILE or <workspace>/secret.key, never the database); values are "
      "never printed");
  secret->require_subcommand(1);
  auto* set = secret->add_subcommand(
      "set", "store (or replace) a secret; the value comes from --from-file, --from-env or "
             "stdin, never the command line");
  set->add_option("name", f->name, "the secret's name")->required();
  set->add_option("--from-file", f->from_file, "read the value from this file");
  set->add_option("--from-env", f->from_env, "read the value from this environment variable");
  set->add_flag("--json", f->json, "print JSON for scripts");
  set->callback([f, &g, &code] { code = CmdSet(g, *f); });
  auto* list = secret->add_subcommand("list", "the secrets' names and times (never values)");
  list->add_flag("--json", f->json, "print JSON for scripts");
  list->callback([f, &g, &code] { code = CmdList(g, *f); });
  auto* del = secret->add_subcommand("delete", "remove a secret");
  del->add_option("name", f->name, "the secret's name")->required();
  del->callback([f, &g, &code] { code = CmdDelete(g, *f); });
}

}  // namespace overdrive
