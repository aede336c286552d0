#include <gtest/gtest.h>

#include "common/strings.hpp"

namespace overdrive {
namespace {

TEST(StringsTest, DidYouMeanFindsTypos) {
  std::vector<std::string> keys = {"max_total_trials", "max_concurrent_trials", "timeout"};
  EXPECT_EQ(DidYouMeanSuffix("max_total_trails", keys), " (did you mean 'max_total_trials'?)");
  EXPECT_EQ(DidYouMeanSuffix("zzzzzz", keys), "");
}

TEST(StringsTest, ShellQuoteKeepsOneWord) {
  EXPECT_EQ(ShellQuote("0.01"), "0.01");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("$(rm -rf /)"), "'$(rm -rf /)'");
}

TEST(StringsTest, FormatDoubleRoundTrips) {
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(3.0), "3");
}

}  // namespace
}  // namespace overdrive
