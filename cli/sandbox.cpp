#include "cli/sandbox.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <thread>

#include "common/files.hpp"
#include "common/text.hpp"

namespace baton::cli {

using nlohmann::json;

Result<stdfs::path> baton_home(const EnvLookup& env) {
  if (auto home = env("BATON_HOME")) return stdfs::absolute(*home);
  if (auto home = env("HOME")) return stdfs::path(*home) / ".baton";
  return make_error(Errc::invalid, "neither BATON_HOME nor HOME is set: no place for the sandbox");
}

json SandboxSettings::to_json() const {
  return {{"corePort", core_port},       {"agents", agents},
          {"portsFrom", ports_from},     {"roles", roles},
          {"coreOptions", core_options}, {"agentOptions", agent_options},
          {"pluginDirs", plugin_dirs}};
}

SandboxSettings SandboxSettings::from_json(const json& value) {
  SandboxSettings settings;
  if (!value.is_object()) return settings;
  auto strings = [&](const char* key, std::vector<std::string>& out) {
    auto it = value.find(key);
    if (it == value.end() || !it->is_array()) return;
    out.clear();
    for (const auto& item : *it) {
      if (item.is_string()) out.push_back(item.get<std::string>());
    }
  };
  if (auto it = value.find("corePort"); it != value.end() && it->is_number_integer()) {
    int port = it->get<int>();
    if (port > 0 && port < 65536) settings.core_port = port;
  }
  if (auto it = value.find("agents"); it != value.end() && it->is_number_integer()) {
    settings.agents = std::clamp(it->get<int>(), 0, kMaxSandboxAgents);
  }
  if (auto it = value.find("portsFrom"); it != value.end() && it->is_number_integer()) {
    int from = it->get<int>();
    if (from >= 1024 && from <= kMaxSandboxPortsFrom) settings.ports_from = from;
  }
  strings("roles", settings.roles);
  strings("coreOptions", settings.core_options);
  strings("agentOptions", settings.agent_options);
  strings("pluginDirs", settings.plugin_dirs);
  return settings;
}

SandboxMember SandboxLayout::core() const {
  stdfs::path folder = root_ / "core";
  return {"core", 0, folder, folder / "core.log", folder / "pid"};
}

SandboxMember SandboxLayout::agent(int index) const {
  std::string name = "agent-" + std::to_string(index);
  stdfs::path folder = root_ / name;
  return {name, index, folder, folder / "agent.log", folder / "pid"};
}

std::vector<SandboxMember> SandboxLayout::members() const {
  std::vector<SandboxMember> out{core()};
  std::vector<int> indexes;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(root_, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_directory(ec) || !name.starts_with("agent-")) continue;
    auto index = text::parse_integer(std::string_view(name).substr(6));
    if (index && *index >= 1 && *index <= kMaxSandboxAgents)
      indexes.push_back(static_cast<int>(*index));
  }
  std::sort(indexes.begin(), indexes.end());
  for (int index : indexes)
    out.push_back(agent(index));
  return out;
}

std::optional<SandboxMember> SandboxLayout::member(const std::string& name) const {
  if (name == "core") return core();
  if (name.starts_with("agent-")) {
    auto index = text::parse_integer(std::string_view(name).substr(6));
    if (index && *index >= 1 && *index <= kMaxSandboxAgents) return agent(static_cast<int>(*index));
  }
  return std::nullopt;
}

stdfs::path shipped_plugins_dir(const stdfs::path& bin) {
  return (bin.parent_path() / BATON_PLUGINS_SUBDIR).lexically_normal();
}

PortSpan agent_port_span(int index, int from) {
  int first = from + (index - 1) * kSandboxPortsPerAgent;
  return {first, first + kSandboxPortsPerAgent - 1};
}

Status write_pid_file(const stdfs::path& file, const ProcessId& id) {
  return files::write_atomic(file,
                             std::to_string(id.pid) + " " + std::to_string(id.start_time) + "\n");
}

