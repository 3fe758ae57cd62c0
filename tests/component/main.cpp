// baton-testcomponent: a component for Baton's tests, driven by flags (README.md). Only
// libc/libstdc++, so it runs anywhere a bundle can run, Docker images built FROM scratch included
// (when linked statically).
//
// Order: --ignore-sigterm, --print-env, --fork-grandchildren, --daemonize, --listen-env (bind),
// --signal-notify, --signal-http, --log-rate-mb, --allocate-mb, --crash, then run: --exit-after-ms
// (serving meanwhile) / --exit / serving or --sleep forever / exit 0.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

constexpr int kSignalFailure = 70;  // ConductR's library exits 70 when it cannot signal

struct Flags {
  std::string listen_env;
  bool signal_http = false;
  bool signal_notify = false;
  int exit_code = -1;
  long exit_after_ms = -1;
  bool crash = false;
  bool ignore_sigterm = false;
  int grandchildren = 0;
  bool daemonize = false;
  std::string pid_file;
  double log_rate_mb = 0;
  double log_seconds = 0;
  bool print_env = false;
  bool sleep = false;
  long allocate_mb = 0;
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr, "baton-testcomponent: %s\n", message);
  std::exit(2);
}

long long now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

const char* env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value == nullptr ? "" : value;
}

Flags parse(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + std::string(flag)).c_str());
      return argv[++i];
    };
    if (flag == "--listen-env") {
      flags.listen_env = value();
    } else if (flag == "--signal-http") {
      flags.signal_http = true;
    } else if (flag == "--signal-notify") {
      flags.signal_notify = true;
    } else if (flag == "--exit") {
      flags.exit_code = std::atoi(value());
    } else if (flag == "--exit-after-ms") {
      flags.exit_after_ms = std::atol(value());
    } else if (flag == "--crash") {
      flags.crash = true;
    } else if (flag == "--ignore-sigterm") {
      flags.ignore_sigterm = true;
    } else if (flag == "--fork-grandchildren") {
      flags.grandchildren = std::atoi(value());
    } else if (flag == "--daemonize") {
      flags.daemonize = true;
    } else if (flag == "--pid-file") {
      flags.pid_file = value();
    } else if (flag == "--log-rate-mb") {
      flags.log_rate_mb = std::atof(value());
    } else if (flag == "--log-seconds") {
      flags.log_seconds = std::atof(value());
    } else if (flag == "--print-env") {
      flags.print_env = true;
    } else if (flag == "--sleep") {
      flags.sleep = true;
    } else if (flag == "--allocate-mb") {
      flags.allocate_mb = std::atol(value());
    } else {
      usage(("unknown flag " + std::string(flag)).c_str());
    }
  }
  return flags;
}

[[noreturn]] void sleep_forever() {
  for (;;)
    ::pause();
}

void write_pid_file(const std::string& file, pid_t pid) {
  if (file.empty()) return;
  std::string temp = file + ".tmp";
  if (FILE* out = std::fopen(temp.c_str(), "w")) {
    std::fprintf(out, "%d\n", pid);
    std::fclose(out);
    std::rename(temp.c_str(), file.c_str());  // readers never see a half-written pid
  }
}

// Children that sleep forever; their pids go to stdout as "grandchild <pid>".
void fork_grandchildren(int count) {
  for (int i = 0; i < count; ++i) {
    std::fflush(stdout);  // or the child would print what is buffered once more
    pid_t pid = ::fork();
    if (pid == 0) sleep_forever();
    std::printf("grandchild %d\n", pid);
  }
  std::fflush(stdout);
}

// The classic daemon: fork, setsid, fork again; the grandchild sleeps forever and its parent
// exits, so it re-parents to the nearest subreaper. Returns once the daemon has printed its pid.
void daemonize(const std::string& pid_file) {
  std::fflush(stdout);
  int ready[2];
  if (::pipe(ready) != 0) usage("pipe failed");
  pid_t first = ::fork();
  if (first == 0) {
    ::setsid();
    pid_t second = ::fork();
    if (second == 0) {
      ::close(ready[0]);
      write_pid_file(pid_file, ::getpid());
      std::printf("daemon %d\n", ::getpid());
      std::fflush(stdout);
      (void)!::write(ready[1], "x", 1);
      ::close(ready[1]);
      sleep_forever();
    }
    ::close(ready[1]);
    char byte;
    (void)!::read(ready[0], &byte, 1);
    ::_exit(0);
  }
  ::close(ready[0]);
  ::close(ready[1]);
  int status = 0;
  ::waitpid(first, &status, 0);
}

void print_env() {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry)
    entries.emplace_back(*entry);
  std::sort(entries.begin(), entries.end());
  for (const auto& entry : entries)
    std::printf("%s\n", entry.c_str());
  std::fflush(stdout);
}

int listen_on(const std::string& name) {
  std::string ip = env(name + "_BIND_IP");
  int port = std::atoi(env(name + "_BIND_PORT"));
  if (ip.empty() || port <= 0) usage(("no " + name + "_BIND_IP/" + name + "_BIND_PORT").c_str());
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 64) != 0) {
    std::fprintf(stderr, "cannot listen on %s:%d: %s\n", ip.c_str(), port, std::strerror(errno));
    std::exit(1);
  }
  std::printf("listening on %s:%d\n", ip.c_str(), port);
  std::fflush(stdout);
  return fd;
}

// One request per connection: read the head, answer 200 "ok <BUNDLE_ID>", close.
void serve_one(int listener) {
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  std::string request;
  char chunk[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd item{fd, POLLIN, 0};
    if (::poll(&item, 1, 2000) <= 0) break;
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    request.append(chunk, static_cast<std::size_t>(n));
  }
  std::string body = std::string("ok ") + env("BUNDLE_ID");
  std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  (void)!::write(fd, response.data(), response.size());
  ::close(fd);
}

