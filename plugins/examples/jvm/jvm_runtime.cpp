// The "jvm" runtime, an example Baton runtime plugin built out of tree against the plugin SDK.
//
// A component with `file-system-type = "jvm"` keeps a jar in its folder of the bundle; its
// start-command names the jar and the arguments: ["hello.jar", "serve"] runs
//   java -Xmx<75% of the bundle's memory>m -jar <bundle>/<component>/hello.jar serve
// through the agent's process service, which supervises it exactly like a universal component
// (shim, cgroup, logs, ports, readiness, stop, recovery). A jar path with a '/' is relative to the
// bundle's top folder instead. probe() reports java's version, and the runtime is unavailable
// without java ($JAVA_HOME/bin/java, else java on the agent's PATH).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <baton/runtime_plugin.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using namespace baton::plugin;
namespace stdfs = std::filesystem;

constexpr int kHeapPercent = 75;
constexpr auto kProbeInterval = std::chrono::seconds(30);

std::string find_java() {
  if (const char* home = std::getenv("JAVA_HOME"); home && *home) {
    stdfs::path java = stdfs::path(home) / "bin" / "java";
    if (::access(java.c_str(), X_OK) == 0) return java.string();
  }
  const char* path = std::getenv("PATH");
  std::stringstream folders(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string folder;
  while (std::getline(folders, folder, ':')) {
    if (folder.empty()) continue;
    stdfs::path java = stdfs::path(folder) / "java";
    if (::access(java.c_str(), X_OK) == 0) return java.string();
  }
  return "";
}

// The version in the first line `java -version` prints, e.g. `openjdk version "17.0.15" ...`.
Result<std::string> java_version(const std::string& java) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return make_error(Errc::io, "pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  std::vector<std::string> args = {java, "-version"};
  std::vector<char*> argv = {args[0].data(), args[1].data(), nullptr};
  pid_t pid = 0;
  int spawned = ::posix_spawn(&pid, java.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[1024];
  ssize_t n;
  while (spawned == 0 && (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (spawned != 0) return make_error(Errc::unavailable, "cannot run " + java);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error(Errc::unavailable, java + " -version failed: " + output);
  }
  auto open = output.find('"');
  auto close = open == std::string::npos ? open : output.find('"', open + 1);
  if (close == std::string::npos) {
    return make_error(Errc::unavailable, java + " -version printed no version: " + output);
  }
  return output.substr(open + 1, close - open - 1);
}

class JvmRuntime final : public ProcessRuntime {
 public:
  static constexpr const char* kName = "jvm";

  // This example takes no configuration (`<plugins dir>/jvm.json` would arrive in `config`).
  JvmRuntime(const Host& host, const std::string& /*config*/)
      : ProcessRuntime(host), java_(find_java()) {}

  ProbeResult probe() override {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (probed_ && now - probed_at_ < kProbeInterval) return *probed_;
    ProbeResult result;
    if (java_.empty()) {
      result.reason = "no java: set JAVA_HOME or put java on the agent's PATH";
    } else if (auto version = java_version(java_)) {
      result.available = true;
      result.attributes["java"] = java_;
      result.attributes["java.version"] = *version;
    } else {
      result.reason = version.error().message;
    }
    probed_ = result;
    probed_at_ = now;
    return result;
  }

  Result<Handle> start(const Launch& launch) override {
    if (java_.empty()) return make_error(Errc::unavailable, "no java on this agent");
    if (launch.command.empty()) {
      return make_error(Errc::invalid, "launch " + launch.id + ": start-command names no jar");
    }
    const std::string& jar = launch.command.front();
    stdfs::path relative = jar.find('/') == std::string::npos ? stdfs::path(launch.component) / jar
                                                              : stdfs::path(jar).lexically_normal();
    if (relative.is_absolute() || relative.empty() || *relative.begin() == "..") {
      return make_error(Errc::invalid, "start-command " + jar + ": the jar must be in the bundle");
    }
    stdfs::path file = launch.bundle_root / relative;
    std::error_code error;
    if (!stdfs::is_regular_file(file, error)) {
      return make_error(Errc::not_found, "start-command " + jar + ": no such jar in the bundle (" +
                                             file.string() + ")");
    }

    Launch process = launch;
    process.command = {java_};
    if (launch.limits.memory > 0) {
      std::int64_t heap_mib = launch.limits.memory / 100 * kHeapPercent / (1024 * 1024);
      process.command.push_back("-Xmx" + std::to_string(std::max<std::int64_t>(heap_mib, 8)) + "m");
    }
    process.command.push_back("-jar");
    process.command.push_back(file.string());
    process.command.insert(process.command.end(), launch.command.begin() + 1, launch.command.end());
    return host().process_start(process);
  }

 private:
  const std::string java_;
  std::mutex mutex_;  // probe() may run concurrently with itself
  std::optional<ProbeResult> probed_;
  std::chrono::steady_clock::time_point probed_at_;
};

}  // namespace

BATON_PLUGIN("baton-jvm-example", "1.0.0", JvmRuntime)
