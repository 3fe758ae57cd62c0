#include "agent/ports.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

namespace baton::agent {
namespace {

// A socket bound (and listening, for TCP) on the wildcard address; closed on destruction.
class Bound {
 public:
  Bound(int type, int port) {
    fd_ = ::socket(AF_INET, type, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (ok_ && type == SOCK_STREAM) ok_ = ::listen(fd_, 1) == 0;
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~Bound() { ::close(fd_); }
  bool ok() const { return ok_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  bool ok_ = false;
};

// A range of `size` ports that are free on the host right now (found by the kernel).
PortRange free_range(int size) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    Bound probe(SOCK_STREAM, 0);
    int first = probe.port();
    if (first + size > 65535) continue;
    bool all_free = true;
    for (int port = first; port < first + size && all_free; ++port) {
      all_free = port == first || port_free_on_host(port);
    }
    if (all_free) return PortRange{first, first + size - 1};
  }
  ADD_FAILURE() << "no free range of " << size << " ports";
  return PortRange{};
}

TEST(PortRangeTest, ParsesAndRefuses) {
  auto range = parse_port_range("10000-10999");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->first, 10000);
  EXPECT_EQ(range->last, 10999);
  EXPECT_EQ(range->to_string(), "10000-10999");
  auto single = parse_port_range("8080");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->first, 8080);
  EXPECT_EQ(single->last, 8080);
  for (const char* bad : {"", "a-b", "10-5", "0-10", "1-70000", "10000-"}) {
    auto refused = parse_port_range(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.error().message.find("port range"), std::string::npos);
  }
}

TEST(PortAllocatorTest, AllocatesDistinctPortsFromTheRange) {
  PortAllocator ports(PortRange{20000, 20009}, [](int) { return true; });
  std::set<int> seen;
  for (int i = 0; i < 5; ++i) {
    auto got =
        ports.allocate("i" + std::to_string(i), "web", {PortRequest{"a", 0}, PortRequest{"b", 0}});
    ASSERT_TRUE(got.ok()) << got.error().message;
    for (const auto& [endpoint, port] : *got) {
      EXPECT_GE(port, 20000);
      EXPECT_LE(port, 20009);
      EXPECT_TRUE(seen.insert(port).second) << port;
    }
  }
  EXPECT_EQ(ports.held_count(), 10u);
}

TEST(PortAllocatorTest, SkipsHolesAndHostBoundPorts) {
  // Ports 30001 and 30003 are "bound on the host".
  PortAllocator ports(PortRange{30000, 30004},
                      [](int port) { return port != 30001 && port != 30003; });
  auto got =
      ports.allocate("a", "web", {PortRequest{"x", 0}, PortRequest{"y", 0}, PortRequest{"z", 0}});
  ASSERT_TRUE(got.ok()) << got.error().message;
  std::set<int> values;
  for (const auto& [endpoint, port] : *got)
    values.insert(port);
  EXPECT_EQ(values, (std::set<int>{30000, 30002, 30004}));
}

TEST(PortAllocatorTest, ExhaustedRangeNamesEndpointAndFreesWhatItTook) {
  PortAllocator ports(PortRange{10000, 10001}, [](int) { return true; });
  ASSERT_TRUE(ports.allocate("first", "b", {PortRequest{"one", 0}}).ok());
  auto refused = ports.allocate("second", "b", {PortRequest{"api", 0}, PortRequest{"web", 0}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "no free port in 10000-10001 for endpoint web");
  EXPECT_EQ(ports.held_count(), 1u);  // "api" got 10001 and gave it back
  EXPECT_FALSE(ports.holder(10001).has_value());
}

TEST(PortAllocatorTest, FixedPortHeldByAnotherInstanceNamesIt) {
  PortAllocator ports(PortRange{10000, 10010}, [](int) { return true; });
  ASSERT_TRUE(ports.allocate("9f1c2a7b4e5d6f70", "visualizer", {PortRequest{"web", 9000}}).ok());
  auto refused =
      ports.allocate("other", "second", {PortRequest{"dyn", 0}, PortRequest{"web", 9000}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_NE(refused.error().message.find("port 9000 for endpoint web is held by instance "
                                         "9f1c2a7b4e5d6f70 (bundle visualizer"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(ports.held_count(), 1u);
}

TEST(PortAllocatorTest, FixedPortInUseOnTheHostNamesTheProcess) {
  Bound listener(SOCK_STREAM, 0);
  ASSERT_TRUE(listener.ok());
  PortAllocator ports(PortRange{10000, 10010});
  auto refused = ports.allocate("x", "b", {PortRequest{"web", listener.port()}});
  ASSERT_FALSE(refused.ok());
  const std::string& message = refused.error().message;
  EXPECT_NE(message.find("port " + std::to_string(listener.port()) +
                         " for endpoint web is in use on this host"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("pid " + std::to_string(::getpid())), std::string::npos) << message;
}

TEST(PortAllocatorTest, RealHostCheckSkipsTcpAndUdpBoundPorts) {
  PortRange range = free_range(4);
  Bound tcp(SOCK_STREAM, range.first);
  Bound udp(SOCK_DGRAM, range.first + 1);
  ASSERT_TRUE(tcp.ok());
  ASSERT_TRUE(udp.ok());
  EXPECT_FALSE(port_free_on_host(range.first));
  EXPECT_FALSE(port_free_on_host(range.first + 1));
  PortAllocator ports(range);
  auto got = ports.allocate("a", "b", {PortRequest{"x", 0}});
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_GE(got->at("x"), range.first + 2);
}

TEST(PortAllocatorTest, ReleaseReturnsPortsAndRestoreTakesThemBack) {
  PortAllocator ports(PortRange{10000, 10002}, [](int) { return true; });
  auto got = ports.allocate("a", "b", {PortRequest{"x", 0}, PortRequest{"y", 0}});
  ASSERT_TRUE(got.ok());
  ports.release("a");
  EXPECT_EQ(ports.held_count(), 0u);

  PortAllocator restarted(PortRange{10000, 10002}, [](int) { return false; });  // all bound
  ASSERT_TRUE(restarted.restore("a", "b", *got).ok());
  EXPECT_EQ(restarted.held_count(), 2u);
  EXPECT_EQ(restarted.holder(got->at("x"))->instance_id, "a");
  auto clash = restarted.restore("c", "d", {{"z", got->at("y")}});
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message.find("held by instance a"), std::string::npos);
}

TEST(PortAllocatorTest, RecentlyFreedPortsAreReusedLast) {
  PortAllocator ports(PortRange{10000, 10003}, [](int) { return true; });
  auto first = ports.allocate("a", "b", {PortRequest{"x", 0}});
  ASSERT_TRUE(first.ok());
  ports.release("a");
  auto second = ports.allocate("c", "b", {PortRequest{"x", 0}});
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->at("x"), second->at("x"));
}

}  // namespace
}  // namespace baton::agent
