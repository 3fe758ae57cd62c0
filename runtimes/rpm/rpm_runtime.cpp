#include "runtimes/rpm/rpm_runtime.hpp"

#include <archive.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

namespace baton::runtimes::rpm {

namespace {

using nlohmann::json;

constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

bool is_digest(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A component name that is one plain folder of the bundle.
bool is_folder_name(const std::string& name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::uint64_t unsigned_setting(const json& config, const char* key, std::uint64_t fallback) {
  auto it = config.find(key);
  if (it == config.end()) return fallback;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0) {
    throw Error{Errc::invalid, std::string("rpm.json: \"") + key + "\" must be a positive integer"};
  }
  return it->get<std::uint64_t>();
}

// Temporary folders an interrupted unpack left (`<data>/<digest>/.<component>.extract-XXXXXX`).
void remove_leftovers(const stdfs::path& data_dir) {
  std::error_code error;
  for (const auto& digest : stdfs::directory_iterator(data_dir, error)) {
    std::error_code inner;
    for (const auto& entry : stdfs::directory_iterator(digest.path(), inner)) {
      std::string name = entry.path().filename().string();
      if (name.front() == '.' && name.find(".extract-") != std::string::npos) {
        remove_tree(entry.path());
      }
    }
  }
}

// Replaces every `name` entry of `environment` with one whose value is `front` followed by the
// last old value (or `fallback`), ':'-separated.
void prepend(std::vector<std::pair<std::string, std::string>>& environment, const std::string& name,
             const std::string& front, const std::string& fallback) {
  std::string old = fallback;
  for (const auto& [key, value] : environment) {
    if (key == name) old = value;
  }
  environment.erase(std::remove_if(environment.begin(), environment.end(),
                                   [&](const auto& entry) { return entry.first == name; }),
                    environment.end());
  environment.emplace_back(name, old.empty() ? front : front + ":" + old);
}

std::string joined(const stdfs::path& root, std::initializer_list<const char*> folders) {
  std::string out;
  for (const char* folder : folders) {
    if (!out.empty()) out += ':';
    out += (root / folder).string();
  }
  return out;
}

}  // namespace

RpmRuntime::RpmRuntime(const plugin::Host& host, const std::string& config_json)
    : ProcessRuntime(host) {
  json config = json::parse(config_json, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    throw Error{Errc::invalid, "rpm.json: not a JSON object"};
  }
  data_dir_ = host.data_dir();
  if (auto it = config.find("dataDir"); it != config.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      throw Error{Errc::invalid, "rpm.json: \"dataDir\" must be a folder name"};
    }
    data_dir_ = it->get<std::string>();
  }
  if (data_dir_.empty()) {
    throw Error{Errc::unavailable,
                "the agent gives this runtime no data folder; set \"dataDir\" in rpm.json"};
  }
  limits_.max_entries = unsigned_setting(config, "maxEntries", limits_.max_entries);
  limits_.max_total_bytes = unsigned_setting(config, "maxBytes", limits_.max_total_bytes);
  if (auto it = config.find("maxRatio"); it != config.end()) {
    if (!it->is_number() || it->get<double>() <= 0) {
      throw Error{Errc::invalid, "rpm.json: \"maxRatio\" must be a positive number"};
    }
    limits_.max_ratio = it->get<double>();
  }
  std::error_code error;
  stdfs::create_directories(data_dir_, error);
  if (error) {
    throw Error{Errc::io, "rpm data folder " + data_dir_.string() + ": " + error.message()};
  }
  remove_leftovers(data_dir_);
}

plugin::ProbeResult RpmRuntime::probe() {
  plugin::ProbeResult result;
  result.available = ::access(data_dir_.c_str(), W_OK | X_OK) == 0;
  if (!result.available) {
    result.reason =
        "data folder " + data_dir_.string() + " is not writable: " + std::strerror(errno);
  }
  std::string version = archive_version_string();
  if (version.rfind("libarchive ", 0) == 0) version.erase(0, 11);
  result.attributes["libarchive"] = version;
  return result;
}

std::shared_ptr<std::mutex> RpmRuntime::lock_for(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto& entry = locks_[key];
  if (!entry) entry = std::make_shared<std::mutex>();
  return entry;
}

plugin::Result<stdfs::path> RpmRuntime::root(const std::string& digest,
                                             const stdfs::path& bundle_root,
                                             const std::string& component) {
  if (!is_digest(digest)) {
    return make_error(Errc::invalid, "bundle digest '" + digest + "' is not 64 lower-case hex");
  }
  if (!is_folder_name(component)) {
    return make_error(Errc::invalid, "component '" + component + "' is not a folder name");
  }
  const stdfs::path destination = data_dir_ / digest / component;
  std::error_code error;
  if (stdfs::is_directory(destination, error)) return destination;

  auto lock = lock_for(digest + "/" + component);
  std::lock_guard guard(*lock);
  if (stdfs::is_directory(destination, error)) return destination;  // unpacked meanwhile

  const stdfs::path folder = bundle_root / component;
  std::vector<stdfs::path> rpms;
  for (const auto& entry : stdfs::directory_iterator(folder, error)) {
    std::error_code ignored;
    if (entry.path().extension() == ".rpm" && entry.is_regular_file(ignored)) {
      rpms.push_back(entry.path());
    }
  }
  if (error) {
    return make_error(Errc::not_found, "component " + component + ": no folder " + folder.string() +
                                           " in the bundle");
  }
  if (rpms.empty()) {
    return make_error(Errc::invalid,
                      "component " + component + ": no .rpm file in " + folder.string());
  }
  std::sort(rpms.begin(), rpms.end());
  const stdfs::path parent = data_dir_ / digest;
  stdfs::create_directories(parent, error);
  if (error) {
    return make_error(Errc::io, "rpm data folder " + parent.string() + ": " + error.message());
  }
  plugin::Status unpacked = extract_rpms(rpms, destination, limits_);
  if (!unpacked) {
    if (unpacked.error().code == Errc::conflict && stdfs::is_directory(destination, error)) {
      return destination;  // another agent process sharing the folder won the race
    }
    ::rmdir(parent.c_str());  // only when empty: other components' roots stay
    return std::move(unpacked).error();
  }
  host().log(plugin::LogLevel::info, "unpacked " + std::to_string(rpms.size()) + " rpm(s) of " +
                                         component + " into " + destination.string());
  return destination;
}

plugin::Status RpmRuntime::prepare(const plugin::BundleContent& bundle) {
  json descriptor = json::parse(bundle.descriptor_json, nullptr, false);
  if (descriptor.is_discarded() || !descriptor.is_object()) {
    return make_error(Errc::invalid, "bundle " + bundle.digest + ": unreadable descriptor");
  }
  auto components = descriptor.find("components");
  if (components == descriptor.end() || !components->is_object()) return {};
  for (const auto& [name, component] : components->items()) {
    if (!component.is_object() || component.value("file-system-type", "") != kName) continue;
    auto made = root(bundle.digest, bundle.root, name);
    if (!made) return std::move(made).error();
  }
  return {};
}

plugin::Result<plugin::Handle> RpmRuntime::start(const plugin::Launch& launch) {
  if (launch.command.empty()) {
    return make_error(Errc::invalid, "launch " + launch.id + ": no start-command");
  }
  auto made = root(launch.bundle_digest, launch.bundle_root, launch.component);
  if (!made) return std::move(made).error();
  const stdfs::path& base = *made;

  plugin::Launch process = launch;
  const std::string& program = launch.command.front();
  if (!program.empty() && program.front() == '/') {
    // Inside the root: normalizing an absolute path first keeps ".." from climbing above it.
    stdfs::path mapped = base / stdfs::path(program).lexically_normal().relative_path();
    struct stat info {};
    if (::stat(mapped.c_str(), &info) != 0) {
      return make_error(Errc::not_found, "start-command " + program +
                                             ": no such file in the rpms of component " +
                                             launch.component + " (" + mapped.string() + ")");
    }
    process.command.front() = mapped.string();
  }
  prepend(process.environment, "PATH", joined(base, {"usr/bin", "bin", "usr/sbin", "sbin"}),
          kDefaultPath);
  prepend(process.environment, "LD_LIBRARY_PATH",
          joined(base, {"usr/lib64", "usr/lib", "lib64", "lib"}), "");
  process.environment.erase(
      std::remove_if(process.environment.begin(), process.environment.end(),
                     [](const auto& entry) { return entry.first == "BATON_RPM_ROOT"; }),
      process.environment.end());
  process.environment.emplace_back("BATON_RPM_ROOT", base.string());
  return host().process_start(process);
}

plugin::Status RpmRuntime::release(const std::string& bundle_digest) {
  if (!is_digest(bundle_digest)) {
    return make_error(Errc::invalid,
                      "bundle digest '" + bundle_digest + "' is not 64 lower-case hex");
  }
  {
    std::lock_guard lock(mutex_);
    for (auto it = locks_.begin(); it != locks_.end();) {
      it = it->first.rfind(bundle_digest + "/", 0) == 0 ? locks_.erase(it) : std::next(it);
    }
  }
  remove_tree(data_dir_ / bundle_digest);
  return {};
}

}  // namespace baton::runtimes::rpm