// Serves until `deadline_ms` (monotonic; < 0: forever).
void serve(int listener, long long deadline_ms) {
  for (;;) {
    int timeout = -1;
    if (deadline_ms >= 0) {
      long long left = deadline_ms - now_ms();
      if (left <= 0) return;
      timeout = static_cast<int>(left);
    }
    pollfd item{listener, POLLIN, 0};
    if (listener < 0) {
      if (timeout < 0) sleep_forever();
      ::poll(nullptr, 0, timeout);
      continue;
    }
    if (::poll(&item, 1, timeout) > 0) serve_one(listener);
  }
}

// READY=1 to $NOTIFY_SOCKET (a leading '@' is the abstract namespace).
void signal_notify() {
  std::string path = env("NOTIFY_SOCKET");
  if (path.empty()) usage("no NOTIFY_SOCKET");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) usage("NOTIFY_SOCKET too long");
  std::memcpy(address.sun_path, path.data(), path.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') address.sun_path[0] = '\0';
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const char message[] = "READY=1\n";
  if (::sendto(fd, message, sizeof message - 1, 0, reinterpret_cast<sockaddr*>(&address), length) <
      0) {
    std::fprintf(stderr, "cannot notify %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(kSignalFailure);
  }
  ::close(fd);
}

// PUT $CONDUCTR_STATUS/bundles/$BUNDLE_ID?isStarted=true over a raw socket, as ConductR's
// bundle library does; anything but 2xx exits 70.
void signal_http() {
  std::string url = env("CONDUCTR_STATUS");
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "cannot signal %s: %s\n", url.c_str(), why.c_str());
    std::exit(kSignalFailure);
  };
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) fail("not an http:// URL");
  std::string rest = url.substr(kScheme.size());
  std::string authority = rest.substr(0, rest.find('/'));
  std::string prefix = rest.size() > authority.size() ? rest.substr(authority.size()) : "";
  auto colon = authority.rfind(':');
  std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  int port = colon == std::string::npos ? 80 : std::atoi(authority.c_str() + colon + 1);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (host == "localhost") host = "127.0.0.1";
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    fail("host is not an IPv4 address");
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    fail(std::strerror(errno));
  }
  std::string request = "PUT " + prefix + "/bundles/" + env("BUNDLE_ID") +
                        "?isStarted=true HTTP/1.1\r\nHost: " + authority +
                        "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    fail(std::strerror(errno));
  }
  std::string response;
  char chunk[1024];
  while (response.find("\r\n") == std::string::npos) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    response.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.1 200 OK"
  auto space = response.find(' ');
  int status = space == std::string::npos ? 0 : std::atoi(response.c_str() + space + 1);
  if (status < 200 || status > 299) fail("answer: " + response.substr(0, response.find('\r')));
}

// Lines "log <seq> <padding>" on stdout at about `mb` MB/s for `seconds`, then "log-done <count>"
// on stderr, so a test can check every line arrived.
void log_fast(double mb, double seconds) {
  const std::string padding(90, 'x');
  char line[160];
  const double bytes_per_ms = mb * 1e6 / 1000.0;
  long long start = now_ms();
  long long end = start + static_cast<long long>(seconds * 1000);
  unsigned long long sequence = 0;
  double written = 0;
  for (long long now = start; now < end; now = now_ms()) {
    // Write until ahead of the rate, then yield a moment.
    double allowed = bytes_per_ms * static_cast<double>(now - start + 1);
    while (written < allowed) {
      int n = std::snprintf(line, sizeof line, "log %llu %s\n", sequence++, padding.c_str());
      std::fwrite(line, 1, static_cast<std::size_t>(n), stdout);
      written += n;
    }
    std::fflush(stdout);
    timespec pause{0, 1000000};
    ::nanosleep(&pause, nullptr);
  }
  std::fflush(stdout);
  std::fprintf(stderr, "log-done %llu\n", sequence);
  std::fflush(stderr);
}

// Touches `mb` MiB one page at a time (for memory-limit tests): an OOM kill stops it midway.
void allocate(long mb) {
  std::printf("allocating %ld MiB\n", mb);
  std::fflush(stdout);
  for (long i = 0; i < mb; ++i) {
    auto* block = static_cast<char*>(std::malloc(1 << 20));
    if (block == nullptr) std::exit(3);
    for (long at = 0; at < (1 << 20); at += 4096)
      block[at] = static_cast<char>(at);
  }
  std::printf("allocated %ld MiB\n", mb);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOFBF, 1 << 16);
  if (flags.ignore_sigterm) ::signal(SIGTERM, SIG_IGN);
  if (flags.print_env) print_env();
  if (flags.grandchildren > 0) fork_grandchildren(flags.grandchildren);
  if (flags.daemonize) daemonize(flags.pid_file);
  int listener = flags.listen_env.empty() ? -1 : listen_on(flags.listen_env);
  if (flags.signal_notify) signal_notify();
  if (flags.signal_http) signal_http();
  if (flags.log_rate_mb > 0 && flags.log_seconds > 0)
    log_fast(flags.log_rate_mb, flags.log_seconds);
  if (flags.allocate_mb > 0) allocate(flags.allocate_mb);
  if (flags.crash) std::abort();
  std::printf("ready\n");
  std::fflush(stdout);
  int code = flags.exit_code >= 0 ? flags.exit_code : 0;
  if (flags.exit_after_ms >= 0) {
    serve(listener, now_ms() + flags.exit_after_ms);
    return code;
  }
  if (flags.exit_code >= 0) return code;
  if (listener >= 0 || flags.sleep) serve(listener, -1);
  return 0;
}
