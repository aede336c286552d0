#include "common/job_type.hpp"

#include <atomic>
#include <iostream>
#include <string>

#include "common/name_table.hpp"

namespace overdrive {
namespace {

constexpr NameTable<JobType, 4> kJobTypeNames = {{
    {JobType::kCommand, "command"},
    {JobType::kSweep, "sweep"},
    {JobType::kTrial, "trial"},
    {JobType::kExternal, "external"},
}};

}  // namespace

const char* JobTypeName(JobType t) { return NameOf(kJobTypeNames, t); }

std::optional<JobType> ParseJobType(std::string_view name) { return FromName(kJobTypeNames, name); }

JobType ReadJobType(std::string_view stored) {
  if (auto t = ParseJobType(stored)) return *t;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    std::cerr << "overdrive: warning: a run has the unknown job type '" << std::string(stored)
              << "'; it is treated as external (shown, never driven)\n";
  }
  return JobType::kExternal;
}

}  // namespace overdrive
