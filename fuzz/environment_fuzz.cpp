// libFuzzer target for environment YAML (spec/environment_spec.cpp): any bytes must give an
// EnvironmentSpec or an error value, never a crash, a hang or an exception. The same bytes go
// through the conda-file parser and, line by line, the `environment:` reference parser; an
// accepted spec must survive its stored form (ToJson -> FromJson -> ToJson unchanged).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "spec/environment_spec.hpp"

namespace {

const std::filesystem::path& BaseDir() {
  // A folder that exists, so relative conda_file / build paths are checked against something.
  static const std::filesystem::path dir = std::filesystem::temp_directory_path();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto env = overdrive::ParseEnvironmentText(text, "fuzz.yml", BaseDir());
  if (env) {
    std::string json = env->ToJson();
    auto back = overdrive::EnvironmentSpec::FromJson(json);
    if (!back || back->ToJson() != json) __builtin_trap();  // the stored form must round-trip
  } else if (env.error().message.empty()) {
    __builtin_trap();  // every error must say something
  }
  auto conda = overdrive::ParseCondaText(text, "conda.yml");
  if (!conda && conda.error().message.empty()) __builtin_trap();
  size_t pos = 0;
  for (int lines = 0; pos <= text.size() && lines < 16; ++lines) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    auto ref = overdrive::ParseEnvironmentName(text.substr(pos, end - pos),
                                               overdrive::SourcePos{"job.yml", 1, 1});
    if (!ref && ref.error().message.empty()) __builtin_trap();
    pos = end + 1;
  }
  return 0;
}
