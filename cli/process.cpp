#include "cli/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/text.hpp"

extern char** environ;

namespace baton::cli {

namespace {

std::string read_proc_file(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> split_nul(const std::string& data) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    out.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Fields of /proc/<pid>/stat after "(comm)": state is [0], ppid [1], starttime [19].
std::vector<std::string> stat_fields(pid_t pid) {
  std::string stat = read_proc_file(pid, "stat");
  std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::vector<std::string> fields;
  for (const auto& field : text::split(std::string_view(stat).substr(close + 1), ' ')) {
    if (!field.empty()) fields.push_back(field);
  }
  return fields;
}

stdfs::path read_link(const std::string& path) {
  std::error_code ec;
  stdfs::path target = stdfs::read_symlink(path, ec);
  return ec ? stdfs::path() : target;
}

}  // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto fields = stat_fields(pid);
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  auto value = text::parse_integer(fields[19]);
  if (!value) return std::nullopt;
  return static_cast<std::uint64_t>(*value);
}

bool process_alive(const ProcessId& id) {
  auto start = process_start_time(id.pid);
  return start && (id.start_time == 0 || *start == id.start_time);
}

std::vector<pid_t> list_processes() {
  std::vector<pid_t> pids;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* entry = ::readdir(proc)) {
    auto pid = text::parse_integer(entry->d_name);
    if (pid && *pid > 0) pids.push_back(static_cast<pid_t>(*pid));
  }
  ::closedir(proc);
  return pids;
}

std::vector<std::string> process_arguments(pid_t pid) {
  return split_nul(read_proc_file(pid, "cmdline"));
}

std::vector<std::string> process_environment(pid_t pid) {
  return split_nul(read_proc_file(pid, "environ"));
}

stdfs::path process_cwd(pid_t pid) {
  return read_link("/proc/" + std::to_string(pid) + "/cwd");
}

stdfs::path process_exe(pid_t pid) {
  return read_link("/proc/" + std::to_string(pid) + "/exe");
}

pid_t process_parent(pid_t pid) {
  auto fields = stat_fields(pid);
  if (fields.size() < 2) return 0;
  auto value = text::parse_integer(fields[1]);
  return value ? static_cast<pid_t>(*value) : 0;
}

std::optional<uid_t> process_uid(pid_t pid) {
  struct stat info {};
  if (::stat(("/proc/" + std::to_string(pid)).c_str(), &info) != 0) return std::nullopt;
  return info.st_uid;
}

bool is_within(const stdfs::path& path, const stdfs::path& folder) {
  if (path.empty() || folder.empty()) return false;
  stdfs::path a = stdfs::absolute(path).lexically_normal();
  stdfs::path b = stdfs::absolute(folder).lexically_normal();
  auto relative = a.lexically_relative(b);
  return !relative.empty() && *relative.begin() != "..";
}

Result<ProcessId> spawn_daemon(const DaemonSpec& spec) {
  if (spec.argv.empty()) return make_error(Errc::internal, "spawn_daemon: no program");
  const std::string& program = spec.argv.front();
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& arg : spec.argv)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const auto& [name, value] : spec.environment) {
      replaced = replaced || (entry.starts_with(name) && entry.size() > name.size() &&
                              entry[name.size()] == '=');
    }
    if (!replaced) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : spec.environment)
    env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings)
    envp.push_back(entry.data());
  envp.push_back(nullptr);

  int log = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    return make_error(Errc::io, spec.log_file.string() + ": cannot open: " + std::strerror(errno));
  }
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int report[2];
  if (null < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(log);
    if (null >= 0) ::close(null);
    return make_error(Errc::io, std::string("cannot start ") + program + ": " + std::strerror(err));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(log);
    ::close(null);
    ::close(report[0]);
    ::close(report[1]);
    return make_error(Errc::io,
                      std::string("cannot start ") + program + ": fork: " + std::strerror(err));
  }
  if (pid == 0) {
    ::setsid();
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int err = 0;
    if (::chdir(spec.cwd.c_str()) != 0 || ::dup2(null, 0) < 0 || ::dup2(log, 1) < 0 ||
        ::dup2(log, 2) < 0) {
      err = errno;
    } else {
      // Only 0-2 and the CLOEXEC report pipe stay open across exec.
      long max_fd = ::sysconf(_SC_OPEN_MAX);
      for (int fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); ++fd) {
        if (fd != report[1]) ::close(fd);
      }
      ::execve(argv[0], argv.data(), envp.data());
      err = errno;
    }
    (void)!::write(report[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(log);
  ::close(null);
  ::close(report[1]);
  int child_error = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &child_error, sizeof child_error);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof child_error)) {
    ::waitpid(pid, nullptr, 0);
    return make_error(child_error == ENOENT ? Errc::not_found : Errc::io,
                      "cannot run " + program + ": " + std::strerror(child_error));
  }
  // The child has exec'd: its start time identifies it from now on.
  auto start = process_start_time(pid);
  return ProcessId{pid, start.value_or(0)};
}

std::optional<std::string> reap_child(pid_t pid) {
  int status = 0;
  pid_t done = ::waitpid(pid, &status, WNOHANG);
  if (done != pid) return std::nullopt;
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") +
           (name != nullptr ? name : std::to_string(WTERMSIG(status)));
  }
  return "ended";
}

bool signal_process(const ProcessId& id, int signal) {
  if (!process_alive(id)) return false;
  return ::kill(id.pid, signal) == 0;
}

std::vector<ProcessId> wait_gone(const std::vector<ProcessId>& ids,
                                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<ProcessId> alive = ids;
  for (;;) {
    std::vector<ProcessId> still;
    for (const auto& id : alive) {
      (void)reap_child(id.pid);  // our own children would otherwise stay as zombies
      if (process_alive(id)) still.push_back(id);
    }
    alive = std::move(still);
    if (alive.empty() || std::chrono::steady_clock::now() >= deadline) return alive;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace baton::cli
