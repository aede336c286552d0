#include "executor/handle_info.hpp"

#include "executor/run_files.hpp"
#include "executor/run_records.hpp"

namespace overdrive {

nlohmann::json DescribeHandle(const std::string& handle, const std::filesystem::path& run_dir) {
  if (handle.empty()) return nullptr;
  nlohmann::json h = nlohmann::json::parse(handle, nullptr, false);
  if (h.is_object() && h.contains("slurm_job_id") && h["slurm_job_id"].is_number_integer()) {
    nlohmann::json d = {{"type", "slurm"}, {"slurm_job_id", h["slurm_job_id"]}};
    std::string name = h.value("job_name", std::string());
    std::string summary = "slurm job " + h["slurm_job_id"].dump();
    if (!name.empty()) {
      d["job_name"] = name;
      summary += " (" + name + ")";
    }
    d["summary"] = summary;
    return d;
  }
  if (h.is_object() && h.contains("pid") && h["pid"].is_number_integer()) {
    nlohmann::json d = {{"type", "local"}, {"pid", h["pid"]}};
    std::string supervisor = "supervisor pid " + h["pid"].dump();
    // The command's process group (what `kill -- -PGID` stops) is recorded by the shim once
    // the command runs; the shim's own pid is the handle.
    std::string summary = "local, " + supervisor;
    if (auto text = run_files::ReadWholeFile(run_dir / run_files::kGroup)) {
      if (auto g = DecodeGroupRecord(*text)) {
        d["process_group"] = g->pgid;
        summary = "local process group " + std::to_string(g->pgid) + " (" + supervisor + ")";
      }
    }
    d["summary"] = summary;
    return d;
  }
  return {{"type", "unknown"}, {"summary", handle}};
}

}  // namespace overdrive
