#pragma once
// Shared by the plugin and rpm tests: a RuntimeHost that records exits and log lines, polling with
// a deadline (never a sleep to wait for state), running a command, and a loader set up with the
// universal runtime as process service.

#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "plugins/host/loader.hpp"
#include "runtimes/registry.hpp"
#include "runtimes/runtime.hpp"
#include "runtimes/universal/universal.hpp"

namespace baton::testing {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

inline stdfs::path build_dir() {
  if (const char* dir = std::getenv("BATON_BUILD_DIR")) return dir;
  return stdfs::read_symlink("/proc/self/exe").parent_path().parent_path();
}

template <class Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

inline std::string read_text(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

inline void write_text(const stdfs::path& file, const std::string& text) {
  stdfs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

// The text of every line of `log` (Baton's log format) from `stream` ("stdout"/"stderr").
inline std::vector<std::string> log_lines(const std::string& log,
                                          const std::string& stream = "stdout") {
  std::vector<std::string> lines;
  std::istringstream in(log);
  std::string line;
  const std::size_t head = 28 + stream.size() + 1;  // "<27-char time> <stream> "
  while (std::getline(in, line)) {
    if (line.size() >= head && line.compare(28, stream.size() + 1, stream + " ") == 0) {
      lines.push_back(line.substr(head));
    }
  }
  return lines;
}

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` through /bin/sh, capturing its output; for tools the tests drive (cmake,
// rpmbuild, javac).
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline bool have_program(const std::string& name) {
  return run_command("command -v " + name + " >/dev/null").status == 0;
}

class FakeHost : public runtimes::RuntimeHost {
 public:
  void exited(const std::string& launch_id, runtimes::ExitStatus status) override {
    std::lock_guard lock(mutex_);
    exits_[launch_id].push_back(std::move(status));
    changed_.notify_all();
  }
  void log(runtimes::LogLevel, std::string_view message) override {
    std::lock_guard lock(mutex_);
    logs_.emplace_back(message);
  }

  std::optional<runtimes::ExitStatus> wait_exit(const std::string& launch_id,
                                                std::chrono::milliseconds timeout = 30s) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !exits_[launch_id].empty(); })) {
      return std::nullopt;
    }
    return exits_[launch_id].front();
  }
  std::size_t exit_count(const std::string& launch_id) {
    std::lock_guard lock(mutex_);
    return exits_[launch_id].size();
  }
  std::vector<std::string> logs() {
    std::lock_guard lock(mutex_);
    return logs_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<runtimes::ExitStatus>> exits_;
  std::vector<std::string> logs_;
};

// Forwards to a FakeHost it does not own (the loader wants one RuntimeHost per runtime).
class HostFor : public runtimes::RuntimeHost {
 public:
  HostFor(FakeHost& target, std::string name) : target_(target), name_(std::move(name)) {}
  void exited(const std::string& launch_id, runtimes::ExitStatus status) override {
    target_.exited(launch_id, std::move(status));
  }
  void log(runtimes::LogLevel level, std::string_view message) override {
    target_.log(level, "[" + name_ + "] " + std::string(message));
  }

 private:
  FakeHost& target_;
  std::string name_;
};

// A registry holding the universal runtime (the process service) and whatever a test loads.
class Agentless {
 public:
  explicit Agentless(const stdfs::path& data) {
    runtimes::universal::Options universal;
    universal.shim = build_dir() / "bin" / "baton-shim";
    universal.use_cgroups = false;
    auto runtime = runtimes::universal::make_runtime(host, universal);
    this->universal = runtime.get();
    (void)registry.add(std::move(runtime));
    options.data_dir = data;
    options.services.processes = this->universal;
    options.make_host = [this](const std::string& name) {
      return std::make_unique<HostFor>(host, name);
    };
  }

  plugins::LoadReport load(const std::vector<stdfs::path>& folders) {
    options.folders = folders;
    return plugins::load_plugins(registry, options);
  }

  FakeHost host;
  runtimes::Runtime* universal = nullptr;
  runtimes::Registry registry;
  plugins::LoadOptions options;
};

// A launch with its folders under `base`.
inline runtimes::Launch make_launch(const stdfs::path& base, const std::string& instance,
                                    const std::string& component,
                                    std::vector<std::string> command) {
  runtimes::Launch launch;
  launch.instance_id = instance;
  launch.component = component;
  launch.id = instance + "." + component;
  launch.bundle_id = "b1";
  launch.bundle_digest = std::string(64, 'a');
  launch.agent_name = "test-agent";
  launch.bundle_root = base / "bundle";
  launch.work_dir = base / instance / "work";
  launch.log_dir = base / instance / "logs";
  launch.state_dir = base / instance / "runtime" / component;
  launch.command = std::move(command);
  launch.environment = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", base.string()}};
  launch.stop_timeout = 2s;
  return launch;
}

}  // namespace baton::testing
