#include "data/data_catalog.hpp"

#include <algorithm>
#include <fstream>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "store/secret_box.hpp"
#include "store/sha256.hpp"

namespace overdrive {
namespace fs = std::filesystem;

namespace {

std::string Hex16(const std::string& hex) { return hex.substr(0, 32); }

std::string Basename(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string RegisterHint(const std::string& name, const std::string& version) {
  return "register it with `overdrive data create --name " + name +
         (version.empty() || version == "latest" ? "" : " --version " + version) +
         " --path PATH` (`overdrive data list` shows the assets known)";
}

}  // namespace

nlohmann::json DataSource::ToJson() const {
  nlohmann::json j = {{"kind", kind}, {"type", type}, {"uri", uri}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("datastore", datastore);
  put("rel", rel);
  put("url", url);
  put("local_path", local_path);
  put("asset", asset);
  put("version", version);
  return j;
}

DataSource DataSource::FromJson(const nlohmann::json& j) {
  DataSource s;
  s.kind = j.value("kind", "");
  s.type = j.value("type", "uri_folder");
  s.uri = j.value("uri", "");
  s.datastore = j.value("datastore", "");
  s.rel = j.value("rel", "");
  s.url = j.value("url", "");
  s.local_path = j.value("local_path", "");
  s.asset = j.value("asset", "");
  s.version = j.value("version", "");
  return s;
}

std::string DatastoreSecretName(const std::string& datastore) { return "datastore." + datastore; }

Result<LocalDigest> DigestLocal(const fs::path& path) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else if (fs::is_directory(path, ec)) {
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return MakeError(ErrorCode::kIo, "cannot read " + path.string() + ": " + ec.message());
  } else {
    return MakeError(ErrorCode::kNotFound, path.string() + " does not exist");
  }
  std::sort(files.begin(), files.end());
  Sha256 all;
  LocalDigest d;
  std::vector<char> buf(1 << 20);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kIo, "cannot read " + f.string());
    Sha256 one;
    std::int64_t size = 0;
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      std::streamsize n = in.gcount();
      if (n > 0) {
        one.Update(buf.data(), static_cast<size_t>(n));
        size += n;
      }
    }
    std::string rel = files.size() == 1 && f == path ? f.filename().string()
                                                     : fs::relative(f, path, ec).string();
    all.Update(rel);
    all.Update(std::string(1, '\0'));
    all.Update(std::to_string(size) + ":" + one.HexDigest() + "\n");
    d.files += 1;
    d.bytes += size;
  }
  d.digest = all.HexDigest();
  return d;
}

Result<DatastoreSpec> DataCatalog::GetDatastore(const std::string& name) {
  if (name == kDefaultDatastore) {
    DatastoreSpec ds;
    ds.name = kDefaultDatastore;
    ds.type = "local";
    ds.path = DefaultDatastoreRoot().string();
    ds.description = "the workspace's default datastore (a folder of the workspace)";
    return ds;
  }
  auto rec = store_.GetDatastore(name);
  if (!rec) return std::unexpected(rec.error());
  try {
    return DatastoreSpec::FromJson(rec->name, nlohmann::json::parse(rec->spec_json));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kStorage, "datastore '" + name + "': unreadable spec: " + e.what());
  }
}

Result<std::vector<DatastoreSpec>> DataCatalog::ListDatastores() {
  std::vector<DatastoreSpec> out;
  OD_ASSIGN_OR_RETURN(DatastoreSpec def, GetDatastore(kDefaultDatastore));
  out.push_back(def);
  OD_ASSIGN_OR_RETURN(auto recs, store_.ListDatastores());
  for (const auto& r : recs) {
    OD_ASSIGN_OR_RETURN(DatastoreSpec ds, GetDatastore(r.name));
    out.push_back(ds);
  }
  return out;
}

Result<void> DataCatalog::CreateDatastore(DatastoreSpec ds) {
  if (ds.name == kDefaultDatastore) {
    return MakeError(ErrorCode::kInvalidInput,
                     std::string(kDefaultDatastore) +
                         " is the workspace's own datastore (a folder of the workspace); give "
                         "yours another name");
  }
  if (!ds.credential_value.empty()) {
    OD_ASSIGN_OR_RETURN(SecretBox box, SecretBox::Load(root_ / "secret.key", true));
    ds.credential_secret = DatastoreSecretName(ds.name);
    OD_TRY(StoreSecret(store_, box, ds.credential_secret, ds.credential_value));
    ds.credential_value.clear();
  } else if (!ds.credential_secret.empty()) {
    auto s = store_.GetSecret(ds.credential_secret);
    if (!s) {
      if (s.error().code != ErrorCode::kNotFound) return std::unexpected(s.error());
      return std::unexpected(InputError(
          ds.credential_pos, "secret '" + ds.credential_secret +
                                 "' does not exist; set it first with `overdrive secret set " +
                                 ds.credential_secret + " --from-file FILE` (or from stdin)"));
    }
  }
  DatastoreRecord rec;
  rec.name = ds.name;
  rec.type = ds.type;
  rec.description = ds.description;
  rec.spec_json = ds.ToJson().dump();
  return store_.PutDatastore(rec);
}

