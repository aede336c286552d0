#include "sweep/launch_config.hpp"

#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace overdrive {

namespace {

// The positions of an environment's parts, by the key they are stored under.
template <typename Spec>
auto EnvironmentPositions(Spec& spec) {
  using Pos = std::conditional_t<std::is_const_v<Spec>, const SourcePos*, SourcePos*>;
  return std::vector<std::pair<const char*, Pos>>{{"environment", &spec.pos},
                                                  {"image", &spec.image_pos},
                                                  {"conda_file", &spec.conda_file_pos},
                                                  {"build", &spec.build_pos}};
}

}  // namespace

std::string LaunchConfig::ToJson() const {
  nlohmann::json j;
  j["env"] = env;
  j["cpus"] = cpus;
  j["gpus"] = gpus;
  j["memory_mb"] = memory_mb;
  if (!distribution.empty()) {
    j["distribution"] = {{"type", distribution},
                         {"instance_count", instance_count},
                         {"process_count_per_instance", process_count_per_instance}};
  }
  if (timeout_s) j["timeout_s"] = *timeout_s;
  j["stdout_metrics"] = stdout_metrics;
  j["metrics_pattern"] = metrics_pattern;
  j["outputs"] = outputs;
  for (const auto& in : data_inputs) {
    j["data_inputs"].push_back({{"name", in.name}, {"mode", in.mode}, {"source", in.source.ToJson()}});
  }
  for (const auto& out : data_outputs) {
    nlohmann::json o = {{"name", out.name}, {"type", out.type}, {"mode", out.mode}};
    if (out.dest) o["dest"] = out.dest->ToJson();
    if (!out.asset_name.empty()) o["asset_name"] = out.asset_name;
    if (!out.asset_version.empty()) o["asset_version"] = out.asset_version;
    j["data_outputs"].push_back(o);
  }
  if (environment) {
    j["environment"] = {{"label", environment_label},
                        {"spec", nlohmann::json::parse(environment->ToJson())}};
    // Where its parts were written, so a build failing later still names the place.
    auto& at = j["environment"]["positions"];
    for (const auto& [key, pos] : EnvironmentPositions(*environment)) {
      if (pos->line > 0 || !pos->file.empty()) {
        at[key] = {{"file", pos->file}, {"line", pos->line}, {"column", pos->column}};
      }
    }
  }
  return j.dump();
}

Result<LaunchConfig> LaunchConfig::FromJson(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    LaunchConfig c;
    c.env = j.value("env", std::map<std::string, std::string>{});
    c.cpus = j.value("cpus", 1.0);
    c.gpus = j.value("gpus", 0.0);
    c.memory_mb = j.value("memory_mb", std::int64_t{0});
    if (j.contains("distribution")) {
      const auto& d = j.at("distribution");
      c.distribution = d.value("type", std::string());
      c.instance_count = d.value("instance_count", 1);
      c.process_count_per_instance = d.value("process_count_per_instance", 1);
    }
    if (j.contains("timeout_s")) c.timeout_s = j["timeout_s"].get<double>();
    c.stdout_metrics = j.value("stdout_metrics", true);
    c.metrics_pattern = j.value("metrics_pattern", ExtensionSpec{}.metrics_pattern);
    c.outputs = j.value("outputs", std::vector<std::string>{});
    if (j.contains("data_inputs")) {
      for (const auto& in : j.at("data_inputs")) {
        c.data_inputs.push_back({in.at("name").get<std::string>(), in.value("mode", "ro_mount"),
                                 DataSource::FromJson(in.at("source"))});
      }
    }
    if (j.contains("data_outputs")) {
      for (const auto& o : j.at("data_outputs")) {
        DataOutputConfig out;
        out.name = o.at("name").get<std::string>();
        out.type = o.value("type", "uri_folder");
        out.mode = o.value("mode", "upload");
        if (o.contains("dest")) out.dest = DataSource::FromJson(o.at("dest"));
        out.asset_name = o.value("asset_name", "");
        out.asset_version = o.value("asset_version", "");
        c.data_outputs.push_back(std::move(out));
      }
    }
    if (j.contains("environment")) {
      const auto& e = j.at("environment");
      c.environment_label = e.value("label", std::string());
      OD_ASSIGN_OR_RETURN(c.environment, EnvironmentSpec::FromJson(e.at("spec").dump()));
      if (e.contains("positions")) {
        const auto& at = e.at("positions");
        for (auto [key, pos] : EnvironmentPositions(*c.environment)) {
          if (!at.contains(key)) continue;
          pos->file = at[key].value("file", std::string());
          pos->line = at[key].value("line", 0);
          pos->column = at[key].value("column", 0);
        }
      }
    }
    return c;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kStorage, std::string("corrupt launch record: ") + e.what());
  }
}

LaunchConfig LaunchConfig::FromSpec(const CommandSpec& command, const ExtensionSpec& ext) {
  LaunchConfig c;
  c.env = command.environment_variables;
  c.cpus = command.resources.cpus;
  c.gpus = command.resources.gpus;
  c.memory_mb = command.resources.memory_mb;
  if (!command.distribution.type.empty()) {
    c.distribution = command.distribution.type;
    c.instance_count = command.resources.instance_count;
    c.process_count_per_instance = command.distribution.process_count_per_instance;
  }
  c.timeout_s = command.timeout_s;
  c.stdout_metrics = ext.stdout_metrics;
  c.metrics_pattern = ext.metrics_pattern;
  for (const auto& [name, out] : command.outputs) c.outputs.push_back(name);
  return c;
}

}  // namespace overdrive
