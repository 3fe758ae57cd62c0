#pragma once
// Running real programs from tests: argv, environment changes, standard input; captured stdout,
// stderr and exit code, with a deadline (a hung command is killed and the test fails instead of
// hanging). Shared by tests/cli and integration/.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace baton::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or not run
  std::string out;
  std::string err;
  bool timed_out = false;
  // "`baton info` exited 3\nstdout: ...\nstderr: ..." for assertion messages.
  std::string describe() const;
  std::string command;
};

struct CommandOptions {
  // Variables to set (a value) or unset (nullopt) on top of this process's environment.
  std::map<std::string, std::optional<std::string>> environment;
  std::string input;  // written to the command's stdin, then closed
  std::chrono::milliseconds timeout{std::chrono::seconds(180)};
  std::filesystem::path cwd;  // empty: ours
};

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

// The build folder: $BATON_BUILD_DIR (set by CTest), else two levels above this test binary.
std::filesystem::path build_dir();
// <build>/bin/<name>.
std::filesystem::path program(const std::string& name);

// Polls `condition` every `interval` until it holds or `timeout` passes; true when it held.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100));

// A TCP port on 127.0.0.1 that nothing listened on a moment ago (bound, then released).
int unused_port();

}  // namespace baton::testing
