#include "agent/runtime_config.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>

namespace baton::agent {

namespace {

// Set by the shell itself, not by the script.
const std::set<std::string, std::less<>> kShellVariables = {"PWD", "OLDPWD", "SHLVL", "_"};

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::string tail(const std::string& text, std::size_t bytes) {
  std::string out = text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

}  // namespace

Result<Environment> run_runtime_config(const std::filesystem::path& script,
                                       const Environment& environment,
                                       const RuntimeConfigOptions& options) {
  const std::string name = script.string();
  auto fail = [&](const std::string& why) {
    return make_error(Errc::invalid, std::string(kRuntimeConfigName) + " (" + name + "): " + why);
  };
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.fd, 2);
  std::string folder = script.parent_path().string();
  posix_spawn_file_actions_addchdir_np(&actions, folder.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setpgroup(&attributes, 0);  // its own group: a timeout kills all of it
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attributes, &signals);
  sigfillset(&signals);
  posix_spawnattr_setsigdefault(&attributes, &signals);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  // What the script prints goes to stderr; only env's output reaches our stdout pipe (fd 3).
  std::string program = "exec 3>&1 1>&2; . \"$1\"; exec env -0 >&3";
  std::vector<std::string> argv_text = {"/bin/sh", "-c", program, "sh", name};
  std::vector<char*> argv;
  for (auto& arg : argv_text)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (const auto& [key, value] : environment)
    env_text.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_text)
    envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int spawn_error = ::posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawn_error != 0)
    return fail(std::string("cannot run /bin/sh: ") + std::strerror(spawn_error));
  out_write.reset();
  err_write.reset();

  std::string out, err;
  bool too_much = false;
  bool timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  std::array<char, 65536> buffer;
  while (out_read.fd >= 0 || err_read.fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_read.fd, POLLIN, 0}, {err_read.fd, POLLIN, 0}};
    int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n <= 0) {
        (i == 0 ? out_read : err_read).reset();
        continue;
      }
      std::string& into = i == 0 ? out : err;
      into.append(buffer.data(), static_cast<std::size_t>(n));
      if (i == 1 && err.size() > 2 * options.stderr_tail_bytes) {
        err.erase(0, err.size() - options.stderr_tail_bytes);
      }
      if (i == 0 && out.size() > options.max_output_bytes) too_much = true;
    }
    if (too_much) break;
  }
  if (timed_out || too_much) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string stderr_tail = tail(err, options.stderr_tail_bytes);
  auto with_stderr = [&](std::string why) {
    if (!stderr_tail.empty()) why += ": " + stderr_tail;
    return fail(why);
  };
  if (timed_out) {
    return with_stderr("did not finish within " + std::to_string(options.timeout.count()) + " ms");
  }
  if (too_much) {
    return with_stderr("exported more than " + std::to_string(options.max_output_bytes) + " bytes");
  }
  if (WIFSIGNALED(status)) {
    return with_stderr("killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0) {
    return with_stderr("exited with code " + std::to_string(WEXITSTATUS(status)));
  }

  Environment exports;
  std::size_t start = 0;
  while (start < out.size()) {
    std::size_t end = out.find('\0', start);
    if (end == std::string::npos) end = out.size();
    std::string_view entry(out.data() + start, end - start);
    start = end + 1;
    auto equals = entry.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    std::string key(entry.substr(0, equals));
    std::string value(entry.substr(equals + 1));
    if (kShellVariables.count(key) != 0) continue;
    auto before = find_variable(environment, key);
    if (before && *before == value) continue;
    set_variable(exports, key, std::move(value));
  }
  return exports;
}

Environment merge_exports(Environment base, const Environment& exports) {
  for (const auto& [key, value] : exports)
    set_variable(base, key, value);
  set_container_env(base);
  return base;
}

}  // namespace baton::agent
