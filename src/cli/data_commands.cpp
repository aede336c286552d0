#include "cli/data_commands.hpp"

#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/remote_commands.hpp"
#include "cli/table.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "data/data_catalog.hpp"

namespace overdrive {
namespace fs = std::filesystem;

namespace {

struct DataFlags {
  std::string file, name, version, path, type = "uri_folder", description, datastore;
  std::string download_path = ".";
  bool json = false;
};

// Datastores and data assets live in the workspace; a team server's are not reachable yet.
Result<std::unique_ptr<Workspace>> LocalWorkspace(const Globals& g, bool create) {
  if (!ServerUrl(g).empty()) {
    return MakeError(ErrorCode::kInvalidInput,
                     "datastores and data assets are managed on the server's machine: run this "
                     "command there, with its workspace (--workspace), not through --server");
  }
  return OpenWorkspace(g, create);
}

std::string Megabytes(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

TransferOptions Progress() {
  TransferOptions opt;
  opt.progress = [](const std::string& line) { std::cerr << "  " << line << "\n"; };
  return opt;
}

nlohmann::json DatastoreJson(const DatastoreSpec& ds) {
  nlohmann::json j = ds.ToJson();
  j["name"] = ds.name;
  j["location"] = ds.Describe();
  return j;
}

std::string CredentialText(const DatastoreSpec& ds) {
  if (ds.credential_kind.empty()) return ds.type == "local" ? "-" : "none (public)";
  return ds.credential_kind + " in secret " + ds.credential_secret;
}

int CmdDatastoreCreate(const Globals& g, const DataFlags& f) {
  if (f.file.empty()) return Fail({ErrorCode::kInvalidInput, "give the datastore file: -f ds.yml"});
  auto spec = ParseDatastoreFile(f.file);
  if (!spec) return Fail(spec.error());
  if (!f.name.empty()) {
    if (auto ok = ValidateDatastoreName(f.name); !ok) return Fail(ok.error());
    spec->name = f.name;
  }
  auto ws = LocalWorkspace(g, true);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  if (auto ok = catalog.CreateDatastore(*spec); !ok) return Fail(ok.error());
  auto stored = catalog.GetDatastore(spec->name);
  if (!stored) return Fail(stored.error());
  if (f.json) {
    PrintJson(DatastoreJson(*stored));
  } else {
    std::cout << "datastore " << stored->name << " (" << stored->type << ", " << stored->Describe()
              << ") stored";
    if (!stored->credential_secret.empty()) {
      std::cout << "; its " << stored->credential_kind << " is sealed in secret "
                << stored->credential_secret;
    }
    std::cout << "\n";
  }
  return 0;
}

int CmdDatastoreList(const Globals& g, const DataFlags& f) {
  auto ws = LocalWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  auto all = catalog.ListDatastores();
  if (!all) return Fail(all.error());
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& ds : *all) arr.push_back(DatastoreJson(ds));
    PrintJson(arr);
    return 0;
  }
  Table t({"name", "type", "location", "credentials"});
  for (const auto& ds : *all) t.Add({ds.name, ds.type, ds.Describe(), CredentialText(ds)});
  t.Print(std::cout);
  return 0;
}

int CmdDatastoreShow(const Globals& g, const DataFlags& f) {
  auto ws = LocalWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  auto ds = catalog.GetDatastore(f.name);
  if (!ds) {
    if (ds.error().code == ErrorCode::kNotFound) {
      return Fail({ErrorCode::kNotFound, "no datastore named '" + f.name +
                                             "' (overdrive datastore list shows them)"});
    }
    return Fail(ds.error());
  }
  if (f.json) {
    PrintJson(DatastoreJson(*ds));
    return 0;
  }
  std::cout << "name:        " << ds->name << "\n"
            << "type:        " << ds->type << "\n"
            << "location:    " << ds->Describe() << "\n"
            << "credentials: " << CredentialText(*ds) << "\n";
  if (!ds->description.empty()) std::cout << "description: " << ds->description << "\n";
  return 0;
}

int CmdDatastoreDelete(const Globals& g, const DataFlags& f) {
  auto ws = LocalWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  auto gone = catalog.DeleteDatastore(f.name);
  if (!gone) return Fail(gone.error());
  if (!*gone) {
    return Fail({ErrorCode::kNotFound,
                 "no datastore named '" + f.name + "' (overdrive datastore list shows them)"});
  }
  std::cout << "datastore " << f.name << " deleted (the data it points at is untouched)\n";
  return 0;
}

// NAME, NAME:VERSION or NAME@latest.
std::pair<std::string, std::string> SplitRef(const std::string& ref) {
  if (size_t at = ref.rfind('@'); at != std::string::npos) return {ref.substr(0, at), ref.substr(at + 1)};
  if (size_t c = ref.find(':'); c != std::string::npos) return {ref.substr(0, c), ref.substr(c + 1)};
  return {ref, ""};
}

nlohmann::json AssetJson(const DataAssetRecord& a) {
  nlohmann::json j = {{"name", a.name},         {"version", a.version},
                      {"type", a.type},         {"path", a.path},
                      {"description", a.description}, {"created_at", a.created_at}};
  j["tags"] = nlohmann::json::parse(a.tags_json, nullptr, false);
  j["meta"] = nlohmann::json::parse(a.spec_json, nullptr, false);
  return j;
}

int CmdDataCreate(const Globals& g, const DataFlags& f) {
  DataAssetSpec spec;
  if (!f.file.empty()) {
    auto parsed = ParseDataAssetFile(f.file);
    if (!parsed) return Fail(parsed.error());
    spec = *parsed;
  } else if (f.name.empty() || f.path.empty()) {
    return Fail({ErrorCode::kInvalidInput,
                 "give a data file (-f data.yml) or --name and --path (and --type, --version)"});
  }
  // Flags override the file, as in `az ml data create`.
  if (!f.name.empty()) {
    if (auto ok = ValidateDataAssetName(f.name); !ok) return Fail(ok.error());
    spec.name = f.name;
  }
  if (!f.version.empty()) {
    if (auto ok = ValidateDataAssetVersion(f.version); !ok) return Fail(ok.error());
    spec.version = f.version;
  }
  if (!f.description.empty()) spec.description = f.description;
  if (f.file.empty() || f.type != "uri_folder") spec.type = f.type;
  if (spec.type != "uri_file" && spec.type != "uri_folder" && spec.type != "mltable") {
    return Fail({ErrorCode::kInvalidInput, "--type must be uri_file, uri_folder or mltable"});
  }
  if (!f.path.empty()) {
    auto loc = ParseDataLocation(f.path, SourcePos{"--path", 0, 0}, fs::current_path());
    if (!loc) return Fail(loc.error());
    spec.location = *loc;
    spec.path_pos = SourcePos{"--path", 0, 0};
  }
  auto ws = LocalWorkspace(g, true);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  if (!f.datastore.empty()) {
    if (auto ds = catalog.GetDatastore(f.datastore); !ds) {
      return Fail({ErrorCode::kInvalidInput, "--datastore: no datastore named '" + f.datastore +
                                                 "' (overdrive datastore list shows them)"});
    }
  }
  double start = MonotonicSeconds();
  if (spec.location.kind == DataLocation::Kind::kLocal && !f.json) {
    std::cerr << "uploading " << spec.location.local_path.string() << " to datastore "
              << (f.datastore.empty() ? kDefaultDatastore : f.datastore) << "...\n";
  }
  auto made = catalog.CreateAsset(spec, f.datastore, Progress());
  if (!made) return Fail(made.error());
  if (f.json) {
    PrintJson(AssetJson(*made));
    return 0;
  }
  auto meta = nlohmann::json::parse(made->spec_json, nullptr, false);
  std::cout << "data asset " << made->name << ":" << made->version << " (" << made->type << ") -> "
            << made->path;
  if (meta.is_object() && meta.contains("bytes")) {
    std::cout << " [" << meta.value("files", 0) << " files, " << Megabytes(meta.value("bytes", std::int64_t{0}))
              << ", " << FormatDuration(MonotonicSeconds() - start) << "]";
  }
  std::cout << "\n";
  return 0;
}

int CmdDataList(const Globals& g, const DataFlags& f) {
  auto ws = LocalWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  auto all = (*ws)->store().ListDataAssets();
  if (!all) return Fail(all.error());
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& a : *all) arr.push_back(AssetJson(a));
    PrintJson(arr);
    return 0;
  }
  if (all->empty()) {
    std::cout << "no data assets yet: overdrive data create --name NAME --path PATH (or -f data.yml)\n";
    return 0;
  }
  Table t({"name", "version", "type", "path", "created"});
  for (const auto& a : *all) t.Add({a.name, a.version, a.type, a.path, FormatTimestamp(a.created_at)});
  t.Print(std::cout);
  return 0;
}

