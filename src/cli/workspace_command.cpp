#include "cli/workspace_command.hpp"

#include <iostream>
#include <memory>
#include <string>

#include "cli/remote_commands.hpp"
#include "cli/table.hpp"
#include "sweep/run_retention.hpp"

namespace overdrive {

namespace {

struct PruneArgs {
  std::string older_than;
  bool dry_run = false;
  bool json = false;
};

int CmdPrune(const Globals& g, const PruneArgs& a) {
  if (!ServerUrl(g).empty()) {
    return Fail({ErrorCode::kInvalidInput,
                 "workspace prune works on a local workspace (--workspace), not through --server"});
  }
  PruneOptions o;
  o.dry_run = a.dry_run;
  if (!a.older_than.empty()) {
    auto age = ParseAge(a.older_than);
    if (!age) return Fail(age.error());
    o.older_than_s = *age;
  }
  auto ws = OpenWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto report = PruneRunFolders(**ws, o);
  if (!report) return Fail(report.error());
  if (a.json) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& r : report->runs) {
      runs.push_back({{"id", r.id}, {"status", RunStatusName(r.status)}, {"run_dir", r.run_dir},
                      {"bytes", r.bytes}});
    }
    PrintJson({{"dry_run", a.dry_run},
               {"runs", runs},
               {"bytes", report->bytes},
               {"skipped_not_ended", report->skipped_not_ended},
               {"skipped_controller_alive", report->skipped_controller_alive},
               {"skipped_recent", report->skipped_recent}});
    return 0;
  }
  if (!report->runs.empty()) {
    Table t({"run", "status", "size", "folder"});
    for (const auto& r : report->runs) {
      t.Add({r.id, RunStatusName(r.status), FormatBytes(static_cast<double>(r.bytes)), r.run_dir});
    }
    t.Print(std::cout);
  }
  std::cout << (a.dry_run ? "would free " : "freed ")
            << FormatBytes(static_cast<double>(report->bytes)) << " in " << report->runs.size()
            << " run folder" << (report->runs.size() == 1 ? "" : "s")
            << (a.dry_run ? " (dry run: nothing removed)" : "") << "\n";
  if (report->skipped_not_ended > 0) {
    std::cout << "left alone: " << report->skipped_not_ended << " run(s) that have not ended\n";
  }
  if (report->skipped_controller_alive > 0) {
    std::cout << "left alone: " << report->skipped_controller_alive
              << " ended run(s) whose controller is still finishing\n";
  }
  if (report->skipped_recent > 0) {
    std::cout << "left alone: " << report->skipped_recent << " run(s) that ended less than "
              << a.older_than << " ago\n";
  }
  return 0;
}

}  // namespace

void AddWorkspaceCommands(CLI::App& app, const Globals& g, int& code) {
  auto* ws = app.add_subcommand("workspace", "look after the workspace folder");
  ws->require_subcommand(1);
  ws->fallthrough();
  auto args = std::make_shared<PruneArgs>();
  auto* prune = ws->add_subcommand(
      "prune",
      "Remove the run folders (runs/<id>/) of runs that have ended, and say what it freed.\n"
      "A run's logs and outputs/ are in the artifact store once it ends, and its folder is\n"
      "emptied then, but for a detached controller's log; lost runs, runs of older versions\n"
      "and runs kept with " +
          std::string(kKeepRunFilesEnv) +
          "=1 (whole folders, for debugging) keep more.\n"
          "This removes all of it. Runs that have not ended, and ended runs whose controller is\n"
          "still finishing, are never touched. Metadata, metrics, logs and outputs stay in the\n"
          "stores: `job show`, `job logs` and the dashboard still work.");
  prune->add_option("--older-than", args->older_than,
                    "only runs that ended at least this long ago: 7d, 12h, 30m, 45s, 2w");
  prune->add_flag("--dry-run", args->dry_run, "list what would be removed; remove nothing");
  prune->add_flag("--json", args->json, "print JSON for scripts");
  prune->callback([&g, &code, args] { code = CmdPrune(g, *args); });
}

}  // namespace overdrive
