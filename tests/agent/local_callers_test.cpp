// Only processes of this machine may call the local router on its container bridge listener.
#include "agent/local_callers.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace baton::agent {
namespace {

TEST(LocalCallers, LoopbackAlways) {
  for (const char* ip : {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_local_caller(ip, "")) << ip;
    EXPECT_TRUE(is_local_caller(ip, "172.17.0.0/16")) << ip;
  }
}

TEST(LocalCallers, TheBridgeSubnetOnly) {
  EXPECT_TRUE(is_local_caller("172.17.0.2", "172.17.0.0/16"));
  EXPECT_TRUE(is_local_caller("172.17.255.254", "172.17.0.0/16"));
  EXPECT_TRUE(is_local_caller("::ffff:172.17.0.9", "172.17.0.0/16"));
  EXPECT_FALSE(is_local_caller("172.18.0.2", "172.17.0.0/16"));
  EXPECT_FALSE(is_local_caller("10.0.0.5", "172.17.0.0/16"));
  EXPECT_FALSE(is_local_caller("172.17.0.2", ""));
  EXPECT_TRUE(is_local_caller("172.17.0.1", "172.17.0.1/32"));
  EXPECT_FALSE(is_local_caller("172.17.0.2", "172.17.0.1/32"));
  EXPECT_FALSE(is_local_caller("fe80::1", "172.17.0.0/16"));
}

TEST(LocalCallers, TheMachinesOwnAddresses) {
  EXPECT_TRUE(is_local_caller("192.0.2.2", "172.17.0.0/16", {"192.0.2.2", "172.17.0.1"}));
  EXPECT_FALSE(is_local_caller("192.0.2.3", "172.17.0.0/16", {"192.0.2.2", "172.17.0.1"}));
  auto own = own_ipv4_addresses();
  EXPECT_NE(std::find(own.begin(), own.end(), "127.0.0.1"), own.end());
}

TEST(LocalCallers, MalformedSubnetsAllowOnlyLoopback) {
  for (const char* subnet : {"172.17.0.0", "172.17.0.0/", "172.17.0.0/33", "x/16", "/16"}) {
    EXPECT_FALSE(is_local_caller("172.17.0.2", subnet)) << subnet;
    EXPECT_TRUE(is_local_caller("127.0.0.1", subnet)) << subnet;
  }
}

TEST(LocalCallers, TheRefusalNamesTheCallerAndWhatIsAllowed) {
  EXPECT_EQ(not_local_message("10.0.0.9", "172.17.0.0/16"),
            "caller 10.0.0.9 is not local (loopback or the container bridge 172.17.0.0/16 only)");
}

}  // namespace
}  // namespace baton::agent
