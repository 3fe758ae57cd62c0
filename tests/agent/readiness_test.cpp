#include "agent/readiness.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstring>

#include "agent/notify.hpp"
#include "common/files.hpp"
#include "http/server.hpp"

namespace baton::agent {
namespace {

namespace asio = boost::asio;
namespace stdfs = std::filesystem;

bool run_until(asio::io_context& io, const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_one_for(std::chrono::milliseconds(10));
    if (io.stopped()) io.restart();
  }
  return true;
}

void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(10));
    if (io.stopped()) io.restart();
  }
}

int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class Listener {
 public:
  explicit Listener(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
          ::listen(fd_, 16) == 0;
  }
  ~Listener() { ::close(fd_); }
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

ReadinessPlan plan_for(PollTarget::Kind kind, int port, std::string path = "/") {
  ReadinessPlan plan;
  plan.targets.push_back(PollTarget{kind, "web", "127.0.0.1", port, std::move(path)});
  plan.interval = std::chrono::milliseconds(20);
  plan.timeout = std::chrono::milliseconds(200);
  return plan;
}

// ---- notify ----

TEST(NotifyTest, ParsesLinesAndIgnoresTheRest) {
  auto message = parse_notify("STATUS=warming up\nREADY=1\nWATCHDOG=1\nnonsense\nX-CUSTOM=9\n");
  EXPECT_TRUE(message.ready);
  EXPECT_EQ(message.status.value_or(""), "warming up");
  EXPECT_FALSE(message.stopping);
  EXPECT_TRUE(parse_notify("READY=1").ready);
  EXPECT_FALSE(parse_notify("READY=0").ready);
  EXPECT_FALSE(parse_notify("READY=11\n").ready);
  EXPECT_FALSE(parse_notify("").ready);
  EXPECT_FALSE(parse_notify("\n\n=\n").ready);
  EXPECT_TRUE(parse_notify("STOPPING=1").stopping);
  EXPECT_EQ(parse_notify("MAINPID=42\nREADY=1").main_pid.value_or(0), 42);
  EXPECT_FALSE(parse_notify("MAINPID=abc").main_pid.has_value());
  EXPECT_EQ(parse_notify("ERRNO=2").errno_value.value_or(0), 2);
  std::string with_nul("READY=1\0junk", 12);
  EXPECT_TRUE(parse_notify(with_nul).ready);
}

void send_datagram(const std::string& address, const std::string& payload) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  std::memcpy(name.sun_path, address.data(), address.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address.front() == '@') {
    name.sun_path[0] = '\0';
  } else {
    length += 1;
  }
  ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&name), length);
  ::close(fd);
}

TEST(NotifyTest, SocketReceivesReadyWithTheSenderPid) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "notify-");
  ASSERT_TRUE(folder.ok());
  asio::io_context io;
  int ready = 0;
  int sender = 0;
  const std::string address = (folder->path() / "notify.sock").string();
  auto socket = NotifySocket::open(io, address, [&](const NotifyMessage& message, int pid) {
    if (message.ready) ++ready;
    sender = pid;
  });
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  EXPECT_EQ((*socket)->address(), address);
  send_datagram(address, "STATUS=booting");
  send_datagram(address, "STATUS=almost\nREADY=1\n");
  ASSERT_TRUE(run_until(io, [&] { return ready == 1; }));
  EXPECT_EQ(sender, ::getpid());

  // Bound again after an agent restart: the stale socket file is replaced.
  (*socket).reset();
  auto again = NotifySocket::open(io, address, [&](const NotifyMessage& message, int) {
    if (message.ready) ++ready;
  });
  ASSERT_TRUE(again.ok()) << again.error().message;
  send_datagram(address, "READY=1");
  ASSERT_TRUE(run_until(io, [&] { return ready == 2; }));
  (*again)->close();
  EXPECT_FALSE(stdfs::exists(address));
}

TEST(NotifyTest, AbstractAddress) {
  asio::io_context io;
  bool ready = false;
  std::string address = "@baton-test-" + std::to_string(::getpid());
  auto socket =
      NotifySocket::open(io, address, [&](const NotifyMessage& m, int) { ready = m.ready; });
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  send_datagram(address, "READY=1");
  EXPECT_TRUE(run_until(io, [&] { return ready; }));
}

TEST(NotifyTest, TooLongAddressIsRefused) {
  asio::io_context io;
  auto socket = NotifySocket::open(io, "/" + std::string(200, 'x'), nullptr);
  ASSERT_FALSE(socket.ok());
  EXPECT_NE(socket.error().message.find("notify socket"), std::string::npos);
}

// ---- polling ----

TEST(ReadinessPollerTest, TcpBecomesReadyWhenSomethingListens) {
  asio::io_context io;
  int port = unused_port();
  bool ready = false;
  auto poller =
      ReadinessPoller::start(io, plan_for(PollTarget::Kind::tcp, port), [&] { ready = true; });
  run_for(io, std::chrono::milliseconds(200));
  EXPECT_FALSE(ready);
  Listener listener(port);
  ASSERT_TRUE(listener.ok());
  EXPECT_TRUE(run_until(io, [&] { return ready; }));
}

TEST(ReadinessPollerTest, HttpNeeds2xxOr3xx) {
  asio::io_context io;
  std::atomic<int> status{503};
  std::atomic<int> hits{0};
  http::Router router;
  router.add("GET", "/health", [&](const http::Request&) {
    ++hits;
    return http::Response::text(status.load(), "state");
  });
  auto server = http::Server::start(io, http::ServerOptions{}, std::move(router));
  ASSERT_TRUE(server.ok()) << server.error().message;
  bool ready = false;
  auto poller = ReadinessPoller::start(
      io, plan_for(PollTarget::Kind::http, (*server)->port(), "/health"), [&] { ready = true; });
  ASSERT_TRUE(run_until(io, [&] { return hits >= 3; }));
  EXPECT_FALSE(ready);
  status = 302;
  EXPECT_TRUE(run_until(io, [&] { return ready; }));
  (*server)->stop();
}