int CmdDataShow(const Globals& g, const DataFlags& f) {
  auto ws = LocalWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  auto [name, version] = SplitRef(f.name);
  auto a = catalog.FindAsset(name, version);
  if (!a) return Fail(a.error());
  auto readers = (*ws)->store().ListDataAssetReaders(a->name, a->version);
  if (!readers) return Fail(readers.error());
  if (f.json) {
    nlohmann::json j = AssetJson(*a);
    j["read_by"] = nlohmann::json::array();
    for (const auto& r : *readers) {
      j["read_by"].push_back({{"run_id", r.run_id}, {"input", r.input_name}, {"at", r.created_at}});
    }
    PrintJson(j);
    return 0;
  }
  std::cout << "name:        " << a->name << "\n"
            << "version:     " << a->version << "\n"
            << "type:        " << a->type << "\n"
            << "path:        " << a->path << "\n"
            << "created:     " << FormatTimestamp(a->created_at) << "\n";
  if (!a->description.empty()) std::cout << "description: " << a->description << "\n";
  auto meta = nlohmann::json::parse(a->spec_json, nullptr, false);
  if (meta.is_object() && meta.contains("bytes")) {
    std::cout << "content:     " << meta.value("files", 0) << " files, "
              << Megabytes(meta.value("bytes", std::int64_t{0}))
              << (meta.contains("digest") ? ", sha256 " + meta.value("digest", "").substr(0, 16) : "")
              << "\n";
  }
  if (meta.is_object() && meta.contains("run_id")) {
    std::cout << "made by:     run " << meta.value("run_id", "") << " (output '" << meta.value("output", "")
              << "')\n";
  }
  if (readers->empty()) {
    std::cout << "read by:     no run yet\n";
  } else {
    std::cout << "read by:\n";
    Table t({"run", "input", "when"});
    for (const auto& r : *readers) t.Add({r.run_id, r.input_name, FormatTimestamp(r.created_at)});
    t.Print(std::cout);
  }
  return 0;
}

