#pragma once
// Loading runtime plugins into the agent's runtime registry, next to the built-in runtimes.
//
// Every `*.so` of each folder (in name order) is one plugin, loaded all or nothing: dlopen with
// RTLD_NOW | RTLD_LOCAL, baton_plugin_entry() called, its ABI version compared with the agent's
// before anything else is read, its tables checked, every runtime made with create() (config from
// `<folder>/<runtime>.json`, data folder `<data_dir>/<runtime>`), then registered with the
// library file as origin. A file that fails any step is reported (the error names the file and
// the cause) and skipped; loading goes on with the next.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "plugins/host/plugin_runtime.hpp"
#include "runtimes/registry.hpp"

namespace baton::plugins {

struct LoadOptions {
  std::vector<stdfs::path> folders;
  // Each runtime gets `<data_dir>/<runtime name>` (created); empty: runtimes get no data folder.
  stdfs::path data_dir;
  HostServices services;
  // The RuntimeHost of one plugin runtime (by name): its exits and log lines. Required.
  std::function<std::unique_ptr<runtimes::RuntimeHost>(const std::string& runtime)> make_host;
};

struct LoadReport {
  // One line per registered runtime: "runtime jvm from /p/jvm.so (plugin jvm 1.0.0)".
  std::vector<std::string> loaded;
  // One error per file (or folder) that was skipped, naming it and the cause.
  std::vector<Error> refused;
};

// Loads every plugin of options.folders into `registry`.
LoadReport load_plugins(runtimes::Registry& registry, const LoadOptions& options);

// Loads one library into `registry`, all of its runtimes or none. Returns the lines
// LoadReport::loaded would hold.
Result<std::vector<std::string>> load_plugin(runtimes::Registry& registry, const stdfs::path& file,
                                             const LoadOptions& options);

}  // namespace baton::plugins
