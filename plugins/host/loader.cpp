#include "plugins/host/loader.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "bundle/descriptor_parse.hpp"
#include "common/files.hpp"

namespace baton::plugins {

namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

Error refuse(const stdfs::path& file, Errc code, const std::string& cause) {
  return make_error(code, "plugin " + file.string() + ": " + cause);
}

// Stands for a runtime name in Registry::add's duplicate check; never used otherwise.
class NameOnly final : public runtimes::Runtime {
 public:
  explicit NameOnly(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  runtimes::ProbeResult probe() override { return {}; }
  Status prepare(const runtimes::BundleContent&) override { return {}; }
  Result<runtimes::Handle> start(const runtimes::Launch&) override { return unused(); }
  Status stop(const std::string&, int, std::chrono::milliseconds) override { return unused(); }
  Status destroy(const std::string&) override { return unused(); }
  Result<runtimes::Handle> recover(const runtimes::Launch&, const runtimes::Handle&) override {
    return unused();
  }
  Result<runtimes::Stats> stats(const std::string&) override { return unused(); }
  Status release(const std::string&) override { return unused(); }

 private:
  static Error unused() { return make_error(Errc::internal, "a name-only runtime was called"); }
  std::string name_;
};

bool complete(const baton_runtime& table) {
  return table.create && table.destroy_runtime && table.probe && table.prepare && table.start &&
         table.stop && table.destroy && table.recover && table.stats && table.release;
}

// `<folder>/<runtime>.json` when present, else "{}"; it must hold a JSON object.
Result<std::string> read_config(const stdfs::path& file, const std::string& runtime) {
  stdfs::path config = file.parent_path() / (runtime + ".json");
  std::error_code error;
  if (!stdfs::exists(config, error)) return std::string("{}");
  BATON_ASSIGN_OR_RETURN(std::string text, files::read(config, kMaxConfigBytes));
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return refuse(
        file, Errc::invalid,
        "configuration " + config.string() + " of runtime " + runtime + " is not a JSON object");
  }
  return text;
}

}  // namespace

Result<std::vector<std::string>> load_plugin(runtimes::Registry& registry, const stdfs::path& file,
                                             const LoadOptions& options) {
  if (!options.make_host) {
    return make_error(Errc::internal, "load_plugin: LoadOptions::make_host is not set");
  }
  BATON_ASSIGN_OR_RETURN(LibraryPtr library, Library::open(file));
  auto entry =
      reinterpret_cast<baton_plugin_entry_function>(library->symbol(BATON_PLUGIN_ENTRY_NAME));
  if (entry == nullptr) {
    return refuse(file, Errc::invalid,
                  "not a Baton runtime plugin: it exports no " BATON_PLUGIN_ENTRY_NAME "()");
  }
  const baton_plugin* plugin = entry();
  if (plugin == nullptr) {
    return refuse(file, Errc::invalid, BATON_PLUGIN_ENTRY_NAME "() returned nothing");
  }
  // Nothing but the first field may be read before the versions are known to match.
  const char* abi = plugin->abi_version;
  if (abi == nullptr || std::strcmp(abi, BATON_PLUGIN_ABI_VERSION) != 0) {
    return refuse(file, Errc::invalid,
                  std::string("built for runtime plugin ABI ") +
                      (abi ? "version " + std::string(abi) : std::string("(no version)")) +
                      ", but this agent has ABI version " BATON_PLUGIN_ABI_VERSION
                      "; rebuild the plugin against this agent's SDK");
  }
  std::string plugin_name = plugin->name ? plugin->name : "";
  std::string version = plugin->version ? plugin->version : "";
  std::string described = "plugin " + plugin_name + " " + version;
  if (plugin->runtime_count == 0 || plugin->runtimes == nullptr) {
    return refuse(file, Errc::invalid, described + " offers no runtime");
  }

  // Check every table and name before anything is made, so a refusal leaves nothing behind.
  std::set<std::string> names;
  for (std::size_t i = 0; i < plugin->runtime_count; ++i) {
    const baton_runtime& table = plugin->runtimes[i];
    std::string name = table.name ? table.name : "";
    if (!bundle::is_runtime_name(name)) {
      return refuse(file, Errc::invalid,
                    "runtime name '" + name + "' is not a file-system-type ([a-z0-9][a-z0-9-]*)");
    }
    if (!complete(table)) {
      return refuse(file, Errc::invalid, "runtime " + name + " lacks functions of its table");
    }
    if (!names.insert(name).second) {
      return refuse(file, Errc::conflict, "runtime " + name + " is offered twice");
    }
    if (registry.find(name) != nullptr) {
      // Registry::add words the refusal (naming who registered the name first); a stand-in is
      // offered because the name is known to be taken, so it is never registered.
      auto added = registry.add(std::make_unique<NameOnly>(name), file.string());
      return refuse(file, Errc::conflict,
                    added ? "runtime " + name + " is already registered" : added.error().message);
    }
  }

  std::vector<std::unique_ptr<PluginRuntime>> made;
  for (std::size_t i = 0; i < plugin->runtime_count; ++i) {
    const baton_runtime& table = plugin->runtimes[i];
    std::string name = table.name;
    BATON_ASSIGN_OR_RETURN(std::string config, read_config(file, name));
    stdfs::path data_dir;
    if (!options.data_dir.empty()) {
      data_dir = options.data_dir / name;
      std::error_code error;
      stdfs::create_directories(data_dir, error);
      if (error) {
        return refuse(
            file, Errc::io,
            "runtime " + name + ": cannot create " + data_dir.string() + ": " + error.message());
      }
    }
    BATON_ASSIGN_OR_RETURN(auto runtime,
                           PluginRuntime::create(library, table, options.make_host(name),
                                                 options.services, config, data_dir));
    made.push_back(std::move(runtime));
  }
  std::vector<std::string> loaded;
  for (auto& runtime : made) {
    std::string line =
        "runtime " + runtime->name() + " from " + file.string() + " (" + described + ")";
    BATON_TRY(registry.add(std::move(runtime), file.string()));
    loaded.push_back(std::move(line));
  }
  return loaded;
}

LoadReport load_plugins(runtimes::Registry& registry, const LoadOptions& options) {
  LoadReport report;
  for (const auto& folder : options.folders) {
    std::error_code error;
    std::vector<stdfs::path> files;
    for (const auto& entry : stdfs::directory_iterator(folder, error)) {
      std::error_code ignored;
      if (entry.path().extension() == ".so" && entry.is_regular_file(ignored)) {
        files.push_back(entry.path());
      }
    }
    if (error) {
      report.refused.push_back(
          make_error(Errc::not_found, "plugin folder " + folder.string() + ": " + error.message()));
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto loaded = load_plugin(registry, file, options);
      if (!loaded) {
        report.refused.push_back(std::move(loaded).error());
        continue;
      }
      for (auto& line : *loaded)
        report.loaded.push_back(std::move(line));
    }
  }
  return report;
}

}  // namespace baton::plugins