int CmdDataDownload(const Globals& g, const DataFlags& f) {
  auto ws = LocalWorkspace(g, false);
  if (!ws) return Fail(ws.error());
  DataCatalog catalog((*ws)->store(), (*ws)->root());
  auto [name, version] = SplitRef(f.name);
  auto a = catalog.FindAsset(name, version);
  if (!a) return Fail(a.error());
  auto loc = ParseDataLocation(a->path, SourcePos{"data asset " + a->name, 0, 0}, (*ws)->root());
  if (!loc) return Fail(loc.error());
  auto src = catalog.Resolve(*loc, a->type, SourcePos{"data asset " + a->name, 0, 0});
  if (!src) return Fail(src.error());
  fs::path dest = fs::path(f.download_path) / a->name;
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    return Fail({ErrorCode::kInvalidInput, dest.string() + " exists already; remove it or give "
                                                           "another --download-path"});
  }
  fs::create_directories(dest, ec);
  TransferOptions opt = Progress();
  Result<void> done;
  if (src->kind == "datastore") {
    auto ds = catalog.GetDatastore(src->datastore);
    if (!ds) return Fail(ds.error());
    auto remote = catalog.Open(*ds);
    if (!remote) return Fail(remote.error());
    std::string base = src->rel.substr(src->rel.rfind('/') + 1);
    done = a->type == "uri_file" ? CopyFromRemote(*remote, src->rel, true, dest / base, opt)
                                 : CopyFromRemote(*remote, src->rel, false, dest, opt);
  } else if (src->kind == "web") {
    std::string base = src->url.substr(src->url.rfind('/') + 1);
    done = CopyUrl(src->url, dest / (base.empty() ? "download" : base), opt);
  } else {
    done = MakeError(ErrorCode::kInvalidInput, "data asset " + a->name + " has no downloadable path");
  }
  if (!done) {
    fs::remove_all(dest, ec);  // nothing half-downloaded left behind
    return Fail(done.error());
  }
  auto digest = DigestLocal(dest);
  std::cout << "downloaded " << a->name << ":" << a->version << " to " << dest.string();
  if (digest) std::cout << " (" << digest->files << " files, " << Megabytes(digest->bytes) << ")";
  std::cout << "\n";
  return 0;
}

}  // namespace

