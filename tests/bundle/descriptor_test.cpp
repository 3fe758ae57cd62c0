#include "bundle/descriptor.hpp"

#include <gtest/gtest.h>

namespace baton::bundle {
namespace {

TEST(Descriptor, EndpointsAcrossComponentsInOrder) {
  Descriptor descriptor;
  descriptor.components.push_back(Component{.name = "a", .endpoints = {Endpoint{.name = "x"}}});
  descriptor.components.push_back(
      Component{.name = "b", .endpoints = {Endpoint{.name = "y"}, Endpoint{.name = "z"}}});
  auto endpoints = descriptor.endpoints();
  ASSERT_EQ(endpoints.size(), 3u);
  EXPECT_EQ(endpoints[0]->name, "x");
  EXPECT_EQ(endpoints[2]->name, "z");
  EXPECT_EQ(descriptor.component("b")->endpoints.size(), 2u);
  EXPECT_EQ(descriptor.component("c"), nullptr);
}

TEST(Descriptor, DefaultsFollowConductR) {
  Descriptor descriptor;
  EXPECT_EQ(descriptor.roles, std::vector<std::string>{"web"});
  EXPECT_EQ(descriptor.version, "1");
  EXPECT_STREQ(to_string(Protocol::udp), "udp");
  EXPECT_STREQ(to_string(Readiness::Mode::automatic), "auto");
}

}  // namespace
}  // namespace baton::bundle
