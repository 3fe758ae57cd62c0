#include "protocol/agent_messages.hpp"

#include <gtest/gtest.h>

namespace baton::protocol {
namespace {

TEST(AgentMessages, AssignmentRoundTripsWithConductRFieldNames) {
  Assignment assignment{
      .index = 7,
      .instances = {AssignedInstance{.instance_id = "9f1c2a7b4e5d6f70",
                                     .bundle_id = "abc",
                                     .bundle_name = "visualizer",
                                     .bundle_digest = std::string(64, 'a'),
                                     .bundle_file = "/v2/bundles/files/aaa",
                                     .peers = {{"web", {Peer{"http", "10.0.0.6", 10007}}}}}},
      .prefetch = {"d1"}};
  nlohmann::json j = assignment;
  EXPECT_EQ(j["instances"][0]["instanceId"], "9f1c2a7b4e5d6f70");
  EXPECT_FALSE(j["instances"][0].contains("configurationDigest"));
  auto back = parse<Assignment>(j.dump(), "assignment");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->index, 7u);
  EXPECT_EQ(back->instances[0].peers.at("web")[0].port, 10007);
  EXPECT_EQ(back->prefetch, std::vector<std::string>{"d1"});
  EXPECT_FALSE(j.contains("discard"));  // only sent when there is something to drop
  EXPECT_TRUE(back->discard.empty());
}

TEST(AgentMessages, AssignmentCarriesFilesToDiscard) {
  Assignment assignment{.index = 3, .discard = {"d2", "d3"}};
  nlohmann::json j = assignment;
  EXPECT_EQ(j["discard"], nlohmann::json::array({"d2", "d3"}));
  auto back = parse<Assignment>(j.dump(), "assignment");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->discard, (std::vector<std::string>{"d2", "d3"}));
}

TEST(AgentMessages, StatusStatesAreNamed) {
  InstanceStatus status{.instance_id = "i1",
                        .bundle_id = "b",
                        .state = InstanceState::failed,
                        .error = "start-command x: no such file"};
  nlohmann::json j = status;
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["error"], "start-command x: no such file");
  j["state"] = "exploded";
  auto bad = parse<InstanceStatus>(j.dump(), "instance status");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unknown instance state \"exploded\""), std::string::npos);
}

TEST(AgentMessages, MissingRequiredFieldNamesTheMessage) {
  auto bad = parse<Registration>(R"({"address": "1.2.3.4"})", "registration");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::invalid);
  EXPECT_NE(bad.error().message.find("registration: "), std::string::npos);
  EXPECT_NE(bad.error().message.find("name"), std::string::npos);
  auto garbage = parse<Registration>("{not json", "registration");
  ASSERT_FALSE(garbage.ok());
}

}  // namespace
}  // namespace baton::protocol
