// IgnoreRules against git's documented gitignore semantics, as a table.
#include <gtest/gtest.h>

#include <string>

#include "store/artifact_store.hpp"

namespace overdrive {
namespace {

struct Row {
  const char* rules;  // contents of the root ignore file
  const char* path;
  bool is_dir;
  bool ignored;
};

constexpr bool F = false;  // is_dir / expected columns read better as F/T/D
constexpr bool T = true;
constexpr bool D = true;

const Row kRows[] = {
    // A name without a slash matches at any depth.
    {"*.log", "a.log", F, T},
    {"*.log", "dir/sub/a.log", F, T},
    {"*.log", "a.logx", F, F},
    {"*.LOG", "a.log", F, F},  // case-sensitive
    {"foo", "foo", D, T},
    {"foo", "x/foo", F, T},
    {"foo", "x/foobar", F, F},
    // Leading slash anchors to the ignore file's folder.
    {"/a.log", "a.log", F, T},
    {"/a.log", "dir/a.log", F, F},
    // A slash in the middle anchors too.
    {"doc/frotz", "doc/frotz", F, T},
    {"doc/frotz", "a/doc/frotz", F, F},
    {"doc/*.txt", "doc/a.txt", F, T},
    {"doc/*.txt", "doc/sub/a.txt", F, F},  // '*' does not cross '/'
    // Trailing slash: directories only.
    {"build/", "build", D, T},
    {"build/", "build", F, F},
    {"build/", "src/build", D, T},
    {"build/", "build/out.o", F, T},  // everything under an ignored folder
    {"doc/frotz/", "doc/frotz", D, T},
    {"doc/frotz/", "a/doc/frotz", D, F},
    // Wildcards.
    {"?.py", "a.py", F, T},
    {"?.py", "ab.py", F, F},
    {"x/a?b", "x/a/b", F, F},  // '?' does not match '/'
    {"[ab].c", "a.c", F, T},
    {"[ab].c", "c.c", F, F},
    {"[!ab].c", "c.c", F, T},
    {"[a-c]x", "bx", F, T},
    {"*", "anything/at/all", F, T},
    {"*.tar.*", "x.tar.gz", F, T},
    // "**" forms.
    {"**/foo", "foo", F, T},
    {"**/foo", "a/b/foo", F, T},
    {"**/foo/bar", "foo/bar", F, T},
    {"**/foo/bar", "x/y/foo/bar", F, T},
    {"**/foo/bar", "x/foo/baz", F, F},
    {"abc/**", "abc/x", F, T},
    {"abc/**", "abc/x/y", F, T},
    {"abc/**", "abc", D, F},  // matches what is inside, not the folder itself
    {"abc/**", "x/abc/y", F, F},
    {"a/**/b", "a/b", F, T},
    {"a/**/b", "a/x/b", F, T},
    {"a/**/b", "a/x/y/b", F, T},
    {"a/**/b", "a/xb", F, F},
    {"a**b", "axyb", F, T},  // other consecutive asterisks are plain '*'
    // Comments, blanks, escapes, trailing spaces.
    {"# comment", "# comment", F, F},
    {"\\#file", "#file", F, T},
    {"\\!important", "!important", F, T},
    {"\n\n*.o\n\n", "main.o", F, T},
    {"foo.txt   ", "foo.txt", F, T},
    {"foo\\ ", "foo ", F, T},
    {"foo\\ ", "foo", F, F},
    {"*.o\r\n", "main.o", F, T},  // CRLF files
    // Negation: the last matching line wins.
    {"*.txt\n!keep.txt", "keep.txt", F, F},
    {"*.txt\n!keep.txt", "other.txt", F, T},
    {"!keep.txt\n*.txt", "keep.txt", F, T},
    {"logs/\n!logs/", "logs", D, F},
    {"build/*\n!build/keep.txt", "build/keep.txt", F, F},
    {"build/*\n!build/keep.txt", "build/other.txt", F, T},
    // A file inside an excluded folder cannot be re-included.
    {"build/\n!build/keep.txt", "build/keep.txt", F, T},
    {"build\n!build/sub/keep.txt", "build/sub/keep.txt", F, T},
};

class IgnoreRulesTable : public ::testing::TestWithParam<Row> {};

TEST_P(IgnoreRulesTable, MatchesGitSemantics) {
  const Row& row = GetParam();
  IgnoreRules rules;
  rules.AddFile("", row.rules);
  EXPECT_EQ(rules.IsIgnored(row.path, row.is_dir), row.ignored)
      << "rules: '" << row.rules << "' path: '" << row.path << "' dir: " << row.is_dir;
}

INSTANTIATE_TEST_SUITE_P(Rows, IgnoreRulesTable, ::testing::ValuesIn(kRows));

TEST(IgnoreRulesTest, NestedFilesApplyOnlyBelowTheirFolderAndWinOverParents) {
  IgnoreRules rules;
  rules.AddFile("", "*.tmp\n*.log\n");
  rules.AddFile("sub", "!keep.tmp\n/only_here\ndoc/x\n");
  rules.AddFile("sub/deep", "!*.log\n");
  EXPECT_FALSE(rules.IsIgnored("sub/keep.tmp", false));
  EXPECT_TRUE(rules.IsIgnored("keep.tmp", false));
  EXPECT_TRUE(rules.IsIgnored("sub/other.tmp", false));
  EXPECT_TRUE(rules.IsIgnored("sub/only_here", false));
  EXPECT_FALSE(rules.IsIgnored("only_here", false));
  EXPECT_FALSE(rules.IsIgnored("sub/deeper/only_here", false));
  EXPECT_TRUE(rules.IsIgnored("sub/doc/x", false));
  EXPECT_FALSE(rules.IsIgnored("doc/x", false));
  EXPECT_FALSE(rules.IsIgnored("sub/deep/a.log", false));
  EXPECT_TRUE(rules.IsIgnored("sub/a.log", false));
  EXPECT_TRUE(rules.IsIgnored("a.log", false));
  EXPECT_FALSE(rules.IsIgnored("subx/only_here", false)) << "'sub' is not a prefix of 'subx'";
}

TEST(IgnoreRulesTest, DeeperFileWinsWhateverTheOrderFilesWereAdded) {
  IgnoreRules rules;
  rules.AddFile("a", "!x.log\n");
  rules.AddFile("", "*.log\n");
  EXPECT_FALSE(rules.IsIgnored("a/x.log", false));
  EXPECT_TRUE(rules.IsIgnored("x.log", false));
}

TEST(IgnoreRulesTest, NoRulesIgnoreNothing) {
  IgnoreRules rules;
  EXPECT_FALSE(rules.IsIgnored("a/b", false));
  rules.AddFile("", "# only a comment\n\n");
  EXPECT_FALSE(rules.IsIgnored("a/b", false));
}

}  // namespace
}  // namespace overdrive
