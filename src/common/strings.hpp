// Small string helpers shared by every part.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overdrive {

std::string Trim(std::string_view s);
std::vector<std::string> Split(std::string_view s, char sep);
// A CSV field: quoted (with doubled quotes) when it holds a comma, quote or line break.
std::string CsvField(const std::string& s);
// A URL safe to print: "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db".
std::string RedactedUrl(std::string_view url);
bool StartsWith(std::string_view s, std::string_view prefix);

// Levenshtein distance, used for "did you mean" hints.
int EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a plausible typo.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — ready to append to a message.
std::string DidYouMeanSuffix(std::string_view word, const std::vector<std::string>& candidates);

// Quotes a string for /bin/sh so that it is passed as exactly one word.
std::string ShellQuote(std::string_view s);

// "a, b, c"
std::string Join(const std::vector<std::string>& parts, std::string_view sep);

// 1.5 -> "1.5s", 75 -> "1m15s", 3700 -> "1h01m".
std::string FormatDuration(double seconds);

// Shortest decimal form that reads back to the same double ("0.1", "3", "1e-05").
std::string FormatDouble(double v);

}  // namespace overdrive
