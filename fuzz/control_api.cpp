// The control API's request path: raw bytes sent to a real baton-core (CoreService: the Beast
// server, the router, every handler, the multipart upload into a temporary folder, the store) in
// this process, on a loopback socket with port 0 and a temporary data folder. The server has no
// in-memory entry point: its sessions are written against a TCP stream.
// Invariants: the core closes the connection once the client has sent everything (no hang); every
// response it writes starts with a well-formed status line and none is 500 (an exception that
// escaped a handler); an upload refused or abandoned leaves nothing in <data>/tmp; the core keeps
// accepting connections.
// The core runs in a network namespace of its own (loopback only): a fuzzed request may register
// an agent with any address, and nothing the core then calls may leave this machine. Without the
// right to make one (CAP_SYS_ADMIN), the target exits 77 (skipped).

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "bundle/descriptor_parse.hpp"
#include "core/service.hpp"
#include "fuzz/fuzz.hpp"

namespace {

using namespace baton;
namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kCloseDeadline = std::chrono::seconds(10);
constexpr auto kCleanDeadline = std::chrono::seconds(5);

// A network namespace for this thread and the threads it starts, with its loopback up.
bool isolate_network() {
  if (::unshare(CLONE_NEWNET) != 0) return false;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  up = up && ::ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  ::close(fd);
  return up;
}

// cpp-hocon creates function-local statics on first use. Created here, before the core, they are
// destroyed after it at exit: the core's workers may still be parsing a bundle.conf (a request
// whose client left) until the core's stop() has drained them.
void warm_up_hocon() {
  constexpr std::string_view kBase = R"(name = "w", version = "1", compatibilityVersion = "1"
system = ${name}, tags = ["a"], tags += "b", memory = 64 MiB, diskSpace = 1G, nrOfCpus = 0.5
roles = [web], start-timeout = 2 seconds, annotations { "k.d" = 1.10 }
components.c { file-system-type = universal, start-command = ["bin/c", "\u00e9"]
  endpoints.e { bind-protocol = http, bind-port = 0, service-name = e,
                acls = [{ http { requests = [{ path-beg = "/" }] } }] } })";
  constexpr std::string_view kOverlay = "memory = 32M\ncomponents.c.start-command += x\n";
  (void)bundle::parse_descriptor_with_overlay(kBase, "warm-up", kOverlay, "warm-up overlay");
  (void)bundle::parse_descriptor("not { hocon", "warm-up");
}

struct Core {
  Core() {
    if (!isolate_network()) {
      std::fprintf(stderr,
                   "control_api: SKIPPED: cannot make a network namespace (%s); the core must "
                   "not reach the network, so this target needs CAP_SYS_ADMIN (root)\n",
                   std::strerror(errno));
      std::exit(77);
    }
    ::signal(SIGPIPE, SIG_IGN);
    spdlog::set_level(spdlog::level::off);
    warm_up_hocon();
    data = fuzz::scratch() / "core";
    core::CoreOptions options;
    options.port = 0;
    options.data = data;
    options.threads = 1;
    options.max_request_bytes = std::size_t{64} << 10;
    options.max_upload_bytes = std::uint64_t{1} << 20;
    options.durable_store = false;
    options.default_poll_wait = std::chrono::milliseconds(100);
    options.max_poll_wait = std::chrono::milliseconds(200);
    options.sse_heartbeat = std::chrono::milliseconds(100);
    auto started = core::CoreService::start(options);
    if (!started) fuzz::fail(__FILE__, __LINE__, "start", started.error().message);
    service = std::move(*started);
  }
  ~Core() { service->stop(); }

  stdfs::path data;
  std::unique_ptr<core::CoreService> service;
};

Core& the_core() {
  static Core core;
  return core;
}

// Sends `request`, half-closes, and reads until the core closes the connection.
std::string exchange(unsigned short port, std::string_view request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  FUZZ_CHECK(fd >= 0, std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  FUZZ_CHECK(connected == 0 || errno == EINPROGRESS,
             std::string("the core stopped accepting: ") + std::strerror(errno));
  std::string response;
  std::size_t sent = 0;
  bool shut = false;
  const auto deadline = Clock::now() + kCloseDeadline;
  for (;;) {
    if (!shut && sent == request.size()) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    pollfd watched{fd, static_cast<short>(POLLIN | (shut ? 0 : POLLOUT)), 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    FUZZ_CHECK(left.count() > 0, "the core did not close the connection within 10 s (" +
                                     std::to_string(response.size()) + " bytes answered)");
    int ready = ::poll(&watched, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    FUZZ_CHECK(ready >= 0, std::string("poll: ") + std::strerror(errno));
    if (ready == 0) continue;
    if ((watched.revents & POLLOUT) != 0 && !shut) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        shut = true;  // the core refused the request and closed: read its answer
      }
    }
    if ((watched.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[16384];
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        response.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;  // closed (or reset)
    }
  }
  ::close(fd);
  return response;
}

// Walks the responses, checking each status line. The answer to a HEAD has a length but no body:
// where the request holds one, the walk ends at the first response it cannot frame.
void check_responses(std::string_view out, std::string_view request) {
  const bool heads = request.find("HEAD") != std::string_view::npos;
  std::size_t at = 0;
  while (at < out.size()) {
    std::string_view rest = out.substr(at);
    if (heads && at > 0 && !rest.starts_with("HTTP/1.")) return;
    FUZZ_CHECK(
        rest.size() >= 12 && (rest.starts_with("HTTP/1.1 ") || rest.starts_with("HTTP/1.0 ")),
        "a response does not start with a status line: " + std::string(rest.substr(0, 64)));
    int status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
      FUZZ_CHECK(rest[i] >= '0' && rest[i] <= '9', "a malformed status code");
      status = status * 10 + (rest[i] - '0');
    }
    std::size_t head_end = rest.find("\r\n\r\n");
    FUZZ_CHECK(head_end != std::string_view::npos, "a response head without its end");
    FUZZ_CHECK(status >= 100 && status <= 599, "status " + std::to_string(status));
    FUZZ_CHECK(status != 500, "500: " + std::string(rest.substr(0, 600)));
    std::string_view head = rest.substr(0, head_end);
    at += head_end + 4;
    if (status < 200 || status == 204 || status == 304) continue;
    std::size_t length_at = head.find("\r\nContent-Length: ");
    if (length_at == std::string_view::npos) return;  // chunked or until close: stop here
    std::size_t length = 0;
    for (std::size_t i = length_at + 18; i < head.size() && head[i] >= '0' && head[i] <= '9'; ++i)
      length = length * 10 + static_cast<std::size_t>(head[i] - '0');
    at += length;
  }
}

bool tmp_is_empty(const stdfs::path& tmp) {
  std::error_code error;
  return stdfs::is_empty(tmp, error) || error;
}

}  // namespace

// The core starts before the first input, so its start is not counted against one.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_core();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Core& core = the_core();
  std::string_view request(reinterpret_cast<const char*>(data), size);
  std::string response = exchange(core.service->port(), request);
  check_responses(response, request);
  // The upload's temporary folder goes when the session lets go of it, just after the close.
  const stdfs::path tmp = core.data / "tmp";
  const auto deadline = Clock::now() + kCleanDeadline;
  while (!tmp_is_empty(tmp)) {
    FUZZ_CHECK(Clock::now() < deadline,
               "an upload left files in " + tmp.string() + ": " + fuzz::list_tree(tmp).front());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 0;
}