Result<bool> DataCatalog::DeleteDatastore(const std::string& name) {
  if (name == kDefaultDatastore) {
    return MakeError(ErrorCode::kInvalidInput,
                     std::string(kDefaultDatastore) + " is the workspace's own datastore and stays");
  }
  auto ds = GetDatastore(name);
  OD_ASSIGN_OR_RETURN(bool gone, store_.DeleteDatastore(name));
  // The secret it made for itself goes with it; one the user named stays theirs.
  if (gone && ds && ds->credential_secret == DatastoreSecretName(name)) {
    (void)store_.DeleteSecret(ds->credential_secret);
  }
  return gone;
}

Result<std::string> DataCatalog::Credential(const DatastoreSpec& ds) {
  if (ds.credential_secret.empty()) return std::string();
  auto sealed = store_.GetSecret(ds.credential_secret);
  if (!sealed) {
    if (sealed.error().code == ErrorCode::kNotFound) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       "datastore '" + ds.name + "' names secret '" + ds.credential_secret +
                           "', which does not exist; set it with `overdrive secret set " +
                           ds.credential_secret + "`");
    }
    return std::unexpected(sealed.error());
  }
  OD_ASSIGN_OR_RETURN(SecretBox box, SecretBox::Load(root_ / "secret.key", false));
  auto value = box.Open(ds.credential_secret, sealed->sealed);
  if (!value) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "datastore '" + ds.name + "': its secret cannot be opened: " + value.error().message);
  }
  return *value;
}

Result<StorageRemote> DataCatalog::Open(const DatastoreSpec& ds) {
  OD_ASSIGN_OR_RETURN(std::string cred, Credential(ds));
  return MakeStorageRemote(ds, cred);
}

Result<DataAssetRecord> DataCatalog::FindAsset(const std::string& name, const std::string& version) {
  auto rec = version.empty() || version == "latest" ? store_.GetLatestDataAsset(name)
                                                    : store_.GetDataAsset(name, version);
  if (!rec && rec.error().code == ErrorCode::kNotFound) {
    return MakeError(ErrorCode::kNotFound,
                     "unknown data asset '" + name + "'" +
                         (version.empty() || version == "latest" ? "" : " version '" + version + "'") +
                         "; " + RegisterHint(name, version));
  }
  return rec;
}

Result<DataSource> DataCatalog::Resolve(const DataLocation& loc, const std::string& type,
                                        const SourcePos& pos) {
  DataSource s;
  s.type = type.empty() ? "uri_folder" : type;
  s.uri = loc.Uri();
  auto fail = [&](const std::string& m) -> Result<DataSource> {
    return std::unexpected(InputError(pos, m));
  };
  switch (loc.kind) {
    case DataLocation::Kind::kLocal:
      s.kind = "local";
      s.local_path = loc.local_path.string();
      return s;
    case DataLocation::Kind::kWeb:
      s.kind = "web";
      s.url = loc.url;
      if (s.type != "uri_file") {
        return fail("'" + loc.text + "': an http(s) input is one file: give it type: uri_file "
                    "(a folder needs a datastore)");
      }
      return s;
    case DataLocation::Kind::kAsset: {
      auto rec = FindAsset(loc.asset, loc.version);
      if (!rec) {
        if (rec.error().code == ErrorCode::kNotFound) return fail(rec.error().message);
        return std::unexpected(rec.error());
      }
      auto inner = ParseDataLocation(rec->path, pos, root_);
      if (!inner) return std::unexpected(inner.error());
      OD_ASSIGN_OR_RETURN(DataSource r, Resolve(*inner, rec->type, pos));
      r.asset = rec->name;
      r.version = rec->version;
      r.type = rec->type;
      return r;
    }
    case DataLocation::Kind::kDatastore: {
      auto ds = GetDatastore(loc.datastore);
      if (!ds) {
        if (ds.error().code != ErrorCode::kNotFound) return std::unexpected(ds.error());
        return fail("unknown datastore '" + loc.datastore +
                    "'; register it with `overdrive datastore create -f DATASTORE.yml` "
                    "(`overdrive datastore list` shows those known)");
      }
      s.kind = "datastore";
      s.datastore = loc.datastore;
      s.rel = loc.rel;
      return s;
    }
    case DataLocation::Kind::kBlobUrl:
    case DataLocation::Kind::kS3: {
      OD_ASSIGN_OR_RETURN(auto all, ListDatastores());
      for (const auto& ds : all) {
        bool match = loc.kind == DataLocation::Kind::kS3
                         ? ds.type == "s3" && ds.bucket == loc.bucket
                         : ds.type == "azure_blob" && ds.account_name == loc.account &&
                               ds.container_name == loc.container;
        if (match) {
          s.kind = "datastore";
          s.datastore = ds.name;
          s.rel = loc.rel;
          return s;
        }
      }
      return fail("'" + loc.text + "': no datastore holds " +
                  (loc.kind == DataLocation::Kind::kS3
                       ? "bucket '" + loc.bucket + "'"
                       : "container '" + loc.container + "' of account '" + loc.account + "'") +
                  "; register one with `overdrive datastore create -f DATASTORE.yml` (its "
                  "credentials come from there)");
    }
  }
  return fail("unsupported location");
}

