// baton-shim: the parent of one component process (shim/README.md). One poll loop, no threads:
// it reaps (it is a subreaper), writes the child's output to the log, executes stop/kill, records
// the exit status in <state_dir>/exit before reporting it, and outlives the agent.

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "logs/writer.hpp"
#include "shim/protocol.hpp"
#include "shim/tree.hpp"

extern char** environ;

namespace baton::shim {
namespace {

constexpr std::size_t kMaxClients = 8;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr long kPartialFlushMs = 1000;   // output without a newline shows up after this idle time
constexpr long kLeftoverWaitMs = 10000;  // after the main exit: report even if leftovers linger
constexpr long kLeftoverRetryMs = 20;    // re-kill leftovers (a fork can race the first SIGKILL)
constexpr int kDrainReads = 64;          // bound on reading output left in the pipes at the exit

// The output read buffer: only touched once the component writes.
char g_chunk[kReadChunk];

struct Options {
  const char* state_dir = nullptr;
  const char* log_file = nullptr;
  logs::Rotation rotation;
  const char* cwd = nullptr;
  const char* cgroup_procs[kMaxCgroups] = {};
  std::size_t cgroup_count = 0;
  const char* oom_counter = nullptr;
  const char* cgroup_clone = nullptr;  // v2 leaf to create the child in (CLONE_INTO_CGROUP)
  int stop_signal = SIGTERM;
  long stop_timeout_ms = 5000;
  const char* exec = nullptr;
  char** argv = nullptr;  // the component's argv (after `--`)
};

// A fixed-size, NUL-terminated text buffer: messages and protocol lines without the heap.
struct Text {
  char data[kMaxLine];
  std::size_t size = 0;

