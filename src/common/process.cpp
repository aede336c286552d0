#include "common/process.hpp"

#include <fstream>
#include <sstream>
#include <string>

namespace overdrive {

std::int64_t ProcessStartTime(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // The command name (field 2) may contain spaces and parentheses: fields resume after the
  // last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // rest starts at field 3 (state); start time is field 22.
  std::string state;
  rest >> state;
  if (state == "Z" || state == "X") return 0;
  for (int i = 4; i < 22; ++i) rest >> field;
  std::int64_t start = 0;
  rest >> start;
  return start;
}

bool ProcessAlive(int pid, std::int64_t start_time) {
  std::int64_t now = ProcessStartTime(pid);
  return now != 0 && (start_time == 0 || now == start_time);
}

}  // namespace overdrive