Result<DataCatalog::Materialized> DataCatalog::Materialize(const DataSource& src, DataCache& cache,
                                                           const TransferOptions& opt) {
  Materialized m;
  std::error_code ec;
  if (src.kind == "local") {
    m.path = src.local_path;
    if (!fs::exists(m.path, ec)) {
      return MakeError(ErrorCode::kNotFound, "input '" + src.uri + "' does not exist");
    }
    return m;
  }
  if (src.kind == "web") {
    OD_ASSIGN_OR_RETURN(std::string identity, UrlIdentity(src.url, opt));
    Sha256 key;
    key.Update("web\n" + src.url + "\n" + identity);
    std::string name = Basename(src.url.substr(0, src.url.find('?')));
    if (name.empty()) name = "download";
    OD_ASSIGN_OR_RETURN(auto entry, cache.Get(Hex16(key.HexDigest()), [&](const fs::path& dir) -> Result<void> {
      fs::create_directories(dir / "data", ec);
      return CopyUrl(src.url, dir / "data" / name, opt);
    }));
    m.path = entry.data / name;
    m.transferred = !entry.hit;
    m.bytes = entry.bytes;
    return m;
  }
  OD_ASSIGN_OR_RETURN(DatastoreSpec ds, GetDatastore(src.datastore));
  if (ds.type == "local") {
    // Read in place: a local or shared (NFS) folder needs no copy.
    m.path = src.rel.empty() ? fs::path(ds.path) : fs::path(ds.path) / src.rel;
    if (!fs::exists(m.path, ec)) {
      return MakeError(ErrorCode::kNotFound,
                       "datastore '" + ds.name + "': nothing at '" + m.path.string() + "'");
    }
    return m;
  }
  OD_ASSIGN_OR_RETURN(StorageRemote remote, Open(ds));
  OD_ASSIGN_OR_RETURN(auto objects, ListRemote(remote, src.rel, opt));
  bool is_file = src.type == "uri_file";
  if (objects.empty()) {
    return MakeError(ErrorCode::kNotFound, "datastore '" + ds.name + "': nothing at '" +
                                               remote.Url(src.rel) + "'");
  }
  if (is_file && objects.size() != 1) {
    return MakeError(ErrorCode::kInvalidInput, "datastore '" + ds.name + "': '" + remote.Url(src.rel) +
                                                   "' is a folder, but the input is uri_file");
  }
  std::sort(objects.begin(), objects.end(),
            [](const RemoteObject& a, const RemoteObject& b) { return a.path < b.path; });
  Sha256 key;
  key.Update("datastore\n" + remote.display + "\n" + src.rel + "\n" + (is_file ? "file" : "folder") + "\n");
  for (const auto& o : objects) {
    key.Update(o.path + "\t" + std::to_string(o.size) + "\t" + (o.hash.empty() ? o.mod_time : o.hash) + "\n");
  }
  std::string name = is_file ? Basename(src.rel) : "";
  if (is_file && name.empty()) name = "data";
  OD_ASSIGN_OR_RETURN(auto entry, cache.Get(Hex16(key.HexDigest()), [&](const fs::path& dir) -> Result<void> {
    fs::create_directories(dir / "data", ec);
    return CopyFromRemote(remote, src.rel, is_file, is_file ? dir / "data" / name : dir / "data", opt);
  }));
  m.path = is_file ? entry.data / name : entry.data;
  m.transferred = !entry.hit;
  m.bytes = entry.bytes;
  return m;
}

