// Runtime plugins through a real baton-agent: --plugins-dir loads baton-runtime-rpm.so (and
// refuses a plugin of another ABI without stopping), the registration reports the rpm runtime,
// and a bundle whose component is an rpm (packaging baton-testcomponent, built with rpmbuild
// here) is started by the agent, signals readiness and answers on its endpoint.
#include <gtest/gtest.h>

#include "tests/agent/support/fixtures.hpp"
#include "tests/agent/support/test_core.hpp"
#include "tests/plugins/support.hpp"
#include "tests/rpm/rpmbuild.hpp"

namespace baton::plugins {
namespace {

using agent::testing::AgentProcess;
using agent::testing::eventually;
using protocol::InstanceState;

TEST(PluginsInTheAgent, AnRpmBundleRunsThroughTheLoadedPlugin) {
  if (!baton::testing::have_program("rpmbuild")) {
    GTEST_SKIP() << "\n*** rpmbuild is missing: install Debian's rpm package (apt-get install -y "
                    "rpm) to run this scenario ***\n";
  }
  agent::testing::TestCore core;
  agent::testing::Scratch scratch;
  const stdfs::path base = scratch.path();

  // An rpm holding the test component as /usr/bin/testcomponent.
  const stdfs::path top = base / "rpmbuild";
  auto built = baton::testing::run_command(baton::testing::rpm::prepare_rpm(
      top, baton::testing::rpm::program_package("testcomponent", agent::testing::testcomponent(),
                                                "testcomponent")));
  ASSERT_EQ(built.status, 0) << built.output;
  const stdfs::path rpm = baton::testing::rpm::built_rpm(top, "testcomponent");
  ASSERT_FALSE(rpm.empty()) << built.output;

  const std::string conf =
      "version = \"1\"\nname = \"rpm-web\"\ncompatibilityVersion = \"1\"\nsystem = \"rpm-web\"\n"
      "nrOfCpus = 0.1\nmemory = 67108864\ndiskSpace = 1000000\nroles = [\"web\"]\n"
      "readiness { check = \"signal\" }\n"
      "components {\n  web {\n    description = \"the test component from an rpm\"\n"
      "    file-system-type = \"rpm\"\n"
      "    start-command = [\"/usr/bin/testcomponent\", \"--listen-env\", \"WEB\", "
      "\"--signal-http\"]\n"
      "    stop-timeout = \"2s\"\n"
      "    endpoints {\n      web { bind-protocol = \"http\" }\n    }\n  }\n}\n";
  auto bundle = agent::testing::make_bundle(
      base, "rpm-web", conf, {{"web/" + rpm.filename().string(), baton::testing::read_text(rpm)}});
  core.add_file(bundle.digest, bundle.zip);

  const stdfs::path plugins = base / "plugins";
  stdfs::create_directories(plugins);
  stdfs::copy_file(BATON_RPM_PLUGIN, plugins / "baton-runtime-rpm.so");
  stdfs::copy_file(BATON_TEST_BROKEN_WRONG_ABI, plugins / "old-abi.so");

  const std::string name = agent::testing::unique_agent_name("plugins");
  const stdfs::path data = base / "data";
  const int first_port = baton::testing::reserved_port_slot();
  const std::string ports = std::to_string(first_port) + "-" + std::to_string(first_port + 999);
  AgentProcess agent({"--name",        name,          "--core",         core.url(),
                      "--data",        data.string(), "--address",      "127.0.0.1",
                      "--api-bind",    "127.0.0.1",   "--api-port",     "0",
                      "--status-port", "0",           "--locator-port", "0",
                      "--ports",       ports,         "--plugins-dir",  plugins.string()},
                     base / "agent.log");
  ASSERT_TRUE(eventually([&] { return core.registrations(name) >= 1; })) << agent.log();
  auto registration = core.registration(name);
  ASSERT_TRUE(registration.has_value());
  ASSERT_EQ(registration->runtimes.count("rpm"), 1u) << agent.log();
  EXPECT_TRUE(registration->runtimes.at("rpm").available)
      << registration->runtimes.at("rpm").reason;
  EXPECT_NE(
      agent.log().find("loaded runtime rpm from " + (plugins / "baton-runtime-rpm.so").string()),
      std::string::npos)
      << agent.log();
  EXPECT_NE(agent.log().find("plugin " + (plugins / "old-abi.so").string() +
                             ": built for runtime plugin ABI version 0.0000000000000000, but this "
                             "agent has ABI version " BATON_PLUGIN_ABI_VERSION),
            std::string::npos)
      << agent.log();

  const std::string id = "e100000000000001";
  core.assign(name, {agent::testing::assigned(id, bundle)});
  ASSERT_TRUE(eventually([&] {
    auto status = core.status(name, id);
    return status && status->state == InstanceState::started;
  })) << agent.log();
  auto status = *core.status(name, id);
  ASSERT_EQ(status.endpoints.count("web"), 1u);
  auto answer = agent::testing::http_call(
      "GET", "http://127.0.0.1:" + std::to_string(status.endpoints.at("web").host_port) + "/");
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(answer.body.find(status.bundle_id), std::string::npos) << answer.body;
  // The root the plugin unpacked lives in the agent's data folder.
  EXPECT_TRUE(stdfs::exists(data / "runtimes" / "rpm" / bundle.digest / "web" / "usr" / "bin" /
                            "testcomponent"));
  auto log = baton::testing::read_text(data / "instances" / id / "logs" / "web.log");
  EXPECT_NE(log.find(" stdout ready"), std::string::npos) << log;

  // Unassigned: the agent stops it.
  core.assign(name, {});
  ASSERT_TRUE(eventually([&] {
    auto after = core.status(name, id);
    return !after || after->state != InstanceState::started;
  })) << agent.log();
}

}  // namespace
}  // namespace baton::plugins