  Text() { data[0] = '\0'; }
  Text& add(std::string_view text) {
    std::size_t room = sizeof data - 1 - size;
    std::size_t n = text.size() < room ? text.size() : room;
    std::memcpy(data + size, text.data(), n);
    size += n;
    data[size] = '\0';
    return *this;
  }
  Text& add(long number) {
    char digits[24];
    int n = std::snprintf(digits, sizeof digits, "%ld", number);
    return add(std::string_view(digits, static_cast<std::size_t>(n)));
  }
  std::string_view view() const { return {data, size}; }
};

struct Client {
  int fd = -1;
  std::size_t used = 0;
  char line[kMaxLine];
};

long now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

bool parse_long(const char* text, long& value) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  long parsed = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  value = parsed;
  return true;
}

// "oom_kill N" in v1 memory.oom_control and v2 memory.events; -1 when unreadable.
long read_oom_kills(const char* file) {
  if (file == nullptr) return -1;
  int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buffer[2048];
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buffer[n] = '\0';
  for (char* at = buffer; (at = std::strstr(at, "oom_kill ")) != nullptr; ++at) {
    if (at == buffer || at[-1] == '\n') return std::strtol(at + 9, nullptr, 10);
  }
  return -1;
}

void send_line(int fd, std::string_view line) {
  if (fd >= 0) (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// What the forked child reports through the CLOEXEC pipe when it cannot exec.
struct ChildFailure {
  int error = 0;
  char stage[400];
};

[[noreturn]] void child_fail(int pipe_fd, int error, const char* stage, const char* subject) {
  ChildFailure failure;
  failure.error = error;
  std::snprintf(failure.stage, sizeof failure.stage, "%s%s", stage, subject);
  (void)!::write(pipe_fd, &failure, sizeof failure);
  ::_exit(127);
}

// Runs in the forked child: its own process group, its cgroup, its folder, default signals, no
// inherited descriptors but 0-2, then exec.
[[noreturn]] void child(const Options& options, bool in_cgroup, int out_fd, int err_fd,
                        int fail_fd) {
  ::setpgid(0, 0);
  for (std::size_t i = 0; !in_cgroup && i < options.cgroup_count; ++i) {
    int fd = ::open(options.cgroup_procs[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) {
      child_fail(fail_fd, errno, "join cgroup ", options.cgroup_procs[i]);
    }
    ::close(fd);
  }
  if (options.cwd != nullptr && ::chdir(options.cwd) != 0) {
    child_fail(fail_fd, errno, "chdir ", options.cwd);
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
    child_fail(fail_fd, errno, "set up stdio", "");
  }
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal)
    ::sigaction(signal, &action, nullptr);  // SIGKILL, SIGSTOP and glibc's own fail: harmless
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; ++fd)
      if (fd != fail_fd) ::close(fd);
  }
  ::execve(options.exec, options.argv, environ);
  child_fail(fail_fd, errno, "exec ", options.exec);
}

// struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7), kept here rather than
// mixing <linux/sched.h> with glibc's definitions.
struct CloneArgs {
  std::uint64_t flags;
  std::uint64_t pidfd;
  std::uint64_t child_tid;
  std::uint64_t parent_tid;
  std::uint64_t exit_signal;
  std::uint64_t stack;
  std::uint64_t stack_size;
  std::uint64_t tls;
  std::uint64_t set_tid;
  std::uint64_t set_tid_size;
  std::uint64_t cgroup;
};
constexpr std::uint64_t kCloneIntoCgroup = 0x200000000ULL;

// fork(), or on cgroup v2 clone3(CLONE_INTO_CGROUP): the child starts inside its cgroup, which
// spares the migration a cgroup.procs write costs (an RCU grace period, milliseconds, on the
// critical path of every start). Sets `in_cgroup` when that worked.
// What vfork_child's child needs: it runs on its own stack in the shim's memory until it execs.
struct ChildStart {
  const Options* options;
  int out_fd;
  int err_fd;
  int fail_read;
  int fail_write;
};

int child_entry(void* argument) {
  const auto* start = static_cast<const ChildStart*>(argument);
  ::close(start->fail_read);
  child(*start->options, false, start->out_fd, start->err_fd, start->fail_write);
}

// Without a v2 cgroup to clone into: clone(CLONE_VM | CLONE_VFORK), as posix_spawn does. The
// child shares the shim's memory until it execs, so no page tables are copied and nothing is
// copied on write afterwards, and the shim sleeps until the exec is done instead of waiting for
// the child to be scheduled: a start costs less on every host, most on virtual machines. The
// child only makes system calls (child() above), on a stack of its own.
pid_t vfork_child(const ChildStart& start) {
  alignas(16) static char stack[64 * 1024];  // one child at a time; the shim has one thread
  return ::clone(child_entry, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                 const_cast<ChildStart*>(&start));
}

pid_t fork_child(const char* cgroup_clone, bool& in_cgroup) {
  in_cgroup = false;
  if (cgroup_clone != nullptr) {
    int folder = ::open(cgroup_clone, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder >= 0) {
      CloneArgs args{};
      args.flags = kCloneIntoCgroup;
      args.exit_signal = SIGCHLD;
      args.cgroup = static_cast<std::uint64_t>(folder);
      // Without CLONE_VM the child continues here like after fork(); it only makes system calls
      // until execve, so glibc's fork bookkeeping is not needed.
      long pid = ::syscall(SYS_clone3, &args, sizeof args);
      if (pid == 0) return 0;
      ::close(folder);
      if (pid > 0) {
        in_cgroup = true;
        return static_cast<pid_t>(pid);
      }
      // Old kernel or not a v2 folder: fall back to joining through cgroup.procs.
    }
  }
  return ::fork();
}

class Shim {
 public:
  explicit Shim(const Options& options)
      : options_(options), writer_(options.log_file, options.rotation) {}

  [[noreturn]] void run();

