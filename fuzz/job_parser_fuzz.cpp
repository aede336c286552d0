// libFuzzer target for the job-file parser: any bytes must give a JobSpec or an error value,
// never a crash, a hang or an exception. Leading lines "#set path=value" become --set overrides
// so the override code is fuzzed too (they stay YAML comments for the document itself).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "spec/job_spec.hpp"

namespace {

const std::filesystem::path& BaseDir() {
  // A folder that exists, so relative code/input paths are checked against something real.
  static const std::filesystem::path dir = std::filesystem::temp_directory_path();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  size_t pos = 0;
  while (pos < text.size() && text.compare(pos, 5, "#set ") == 0 && overrides.size() < 8) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    overrides.push_back(text.substr(pos + 5, end - pos - 5));
    pos = end + 1;
  }
  auto job = overdrive::ParseJobText(text, "fuzz.yml", BaseDir(), overrides);
  if (job) {
    // Exercise substitution on whatever the parse accepted.
    overdrive::SubstitutionContext ctx;
    for (const auto& [name, in] : job->command.inputs) ctx.inputs[name] = in.path;
    for (const auto& [name, out] : job->command.outputs) ctx.outputs[name] = "/out/" + name;
    if (job->sweep) {
      for (const auto& [name, p] : job->sweep->param_pos) ctx.search_space[name] = "it's 1";
    }
    auto cmd = overdrive::SubstituteCommand(job->command.command, ctx, job->command.command_pos);
    if (!cmd) __builtin_trap();  // the parser already validated every reference
  } else if (job.error().message.empty()) {
    __builtin_trap();  // every error must say something
  }
  return 0;
}
