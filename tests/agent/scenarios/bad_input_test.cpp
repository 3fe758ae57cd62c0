// Each bad input fails only its instance, names the cause, frees what it took, and leaves the
// agent able to start the next instance.

#include <gtest/gtest.h>

#include "agent/ports.hpp"
#include "bundle/bundle_name.hpp"
#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using protocol::InstanceState;

class BadInputTest : public AgentFixture {
 protected:
  static int first_port() { return baton::testing::reserved_port_slot(); }
  void tweak(AgentOptions& options) override {
    // Three ports of this test's slot, and a fixed port past them.
    options.ports = PortRange{first_port(), first_port() + 2};
    options.cache_bytes = 4u << 20;
  }
  // The failure of `id`, then a healthy instance starts on the same agent.
  std::string failure_then_healthy(const std::string& id, const protocol::AssignedInstance& bad) {
    core_.assign(name(), {bad});
    EXPECT_TRUE(wait_state(id, InstanceState::failed)) << describe(id);
    std::string error = status(id) ? status(id)->error : "";
    auto good =
        bundle("healthy", testcomponent_conf("healthy", {"--listen-env", "WEB", "--signal-http"},
                                             "web { bind-protocol = \"http\" }",
                                             "readiness { check = \"signal\" }"));
    core_.assign(name(), {assigned("ff00000000000001", good)});
    EXPECT_TRUE(wait_state("ff00000000000001", InstanceState::started))
        << describe("ff00000000000001");
    EXPECT_TRUE(eventually([&] { return agent().instances().size() == 1; }));
    EXPECT_FALSE(stdfs::exists(instance_folder(id)));
    core_.assign(name(), {});
    EXPECT_TRUE(eventually([&] { return agent().instances().empty(); }));
    return error;
  }
};

TEST_F(BadInputTest, UnknownRuntime) {
  // A type bundle.conf allows but this agent lacks: rpm is a plugin, and the in-process agent
  // loads none.
  std::string conf = testcomponent_conf("unknown-runtime", {"--sleep"});
  auto at = conf.find("\"universal\"");
  conf.replace(at, 11, "\"rpm\"");
  auto b = bundle("unknown-runtime", conf);
  auto error = failure_then_healthy("f000000000000001", assigned("f000000000000001", b));
  EXPECT_NE(error.find("no runtime named rpm on this agent"), std::string::npos) << error;
  EXPECT_NE(error.find("component main"), std::string::npos) << error;
}

TEST_F(BadInputTest, MissingStartCommand) {
  std::string conf = testcomponent_conf("missing", {});
  auto at = conf.find("start-command = [");
  conf.replace(at, conf.find('\n', at) - at, "start-command = [\"missing/bin/nothing-here\"]");
  auto b = bundle("missing", conf);
  auto error = failure_then_healthy("f000000000000002", assigned("f000000000000002", b));
  EXPECT_NE(error.find("missing/bin/nothing-here"), std::string::npos) << error;
}

TEST_F(BadInputTest, NonExecutableStartCommand) {
  std::string conf = testcomponent_conf("noexec", {});
  auto at = conf.find("start-command = [");
  conf.replace(at, conf.find('\n', at) - at, "start-command = [\"noexec/bin/run\"]");
  std::map<std::string, std::string> files;
  files["noexec/bin/run"] = "#!/bin/sh\necho hi\n";  // mode 0644
  auto b = bundle("noexec", conf, files);
  auto error = failure_then_healthy("f000000000000003", assigned("f000000000000003", b));
  EXPECT_NE(error.find("noexec/bin/run"), std::string::npos) << error;
}

TEST_F(BadInputTest, DigestMismatch) {
  auto b = bundle("tampered", testcomponent_conf("tampered", {"--sleep"}));
  core_.add_bytes(b.digest, "PK this is not the file you are looking for");
  auto error = failure_then_healthy("f000000000000004", assigned("f000000000000004", b));
  EXPECT_NE(error.find("digest mismatch"), std::string::npos) << error;
  EXPECT_NE(error.find(b.digest), std::string::npos) << error;
  EXPECT_FALSE(stdfs::exists(data() / "cache" / "files" / (b.digest + ".zip")));
}

TEST_F(BadInputTest, BundleOverTheCacheBudget) {
  std::map<std::string, std::string> files;
  std::string big(6u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>((i * 2654435761u) >> 13);
  files["big/blob.bin"] = big;
  auto b = bundle("big", testcomponent_conf("big", {"--sleep"}), files);
  auto error = failure_then_healthy("f000000000000005", assigned("f000000000000005", b));
  EXPECT_NE(error.find("bundle cache"), std::string::npos) << error;
  EXPECT_NE(error.find(b.digest), std::string::npos) << error;
}

TEST_F(BadInputTest, ExhaustedPortRange) {
  auto b = bundle("many-ports", testcomponent_conf("many-ports", {"--sleep"},
                                                   "a { bind-protocol = \"http\" }\n"
                                                   "b { bind-protocol = \"http\" }\n"
                                                   "c { bind-protocol = \"http\" }\n"
                                                   "d { bind-protocol = \"http\" }"));
  auto error = failure_then_healthy("f000000000000006", assigned("f000000000000006", b));
  EXPECT_EQ(error, "no free port in " + std::to_string(first_port()) + "-" +
                       std::to_string(first_port() + 2) + " for endpoint d");
}

TEST_F(BadInputTest, FixedPortInUse) {
  const std::string fixed = std::to_string(first_port() + 500);
  auto first = bundle(
      "fixed", testcomponent_conf("fixed", {"--sleep"},
                                  "web { bind-protocol = \"http\", bind-port = " + fixed + " }",
                                  "readiness { check = \"none\" }"));
  core_.assign(name(), {assigned("f000000000000007", first), assigned("f000000000000008", first)});
  ASSERT_TRUE(eventually([&] {
    return (state_is("f000000000000007", InstanceState::started) &&
            state_is("f000000000000008", InstanceState::failed)) ||
           (state_is("f000000000000008", InstanceState::started) &&
            state_is("f000000000000007", InstanceState::failed));
  })) << describe("f000000000000007")
      << describe("f000000000000008");
  auto failed = state_is("f000000000000007", InstanceState::failed) ? *status("f000000000000007")
                                                                    : *status("f000000000000008");
  EXPECT_NE(failed.error.find("port " + fixed + " for endpoint web is held by instance "),
            std::string::npos)
      << failed.error;
  EXPECT_NE(failed.error.find("bundle fixed"), std::string::npos) << failed.error;
}

TEST_F(BadInputTest, FailingRuntimeConfig) {
  auto b = bundle("configured", testcomponent_conf("configured", {"--sleep"}));
  std::map<std::string, std::string> files;
  files["cfg/runtime-config.sh"] = "echo 'cannot find the database' >&2\nexit 9\n";
  auto configuration = write_zip(scratch_.path(), "cfg", files);
  core_.add_file(configuration.digest, configuration.zip);
  auto error =
      failure_then_healthy("f000000000000009", assigned("f000000000000009", b, &configuration));
  EXPECT_NE(error.find("runtime-config.sh"), std::string::npos) << error;
  EXPECT_NE(error.find("exited with code 9"), std::string::npos) << error;
  EXPECT_NE(error.find("cannot find the database"), std::string::npos) << error;
}

}  // namespace
}  // namespace baton::agent::testing
