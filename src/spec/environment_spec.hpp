// Environments (issue 13): Azure ML CLI v2's environment YAML
// (https://azuremlschemas.azureedge.net/latest/environment.schema.json) and a job's
// `environment:` key, parsed with positions for file:line:col messages. What an environment is
// made of; building it is the environment part's (src/environment), running in it the executor's.
//
// Environment YAML keys: $schema, name, version, description, tags, image, conda_file,
// build {path, dockerfile_path}, os_type (linux only), inference_config (accepted, noted in
// `ignored`), and Overdrive's extension `overdrive: {python, system_site_packages}`. At least one
// of image, conda_file and build. Unknown keys are errors with a did-you-mean hint.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/source_pos.hpp"

namespace overdrive {

// A conda file (`conda_file:`), as far as Overdrive can honour it: the Python version asked for
// (`python=3.11` / `python==3.11.4` / `python`), pip requirements (the `pip:` list), and the
// other conda dependencies, which cannot be installed here (no conda): each is named in the
// error when a build is asked for (unless it is satisfied by the interpreter, e.g. `pip`).
struct CondaSpec {
  std::string name;
  // Version text after python= / python== ("3.11"); another operator is kept with it
  // (">=3.8"); "" for a bare `python`; nullopt when python is not listed.
  std::optional<std::string> python;
  std::vector<std::string> pip;                // requirement lines, as written
  std::vector<std::string> conda_dependencies; // other entries of `dependencies`, as written
                                               // (python's entry is not among them)
  std::vector<std::string> channels;
  SourcePos pos;                               // the conda file itself (line 0)
  std::map<std::string, SourcePos> dependency_pos;  // each entry (conda and pip), by its text
};

// An environment: from an environment YAML file (`environment create -f`) or inline in a job.
struct EnvironmentSpec {
  std::string name;                 // "" for an inline environment without one
  std::string version;              // "" = next version at create; inline: none
  std::string description;
  std::map<std::string, std::string> tags;
  // Container image: a local image store name (`localhost/x:tag`, `docker.io/library/python:3.11`
  // must already be in the local image store: no registry is reached).
  std::string image;
  SourcePos image_pos;
  // conda_file: absolute, resolved against the YAML's folder (nullopt when the conda spec was
  // written inline as a mapping), its text as read (kept with a stored version, so a later
  // change of the file does not change it) and its content parsed.
  std::optional<std::filesystem::path> conda_file;
  std::string conda_text;
  std::optional<CondaSpec> conda;
  SourcePos conda_file_pos;
  // build: {path, dockerfile_path}: a container build context (absolute, an existing folder) and
  // the Containerfile within it (default "Dockerfile"; "Containerfile" when Dockerfile is absent
  // and none was named). The context's files are not copied: the build hashes them.
  std::optional<std::filesystem::path> build_path;
  std::string dockerfile_path;
  SourcePos build_pos;
  std::string os_type = "linux";    // the only one accepted
  // Overdrive extension `overdrive: {python: /usr/bin/python3, system_site_packages: true,
  // network: none}`:
  // the interpreter a venv is made from, and whether it sees the system's packages.
  std::string python = "/usr/bin/python3";
  bool system_site_packages = true;
  // `overdrive: {network: host}`: the podman network a container environment's runs get (""
  // = none: loopback only). Where runs go, not what is built: not part of the content hash.
  std::string network;
  SourcePos network_pos;
  SourcePos pos;                    // the mapping (file:line:col of `environment:` or line 1)
  // "file:line:col: 'inference_config' ..." notes for keys accepted but not acted on.
  std::vector<std::string> ignored;

  // "venv" (conda_file only), "image" (image, with or without conda_file), "build" (build:).
  std::string Kind() const;
  // The spec as canonical JSON (sorted keys, one line): name, version, description, tags, kind,
  // image, conda_file, conda_text, conda {name, python, pip, conda_dependencies, channels},
  // build {path, dockerfile_path}, os_type, python, system_site_packages. Positions and notes
  // are not included. What is stored as environments.spec_json.
  std::string ToJson() const;
  // The inverse of ToJson (positions empty). kInvalidInput for text that is not such an object.
  static Result<EnvironmentSpec> FromJson(const std::string& text);
};

// A job's `environment:` as written, resolved later against the workspace's assets.
struct EnvironmentRef {
  enum class Kind {
    kNone,     // no `environment:` key: the node's own environment
    kInline,   // a mapping: `inline_spec` holds it
    kAsset,    // azureml:NAME:VERSION, azureml:NAME@latest, azureml://registries/.../NAME/...
    kHost,     // the job's top-level `overdrive: {environment: host}`: the explicit choice of
               // the node's own Python (the old behaviour), whatever `environment:` says
  };
  Kind kind = Kind::kNone;
  std::optional<EnvironmentSpec> inline_spec;
  std::string name;      // kAsset
  std::string version;   // kAsset: "" with label "latest"
  std::string label;     // kAsset: "latest" for @latest / labels/latest / a bare NAME
  std::string registry;  // kAsset: <reg> of azureml://registries/<reg>/...; "" otherwise
  std::string text;      // as written ("" for kNone; kHost: the `environment:` text, if any)
  SourcePos pos;         // the value of `environment:` (kHost: of `overdrive.environment`)
};

// Parses an environment YAML file (errors: kInvalidInput "file:line:col: ..."; kNotFound when
// the file cannot be read). Paths in it are relative to the file's folder.
Result<EnvironmentSpec> ParseEnvironmentFile(const std::filesystem::path& path);
Result<EnvironmentSpec> ParseEnvironmentText(const std::string& text, const std::string& file,
                                             const std::filesystem::path& base_dir);
// Parses a conda file's text (errors name the file and line).
Result<CondaSpec> ParseCondaText(const std::string& text, const std::string& file);
// Parses a job's `environment:` scalar: azureml:NAME:VERSION, azureml:NAME@latest,
// azureml://registries/<reg>/environments/NAME/versions/V or .../labels/latest, an ARM id
// (azureml:/subscriptions/.../environments/NAME/versions/V), and without the prefix
// NAME:VERSION, NAME@latest and a bare NAME (= @latest). Other labels than latest, empty parts
// and other forms are errors at `pos`.
Result<EnvironmentRef> ParseEnvironmentName(const std::string& text, const SourcePos& pos);

// Environment names: a letter or digit first, then letters, digits, '-', '_', '.' (at most 255;
// Azure's rule). Versions: letters, digits, '-', '_', '.' (at most 64). Error text names `what`.
Result<void> ValidateEnvironmentName(const std::string& name);
Result<void> ValidateEnvironmentVersion(const std::string& version);

}  // namespace overdrive
