// State persistence in-process: stop the core object, open a new one on the same data folder.

#include <gtest/gtest.h>

#include <fstream>

#include "support.hpp"

namespace baton::core::testing {
namespace {

class PersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override { work = temp_folder("baton-core-work-"); }
  void TearDown() override { files::remove_tree(work); }
  stdfs::path work;
};

TEST_F(PersistenceTest, EverythingAcknowledgedSurvivesARestart) {
  auto options = TestCore::test_options();
  options.durable_store = true;
  TestCore core(options);
  MadeFile one = make_bundle(work, BundleSpec{.name = "one"});
  MadeFile two = make_bundle(work, BundleSpec{.name = "two"});
  MadeFile three = make_bundle(work, BundleSpec{.name = "three"});
  MadeFile config = make_configuration(work, "prod", "nrOfCpus = 0.25\n");
  std::string id1 = core.load(one);
  std::string id2 = core.load(two, &config);
  std::string id3 = core.load(three);
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id1 + "?scale=3").status, 200);
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id2 + "?scale=1&affinity=" + id1).status, 200);
  ASSERT_EQ(core.request("DELETE", "/v2/bundles/" + id3).status, 200);
  FakeAgent agent(core.url(""), "agent-1");
  ASSERT_EQ(agent.register_agent().status, 200);
  std::string members_before = json::parse(core.get("/v2/members").body)["selfNode"]["uid"];
  json history_before = json::parse(core.get("/v2/history").body);

  core.restart();

  json list = core.bundles();
  ASSERT_EQ(list.size(), 2u);
  auto b1 = core.bundle(id1);
  auto b2 = core.bundle(id2);
  ASSERT_TRUE(b1 && b2);
  EXPECT_EQ((*b1)["bundleScale"]["scale"], 3);
  EXPECT_EQ((*b2)["bundleScale"]["scale"], 1);
  EXPECT_EQ((*b2)["bundleScale"]["affinity"], id1);
  EXPECT_DOUBLE_EQ((*b2)["attributes"]["nrOfCpus"].get<double>(), 0.25);
  EXPECT_EQ((*b2)["configurationDigest"], config.digest);
  EXPECT_FALSE(core.bundle(id3));
  json history = json::parse(core.get("/v2/history").body);
  EXPECT_EQ(history.size(), history_before.size());
  EXPECT_EQ(history[0]["sequence"], history_before[0]["sequence"]);
  EXPECT_EQ(json::parse(core.get("/v2/members").body)["selfNode"]["uid"], members_before);
  // The agent is remembered (waiting for it to register again) and the files are kept.
  json agents = json::parse(core.get("/v2/agents").body);
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0]["registered"], false);
  EXPECT_TRUE(stdfs::exists(core.data() / "files" / one.digest));
  EXPECT_TRUE(stdfs::exists(core.data() / "files" / config.digest));
  EXPECT_TRUE(stdfs::exists(core.data() / "files" / three.digest));  // archived
  // Sequences continue after the restart.
  core.load(one);
  json after = json::parse(core.get("/v2/history").body);
  EXPECT_GT(after[0]["sequence"].get<int>(), history[0]["sequence"].get<int>());
}

TEST_F(PersistenceTest, UnrecordedFilesAndUnfinishedUploadsAreCleanedAtStart) {
  TestCore core;
  MadeFile one = make_bundle(work, BundleSpec{.name = "kept"});
  core.load(one);
  std::string stray(64, 'b');
  { std::ofstream(core.data() / "files" / stray) << "half an upload"; }
  stdfs::create_directories(core.data() / "tmp" / "upload-x");
  { std::ofstream(core.data() / "tmp" / "upload-x" / "part") << "partial"; }
  core.restart();
  EXPECT_FALSE(stdfs::exists(core.data() / "files" / stray));
  EXPECT_FALSE(stdfs::exists(core.data() / "tmp" / "upload-x"));
  EXPECT_TRUE(stdfs::exists(core.data() / "files" / one.digest));
  EXPECT_EQ(core.bundles().size(), 1u);
}

TEST_F(PersistenceTest, ErrorsSurviveARestart) {
  auto options = TestCore::test_options();
  options.restart_limit = 1;
  TestCore core(options);
  FakeAgent agent(core.url(""), "agent-1");
  ASSERT_EQ(agent.register_agent().status, 200);
  std::string id = core.load(make_bundle(work, BundleSpec{.name = "broken"}));
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1").status, 200);
  ASSERT_TRUE(wait_until([&] { return agent.assigned().size() == 1; }));
  std::string instance = agent.assigned()[0];
  agent.instances[instance].bundle_id = id;
  agent.set_state(instance, protocol::InstanceState::failed, "no such file");
  ASSERT_EQ(agent.report().status, 200);
  ASSERT_TRUE(wait_until([&] { return (*core.bundle(id))["hasError"] == true; }));
  core.restart();
  auto bundle = core.bundle(id);
  ASSERT_TRUE(bundle);
  EXPECT_EQ((*bundle)["hasError"], true);
  EXPECT_NE((*bundle)["error"].get<std::string>().find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace baton::core::testing
