// Which runtimes a load may name: the built-in ones, and those an agent of the core has reported
// (registered now, down, or remembered from the store across a restart). Anything else is
// refused at load, naming the file, the key and the runtime; a loaded bundle whose runtime no up
// agent offers is kept, and placement says so in its shortfall.

#include <gtest/gtest.h>

#include "bundle/zip_writer.hpp"
#include "support.hpp"

namespace baton::core::testing {
namespace {

class RuntimesTest : public ::testing::Test {
 protected:
  void SetUp() override { work = temp_folder("baton-core-work-"); }
  void TearDown() override { files::remove_tree(work); }

  static CoreOptions durable() {
    auto options = TestCore::test_options();
    options.durable_store = true;
    return options;
  }
  http::Response post(TestCore& core, const MadeFile& bundle) {
    auto r = client.post_form(core.url("/v2/bundles"), load_parts(bundle));
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  }
  static std::string error_of(const http::Response& r) {
    json body = json::parse(r.body, nullptr, false);
    return body.is_object() ? body.value("error", r.body) : r.body;
  }
  static std::string shortfall_of(TestCore& core, const std::string& id) {
    std::string reason;
    wait_until([&] {
      auto b = core.bundle(id);
      if (!b || !(*b)["bundleScale"]["shortfall"].is_string()) return false;
      reason = (*b)["bundleScale"]["shortfall"];
      return true;
    });
    return reason;
  }
  static void offer_jvm(FakeAgent& agent, bool available = true) {
    agent.registration.runtimes["jvm"] =
        protocol::RuntimeInfo{.available = available, .reason = available ? "" : "no java"};
  }

  stdfs::path work;
  http::Client client;
};

TEST_F(RuntimesTest, APluginRuntimeLoadsOnceAnAgentOffersIt) {
  TestCore core;
  MadeFile app = make_bundle(work, BundleSpec{.name = "app", .runtime = "jvm"});

  // No agent has reported jvm: refused, naming the file, the key and what the core knows.
  auto refused = post(core, app);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(error_of(refused),
            app.file_name +
                ":bundle.conf: components.app.file-system-type: runtime \"jvm\" is neither built "
                "in nor offered by an agent of this core (known: docker, rpm, universal); start "
                "an agent whose --plugins-dir holds the plugin, then load again");
  EXPECT_TRUE(core.bundles().empty());
  EXPECT_TRUE(json::parse(core.get("/v2/history").body).empty());
  EXPECT_TRUE(stdfs::is_empty(core.data() / "files"));

  FakeAgent agent(core.url(""), "agent-jvm");
  offer_jvm(agent);
  ASSERT_EQ(agent.register_agent().status, 200);
  std::string id = core.load(app);
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1").status, 200);
  ASSERT_TRUE(wait_until([&] { return agent.assigned().size() == 1; }));

  // A name that cannot be a runtime is the descriptor's error, whoever offers what.
  MadeFile odd = make_bundle(work, BundleSpec{.name = "odd"});
  std::string conf = odd.conf;
  conf.replace(conf.find("\"universal\""), 11, "\"Jvm 8\"");
  std::vector<bundle::ZipEntry> entries{
      {.path = "odd-v1/bundle.conf", .content = conf},
      {.path = "odd-v1/odd/bin/run", .mode = 0755, .content = "#!/bin/sh\n"}};
  auto zip = bundle::write_zip(entries, work, "odd-v1");
  ASSERT_TRUE(zip.ok()) << zip.error().message;
  auto malformed =
      post(core, MadeFile{zip->path, zip->digest, zip->path.filename().string(), conf});
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(error_of(malformed).find("components.odd.file-system-type: expected a runtime name"),
            std::string::npos)
      << error_of(malformed);
}

TEST_F(RuntimesTest, BuiltInRuntimesLoadWithoutAgentsAndPlacementExplains) {
  TestCore core;
  FakeAgent agent(core.url(""), "agent-1");  // offers universal only
  ASSERT_EQ(agent.register_agent().status, 200);
  std::string id = core.load(make_bundle(work, BundleSpec{.name = "boxed", .runtime = "docker"}));
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1").status, 200);
  std::string reason = shortfall_of(core, id);
  EXPECT_NE(reason.find("no up agent offers runtime docker"), std::string::npos) << reason;
  EXPECT_TRUE(agent.assigned().empty());
}

TEST_F(RuntimesTest, OfferedRuntimesAreRememberedAcrossRestarts) {
  TestCore core(durable());
  {
    // Reported but unavailable (no java on that machine) still makes the name known.
    FakeAgent agent(core.url(""), "agent-jvm");
    offer_jvm(agent, false);
    ASSERT_EQ(agent.register_agent().status, 200);
  }
  std::string first = core.load(make_bundle(work, BundleSpec{.name = "first", .runtime = "jvm"}));
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + first + "?scale=1").status, 200);
  EXPECT_NE(shortfall_of(core, first).find("no up agent offers runtime jvm"), std::string::npos);

  core.restart();

  // The agent has not registered with this run: its stored registration still counts, and the
  // stored bundle is as valid as before.
  auto kept = core.bundle(first);
  ASSERT_TRUE(kept);
  EXPECT_EQ((*kept)["hasError"], false) << kept->dump();
  std::string second = core.load(make_bundle(work, BundleSpec{.name = "second", .runtime = "jvm"}));
  EXPECT_TRUE(core.bundle(second));

  // It comes back without the plugin: what is loaded stays (placement explains), new loads of
  // jvm are refused.
  FakeAgent without(core.url(""), "agent-jvm");
  ASSERT_EQ(without.register_agent().status, 200);
  auto refused = post(core, make_bundle(work, BundleSpec{.name = "third", .runtime = "jvm"}));
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(error_of(refused).find("runtime \"jvm\" is neither built in nor offered"),
            std::string::npos)
      << error_of(refused);
  EXPECT_TRUE(core.bundle(first));
  EXPECT_NE(shortfall_of(core, first).find("no up agent offers runtime jvm"), std::string::npos);
}

}  // namespace
}  // namespace baton::core::testing