 private:
  bool setup(Text& failure);
  bool spawn(Text& failure);
  [[noreturn]] void loop();
  void on_signals();
  void reap();
  // One read of a pipe into the log; false when nothing more is there now (or ever).
  bool on_output(int& fd, logs::Stream stream);
  // Reads what is in a pipe now (bounded: a leftover writer must not keep the exit waiting).
  void drain(int& fd, logs::Stream stream);
  void on_accept();
  void on_client(Client& client);
  void on_command(Client& client, std::string_view command);
  void begin_stop(int signal, long timeout_ms);
  void finish_exit();
  void broadcast(std::string_view line);
  void close_client(Client& client);
  long next_wake(long now) const;
  [[noreturn]] void quit(int code);

  const Options& options_;
  logs::Writer writer_;
  int failure_errno_ = 0;
  int signal_fd_ = -1;
  int listen_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  Client clients_[kMaxClients];
  Targets targets_;
  pid_t child_ = 0;
  bool child_alive_ = false;
  bool children_left_ = true;  // false once waitpid says ECHILD: nothing is left below us
  int wait_status_ = 0;
  long oom_before_ = -1;
  long stop_deadline_ = 0;  // monotonic ms; 0 = no stop under way
  long exit_at_ = 0;        // when the main child exited
  long next_kill_ = 0;
  long last_output_ = 0;
  bool reported_ = false;
  bool quit_after_report_ = false;  // SIGTERM to the shim: no ack needed
  ExitInfo exit_;
};

void Shim::run() {
  Text failure;
  if (!setup(failure) || !spawn(failure)) {
    Text line;
    line.add("failed ").add(static_cast<long>(failure_errno_)).add(" ").add(failure.view());
    line.add("\n");
    send_line(kControlFd, line.view());
    if (listen_fd_ >= 0) ::unlink(kSocketName.data());
    ::_exit(1);
  }
  Text line;
  line.add("started ").add(static_cast<long>(child_)).add("\n");
  broadcast(line.view());
  loop();
}

bool Shim::setup(Text& failure) {
  auto fail = [&](std::string_view what, std::string_view subject) {
    failure_errno_ = errno;
    failure.add(what).add(subject).add(": ").add(std::strerror(failure_errno_));
    return false;
  };
  if (::fcntl(kControlFd, F_SETFD, FD_CLOEXEC) == 0) {
    ::fcntl(kControlFd, F_SETFL, O_NONBLOCK);
    clients_[0].fd = kControlFd;
  }
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  // An ignored SIGCHLD would reap children behind our back: take back the defaults.
  ::signal(SIGCHLD, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  signal_fd_ = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return fail("signalfd", "");
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  targets_.shim = ::getpid();
  for (std::size_t i = 0; i < options_.cgroup_count; ++i)
    targets_.cgroup_procs[i] = options_.cgroup_procs[i];
  targets_.cgroup_count = options_.cgroup_count;

  // Working in the state folder keeps the socket path short (sun_path holds 108 bytes).
  if (::chdir(options_.state_dir) != 0) return fail("state folder ", options_.state_dir);
  ::unlink(kExitFileName.data());
  ::unlink(kSocketName.data());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, kSocketName.data(), kSocketName.size());
  if (listen_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, static_cast<int>(kMaxClients)) != 0) {
    return fail("listen on ", "shim.sock");
  }
  if (auto opened = writer_.open(); !opened) {
    failure_errno_ = errno;
    failure.add("log ").add(opened.error().message);
    return false;
  }
  oom_before_ = read_oom_kills(options_.oom_counter);
  return true;
}

