#include "sweep/job_data.hpp"

#include <cstdio>

#include "common/clock.hpp"
#include "common/input_limits.hpp"
#include "common/strings.hpp"
#include "data/data_catalog.hpp"
#include "sweep/workspace.hpp"

namespace overdrive {
namespace fs = std::filesystem;

namespace {

std::string Megabytes(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

TransferOptions Options(const std::function<void(const std::string&)>& note, const std::string& what) {
  TransferOptions opt;
  if (auto r = EnvLimit("OVERDRIVE_DATA_RETRIES", 3)) opt.retries = static_cast<int>(*r);
  if (note) opt.progress = [note, what](const std::string& line) { note(what + ": " + line); };
  return opt;
}

}  // namespace

Result<void> ResolveJobData(Workspace* ws, const CommandSpec& command, LaunchConfig& cfg) {
  cfg.data_inputs.clear();
  cfg.data_outputs.clear();
  if (!ws) return {};
  DataCatalog catalog(ws->store(), ws->root());
  for (const auto& [name, in] : command.inputs) {
    if (!in.remote()) continue;
    OD_ASSIGN_OR_RETURN(DataSource src, catalog.Resolve(in.location, in.type, in.pos));
    if (src.kind == "datastore" && in.mode == "direct") {
      OD_ASSIGN_OR_RETURN(DatastoreSpec ds, catalog.GetDatastore(src.datastore));
      OD_ASSIGN_OR_RETURN(StorageRemote r, MakeStorageRemote(ds, ""));
      src.url = r.local ? (src.rel.empty() ? ds.path : ds.path + "/" + src.rel) : r.Url(src.rel);
    }
    cfg.data_inputs.push_back({name, in.mode, std::move(src)});
  }
  for (const auto& [name, out] : command.outputs) {
    if (!out.path && out.asset_name.empty()) continue;
    DataOutputConfig o;
    o.name = name;
    o.type = out.type;
    o.mode = out.mode;
    o.asset_name = out.asset_name;
    o.asset_version = out.asset_version;
    if (out.path) {
      OD_ASSIGN_OR_RETURN(DataSource dest, catalog.Resolve(*out.path, out.type, out.pos));
      o.dest = std::move(dest);
    }
    if (!o.asset_name.empty() && !o.asset_version.empty()) {
      auto taken = ws->store().GetDataAsset(o.asset_name, o.asset_version);
      if (taken) {
        return std::unexpected(InputError(
            out.version_pos, "output '" + name + "' would register data asset '" + o.asset_name +
                         "' version '" + o.asset_version +
                         "', which exists already; versions are immutable: leave out `version` "
                         "(the next one is taken) or give a new one"));
      }
    }
    cfg.data_outputs.push_back(std::move(o));
  }
  return {};
}

std::map<std::string, std::string> DataInputValues(const LaunchConfig& cfg, const fs::path& run_dir) {
  std::map<std::string, std::string> out;
  for (const auto& in : cfg.data_inputs) {
    if (in.mode == "direct") {
      out[in.name] = in.source.kind == "local" ? in.source.local_path : in.source.url;
    } else {
      out[in.name] = (run_dir / "inputs" / in.name).string();
    }
  }
  return out;
}

std::vector<RunInputRecord> RunInputsOf(const std::string& run_id, const LaunchConfig& cfg) {
  std::vector<RunInputRecord> out;
  for (const auto& in : cfg.data_inputs) {
    RunInputRecord r;
    r.run_id = run_id;
    r.input_name = in.name;
    r.asset_name = in.source.asset;
    r.asset_version = in.source.version;
    r.uri = in.source.kind == "datastore"
                ? "azureml://datastores/" + in.source.datastore + "/paths/" + in.source.rel
                : in.source.uri;
    out.push_back(std::move(r));
  }
  return out;
}

Result<void> StageInputs(Workspace& ws, const LaunchConfig& cfg, const fs::path& run_dir,
                         const std::function<void(const std::string&)>& note,
                         std::vector<ContainerMount>* mounts) {
  bool any = false;
  for (const auto& in : cfg.data_inputs) any = any || in.mode != "direct";
  if (!any) return {};
  DataCatalog catalog(ws.store(), ws.root());
  OD_ASSIGN_OR_RETURN(std::int64_t limit, DataCacheLimitBytes());
  DataCache cache(catalog.CacheRoot(), limit);
  std::error_code ec;
  fs::create_directories(run_dir / "inputs", ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + (run_dir / "inputs").string() + ": " + ec.message());
  bool cache_mounted = false;
  for (const auto& in : cfg.data_inputs) {
    if (in.mode == "direct") continue;
    const std::string what = "input '" + in.name + "'";
    double start = MonotonicSeconds();
    auto got = catalog.Materialize(in.source, cache, Options(note, what));
    if (!got) {
      Error e = got.error();
      e.message = what + " (" + in.source.uri + "): " + e.message;
      return std::unexpected(e);
    }
    fs::path link = run_dir / "inputs" / in.name;
    fs::remove(link, ec);
    fs::create_symlink(got->path, link, ec);
    if (ec) return MakeError(ErrorCode::kIo, "cannot link " + link.string() + ": " + ec.message());
    if (note) {
      std::string from = in.source.asset.empty()
                             ? in.source.uri
                             : "data asset " + in.source.asset + ":" + in.source.version;
      if (got->transferred) {
        note(what + ": " + Megabytes(got->bytes) + " of " + from + " fetched in " +
             FormatDuration(MonotonicSeconds() - start));
      } else {
        note(what + ": " + from + (got->bytes > 0 ? " from the node's data cache" : " read in place"));
      }
    }
    if (mounts) {
      fs::path cache_root = catalog.CacheRoot();
      bool in_cache = got->path.string().rfind(cache_root.string() + "/", 0) == 0;
      if (in_cache && !cache_mounted) {
        mounts->push_back({cache_root.string(), cache_root.string(), true});
        cache_mounted = true;
      } else if (!in_cache) {
        mounts->push_back({got->path.string(), got->path.string(), true});
      }
    }
  }
  return {};
}

Result<void> DeliverOutputs(Workspace& ws, const LaunchConfig& cfg, const std::string& run_id,
                            const fs::path& run_dir,
                            const std::function<void(const std::string&)>& note) {
  if (cfg.data_outputs.empty()) return {};
  DataCatalog catalog(ws.store(), ws.root());
  for (const auto& out : cfg.data_outputs) {
    const std::string what = "output '" + out.name + "'";
    fs::path local = run_dir / "wd" / "outputs" / out.name;
    DataSource dest;
    if (out.dest) {
      dest = *out.dest;
    } else {
      dest.kind = "datastore";
      dest.datastore = kDefaultDatastore;
      dest.rel = "azureml/" + run_id + "/" + out.name;
      dest.uri = "azureml://datastores/" + dest.datastore + "/paths/" + dest.rel;
    }
    if (out.type == "uri_file") {
      // A uri_file output is the one file the run wrote into its folder.
      std::vector<fs::path> files;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(local, ec)) {
        if (e.is_regular_file(ec)) files.push_back(e.path());
      }
      if (files.size() != 1) {
        return MakeError(ErrorCode::kInvalidInput,
                         what + " is uri_file but the run wrote " + std::to_string(files.size()) +
                             " files into " + local.string());
      }
      local = files[0];
    }
    double start = MonotonicSeconds();
    auto up = catalog.Upload(local, dest, Options(note, what));
    if (!up) {
      Error e = up.error();
      e.message = what + ": " + e.message;
      return std::unexpected(e);
    }
    auto digest = DigestLocal(local);
    if (note) {
      note(what + ": " + (digest ? Megabytes(digest->bytes) + " " : std::string()) + "copied to " +
           dest.uri + " in " + FormatDuration(MonotonicSeconds() - start));
    }
    if (!out.asset_name.empty()) {
      DataAssetRecord rec;
      rec.name = out.asset_name;
      rec.version = out.asset_version;
      rec.type = out.type;
      rec.path = "azureml://datastores/" + dest.datastore + "/paths/" + dest.rel;
      nlohmann::json meta = {{"run_id", run_id}, {"output", out.name}};
      if (digest) {
        meta["digest"] = digest->digest;
        meta["files"] = digest->files;
        meta["bytes"] = digest->bytes;
      }
      rec.spec_json = meta.dump();
      rec.description = "output '" + out.name + "' of run " + run_id;
      OD_ASSIGN_OR_RETURN(DataAssetRecord made, ws.store().CreateDataAsset(rec));
      if (note) note(what + ": registered as data asset " + made.name + ":" + made.version);
    }
  }
  return {};
}

}  // namespace overdrive
