// Internal to the spec part: the environment parser on a YAML node already loaded, so the job
// parser can parse an inline `environment:` mapping with positions in the job file (its own
// position function knows --set overrides) and paths relative to the job file's folder.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <string>

#include "spec/environment_spec.hpp"

namespace overdrive {

using YamlPosFn = std::function<SourcePos(const YAML::Node&)>;

// `node` is the environment mapping; `where` its position (or its key's); `context` names it in
// messages ("environment", "trial.environment", "the environment file"). yaml-cpp exceptions
// are the caller's to catch.
Result<EnvironmentSpec> ParseEnvironmentNode(const YAML::Node& node, const SourcePos& where,
                                             const YamlPosFn& pos,
                                             const std::filesystem::path& base_dir,
                                             const std::string& context);

// Whether `n` stays within `max_depth` levels and `budget` values (counted down as it goes):
// aliases can make a small file a huge tree. Shared by the job and environment parsers.
bool YamlWithinLimits(const YAML::Node& n, int max_depth, size_t& budget, int depth = 0);

}  // namespace overdrive
