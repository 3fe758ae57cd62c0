#pragma once
// A runtime from a plugin library, seen as a runtimes::Runtime: every call is translated into the
// plugin's C table (plugins/include/baton/runtime_plugin.h) and back, and the plugin's calls into
// its baton_host come back as RuntimeHost calls, log writes, or the process service (delegated to
// the universal runtime the agent owns).

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "baton/runtime_plugin.h"
#include "common/result.hpp"
#include "logs/format.hpp"
#include "runtimes/runtime.hpp"

namespace baton::plugins {

namespace stdfs = std::filesystem;

// One dlopen()ed library; dlclose()d when the last runtime made from it is gone.
class Library {
 public:
  // dlopen(RTLD_NOW | RTLD_LOCAL). Errors name the file and dlerror()'s cause.
  static Result<std::shared_ptr<Library>> open(const stdfs::path& file);
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const stdfs::path& file() const { return file_; }
  void* symbol(const char* name) const;

 private:
  Library(stdfs::path file, void* handle) : file_(std::move(file)), handle_(handle) {}
  stdfs::path file_;
  void* handle_;
};
using LibraryPtr = std::shared_ptr<Library>;

// What the agent lends every plugin runtime.
struct HostServices {
  // The process service's engine: the agent's universal runtime, whose exits reach the agent
  // through its own RuntimeHost. Not owned; must outlive the plugin runtimes. nullptr: plugins
  // get BATON_ERR_UNAVAILABLE from process_*.
  runtimes::Runtime* processes = nullptr;
  // Rotation of the log files append_log writes.
  logs::Rotation log_rotation;
};

class PluginRuntime final : public runtimes::Runtime {
 public:
  // Calls table.create(). `host` receives the plugin's exits and log lines; data_dir exists (or
  // is empty); config is JSON text. Errors name the library file and the runtime.
  static Result<std::unique_ptr<PluginRuntime>> create(
      LibraryPtr library, const baton_runtime& table, std::unique_ptr<runtimes::RuntimeHost> host,
      HostServices services, const std::string& config, const stdfs::path& data_dir);
  // destroy_runtime(); launches keep running.
  ~PluginRuntime() override;
  PluginRuntime(const PluginRuntime&) = delete;
  PluginRuntime& operator=(const PluginRuntime&) = delete;

  std::string name() const override { return name_; }
  const stdfs::path& file() const { return library_->file(); }

  runtimes::ProbeResult probe() override;
  Status prepare(const runtimes::BundleContent& bundle) override;
  Result<runtimes::Handle> start(const runtimes::Launch& launch) override;
  Status stop(const std::string& launch_id, int signal, std::chrono::milliseconds timeout) override;
  Status destroy(const std::string& launch_id) override;
  Result<runtimes::Handle> recover(const runtimes::Launch& launch,
                                   const runtimes::Handle& saved) override;
  Result<runtimes::Stats> stats(const std::string& launch_id) override;
  Status release(const std::string& bundle_digest) override;

 private:
  struct LaunchLog;
  friend struct HostCalls;

  PluginRuntime(LibraryPtr library, const baton_runtime& table,
                std::unique_ptr<runtimes::RuntimeHost> host, HostServices services,
                const stdfs::path& data_dir);
  Error plugin_error(baton_status status, std::string message, const char* call) const;
  Error unknown_launch(const std::string& launch_id) const;
  // Launches the agent gave this runtime (start, recover; destroy while it runs): the only ones
  // its process service and log writes may touch, so a plugin cannot reach another runtime's.
  void adopt(const std::string& launch_id, const stdfs::path& log_file);
  void forget(const std::string& launch_id);
  std::shared_ptr<LaunchLog> find(const std::string& launch_id);

  LibraryPtr library_;
  const baton_runtime& table_;
  std::string name_;
  std::unique_ptr<runtimes::RuntimeHost> host_;
  HostServices services_;
  std::string data_dir_;
  baton_host c_host_{};
  void* self_ = nullptr;

  std::mutex mutex_;  // guards launches_
  std::map<std::string, std::shared_ptr<LaunchLog>> launches_;
};

}  // namespace baton::plugins
