#pragma once
// Shared by the docker runtime tests: temporary folders, polling with a deadline (never a sleep to
// wait for state), a RuntimeHost that records exits, and reading log files.

#include <unistd.h>

#include <chrono>
#include <condition_variable>
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

#include "logs/format.hpp"
#include "runtimes/runtime.hpp"

namespace baton::docker_testing {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

template <class Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
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

class TempDir {
 public:
  TempDir() {
    path_ = stdfs::temp_directory_path() / ("baton-docker-test-" + random_hex(12));
    stdfs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code error;
    stdfs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
};

inline std::string read_text(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

inline void write_text(const stdfs::path& file, const std::string& content) {
  stdfs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
}

// The text of every line of a component's log file (time and stream dropped), in order.
inline std::vector<std::string> log_texts(const stdfs::path& log_dir, const std::string& component,
                                          logs::Stream* only = nullptr) {
  std::vector<std::string> out;
  std::istringstream in(read_text(log_dir / logs::file_name(component)));
  std::string line;
  while (std::getline(in, line)) {
    auto parsed = logs::parse_line(line);
    if (!parsed) continue;
    if (only != nullptr && parsed->stream != *only) continue;
    out.emplace_back(parsed->text);
  }
  return out;
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
                                                std::chrono::milliseconds timeout = 60s) {
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
  std::vector<std::string> logs() {
    std::lock_guard lock(mutex_);
    return logs_;
  }
  bool logged(std::string_view fragment) {
    std::lock_guard lock(mutex_);
    for (const auto& line : logs_) {
      if (line.find(fragment) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<runtimes::ExitStatus>> exits_;
  std::vector<std::string> logs_;
};

}  // namespace baton::docker_testing