bool Shim::spawn(Text& failure) {
  int out[2];
  int err[2];
  int fail[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(fail, O_CLOEXEC) != 0) {
    failure_errno_ = errno;
    failure.add("pipe: ").add(std::strerror(failure_errno_));
    return false;
  }
  bool in_cgroup = false;
  pid_t pid = -1;
  if (options_.cgroup_clone == nullptr) {
    pid = vfork_child(ChildStart{&options_, out[1], err[1], fail[0], fail[1]});
  } else {
    pid = fork_child(options_.cgroup_clone, in_cgroup);
  }
  if (pid < 0) {
    failure_errno_ = errno;
    failure.add("fork: ").add(std::strerror(failure_errno_));
    return false;
  }
  if (pid == 0) {
    ::close(fail[0]);
    child(options_, in_cgroup, out[1], err[1], fail[1]);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(fail[1]);
  // EOF: exec succeeded (the pipe was close-on-exec); data: the child said why it could not.
  ChildFailure report;
  ssize_t n;
  do {
    n = ::read(fail[0], &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  ::close(fail[0]);
  if (n > 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    report.stage[sizeof report.stage - 1] = '\0';
    failure_errno_ = report.error;
    failure.add(report.stage).add(": ").add(std::strerror(report.error));
    ::close(out[0]);
    ::close(err[0]);
    return false;
  }
  child_ = pid;
  child_alive_ = true;
  targets_.group = pid;
  out_fd_ = out[0];
  err_fd_ = err[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  return true;
}

long Shim::next_wake(long now) const {
  long wake = -1;
  auto earliest = [&](long at) {
    if (wake < 0 || at < wake) wake = at;
  };
  if (child_alive_ && stop_deadline_ > 0) earliest(stop_deadline_);
  if (!child_alive_ && !reported_) {
    earliest(next_kill_);
    earliest(exit_at_ + kLeftoverWaitMs);
  }
  if (writer_.has_partial(logs::Stream::out) || writer_.has_partial(logs::Stream::err)) {
    earliest(last_output_ + kPartialFlushMs);
  }
  if (wake < 0) return -1;
  return wake > now ? wake - now : 0;
}

void Shim::loop() {
  for (;;) {
    pollfd fds[4 + kMaxClients];
    nfds_t count = 0;
    fds[count++] = {signal_fd_, POLLIN, 0};
    fds[count++] = {listen_fd_, POLLIN, 0};
    fds[count++] = {out_fd_, POLLIN, 0};  // negative fds are ignored by poll
    fds[count++] = {err_fd_, POLLIN, 0};
    for (auto& client : clients_)
      fds[count++] = {client.fd, POLLIN, 0};
    long timeout = next_wake(now_ms());
    int ready = ::poll(fds, count, timeout > 0x7fffffff ? 0x7fffffff : static_cast<int>(timeout));
    if (ready < 0 && errno != EINTR) quit(2);
    if (ready > 0) {
      if (fds[0].revents != 0) on_signals();
      if (fds[2].revents != 0) on_output(out_fd_, logs::Stream::out);
      if (fds[3].revents != 0) on_output(err_fd_, logs::Stream::err);
      if (fds[1].revents != 0) on_accept();
      for (std::size_t i = 0; i < kMaxClients; ++i) {
        if (fds[4 + i].revents != 0 && clients_[i].fd >= 0) on_client(clients_[i]);
      }
    }
    long now = now_ms();
    if (child_alive_ && stop_deadline_ > 0 && now >= stop_deadline_) {
      signal_all(targets_, SIGKILL);
      stop_deadline_ = 0;
    }
    if (!child_alive_ && !reported_) {
      if (children_left_ && now >= next_kill_) {
        // The instance ends with its main process: nothing of it may stay behind.
        signal_all(targets_, SIGKILL);
        next_kill_ = now + kLeftoverRetryMs;
        reap();
      }
      if (!children_left_ || now >= exit_at_ + kLeftoverWaitMs) finish_exit();
    }
    if ((writer_.has_partial(logs::Stream::out) || writer_.has_partial(logs::Stream::err)) &&
        now >= last_output_ + kPartialFlushMs) {
      (void)writer_.flush_partials();
    }
  }
}

void Shim::on_signals() {
  signalfd_siginfo info;
  bool child_signal = false;
  while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGCHLD) child_signal = true;
    if (info.ssi_signo == SIGTERM) {
      if (reported_) quit(0);
      quit_after_report_ = true;
      if (child_alive_) begin_stop(options_.stop_signal, options_.stop_timeout_ms);
    }
  }
  if (child_signal) reap();
}

void Shim::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      if (pid == child_ && child_alive_) {
        child_alive_ = false;
        wait_status_ = status;
        exit_at_ = now_ms();
        next_kill_ = exit_at_;
      }
      continue;
    }
    children_left_ = !(pid < 0 && errno == ECHILD);
    return;
  }
}

