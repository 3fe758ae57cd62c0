#include "runtimes/universal/universal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "common/files.hpp"
#include "runtimes/universal/proc.hpp"
#include "runtimes/universal/program.hpp"
#include "shim/protocol.hpp"

extern char** environ;

namespace baton::runtimes::universal {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kName = "universal";

Error os_error(const std::string& what, int err) {
  return make_error(Errc::io, what + ": " + std::strerror(err));
}

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signal);
}

std::string describe_bytes(std::int64_t bytes) {
  constexpr std::int64_t kMiB = 1 << 20;
  if (bytes > 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}

ExitStatus to_status(const shim::ExitInfo& exit, std::int64_t memory_limit) {
  ExitStatus status;
  status.code = exit.code;
  status.signal = exit.signal;
  status.oom_killed = exit.oom;
  std::string limit =
      memory_limit > 0 ? "memory limit " + describe_bytes(memory_limit) : "memory limit";
  if (exit.signal != 0) {
    status.message = "killed by " + signal_name(exit.signal);
    if (exit.oom) status.message += " (" + limit + ")";
  } else {
    status.message = "exited with code " + std::to_string(exit.code);
    if (exit.oom) status.message += " (the " + limit + " killed a process)";
  }
  return status;
}

std::optional<shim::ExitInfo> read_exit_file(const stdfs::path& state_dir) {
  auto content = files::read(state_dir / shim::kExitFileName, 256);
  if (!content) return std::nullopt;
  return shim::parse_exit(*content);
}

// Connects to `<state_dir>/shim.sock`; -1 with errno set when nobody listens there.
int connect_shim(const stdfs::path& state_dir) {
  std::string path = (state_dir / shim::kSocketName).string();
  int folder = -1;
  // sun_path holds 108 bytes; a longer state folder is reached through a descriptor of it.
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    folder = ::open(state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (folder < 0) return -1;
    path = "/proc/self/fd/" + std::to_string(folder) + "/" + std::string(shim::kSocketName);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  int result = fd < 0 ? -1 : ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  int err = errno;
  if (folder >= 0) ::close(folder);
  if (result != 0) {
    if (fd >= 0) ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

bool send_text(int fd, std::string_view text) {
  return fd >= 0 && ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
                        static_cast<ssize_t>(text.size());
}

// The next line from `fd` (buffering the rest in `buffer`); nullopt on EOF, error or deadline.
std::optional<std::string> read_line(int fd, std::string& buffer, Clock::time_point deadline) {
  for (;;) {
    if (auto newline = buffer.find('\n'); newline != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd item{fd, POLLIN, 0};
    int ready = ::poll(&item, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[1024];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

stdfs::path default_shim() {
  std::error_code error;
  stdfs::path self = stdfs::read_symlink("/proc/self/exe", error);
  return error ? stdfs::path("baton-shim") : self.parent_path() / "baton-shim";
}

// One launch as the runtime knows it.
struct Record {
  std::string id;
  stdfs::path state_dir;
  std::optional<LaunchCgroup> cgroup;
  std::int64_t memory_limit = 0;
  pid_t shim_pid = 0;
  std::uint64_t key = 0;  // epoll key, 0 when not watched

  std::mutex mutex;  // guards what follows
  int fd = -1;       // connection to the shim, -1 once closed or handed to destroy()
  pid_t pid = 0;
  std::uint64_t pid_start = 0;
  std::string buffer;         // received text without its final newline yet
  bool exit_claimed = false;  // exited() is (being) reported: exactly once per start/recover
  bool gone = false;          // the shim closed its end: it has exited
};
using RecordPtr = std::shared_ptr<Record>;

class UniversalRuntime final : public Runtime {
 public:
  UniversalRuntime(RuntimeHost& host, Options options);
  ~UniversalRuntime() override;

  std::string name() const override { return kName; }
  ProbeResult probe() override;
  Status prepare(const BundleContent& bundle) override;
  Result<Handle> start(const Launch& launch) override;
  Status stop(const std::string& launch_id, int signal, std::chrono::milliseconds timeout) override;
  Status destroy(const std::string& launch_id) override;
  Result<Handle> recover(const Launch& launch, const Handle& saved) override;
  Result<Stats> stats(const std::string& launch_id) override;
  Status release(const std::string& bundle_digest) override;

 private:
  Result<Handle> spawn(const Launch& launch, const stdfs::path& program,
                       std::optional<LaunchCgroup> cgroup);
  // A shim process with fd 3 connected to `fd` (blocking, close-on-exec).
  struct Spare {
    pid_t pid = 0;
    int fd = -1;
  };
  Result<Spare> spawn_shim(std::vector<std::string> args, std::vector<std::string> environment);
  std::optional<Spare> take_spare();
  static void drop_spare(const Spare& spare);  // kill and reap
  void refill_spares();                        // the watcher thread (or the constructor)
  static bool send_launch(int fd, const std::vector<std::string>& args,
                          const std::vector<std::string>& environment);
  RecordPtr find(const std::string& id);
  void watch(const RecordPtr& record);
  void post(std::function<void()> task);
  void run();
  void on_readable(const RecordPtr& record);
  void on_gone(const RecordPtr& record);
  // Claims the one exit report of `record`; false when it was already claimed.
  static bool claim_exit(Record& record);
  void kill_leftovers(Record& record);
  void remove_cgroup(const Record& record);
  static std::string state_json(const Record& record);

  RuntimeHost& host_;
  Options options_;
  std::unique_ptr<Cgroups> cgroups_;  // null when cgroups are not used
  std::string cgroup_note_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;

  std::mutex mutex_;  // guards what follows
  std::map<std::string, RecordPtr> by_id_;
  std::map<std::uint64_t, RecordPtr> by_key_;
  std::uint64_t next_key_ = 1;
  std::vector<std::function<void()>> tasks_;
  bool stopping_ = false;

  std::mutex spare_mutex_;  // guards what follows
  std::vector<Spare> spares_;
  bool spares_closed_ = false;

  std::vector<pid_t> reaps_;  // the watcher's: shims of ours that have not been waited for
  std::thread watcher_;
};

UniversalRuntime::UniversalRuntime(RuntimeHost& host, Options options)
    : host_(host), options_(std::move(options)) {
  if (options_.shim.empty()) options_.shim = default_shim();
  if (options_.use_cgroups) {
    auto cgroups = std::make_unique<Cgroups>(
        options_.cgroup_layout ? *options_.cgroup_layout : detect_cgroup_layout(),
        options_.cgroup_root, options_.pids_max);
    if (cgroups->usable()) {
      cgroups_ = std::move(cgroups);
    } else {
      cgroup_note_ = cgroups->reason();
    }
  } else {
    cgroup_note_ = "turned off by configuration";
  }
  if (!cgroup_note_.empty()) {
    host_.log(LogLevel::info, "universal runtime: no cgroups (" + cgroup_note_ +
                                  "): no resource limits, supervision by process group and "
                                  "subreaper only");
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);
  watcher_ = std::thread([this] { run(); });
  if (options_.spare_shims > 0 && ::access(options_.shim.c_str(), X_OK) == 0) {
    post([this] { refill_spares(); });
  }
}

UniversalRuntime::~UniversalRuntime() {
  // Launches keep running: their shims wait for the next runtime to recover them.
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  watcher_.join();
  {
    std::lock_guard lock(spare_mutex_);
    spares_closed_ = true;
    for (const auto& spare : spares_)
      drop_spare(spare);
    spares_.clear();
  }
  for (auto& [id, record] : by_id_) {
    std::lock_guard lock(record->mutex);
    if (record->fd >= 0) ::close(record->fd);
    record->fd = -1;
  }
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

ProbeResult UniversalRuntime::probe() {
  ProbeResult result;
  result.available = ::access(options_.shim.c_str(), X_OK) == 0;
  if (!result.available) result.reason = "no executable baton-shim at " + options_.shim.string();
  result.attributes["cgroup"] = cgroups_ ? cgroups_->version_name() : "none";
  result.attributes["limits"] =
      cgroups_ && cgroups_->limits_enforced() ? "enforced" : "not enforced";
  return result;
}

Status UniversalRuntime::prepare(const BundleContent& bundle) {
  std::error_code error;
  if (!stdfs::is_directory(bundle.root, error)) {
    return make_error(Errc::not_found, "bundle " + bundle.digest + ": no extracted folder at " +
                                           bundle.root.string());
  }
  return {};
}

Status UniversalRuntime::release(const std::string&) {
  return {};
}

RecordPtr UniversalRuntime::find(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

bool UniversalRuntime::claim_exit(Record& record) {
  std::lock_guard lock(record.mutex);
  return !std::exchange(record.exit_claimed, true);
}

std::string UniversalRuntime::state_json(const Record& record) {
  nlohmann::json state = {{"shimPid", record.shim_pid},
                          {"pid", record.pid},
                          {"pidStart", record.pid_start},
                          {"stateDir", record.state_dir.string()}};
  return state.dump();
}

Result<Handle> UniversalRuntime::start(const Launch& launch) {
  if (launch.id.empty()) return make_error(Errc::invalid, "launch without an id");
  if (launch.command.empty()) {
    return make_error(Errc::invalid, "launch " + launch.id + ": no start-command");
  }
  if (launch.state_dir.empty() || launch.log_dir.empty() || launch.work_dir.empty()) {
    return make_error(Errc::invalid,
                      "launch " + launch.id + ": state, log and work folders are required");
  }
  if (RecordPtr existing = find(launch.id)) {
    bool gone = false;
    {
      std::lock_guard lock(existing->mutex);
      gone = existing->gone;
    }
    if (!gone) {
      return make_error(Errc::conflict, "launch " + launch.id + " is already running (shim pid " +
                                            std::to_string(existing->shim_pid) + ")");
    }
    (void)destroy(launch.id);  // an ended launch started again: clear what it left
  }
  BATON_ASSIGN_OR_RETURN(
      stdfs::path program,
      resolve_program(launch.command.front(), launch.bundle_root, launch.environment));
  std::error_code error;
  bool state_existed = stdfs::exists(launch.state_dir, error);
  for (const auto* folder : {&launch.state_dir, &launch.log_dir, &launch.work_dir}) {
    stdfs::create_directories(*folder, error);
    if (error) {
      return make_error(Errc::io, "launch " + launch.id + ": cannot create " + folder->string() +
                                      ": " + error.message());
    }
  }
  std::optional<LaunchCgroup> cgroup;
  if (cgroups_) {
    auto created = cgroups_->create(launch);
    if (!created) {
      if (!state_existed) files::remove_tree(launch.state_dir);
      return std::move(created).error().within("launch " + launch.id);
    }
    cgroup = std::move(created).value();
  }
  auto handle = spawn(launch, program, cgroup);
  if (!handle) {
    if (cgroup) cgroups_->remove(*cgroup);
    if (!state_existed) files::remove_tree(launch.state_dir);
  }
  return handle;
}

Result<Handle> UniversalRuntime::spawn(const Launch& launch, const stdfs::path& program,
                                       std::optional<LaunchCgroup> cgroup) {
  auto record = std::make_shared<Record>();
  record->id = launch.id;
  record->state_dir = launch.state_dir;
  record->memory_limit = launch.limits.memory;
  record->cgroup = std::move(cgroup);

  std::string timeout = std::to_string(launch.stop_timeout.count());
  std::vector<std::string> args = {options_.shim.string(),
                                   std::string(shim::option::kStateDir),
                                   launch.state_dir.string(),
                                   std::string(shim::option::kLogFile),
                                   (launch.log_dir / logs::file_name(launch.component)).string(),
                                   std::string(shim::option::kLogMaxBytes),
                                   std::to_string(options_.log_rotation.max_bytes),
                                   std::string(shim::option::kLogMaxFiles),
                                   std::to_string(options_.log_rotation.max_files),
                                   std::string(shim::option::kCwd),
                                   launch.work_dir.string(),
                                   std::string(shim::option::kStopSignal),
                                   std::to_string(launch.stop_signal),
                                   std::string(shim::option::kStopTimeoutMs),
                                   timeout};
  if (record->cgroup) {
    if (record->cgroup->version == 2) {
      args.emplace_back(shim::option::kCgroupClone);
      args.push_back(record->cgroup->leaves.front().string());
    }
    for (const auto& procs : record->cgroup->procs()) {
      args.emplace_back(shim::option::kCgroupProcs);
      args.push_back(procs.string());
    }
    if (!record->cgroup->oom_counter.empty()) {
      args.emplace_back(shim::option::kOomCounter);
      args.push_back(record->cgroup->oom_counter.string());
    }
  }
  args.emplace_back(shim::option::kExec);
  args.push_back(program.string());
  args.emplace_back("--");
  args.insert(args.end(), launch.command.begin(), launch.command.end());

  std::vector<std::string> environment;
  bool has_notify = false;
  for (const auto& [key, value] : launch.environment) {
    environment.push_back(key + "=" + value);
    has_notify = has_notify || key == "NOTIFY_SOCKET";
  }
  if (!has_notify && !launch.notify_socket.empty()) {
    environment.push_back("NOTIFY_SOCKET=" + launch.notify_socket.string());
  }
  pid_t shim_pid = 0;
  int fd = -1;
  if (options_.spare_shims > 0) {
    if (auto spare = take_spare()) {
      if (send_launch(spare->fd, args, environment)) {
        shim_pid = spare->pid;
        fd = spare->fd;
      } else {
        drop_spare(*spare);  // it went before its launch: a fresh shim does the work
      }
    }
    // Taken, found dead or not there yet: the watcher tops the spares up.
    post([this] { refill_spares(); });
  }
  if (fd < 0) {
    auto spawned = spawn_shim(args, environment);
    if (!spawned) return std::move(spawned).error().within("launch " + launch.id);
    shim_pid = spawned->pid;
    fd = spawned->fd;
  }
  record->shim_pid = shim_pid;
  auto abandon = [&](Error error) -> Result<Handle> {
    ::kill(shim_pid, SIGKILL);
    ::close(fd);
    ::waitpid(shim_pid, nullptr, 0);
    // The shim may have forked before it died: nothing of the launch may stay.
    if (record->cgroup) cgroups_->kill_members(*record->cgroup);
    return error;
  };
  std::string buffer;
  auto line = read_line(fd, buffer, Clock::now() + options_.shim_timeout);
  auto event = line ? shim::parse_event(*line) : std::nullopt;
  if (!event) {
    return abandon(
        make_error(Errc::io, "launch " + launch.id + ": baton-shim " +
                                 (line ? "said '" + *line + "'" : std::string("gave no answer")) +
                                 " instead of starting " + program.string()));
  }
  if (event->kind == shim::Event::Kind::failed) {
    // Missing program: not found; refused by the kernel: the bundle is at fault; else the host.
    Errc code = Errc::io;
    if (event->error == ENOENT) code = Errc::not_found;
    if (event->error == EACCES || event->error == ENOEXEC || event->error == EPERM) {
      code = Errc::invalid;
    }
    return abandon(make_error(
        code, "start-command " + launch.command.front() + ": " + std::string(event->message)));
  }
  if (event->kind != shim::Event::Kind::started) {
    return abandon(make_error(
        Errc::io, "launch " + launch.id + ": baton-shim said '" + *line + "' instead of starting"));
  }
  record->pid = event->pid;
  if (auto stat = read_proc_stat(event->pid)) record->pid_start = stat->start_time;
  record->fd = fd;
  record->buffer = std::move(buffer);
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  Handle handle{record->pid, state_json(*record)};
  watch(record);
  return handle;
}

Result<UniversalRuntime::Spare> UniversalRuntime::spawn_shim(std::vector<std::string> args,
                                                             std::vector<std::string> environment) {
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : environment)
    envp.push_back(entry.data());
  envp.push_back(nullptr);

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return os_error("socketpair", errno);
  }
  // dup2 onto the same number would keep close-on-exec, and 0-2 are replaced first: keep the
  // shim's end above fd 3.
  if (pair[1] <= shim::kControlFd) {
    int moved = ::fcntl(pair[1], F_DUPFD_CLOEXEC, shim::kControlFd + 1);
    ::close(pair[1]);
    pair[1] = moved;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pair[1], shim::kControlFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, shim::kControlFd + 1);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  // Signals the agent ignores stay ignored across exec: the shim needs its own defaults.
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGPIPE})
    sigaddset(&defaults, signal);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int spawned =
      ::posix_spawn(&pid, options_.shim.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(pair[1]);
  if (spawned != 0) {
    ::close(pair[0]);
    return os_error("cannot run " + options_.shim.string(), spawned);
  }
  return Spare{pid, pair[0]};
}

std::optional<UniversalRuntime::Spare> UniversalRuntime::take_spare() {
  std::lock_guard lock(spare_mutex_);
  while (!spares_.empty()) {
    Spare spare = spares_.back();
    spares_.pop_back();
    // One that has gone (killed by someone) shows as readable (EOF) or hung up.
    pollfd item{spare.fd, POLLIN, 0};
    if (::poll(&item, 1, 0) == 0) return spare;
    drop_spare(spare);
  }
  return std::nullopt;
}

void UniversalRuntime::drop_spare(const Spare& spare) {
  ::kill(spare.pid, SIGKILL);
  ::close(spare.fd);
  ::waitpid(spare.pid, nullptr, 0);
}

void UniversalRuntime::refill_spares() {
  for (;;) {
    {
      std::lock_guard lock(spare_mutex_);
      if (spares_closed_ || spares_.size() >= options_.spare_shims) return;
    }
    auto spare = spawn_shim({options_.shim.string(), std::string(shim::kSpareOption)}, {});
    if (!spare) {
      host_.log(LogLevel::warn, "universal runtime: no spare baton-shim: " + spare.error().message);
      return;
    }
    std::lock_guard lock(spare_mutex_);
    if (spares_closed_) {
      drop_spare(*spare);
      return;
    }
    spares_.push_back(*spare);
  }
}

bool UniversalRuntime::send_launch(int fd, const std::vector<std::string>& args,
                                   const std::vector<std::string>& environment) {
  std::size_t bytes = 0;
  for (const auto& text : args)
    bytes += text.size() + 1;
  for (const auto& text : environment)
    bytes += text.size() + 1;
  if (bytes > shim::kMaxLaunchBytes || args.size() > shim::kMaxLaunchArgs ||
      environment.size() > shim::kMaxLaunchEnv) {
    return false;
  }
  std::string message = std::string(shim::kLaunchWord) + " " + std::to_string(args.size()) + " " +
                        std::to_string(environment.size()) + " " + std::to_string(bytes) + "\n";
  message.reserve(message.size() + bytes);
  for (const auto* list : {&args, &environment}) {
    for (const auto& text : *list) {
      message += text;
      message.push_back('\0');
    }
  }
  std::size_t sent = 0;
  while (sent < message.size()) {
    ssize_t n = ::send(fd, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // Nothing sent: the spare is unusable and no launch began. Part sent: the shim rejects
    // a cut message, so it exits without starting anything either.
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

void UniversalRuntime::watch(const RecordPtr& record) {
  bool buffered = false;
  {
    std::lock_guard lock(mutex_);
    record->key = next_key_++;
    by_id_[record->id] = record;
    by_key_[record->key] = record;
  }
  {
    std::lock_guard lock(record->mutex);
    buffered = !record->buffer.empty();
    if (record->fd >= 0) {
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP;
      event.data.u64 = record->key;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, record->fd, &event);
    }
  }
  // Lines that arrived with the handshake (a fast exit) are handled like any later ones.
  if (buffered) post([this, record] { on_readable(record); });
}

void UniversalRuntime::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void UniversalRuntime::run() {
  epoll_event events[64];
  for (;;) {
    int count = ::epoll_wait(epoll_fd_, events, 64, reaps_.empty() ? -1 : 50);
    // Drain the wake-up before taking the queue: a task posted after this point wakes the next
    // epoll_wait, one posted before is in the queue taken below.
    std::uint64_t wakes = 0;
    (void)!::read(wake_fd_, &wakes, sizeof wakes);
    // Posted work first: it was queued before any launch in these events could have started
    // again, so a destroyed launch's exit is reported before its successor's.
    std::vector<std::function<void()>> tasks;
    bool stopping = false;
    {
      std::lock_guard lock(mutex_);
      stopping = stopping_;
      tasks.swap(tasks_);
    }
    for (auto& task : tasks)
      task();
    if (stopping) return;
    for (int i = 0; i < count; ++i) {
      if (events[i].data.u64 == 0) continue;  // the wake-up, drained above
      RecordPtr record;
      {
        std::lock_guard lock(mutex_);
        auto it = by_key_.find(events[i].data.u64);
        if (it != by_key_.end()) record = it->second;
      }
      if (record) on_readable(record);
    }
    // Shims we spawned are our children: wait for them once their connection closed.
    std::erase_if(reaps_, [](pid_t pid) {
      pid_t result = ::waitpid(pid, nullptr, WNOHANG);
      return result != 0;
    });
  }
}

void UniversalRuntime::on_readable(const RecordPtr& record) {
  std::vector<shim::ExitInfo> exits;
  std::vector<std::string> errors;
  bool gone_now = false;
  {
    std::lock_guard lock(record->mutex);
    if (record->fd < 0) return;
    char chunk[4096];
    for (;;) {
      ssize_t n = ::recv(record->fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) {
        record->buffer.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      gone_now = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
    std::size_t newline;
    while ((newline = record->buffer.find('\n')) != std::string::npos) {
      std::string line = record->buffer.substr(0, newline);
      record->buffer.erase(0, newline + 1);
      auto event = shim::parse_event(line);
      if (!event) {
        errors.push_back("unreadable line from the shim: " + line);
      } else if (event->kind == shim::Event::Kind::started) {
        record->pid = event->pid;
      } else if (event->kind == shim::Event::Kind::exited) {
        if (!std::exchange(record->exit_claimed, true)) exits.push_back(event->exit);
      } else {
        errors.push_back(std::string(event->message));
      }
    }
    if (gone_now) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, record->fd, nullptr);
      ::close(record->fd);
      record->fd = -1;
      record->gone = true;
    }
  }
  for (const auto& error : errors)
    host_.log(LogLevel::warn, "launch " + record->id + ": baton-shim: " + error);
  for (const auto& exit : exits) {
    host_.exited(record->id, to_status(exit, record->memory_limit));
    std::lock_guard lock(record->mutex);
    send_text(record->fd, "ack\n");  // the shim may go now
  }
  if (gone_now) on_gone(record);
}

void UniversalRuntime::on_gone(const RecordPtr& record) {
  if (claim_exit(*record)) {
    // The shim went without reporting (killed, crashed): whatever it left must go too.
    kill_leftovers(*record);
    ExitStatus status;
    if (auto exit = read_exit_file(record->state_dir)) {
      status = to_status(*exit, record->memory_limit);
    } else {
      status.message = "baton-shim (pid " + std::to_string(record->shim_pid) +
                       ") ended without reporting the exit; the component was killed";
    }
    host_.log(LogLevel::warn, "launch " + record->id + ": " + status.message);
    host_.exited(record->id, status);
  }
  reaps_.push_back(record->shim_pid);
  remove_cgroup(*record);
}

void UniversalRuntime::kill_leftovers(Record& record) {
  if (record.cgroup && cgroups_) cgroups_->kill_members(*record.cgroup);
  pid_t pid = 0;
  std::uint64_t start = 0;
  {
    std::lock_guard lock(record.mutex);
    pid = record.pid;
    start = record.pid_start;
  }
  // Only the very process we started (same start time), leading its own group.
  if (pid > 0) {
    auto stat = read_proc_stat(pid);
    if (stat && stat->start_time == start && stat->group == pid) ::kill(-pid, SIGKILL);
  }
}

void UniversalRuntime::remove_cgroup(const Record& record) {
  if (record.cgroup && cgroups_) cgroups_->remove(*record.cgroup);
}

Status UniversalRuntime::stop(const std::string& launch_id, int signal,
                              std::chrono::milliseconds timeout) {
  if (signal < 1 || signal >= NSIG) {
    return make_error(Errc::invalid,
                      "launch " + launch_id + ": no signal " + std::to_string(signal));
  }
  RecordPtr record = find(launch_id);
  if (!record) return {};
  std::lock_guard lock(record->mutex);
  send_text(record->fd, "stop " + std::to_string(signal) + " " +
                            std::to_string(std::max<long long>(0, timeout.count())) + "\n");
  return {};
}

Status UniversalRuntime::destroy(const std::string& launch_id) {
  RecordPtr record;
  {
    std::lock_guard lock(mutex_);
    auto it = by_id_.find(launch_id);
    if (it == by_id_.end()) return {};
    record = it->second;
    by_id_.erase(it);
    by_key_.erase(record->key);
  }
  int fd = -1;
  std::string buffer;
  std::optional<ExitStatus> report;
  {
    std::lock_guard lock(record->mutex);
    fd = std::exchange(record->fd, -1);
    buffer = std::move(record->buffer);
    if (fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  if (fd >= 0) {
    // Kill, take the exit (reporting it unless that happened already), ack, wait for the shim to
    // go. `status` makes an exit that was reported before still answer.
    ::fcntl(fd, F_SETFL, 0);
    send_text(fd, "kill\nstatus\n");
    auto deadline = Clock::now() + options_.shim_timeout;
    bool acked = false;
    for (;;) {
      auto line = read_line(fd, buffer, deadline);
      if (!line) break;  // EOF: the shim is gone (or the deadline passed)
      auto event = shim::parse_event(*line);
      if (!event || event->kind != shim::Event::Kind::exited || acked) continue;
      if (claim_exit(*record)) report = to_status(event->exit, record->memory_limit);
      acked = send_text(fd, "ack\n");
    }
    ::close(fd);
    if (Clock::now() >= deadline) {
      host_.log(LogLevel::warn, "launch " + launch_id + ": baton-shim (pid " +
                                    std::to_string(record->shim_pid) +
                                    ") did not end in time: killed");
      ::kill(record->shim_pid, SIGKILL);
    }
    // A shim of ours is our child: the watcher waits for it (it may still be exiting).
    post([this, pid = record->shim_pid] { reaps_.push_back(pid); });
  }
  if (claim_exit(*record)) {
    // Never reported (no shim reachable): the launch ends here.
    kill_leftovers(*record);
    report = ExitStatus{};
    report->message = "destroyed";
  }
  // Reported from the watcher thread, never from inside a call the agent made.
  if (report) post([this, id = launch_id, status = *report] { host_.exited(id, status); });
  if (record->cgroup && cgroups_) {
    cgroups_->kill_members(*record->cgroup);
    cgroups_->remove(*record->cgroup);
  }
  files::remove_tree(record->state_dir);
  return {};
}

Result<Handle> UniversalRuntime::recover(const Launch& launch, const Handle& saved) {
  if (launch.id.empty()) return make_error(Errc::invalid, "launch without an id");
  if (RecordPtr existing = find(launch.id)) {
    std::lock_guard lock(existing->mutex);
    return Handle{existing->pid, state_json(*existing)};
  }
  auto record = std::make_shared<Record>();
  record->id = launch.id;
  record->memory_limit = launch.limits.memory;
  record->pid = saved.pid;
  auto state = nlohmann::json::parse(saved.state, nullptr, false);
  if (state.is_object()) {
    record->shim_pid = state.value("shimPid", 0);
    record->pid_start = state.value("pidStart", std::uint64_t{0});
    if (launch.state_dir.empty()) record->state_dir = state.value("stateDir", std::string());
  }
  if (!launch.state_dir.empty()) record->state_dir = launch.state_dir;
  if (record->state_dir.empty()) {
    return make_error(Errc::invalid, "launch " + launch.id + ": no state folder to recover from");
  }
  if (cgroups_) {
    LaunchCgroup cgroup = cgroups_->paths(launch);
    std::error_code error;
    if (!cgroup.leaves.empty() && stdfs::exists(cgroup.leaves.front(), error)) {
      record->cgroup = std::move(cgroup);
    }
  }

  int fd = connect_shim(record->state_dir);
  if (fd >= 0) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0) record->shim_pid = peer.pid;
    std::string buffer;
    send_text(fd, "status\n");
    auto line = read_line(fd, buffer, Clock::now() + options_.shim_timeout);
    auto event = line ? shim::parse_event(*line) : std::nullopt;
    if (event &&
        (event->kind == shim::Event::Kind::started || event->kind == shim::Event::Kind::exited)) {
      if (event->kind == shim::Event::Kind::started) record->pid = event->pid;
      // Handled by the watcher like any event: an exit is reported, then acknowledged.
      record->buffer = *line + "\n" + buffer;
      record->fd = fd;
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
      Handle handle{record->pid, state_json(*record)};
      watch(record);
      return handle;
    }
    ::close(fd);  // the shim is on its way out: its exit file says how it ended
  }

  // The shim is gone: the exit file has the status, or the launch was lost with the shim.
  ExitStatus status;
  if (auto exit = read_exit_file(record->state_dir)) {
    status = to_status(*exit, record->memory_limit);
  } else {
    status.message = "lost while the agent was down";
    kill_leftovers(*record);
  }
  record->gone = true;
  record->exit_claimed = true;
  {
    std::lock_guard lock(mutex_);
    by_id_[record->id] = record;
  }
  post([this, record, status] {
    host_.exited(record->id, status);
    remove_cgroup(*record);
  });
  return Handle{saved.pid, saved.state};
}

Result<Stats> UniversalRuntime::stats(const std::string& launch_id) {
  RecordPtr record = find(launch_id);
  if (!record) {
    return make_error(Errc::not_found, "launch " + launch_id + " is not known to the " +
                                           std::string(kName) + " runtime");
  }
  {
    std::lock_guard lock(record->mutex);
    if (record->gone) return make_error(Errc::conflict, "launch " + launch_id + " has ended");
  }
  if (record->cgroup && cgroups_) {
    if (auto stats = cgroups_->stats(*record->cgroup)) return stats;
  }
  Stats stats;
  static const double kTicks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& process : descendants(record->shim_pid)) {
    stats.cpu_seconds += static_cast<double>(process.cpu_ticks) / kTicks;
    stats.memory_bytes += resident_bytes(process.pid);
  }
  return stats;
}

}  // namespace

RuntimePtr make_runtime(RuntimeHost& host, Options options) {
  return std::make_unique<UniversalRuntime>(host, std::move(options));
}

}  // namespace baton::runtimes::universal
