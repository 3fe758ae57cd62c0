#include "runtimes/universal/program.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "common/text.hpp"

namespace baton::runtimes::universal {

namespace {

constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

enum class Check { ok, missing, not_executable };

Check check(const stdfs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return Check::missing;
  if (!S_ISREG(info.st_mode) || ::access(file.c_str(), X_OK) != 0) return Check::not_executable;
  return Check::ok;
}

}  // namespace

Result<stdfs::path> resolve_program(
    const std::string& program, const stdfs::path& bundle_root,
    const std::vector<std::pair<std::string, std::string>>& environment) {
  const std::string name = "start-command " + program;
  if (program.empty()) return make_error(Errc::invalid, "start-command: the program is empty");
  if (program.find('\0') != std::string::npos) {
    return make_error(Errc::invalid, name + ": contains a NUL character");
  }
  if (program.find('/') != std::string::npos) {
    stdfs::path file;
    const char* where = "";
    if (program.front() == '/') {
      file = stdfs::path(program).lexically_normal();
    } else {
      stdfs::path relative = stdfs::path(program).lexically_normal();
      if (relative.empty() || *relative.begin() == "..") {
        return make_error(Errc::invalid,
                          name + ": leaves the bundle (" + (bundle_root / program).string() + ")");
      }
      file = bundle_root / relative;
      where = " in the bundle";
    }
    switch (check(file)) {
      case Check::ok:
        return file;
      case Check::missing:
        return make_error(Errc::not_found,
                          name + ": no such file" + where + " (" + file.string() + ")");
      case Check::not_executable:
        return make_error(Errc::invalid, name + ": not executable (" + file.string() + ")");
    }
  }
  std::string search = kDefaultPath;
  for (const auto& [key, value] : environment) {
    if (key == "PATH") search = value;  // the last one wins, as in the environment block
  }
  std::optional<stdfs::path> not_executable;
  for (const auto& folder : text::split(search, ':')) {
    if (folder.empty() || folder.front() != '/') continue;  // relative entries mean nothing here
    stdfs::path file = stdfs::path(folder) / program;
    switch (check(file)) {
      case Check::ok:
        return file;
      case Check::not_executable:
        if (!not_executable) not_executable = file;
        break;
      case Check::missing:
        break;
    }
  }
  if (not_executable) {
    return make_error(Errc::invalid, name + ": not executable (" + not_executable->string() + ")");
  }
  return make_error(Errc::not_found, name + ": not found in PATH (" + search + ")");
}

}  // namespace baton::runtimes::universal