TEST(ReadinessPollerTest, HttpTryTimesOutOnASilentServerAndKeepsTrying) {
  asio::io_context io;
  int port = unused_port();
  Listener silent(port);  // accepts (the kernel does) but never answers
  ASSERT_TRUE(silent.ok());
  bool ready = false;
  auto plan = plan_for(PollTarget::Kind::http, port);
  plan.timeout = std::chrono::milliseconds(50);
  auto poller = ReadinessPoller::start(io, plan, [&] { ready = true; });
  run_for(io, std::chrono::milliseconds(400));
  EXPECT_FALSE(ready);
  poller->cancel();
}

TEST(ReadinessPollerTest, AllTargetsMustAnswerAndInitialDelayIsHonoured) {
  asio::io_context io;
  int a = unused_port();
  int b = unused_port();
  Listener first(a);
  ReadinessPlan plan;
  plan.targets = {PollTarget{PollTarget::Kind::tcp, "a", "127.0.0.1", a, "/"},
                  PollTarget{PollTarget::Kind::tcp, "b", "127.0.0.1", b, "/"}};
  plan.interval = std::chrono::milliseconds(20);
  plan.initial_delay = std::chrono::milliseconds(300);
  bool ready = false;
  auto started = std::chrono::steady_clock::now();
  auto poller = ReadinessPoller::start(io, plan, [&] { ready = true; });
  ASSERT_TRUE(run_until(io, [&] { return poller->answered() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  EXPECT_FALSE(ready);
  Listener second(b);
  EXPECT_TRUE(run_until(io, [&] { return ready; }));
}

TEST(ReadinessPollerTest, CancelledPollerNeverCalls) {
  asio::io_context io;
  int port = unused_port();
  Listener listener(port);
  bool ready = false;
  auto plan = plan_for(PollTarget::Kind::tcp, port);
  plan.initial_delay = std::chrono::milliseconds(100);
  auto poller = ReadinessPoller::start(io, plan, [&] { ready = true; });
  poller->cancel();
  run_for(io, std::chrono::milliseconds(300));
  EXPECT_FALSE(ready);
  poller = ReadinessPoller::start(io, plan, [&] { ready = true; });
  poller.reset();  // dropping it cancels too
  run_for(io, std::chrono::milliseconds(300));
  EXPECT_FALSE(ready);
}

// ---- plans ----

bundle::Descriptor with_endpoints(bundle::Readiness::Mode mode) {
  bundle::Descriptor d;
  d.name = "b";
  bundle::Component c;
  c.name = "c";
  bundle::Endpoint web;
  web.name = "web";
  bundle::Endpoint metrics;
  metrics.name = "metrics";
  metrics.protocol = bundle::Protocol::tcp;
  bundle::Endpoint gossip;
  gossip.name = "gossip";
  gossip.protocol = bundle::Protocol::udp;
  c.endpoints = {gossip, metrics, web};
  d.components = {c};
  d.readiness.mode = mode;
  return d;
}

TEST(ReadinessPlanTest, Modes) {
  using Mode = bundle::Readiness::Mode;
  std::map<std::string, int> ports = {{"web", 10001}, {"metrics", 10002}, {"gossip", 10003}};
  auto automatic = plan_readiness(with_endpoints(Mode::automatic), ports, "10.0.0.5");
  EXPECT_TRUE(automatic.accepts_signal);
  EXPECT_FALSE(automatic.ready_when_running);
  ASSERT_EQ(automatic.targets.size(), 2u);  // udp cannot be polled
  for (const auto& target : automatic.targets) {
    EXPECT_EQ(target.kind, PollTarget::Kind::tcp);
    EXPECT_EQ(target.host, "10.0.0.5");
    EXPECT_NE(target.endpoint, "gossip");
  }

  bundle::Descriptor none_endpoints = with_endpoints(Mode::automatic);
  none_endpoints.components[0].endpoints.clear();
  EXPECT_TRUE(plan_readiness(none_endpoints, {}, "h").ready_when_running);

  auto signal = plan_readiness(with_endpoints(Mode::signal), ports, "h");
  EXPECT_TRUE(signal.accepts_signal);
  EXPECT_FALSE(signal.ready_when_running);
  EXPECT_TRUE(signal.targets.empty());

  auto none = plan_readiness(with_endpoints(Mode::none), ports, "h");
  EXPECT_TRUE(none.ready_when_running);
  EXPECT_FALSE(none.accepts_signal);

  auto d = with_endpoints(Mode::http);
  d.readiness.endpoint = "web";
  d.readiness.path = "/health";
  auto http = plan_readiness(d, ports, "h");
  ASSERT_EQ(http.targets.size(), 1u);
  EXPECT_EQ(http.targets[0].kind, PollTarget::Kind::http);
  EXPECT_EQ(http.targets[0].port, 10001);
  EXPECT_EQ(http.targets[0].path, "/health");

  d = with_endpoints(Mode::tcp);
  d.readiness.endpoint = "metrics";
  auto tcp = plan_readiness(d, ports, "h");
  ASSERT_EQ(tcp.targets.size(), 1u);
  EXPECT_EQ(tcp.targets[0].port, 10002);
}

}  // namespace
}  // namespace baton::agent