bool Shim::on_output(int& fd, logs::Stream stream) {
  ssize_t n = ::read(fd, g_chunk, sizeof g_chunk);
  if (n > 0) {
    last_output_ = now_ms();
    // Errors (disk full) drop the data: the component must never block on its log.
    (void)writer_.write(stream, std::string_view(g_chunk, static_cast<std::size_t>(n)));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  ::close(fd);
  fd = -1;
  (void)writer_.flush_partial(stream);
  return false;
}

void Shim::drain(int& fd, logs::Stream stream) {
  for (int i = 0; i < kDrainReads && fd >= 0; ++i) {
    if (!on_output(fd, stream)) break;
  }
}

void Shim::on_accept() {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (auto& client : clients_) {
    if (client.fd < 0) {
      client.fd = fd;
      client.used = 0;
      return;
    }
  }
  send_line(fd, "error too many connections\n");
  ::close(fd);
}

void Shim::on_client(Client& client) {
  ssize_t n = ::recv(client.fd, client.line + client.used, sizeof client.line - client.used, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_client(client);
    return;
  }
  client.used += static_cast<std::size_t>(n);
  std::size_t start = 0;
  for (std::size_t i = 0; i < client.used; ++i) {
    if (client.line[i] != '\n') continue;
    on_command(client, std::string_view(client.line + start, i - start));
    if (client.fd < 0) return;
    start = i + 1;
  }
  std::memmove(client.line, client.line + start, client.used - start);
  client.used -= start;
  if (client.used == sizeof client.line) {
    send_line(client.fd, "error line too long\n");
    close_client(client);
  }
}

void Shim::on_command(Client& client, std::string_view command) {
  auto space = command.find(' ');
  std::string_view word = command.substr(0, space);
  if (word == "stop") {
    // "stop <signal> <timeout_ms>"
    std::string_view rest = command.substr(word.size());
    long long signal = 0;
    long long timeout = 0;
    if (!detail::next_int(rest, signal) || !detail::next_int(rest, timeout) || !rest.empty() ||
        signal < 1 || signal >= NSIG || timeout < 0) {
      send_line(client.fd, "error usage: stop <signal> <timeout_ms>\n");
      return;
    }
    if (child_alive_) begin_stop(static_cast<int>(signal), static_cast<long>(timeout));
  } else if (command == "kill") {
    stop_deadline_ = 0;
    if (children_left_) signal_all(targets_, SIGKILL);
  } else if (command == "ack") {
    if (!reported_) {
      send_line(client.fd, "error not exited\n");
      return;
    }
    quit(0);
  } else if (command == "status") {
    Text line;
    if (reported_) {
      line.add("exited ").add(static_cast<long>(exit_.code)).add(" ");
      line.add(static_cast<long>(exit_.signal)).add(exit_.oom ? " 1\n" : " 0\n");
    } else {
      line.add("started ").add(static_cast<long>(child_)).add("\n");
    }
    send_line(client.fd, line.view());
  } else {
    Text line;
    line.add("error unknown command ").add(command.substr(0, 64)).add("\n");
    send_line(client.fd, line.view());
  }
}

void Shim::begin_stop(int signal, long timeout_ms) {
  signal_all(targets_, signal);
  long deadline = now_ms() + timeout_ms;
  if (stop_deadline_ == 0 || deadline < stop_deadline_) stop_deadline_ = deadline;
}

void Shim::finish_exit() {
  // Output still in the pipes belongs before the exit.
  drain(out_fd_, logs::Stream::out);
  drain(err_fd_, logs::Stream::err);
  (void)writer_.flush_partials();

  if (WIFEXITED(wait_status_)) {
    exit_.code = WEXITSTATUS(wait_status_);
    exit_.signal = 0;
  } else {
    exit_.code = -1;
    exit_.signal = WIFSIGNALED(wait_status_) ? WTERMSIG(wait_status_) : 0;
  }
  long oom_after = read_oom_kills(options_.oom_counter);
  exit_.oom = oom_before_ >= 0 && oom_after > oom_before_;

  Text status;
  status.add(static_cast<long>(exit_.code)).add(" ").add(static_cast<long>(exit_.signal));
  status.add(exit_.oom ? " 1\n" : " 0\n");
  // Atomically, and durable before anyone hears of it: a recovering agent trusts this file.
  int fd = ::open("exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    bool written = ::write(fd, status.data, status.size) == static_cast<ssize_t>(status.size);
    written = ::fsync(fd) == 0 && written;
    ::close(fd);
    if (written && ::rename("exit.tmp", kExitFileName.data()) == 0) {
      int folder = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (folder >= 0) {
        ::fsync(folder);
        ::close(folder);
      }
    }
  }
  reported_ = true;
  Text line;
  line.add("exited ").add(status.view());
  broadcast(line.view());
  if (quit_after_report_) quit(0);
}

void Shim::broadcast(std::string_view line) {
  for (auto& client : clients_) {
    if (client.fd < 0) continue;
    if (::send(client.fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
        static_cast<ssize_t>(line.size())) {
      close_client(client);
    }
  }
}

void Shim::close_client(Client& client) {
  ::close(client.fd);
  client.fd = -1;
  client.used = 0;
}

void Shim::quit(int code) {
  (void)writer_.flush_partials();
  ::unlink(kSocketName.data());
  ::_exit(code);
}

bool parse_options(int argc, char** argv, Options& options, Text& error) {
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    if (name == "--") {
      options.argv = argv + i + 1;
      break;
    }
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (value == nullptr) {
      error.add("option ").add(name).add(" needs a value");
      return false;
    }
    ++i;
    long number = 0;
    if (name == option::kStateDir) {
      options.state_dir = value;
    } else if (name == option::kLogFile) {
      options.log_file = value;
    } else if (name == option::kLogMaxBytes && parse_long(value, number) && number > 0) {
      options.rotation.max_bytes = static_cast<std::uint64_t>(number);
    } else if (name == option::kLogMaxFiles && parse_long(value, number) && number >= 0) {
      options.rotation.max_files = static_cast<int>(number);
    } else if (name == option::kCwd) {
      options.cwd = value;
    } else if (name == option::kCgroupProcs && options.cgroup_count < kMaxCgroups) {
      options.cgroup_procs[options.cgroup_count++] = value;
    } else if (name == option::kCgroupClone) {
      options.cgroup_clone = value;
    } else if (name == option::kOomCounter) {
      options.oom_counter = value;
    } else if (name == option::kStopSignal && parse_long(value, number) && number > 0 &&
               number < NSIG) {
      options.stop_signal = static_cast<int>(number);
    } else if (name == option::kStopTimeoutMs && parse_long(value, number) && number >= 0) {
      options.stop_timeout_ms = number;
    } else if (name == option::kExec) {
      options.exec = value;
    } else {
      error.add("bad option ").add(name).add(" ").add(value);
      return false;
    }
  }
  if (options.argv == nullptr || options.argv[0] == nullptr) {
    error.add("no program after --");
    return false;
  }
  if (options.exec == nullptr) options.exec = options.argv[0];
  if (options.state_dir == nullptr || options.log_file == nullptr) {
    error.add("--state-dir and --log-file are required");
    return false;
  }
  return true;
}

// A spare shim's launch: the message is kept here (untouched pages cost nothing) and argv and
// environ point into it.
char g_launch[kMaxLaunchBytes + kMaxLine];
char* g_launch_argv[kMaxLaunchArgs + 1];
char* g_launch_env[kMaxLaunchEnv + 1];

[[noreturn]] void bad_launch() {
  send_line(kControlFd, "failed 22 baton-shim: bad launch message\n");
  ::_exit(2);
}

// Reads the launch message on fd 3 (blocking) and points `argc`/`argv` and environ into it.
// Exits quietly when the spawner goes first (EOF: the agent ended or dropped the spare), and with
// 2, after `failed`, on a malformed message.
void receive_launch(int& argc, char**& argv) {
  std::size_t used = 0;
  std::size_t header = 0;  // bytes up to and including the header's newline; 0 until seen
  std::size_t total = 0;   // header + payload
  long long count = 0;
  long long env_count = 0;
  while (header == 0 || used < total) {
    std::size_t want = header == 0 ? kMaxLine - used : total - used;
    ssize_t n = ::read(kControlFd, g_launch + used, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);
    used += static_cast<std::size_t>(n);
    if (header != 0) continue;
    auto* newline = static_cast<char*>(std::memchr(g_launch, '\n', used));
    if (newline == nullptr) {
      if (used >= kMaxLine) bad_launch();
      continue;
    }
    header = static_cast<std::size_t>(newline - g_launch) + 1;
    std::string_view rest(g_launch, header - 1);
    long long bytes = 0;
    if (rest.substr(0, kLaunchWord.size()) != kLaunchWord) bad_launch();
    rest.remove_prefix(kLaunchWord.size());
    if (!detail::next_int(rest, count) || !detail::next_int(rest, env_count) ||
        !detail::next_int(rest, bytes) || !rest.empty() || count < 1 ||
        count > static_cast<long long>(kMaxLaunchArgs) || env_count < 0 ||
        env_count > static_cast<long long>(kMaxLaunchEnv) || bytes < 1 ||
        bytes > static_cast<long long>(kMaxLaunchBytes)) {
      bad_launch();
    }
    total = header + static_cast<std::size_t>(bytes);
    if (used > total) bad_launch();  // nothing may follow the message before `started`
  }
  // The payload: `count` then `env_count` NUL-terminated strings.
  char* at = g_launch + header;
  char* end = g_launch + total;
  for (long long i = 0; i < count + env_count; ++i) {
    auto* nul = static_cast<char*>(std::memchr(at, '\0', static_cast<std::size_t>(end - at)));
    if (nul == nullptr) bad_launch();
    if (i < count) {
      g_launch_argv[i] = at;
    } else {
      g_launch_env[i - count] = at;
    }
    at = nul + 1;
  }
  if (at != end) bad_launch();
  g_launch_argv[count] = nullptr;
  g_launch_env[env_count] = nullptr;
  argc = static_cast<int>(count);
  argv = g_launch_argv;
  environ = g_launch_env;
}

}  // namespace
}  // namespace baton::shim

int main(int argc, char** argv) {
  using namespace baton::shim;
  // Its own session: the agent's terminal, group and job control signals never reach it.
  ::setsid();
  if (argc == 2 && std::string_view(argv[1]) == kSpareOption) {
    // Started ahead of need: only the launch's own work is left when its message comes. It keeps
    // the agent's working folder, as a shim spawned for the launch would.
    receive_launch(argc, argv);
  }
  Options options;
  Text error;
  if (!parse_options(argc, argv, options, error)) {
    Text line;
    line.add("failed ").add(static_cast<long>(EINVAL)).add(" baton-shim: ").add(error.view());
    line.add("\n");
    send_line(kControlFd, line.view());
    return 2;
  }
  Shim shim(options);
  shim.run();
}
