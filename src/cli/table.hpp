// Plain-text tables for people (`--json` is for scripts).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace overdrive {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out, const std::string& indent = "") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// 1536 -> "1.5 KB"
std::string FormatBytes(double bytes);

}  // namespace overdrive
