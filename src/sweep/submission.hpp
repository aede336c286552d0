// Turning a parsed job into stored records. Everything that can be checked is checked before the
// first write, and the run is created in one transaction: a rejected submit leaves nothing behind
// (a code snapshot blob may already be in the content-addressed store, which is harmless).
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/job_spec.hpp"
#include "store/records.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {

// Checks that need the workspace: the compute target exists (or says how to map it) and the
// command's program exists (in PATH, or in the code folder for relative paths).
// `ws` may be null (dry run without a workspace): only "local" compute is then accepted.
Result<void> ValidateForWorkspace(Workspace* ws, const JobSpec& spec);

// The program a command starts, or "" when it cannot be told without running a shell
// (variables, substitutions, compound commands).
std::string CommandProgram(const std::string& command);

// Values that replace ${{inputs.x}} and ${{outputs.x}} for a run folder.
SubstitutionContext MakeSubstitutionContext(const CommandSpec& command,
                                            const std::filesystem::path& run_dir);

struct SubmittedJob {
  RunRecord run;
  std::vector<std::string> warnings;  // Azure-only keys ignored, etc.
  std::int64_t snapshot_files = 0;
  std::int64_t snapshot_bytes = 0;
};

// The code snapshot's limits (SnapshotLimits: 1024 MiB of files, 100,000 entries by default)
// are raised through these variables, read at each submit.
inline constexpr const char* kMaxSnapshotMbEnv = "OVERDRIVE_MAX_SNAPSHOT_MB";
inline constexpr const char* kMaxSnapshotFilesEnv = "OVERDRIVE_MAX_SNAPSHOT_FILES";

// Validates, snapshots the code and creates the top-level run (status queued). A code folder
// over the snapshot limits is kInvalidInput at the `code:` position, with nothing stored.
Result<SubmittedJob> SubmitJob(Workspace& ws, const JobSpec& spec);

}  // namespace overdrive
