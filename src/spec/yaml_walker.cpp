#include "spec/yaml_walker.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace overdrive::spec_yaml {

namespace fs = std::filesystem;

namespace {
// Environment, conda, datastore and data files are a few hundred bytes; this bounds a wrong path
// (a data file).
constexpr std::int64_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxNodes = 20000;
constexpr int kMaxDepth = 50;
}  // namespace

Result<std::string> ReadSmallFile(const fs::path& path, const SourcePos& pos,
                                  const std::string& what, const std::string& written) {
  std::string where = " (resolved to " + path.string() + ")";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Fail(pos, what + " '" + written + "' does not exist" + where);
    return Fail(pos, "cannot read " + what + " '" + written + "'" + where + ": " +
                         std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return Fail(pos, what + " '" + written + "' is a folder" + where);
  if (!S_ISREG(st.st_mode)) {
    return Fail(pos, what + " '" + written + "' is not a regular file" + where);
  }
  if (st.st_size > kMaxFileBytes) {
    return Fail(pos, what + " '" + written + "' is larger than 1 MiB" + where +
                         "; is this the right file?");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(pos, "cannot read " + what + " '" + written + "'" + where);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (static_cast<std::int64_t>(text.size()) > kMaxFileBytes) {
    return Fail(pos, what + " '" + written + "' is larger than 1 MiB" + where);
  }
  return text;
}

Result<YAML::Node> LoadYaml(const std::string& text, const std::string& file,
                            const std::string& what) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    SourcePos p{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                e.mark.is_null() ? 0 : e.mark.column + 1};
    return Fail(p, e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) return Fail(SourcePos{file, 1, 1}, what + " is empty");
  size_t budget = kMaxNodes;
  if (!YamlWithinLimits(root, kMaxDepth, budget)) {
    return Fail(SourcePos{file, 1, 1}, what + " is too large or too deeply nested");
  }
  return root;
}

YamlPosFn MarkPos(const std::string& file) {
  return [file](const YAML::Node& n) {
    if (!n.IsDefined() || n.Mark().is_null()) return SourcePos{file, 0, 0};
    return SourcePos{file, n.Mark().line + 1, n.Mark().column + 1};
  };
}

Result<void> CheckName(const std::string& s, size_t max, bool letter_first,
                       const std::string& what) {
  if (s.empty()) return MakeError(ErrorCode::kInvalidInput, what + " must not be empty");
  if (s.size() > max) {
    return MakeError(ErrorCode::kInvalidInput,
                     what + " '" + Printable(s) + "' is longer than " + std::to_string(max) +
                         " characters");
  }
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool ok = std::isalnum(c) || ((c == '-' || c == '_' || c == '.') && !(i == 0 && letter_first));
    if (!ok) {
      return MakeError(ErrorCode::kInvalidInput,
                       what + " '" + Printable(s) + "' may contain only letters, digits, '-', "
                                                    "'_' and '.'" +
                           (letter_first ? ", starting with a letter or digit" : ""));
    }
  }
  return {};
}

}  // namespace overdrive::spec_yaml
