// The SDK as a plugin author gets it, end to end: Baton's plugin SDK installed with cmake
// --install, the jvm example (plugins/examples/jvm) built out of tree against it alone, dropped
// into the
// --plugins-dir of a real baton-agent, and the example's own bundle (its bundle.conf and the
// hello app compiled into a jar) assigned to that agent: it starts, becomes ready and answers HTTP.
#include <gtest/gtest.h>

#include "tests/agent/support/fixtures.hpp"
#include "tests/agent/support/test_core.hpp"
#include "tests/plugins/sdk_build.hpp"
#include "tests/plugins/support.hpp"

namespace baton::plugins {
namespace {

using agent::testing::AgentProcess;
using agent::testing::eventually;
using protocol::InstanceState;
using namespace std::chrono_literals;

constexpr auto kJvmTimeout = 180s;  // the JVM starts slowly on a loaded machine

TEST(PluginSdk, TheJvmExampleBuiltOutOfTreeRunsABundleInAnAgent) {
  for (const char* tool : {"java", "javac", "jar", "ninja"}) {
    if (!baton::testing::have_program(tool)) {
      GTEST_SKIP() << "\n*** " << tool
                   << " is missing: install default-jdk-headless and ninja-build to run the "
                      "plugin SDK scenario ***\n";
    }
  }
  agent::testing::TestCore core;
  agent::testing::Scratch scratch;
  const stdfs::path& base = scratch.path();

  // 1. The SDK and the plugin, as docs/plugins.md builds them.
  const baton::testing::sdk::Toolchain toolchain{BATON_SOURCE_DIR, baton::testing::build_dir(),
                                                 BATON_CMAKE_COMMAND, BATON_CXX_COMPILER,
                                                 BATON_SANITIZE_FLAGS};
  auto build = baton::testing::sdk::example_build(toolchain, base, "jvm");
  auto installed = baton::testing::run_command(build.install);
  ASSERT_EQ(installed.status, 0) << installed.output;
  EXPECT_TRUE(stdfs::exists(build.prefix / "include" / "baton" / "runtime_plugin.h"));
  EXPECT_TRUE(stdfs::exists(build.prefix / "include" / "baton" / "runtime_plugin.hpp"));
  auto configured = baton::testing::run_command(build.configure);
  ASSERT_EQ(configured.status, 0) << configured.output;
  EXPECT_NE(
      configured.output.find("Baton runtime plugin ABI " + std::string(BATON_PLUGIN_ABI_VERSION)),
      std::string::npos)
      << configured.output;
  auto built = baton::testing::run_command(build.build);
  ASSERT_EQ(built.status, 0) << built.output;
  const stdfs::path plugins = base / "plugins";
  stdfs::create_directories(plugins);
  stdfs::copy_file(build.library, plugins / "jvm.so");

  // 2. The example's bundle: its bundle.conf, and hello.jar in the component's folder.
  const stdfs::path jar = base / "app" / "hello.jar";
  auto compiled = baton::testing::run_command(
      baton::testing::sdk::jvm_hello_jar(toolchain, base / "classes", jar));
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  const std::string conf = baton::testing::read_text(stdfs::path(BATON_SOURCE_DIR) / "plugins" /
                                                     "examples" / "jvm" / "hello" / "bundle.conf");
  auto bundle = agent::testing::make_bundle(base, "hello-jvm", conf,
                                            {{"hello/hello.jar", baton::testing::read_text(jar)}});
  core.add_file(bundle.digest, bundle.zip);
  // The same runtime, a jar that is not there.
  const std::string missing_conf =
      conf.substr(0, conf.find("start-command")) + "start-command = [\"nope.jar\"]\n    }\n  }\n";
  auto missing = agent::testing::make_bundle(base, "nope-jvm", missing_conf,
                                             {{"hello/hello.jar", baton::testing::read_text(jar)}});
  core.add_file(missing.digest, missing.zip);

  // 3. A real agent loads it and reports the runtime.
  const std::string name = agent::testing::unique_agent_name("jvm");
  const int first_port = baton::testing::reserved_port_slot();
  const std::string ports = std::to_string(first_port) + "-" + std::to_string(first_port + 999);
  AgentProcess agent({"--name",         name,
                      "--core",         core.url(),
                      "--data",         (base / "data").string(),
                      "--address",      "127.0.0.1",
                      "--api-bind",     "127.0.0.1",
                      "--api-port",     "0",
                      "--status-port",  "0",
                      "--locator-port", "0",
                      "--ports",        ports,
                      "--plugins-dir",  plugins.string()},
                     base / "agent.log");
  ASSERT_TRUE(eventually([&] { return core.registrations(name) >= 1; })) << agent.log();
  auto registration = core.registration(name);
  ASSERT_TRUE(registration.has_value());
  ASSERT_EQ(registration->runtimes.count("jvm"), 1u) << agent.log();
  const auto& jvm = registration->runtimes.at("jvm");
  EXPECT_TRUE(jvm.available) << jvm.reason;
  EXPECT_FALSE(jvm.attributes.count("java.version") == 0 ||
               jvm.attributes.at("java.version").empty());
  EXPECT_NE(agent.log().find("loaded runtime jvm from " + (plugins / "jvm.so").string() +
                             " (plugin baton-jvm-example 1.0.0)"),
            std::string::npos)
      << agent.log();

  // 4. The bundle runs: ready (the agent polls its endpoint), answering HTTP from the JVM.
  const std::string id = "a100000000000001";
  const std::string missing_id = "a100000000000002";
  core.assign(
      name, {agent::testing::assigned(id, bundle), agent::testing::assigned(missing_id, missing)});
  ASSERT_TRUE(eventually(
      [&] {
        auto status = core.status(name, id);
        return status && status->state == InstanceState::started;
      },
      kJvmTimeout))
      << agent.log();
  auto status = *core.status(name, id);
  ASSERT_EQ(status.endpoints.count("web"), 1u);
  const int port = status.endpoints.at("web").host_port;
  auto answer = agent::testing::http_call("GET", "http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "hello from the jvm\n");
  const stdfs::path log_file = base / "data" / "instances" / id / "logs" / "hello.log";
  std::string log;
  ASSERT_TRUE(eventually([&] {
    log = baton::testing::read_text(log_file);
    return !baton::testing::log_lines(log).empty();
  })) << log;
  // java -Xmx is 75% of the bundle's memory (64M).
  const std::string serving = baton::testing::log_lines(log).front();
  const std::string expected =
      "serving on 127.0.0.1:" + std::to_string(port) + " with max heap MiB ";
  ASSERT_EQ(serving.rfind(expected, 0), 0u) << serving;
  const int heap = std::stoi(serving.substr(expected.size()));
  EXPECT_LE(heap, 48);
  EXPECT_GT(heap, 24);

  // The runtime's refusal reaches the core with the jar named.
  ASSERT_TRUE(eventually([&] {
    auto refused = core.status(name, missing_id);
    return refused && refused->error.find("start-command nope.jar: no such jar in the bundle") !=
                          std::string::npos;
  })) << agent.log();
  EXPECT_NE(core.status(name, missing_id)->state, InstanceState::started);

  // 5. Unassigned: the agent stops it.
  core.assign(name, {});
  ASSERT_TRUE(eventually([&] {
    auto after = core.status(name, id);
    return !after || after->state != InstanceState::started;
  })) << agent.log();
}

}  // namespace
}  // namespace baton::plugins
