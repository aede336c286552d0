// Environment assets (issue 13) as the CLI and the server both handle them: a parsed
// environment file stored as an immutable version, looked up by reference, and shown as JSON
// (the `--json` of `environment list/show` and the REST API's environments are the same).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "spec/environment_spec.hpp"
#include "store/metadata_store.hpp"

namespace overdrive {

// The stored spec of a record, with the record's name and version (stored without them, so the
// same file created twice compares equal whatever version it got).
Result<EnvironmentSpec> StoredEnvironmentSpec(const EnvironmentRecord& r);

// name, version, ref, kind, content_hash, description, tags, created_at, spec.
nlohmann::json EnvironmentJson(const EnvironmentRecord& r, const EnvironmentSpec& spec);
// The record back from EnvironmentJson (a client reading a server's reply).
Result<EnvironmentRecord> EnvironmentFromJson(const nlohmann::json& j);

struct CreatedEnvironment {
  EnvironmentRecord record;
  bool existed = false;  // the same spec was already stored under that name and version
};
// Stores `spec` (parsed from `file`) as NAME:VERSION — `name`/`version` when given, else the
// file's; no version = the next number. kInvalidInput without a name or with a bad one;
// kAlreadyExists for a taken version with another spec.
Result<CreatedEnvironment> CreateEnvironmentAsset(MetadataStore& store, EnvironmentSpec spec,
                                                  const std::string& name,
                                                  const std::string& version,
                                                  const std::string& file);

// The record `text` names (NAME, NAME:VERSION, NAME@latest, azureml: prefix allowed);
// kNotFound says how to list and create them. `command` names the asker in messages.
Result<EnvironmentRecord> LookupEnvironment(MetadataStore& store, const std::string& text,
                                            const std::string& command);

}  // namespace overdrive
