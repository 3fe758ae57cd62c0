// Where containers reach the host, from dockerd's description of its bridge network.
#include "runtimes/docker/bridge.hpp"

#include <gtest/gtest.h>

namespace baton::runtimes::docker {
namespace {

TEST(Bridge, GatewayAndSubnetFromIpam) {
  auto bridge =
      bridge_of_network(R"({"IPAM":{"Config":[{"Subnet":"fd00::/64","Gateway":"fd00::1"},)"
                        R"({"Subnet":"172.30.0.0/16","Gateway":"172.30.0.1"}]}})");
  EXPECT_EQ(bridge.ip, "172.30.0.1");
  EXPECT_EQ(bridge.subnet, "172.30.0.0/16");
}

TEST(Bridge, WithoutGatewayAndInterfaceTheSubnetsFirstAddress) {
  // dockerd leaves Gateway out of the default bridge; this interface does not exist here.
  auto bridge =
      bridge_of_network(R"({"IPAM":{"Config":[{"Subnet":"10.99.0.0/24"}]},)"
                        R"("Options":{"com.docker.network.bridge.name":"baton-no-such-if"}})");
  EXPECT_EQ(bridge.ip, "10.99.0.1");
  EXPECT_EQ(bridge.subnet, "10.99.0.0/24");
}

TEST(Bridge, LoopbackInterfaceGivesItsAddressAndNetwork) {
  auto bridge = bridge_of_network(R"({"Options":{"com.docker.network.bridge.name":"lo"}})");
  EXPECT_EQ(bridge.ip, "127.0.0.1");
  EXPECT_EQ(bridge.subnet, "127.0.0.0/8");
}

TEST(Bridge, NothingUsableIsEmpty) {
  EXPECT_TRUE(bridge_of_network("not json").ip.empty());
  EXPECT_TRUE(bridge_of_network(R"({"Options":{"com.docker.network.bridge.name":"baton-none"}})")
                  .ip.empty());
}

}  // namespace
}  // namespace baton::runtimes::docker