Result<void> DataCatalog::Upload(const fs::path& local, const DataSource& dest,
                                 const TransferOptions& opt) {
  if (dest.kind != "datastore") {
    return MakeError(ErrorCode::kInvalidInput, "an output goes to a datastore path "
                                               "(azureml://datastores/NAME/paths/PATH), not '" +
                                                   dest.uri + "'");
  }
  OD_ASSIGN_OR_RETURN(DatastoreSpec ds, GetDatastore(dest.datastore));
  if (ds.type == "local") {
    std::error_code ec;
    fs::create_directories(ds.path, ec);
  }
  OD_ASSIGN_OR_RETURN(StorageRemote remote, Open(ds));
  return CopyToRemote(remote, local, dest.rel, opt);
}

Result<DataAssetRecord> DataCatalog::CreateAsset(const DataAssetSpec& spec,
                                                 const std::string& datastore,
                                                 const TransferOptions& opt) {
  DataAssetRecord rec;
  rec.name = spec.name;
  rec.version = spec.version;
  rec.type = spec.type;
  rec.description = spec.description;
  rec.tags_json = nlohmann::json(spec.tags).dump();
  nlohmann::json meta = nlohmann::json::object();
  const DataLocation& loc = spec.location;
  std::error_code ec;
  if (loc.kind == DataLocation::Kind::kLocal) {
    auto st = fs::status(loc.local_path, ec);
    if (!fs::exists(st)) {
      return std::unexpected(InputError(spec.path_pos, "'" + loc.text + "' does not exist (resolved to " +
                                                           loc.local_path.string() + ")"));
    }
    if (spec.type == "uri_file" && !fs::is_regular_file(st)) {
      return std::unexpected(InputError(spec.path_pos, "type uri_file needs a file, but '" + loc.text +
                                                           "' is not one"));
    }
    if (spec.type != "uri_file" && !fs::is_directory(st)) {
      return std::unexpected(InputError(spec.path_pos, "type " + spec.type + " needs a folder, but '" +
                                                           loc.text + "' is a file (use type: uri_file)"));
    }
    OD_ASSIGN_OR_RETURN(LocalDigest d, DigestLocal(loc.local_path));
    std::string target = datastore.empty() ? std::string(kDefaultDatastore) : datastore;
    OD_ASSIGN_OR_RETURN(DatastoreSpec ds, GetDatastore(target));
    std::string base = loc.local_path.filename().string();
    if (base.empty()) base = "data";
    std::string rel = "LocalUpload/" + Hex16(d.digest) + (spec.type == "uri_file" ? "/" + base : "");
    DataSource dest;
    dest.kind = "datastore";
    dest.datastore = ds.name;
    dest.rel = rel;
    dest.uri = "azureml://datastores/" + ds.name + "/paths/" + rel;
    OD_TRY(Upload(loc.local_path, dest, opt));
    rec.path = dest.uri;
    meta["digest"] = d.digest;
    meta["files"] = d.files;
    meta["bytes"] = d.bytes;
    meta["source"] = loc.local_path.string();
  } else {
    OD_ASSIGN_OR_RETURN(DataSource src, Resolve(loc, spec.type, spec.path_pos));
    rec.path = src.kind == "datastore" ? "azureml://datastores/" + src.datastore + "/paths/" + src.rel
                                       : src.uri;
    // It must be there now (an asset of nothing is a typo waiting to fail a sweep).
    if (src.kind == "datastore") {
      OD_ASSIGN_OR_RETURN(DatastoreSpec ds, GetDatastore(src.datastore));
      OD_ASSIGN_OR_RETURN(StorageRemote remote, Open(ds));
      auto objects = ListRemote(remote, src.rel, opt);
      if (!objects) return std::unexpected(objects.error());
      if (objects->empty()) {
        return std::unexpected(InputError(spec.path_pos, "nothing at '" + loc.text + "'"));
      }
      std::int64_t bytes = 0;
      for (const auto& o : *objects) bytes += o.size;
      meta["files"] = static_cast<std::int64_t>(objects->size());
      meta["bytes"] = bytes;
    } else if (src.kind == "web") {
      OD_ASSIGN_OR_RETURN(std::string identity, UrlIdentity(src.url, opt));
      meta["identity"] = identity;
    }
  }
  rec.spec_json = meta.dump();
  if (rec.version.empty()) {
    // The same bytes registered again without a version are the latest version, not a new one
    // (a script or `make demo` run twice registers once).
    auto latest = store_.GetLatestDataAsset(rec.name);
    if (latest && latest->path == rec.path && latest->type == rec.type &&
        latest->spec_json == rec.spec_json) {
      return *latest;
    }
  }
  return store_.CreateDataAsset(rec);
}

}  // namespace overdrive
