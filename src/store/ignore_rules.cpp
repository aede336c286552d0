// IgnoreRules: gitignore semantics (see `git help gitignore`).
//
// Patterns are matched component by component: '*', '?' and [...] are handed to fnmatch on one
// path component at a time, so they never cross a '/', and a "**" component is handled here
// (leading and middle forms match zero or more folders, a trailing one everything inside).
#include <fnmatch.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/strings.hpp"
#include "store/artifact_store.hpp"

namespace overdrive {
namespace {

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  for (auto& part : Split(path, '/')) {
    if (!part.empty()) out.push_back(std::move(part));
  }
  return out;
}

bool MatchComponents(const std::vector<std::string>& pat, size_t pi,
                     const std::vector<std::string>& path, size_t si) {
  if (pi == pat.size()) return si == path.size();
  if (pat[pi] == "**") {
    if (pi + 1 == pat.size()) return si < path.size();  // "x/**": something inside x
    for (size_t k = si; k <= path.size(); ++k) {
      if (MatchComponents(pat, pi + 1, path, k)) return true;
    }
    return false;
  }
  if (si == path.size()) return false;
  if (::fnmatch(pat[pi].c_str(), path[si].c_str(), 0) != 0) return false;
  return MatchComponents(pat, pi + 1, path, si + 1);
}

}  // namespace

void IgnoreRules::AddFile(const std::string& base_dir, const std::string& contents) {
  std::string base;
  for (const auto& c : Components(base_dir)) base += (base.empty() ? "" : "/") + c;
  const int depth = static_cast<int>(Components(base).size());
  for (std::string line : Split(contents, '\n')) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Trailing spaces are dropped unless escaped with a backslash ("foo\ ").
    while (!line.empty() && line.back() == ' ' &&
           !(line.size() >= 2 && line[line.size() - 2] == '\\')) {
      line.pop_back();
    }
    if (line.empty() || line[0] == '#') continue;
    Rule rule;
    rule.base = base;
    rule.depth = depth;
    if (line[0] == '!') {
      rule.negate = true;
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      rule.dir_only = true;
      while (!line.empty() && line.back() == '/') line.pop_back();
    }
    // A slash at the start or in the middle ties the pattern to the ignore file's folder.
    if (line.find('/') != std::string::npos) {
      rule.anchored = true;
      while (!line.empty() && line[0] == '/') line.erase(0, 1);
    }
    if (line.empty()) continue;
    rule.pattern = line;
    rules_.push_back(std::move(rule));
  }
  // Deeper ignore files override shallower ones: keep rules ordered by depth, file order within.
  std::stable_sort(rules_.begin(), rules_.end(),
                   [](const Rule& a, const Rule& b) { return a.depth < b.depth; });
}

bool IgnoreRules::MatchesLast(const std::string& rel_path, bool is_dir) const {
  bool ignored = false;
  for (const auto& rule : rules_) {
    if (rule.dir_only && !is_dir) continue;
    std::string rel;
    if (rule.base.empty()) {
      rel = rel_path;
    } else if (rel_path.size() > rule.base.size() + 1 && StartsWith(rel_path, rule.base) &&
               rel_path[rule.base.size()] == '/') {
      rel = rel_path.substr(rule.base.size() + 1);
    } else {
      continue;
    }
    bool match = false;
    if (rule.anchored) {
      match = MatchComponents(Components(rule.pattern), 0, Components(rel), 0);
    } else {
      auto slash = rel.rfind('/');
      std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
      match = ::fnmatch(rule.pattern.c_str(), name.c_str(), 0) == 0;
    }
    if (match) ignored = !rule.negate;
  }
  return ignored;
}

bool IgnoreRules::IsIgnored(const std::string& rel_path, bool is_dir) const {
  if (rules_.empty()) return false;
  const auto parts = Components(rel_path);
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (prefix.empty() ? "" : "/") + parts[i];
    if (MatchesLast(prefix, true)) return true;  // nothing inside an ignored folder comes back
  }
  std::string path;
  for (const auto& p : parts) path += (path.empty() ? "" : "/") + p;
  return MatchesLast(path, is_dir);
}

}  // namespace overdrive
