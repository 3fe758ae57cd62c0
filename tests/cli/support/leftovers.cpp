#include "tests/cli/support/leftovers.hpp"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

namespace baton::testing {

namespace {

namespace stdfs = std::filesystem;

bool names_folder(const stdfs::path& proc, const std::string& folder) {
  std::ifstream in(proc / "cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmdline.find(folder) != std::string::npos) return true;
  std::error_code error;
  std::string cwd = stdfs::read_symlink(proc / "cwd", error).string();
  return !error && (cwd == folder || cwd.starts_with(folder + "/"));
}

}  // namespace

int kill_processes_within(const std::filesystem::path& folder) {
  std::error_code error;
  std::string root = stdfs::weakly_canonical(folder, error).string();
  if (error || root.size() < 2) return 0;
  int killed = 0;
  // Twice: a shim killed mid-restart may have spawned a child after the first pass.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& entry : stdfs::directory_iterator("/proc", error)) {
      std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      pid_t pid = static_cast<pid_t>(std::stol(name));
      if (pid == ::getpid() || !names_folder(entry.path(), root)) continue;
      if (::kill(pid, SIGKILL) == 0) ++killed;
    }
  }
  return killed;
}

}  // namespace baton::testing
