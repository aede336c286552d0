// Source positions, input errors and ${{...}} substitution. The YAML parser is job_parser.cpp.
#include "spec/job_spec.hpp"

#include "common/strings.hpp"

namespace overdrive {

std::string SourcePos::ToString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column > 0 ? column : 1);
}

Error InputError(const SourcePos& pos, const std::string& message) {
  return Error{ErrorCode::kInvalidInput, pos.ToString() + ": " + message};
}

Result<std::string> SubstituteCommand(const std::string& command, const SubstitutionContext& ctx,
                                      const SourcePos& pos) {
  std::string out;
  size_t i = 0;
  while (true) {
    size_t start = command.find("${{", i);
    if (start == std::string::npos) break;
    out.append(command, i, start - i);
    size_t end = command.find("}}", start + 3);
    if (end == std::string::npos) {
      return std::unexpected(InputError(pos, "unterminated '${{' in command (expected '}}')"));
    }
    std::string inner = Trim(std::string_view(command).substr(start + 3, end - start - 3));
    size_t dot = inner.find('.');
    std::string group = dot == std::string::npos ? inner : Trim(inner.substr(0, dot));
    std::string name = dot == std::string::npos ? "" : Trim(inner.substr(dot + 1));
    const std::map<std::string, std::string>* table = nullptr;
    if (group == "inputs") table = &ctx.inputs;
    else if (group == "outputs") table = &ctx.outputs;
    else if (group == "search_space") table = &ctx.search_space;
    const std::string* value = nullptr;
    if (table) {
      auto it = table->find(name);
      if (it != table->end()) value = &it->second;
    }
    if (!value) {
      std::vector<std::string> known;
      for (const auto& [k, v] : ctx.inputs) known.push_back("inputs." + k);
      for (const auto& [k, v] : ctx.outputs) known.push_back("outputs." + k);
      for (const auto& [k, v] : ctx.search_space) known.push_back("search_space." + k);
      std::string message = "unknown reference '${{" + inner + "}}' in command";
      std::string hint = DidYouMeanSuffix(group + "." + name, known);
      if (!hint.empty()) {
        message += hint;
      } else if (!table) {
        message += "; references are ${{inputs.NAME}}, ${{outputs.NAME}} or ${{search_space.NAME}}";
      } else if (table->empty()) {
        message += "; the job defines no " + group;
      }
      return std::unexpected(InputError(pos, message));
    }
    out += ShellQuote(*value);
    i = end + 2;
  }
  out.append(command, i, std::string::npos);
  return out;
}

}  // namespace overdrive
