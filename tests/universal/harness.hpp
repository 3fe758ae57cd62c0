#pragma once
// Shared by the shim and universal runtime tests: where the built programs are, a RuntimeHost that
// records exits, and polling with a deadline (never a sleep to wait for state).

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtimes/runtime.hpp"

namespace baton::testing {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

inline stdfs::path build_dir() {
  if (const char* dir = std::getenv("BATON_BUILD_DIR")) return dir;
  // Run by hand: <build>/tests/<binary>.
  return stdfs::read_symlink("/proc/self/exe").parent_path().parent_path();
}
inline stdfs::path test_component() {
  return build_dir() / "bin" / "baton-testcomponent";
}
inline stdfs::path shim_binary() {
  return build_dir() / "bin" / "baton-shim";
}

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
template <class Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

// Not running: no such process, or a zombie (it ran to its end; only the reaping is left).
inline bool process_gone(pid_t pid) {
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || (close + 2 < text.size() && text[close + 2] == 'Z');
}

inline std::string read_text(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

inline std::string random_hex(std::size_t length) {
  static std::mt19937_64 generator{std::random_device{}()};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::string text;
  for (std::size_t i = 0; i < length; ++i)
    text += "0123456789abcdef"[generator() % 16];
  return text;
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
    auto it = exits_.find(launch_id);
    return it == exits_.end() ? 0 : it->second.size();
  }
  std::size_t total_exits() {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& [id, list] : exits_)
      total += list.size();
    return total;
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

}  // namespace baton::testing