void AddDataCommands(CLI::App& app, const Globals& g, int& code) {
  auto f = std::make_shared<DataFlags>();
  auto* ds = app.add_subcommand(
      "datastore",
      "where data lives: Azure blob containers (azure_blob, azure_data_lake_gen2), S3 buckets "
      "(s3) and local or NFS folders (local); the workspace's own is " +
          std::string(kDefaultDatastore));
  ds->require_subcommand(1);
  auto* create = ds->add_subcommand(
      "create",
      "register a datastore from Azure's datastore YAML (or replace one of that name). A "
      "credential written in the file (account_key, sas_token, secret_access_key) is sealed as "
      "secret datastore.NAME; or name one made with `overdrive secret set` "
      "(account_key_secret: NAME). An emulator or private endpoint: endpoint: http://host:port/account");
  create->add_option("-f,--file", f->file, "the datastore YAML")->required();
  create->add_option("--name", f->name, "override the file's name");
  create->add_flag("--json", f->json, "print JSON for scripts");
  create->callback([f, &g, &code] { code = CmdDatastoreCreate(g, *f); });
  auto* list = ds->add_subcommand("list", "the datastores (never a credential)");
  list->add_flag("--json", f->json, "print JSON for scripts");
  list->callback([f, &g, &code] { code = CmdDatastoreList(g, *f); });
  auto* show = ds->add_subcommand("show", "one datastore");
  show->add_option("name", f->name, "its name")->required();
  show->add_flag("--json", f->json, "print JSON for scripts");
  show->callback([f, &g, &code] { code = CmdDatastoreShow(g, *f); });
  auto* del = ds->add_subcommand("delete", "forget a datastore (its data stays where it is)");
  del->add_option("name", f->name, "its name")->required();
  del->callback([f, &g, &code] { code = CmdDatastoreDelete(g, *f); });

  auto* data = app.add_subcommand(
      "data",
      "versioned data assets (Azure's data YAML): a local file or folder is uploaded once to a "
      "datastore, content-addressed; a URI is recorded as it is. Jobs read them as "
      "azureml:NAME:VERSION or azureml:NAME@latest");
  data->require_subcommand(1);
  auto* dcreate = data->add_subcommand(
      "create", "register a data asset version: -f data.yml, or --name, --path (local, "
                "azureml://datastores/NAME/paths/P, https://, wasbs://, abfss://, s3://)");
  dcreate->add_option("-f,--file", f->file, "the data asset YAML");
  dcreate->add_option("--name", f->name, "its name (overrides the file's)");
  dcreate->add_option("--version", f->version, "its version (default: the next number)");
  dcreate->add_option("--path", f->path, "where its bytes are (overrides the file's)");
  dcreate->add_option("--type", f->type, "uri_file, uri_folder (default) or mltable");
  dcreate->add_option("--description", f->description, "a description");
  dcreate->add_option("--datastore", f->datastore,
                      "where a local path is uploaded (default: " + std::string(kDefaultDatastore) + ")");
  dcreate->add_flag("--json", f->json, "print JSON for scripts");
  dcreate->callback([f, &g, &code] { code = CmdDataCreate(g, *f); });
  auto* dlist = data->add_subcommand("list", "every version of every data asset");
  dlist->add_flag("--json", f->json, "print JSON for scripts");
  dlist->callback([f, &g, &code] { code = CmdDataList(g, *f); });
  auto* dshow = data->add_subcommand("show", "one version and the runs that read it (lineage)");
  dshow->add_option("asset", f->name, "NAME, NAME:VERSION or NAME@latest")->required();
  dshow->add_flag("--json", f->json, "print JSON for scripts");
  dshow->callback([f, &g, &code] { code = CmdDataShow(g, *f); });
  auto* dl = data->add_subcommand("download", "copy a version's bytes to DOWNLOAD_PATH/NAME");
  dl->add_option("asset", f->name, "NAME, NAME:VERSION or NAME@latest")->required();
  dl->add_option("--download-path,-p", f->download_path, "the folder to download into (default .)");
  dl->callback([f, &g, &code] { code = CmdDataDownload(g, *f); });
}

}  // namespace overdrive