std::optional<ProcessId> read_pid_file(const stdfs::path& file) {
  auto content = files::read(file, 4096);
  if (!content) return std::nullopt;
  auto parts = text::split(text::trim(*content), ' ');
  if (parts.size() != 2) return std::nullopt;
  auto pid = text::parse_integer(parts[0]);
  auto start = text::parse_integer(parts[1]);
  if (!pid || !start || *pid <= 0 || *start < 0) return std::nullopt;
  return ProcessId{static_cast<pid_t>(*pid), static_cast<std::uint64_t>(*start)};
}

std::string tail_lines(const stdfs::path& file, std::size_t lines) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  // Read at most the last 64 KiB: enough for a few dozen lines of a log.
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = std::max<std::streamoff>(0, size - 65536);
  in.seekg(start);
  std::string data(static_cast<std::size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (start > 0) {
    std::size_t first_newline = data.find('\n');
    data.erase(0, first_newline == std::string::npos ? data.size() : first_newline + 1);
  }
  std::deque<std::string> kept;
  for (auto& line : text::split(data, '\n')) {
    kept.push_back(std::move(line));
    if (kept.size() > lines + 1) kept.pop_front();
  }
  // A trailing newline leaves an empty last element.
  if (!kept.empty() && kept.back().empty()) kept.pop_back();
  while (kept.size() > lines)
    kept.pop_front();
  std::string out;
  for (const auto& line : kept)
    out += line + "\n";
  return out;
}

std::vector<SandboxProcess> find_sandbox_processes(const stdfs::path& root, pid_t self) {
  std::vector<SandboxProcess> found;
  std::string marker = std::string(kSandboxVariable) + "=" + root.string();
  std::string root_text = root.string();
  std::set<pid_t> ancestors;
  for (pid_t pid = self; pid > 1 && ancestors.insert(pid).second;)
    pid = process_parent(pid);
  uid_t uid = ::getuid();

  auto names_root = [&](const std::string& argument) {
    // "/root/x", "--flag=/root/x"
    for (std::size_t at = argument.find(root_text); at != std::string::npos;
         at = argument.find(root_text, at + 1)) {
      bool starts = at == 0 || argument[at - 1] == '=';
      std::size_t end = at + root_text.size();
      bool ends = end == argument.size() || argument[end] == '/';
      if (starts && ends) return true;
    }
    return false;
  };

  for (pid_t pid : list_processes()) {
    if (ancestors.count(pid) > 0 || process_uid(pid) != uid) continue;
    auto start = process_start_time(pid);
    if (!start) continue;  // gone, or a zombie
    std::vector<std::string> arguments = process_arguments(pid);
    std::string why;
    std::string program =
        arguments.empty() ? std::string() : stdfs::path(arguments[0]).filename().string();
    auto environment = process_environment(pid);
    stdfs::path cwd = process_cwd(pid);
    if (std::find(environment.begin(), environment.end(), marker) != environment.end()) {
      why = "environment";
    } else if (program.starts_with("baton-") &&
               std::any_of(arguments.begin(), arguments.end(), names_root)) {
      // Our daemons and shims name their folders; a user's `tail -f .../core.log` is left alone.
      why = "argument";
    } else if (is_within(process_exe(pid), root)) {
      why = "exe";
    } else if (is_within(cwd, root) &&
               cwd.lexically_relative(root).begin()->string().starts_with("agent-")) {
      // Components work inside their agent's folder.
      why = "cwd";
    }
    if (why.empty()) continue;
    std::string command = text::join(arguments, " ");
    if (command.size() > 200) command.resize(200);
    bool shim = program == "baton-shim";
    found.push_back({{pid, *start}, why, command, shim});
  }
  return found;
}

Result<SandboxLock> SandboxLock::acquire(const stdfs::path& file,
                                         std::chrono::milliseconds timeout) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, file.string() + ": cannot open: " + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int err = errno;
      ::close(fd);
      return make_error(Errc::io, file.string() + ": cannot lock: " + std::strerror(err));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd);
      return make_error(Errc::conflict, "another baton sandbox command holds " + file.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return SandboxLock(fd);
}

SandboxLock::SandboxLock(SandboxLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

SandboxLock::~SandboxLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace baton::cli
