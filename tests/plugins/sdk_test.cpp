// The SDK as a plugin author gets it: installed with cmake --install, the jvm example built out of
// tree against it alone, loaded by the plugin loader next to the universal runtime, and a jar run
// through it end to end.
#include <gtest/gtest.h>

#include "common/files.hpp"
#include "tests/plugins/support.hpp"

namespace baton::plugins {
namespace {

using namespace baton::testing;

std::string quote(const std::string& text) {
  return "'" + text + "'";
}

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-sdk-");
    ASSERT_TRUE(folder.ok());
    temp_.emplace(std::move(folder).value());
    base_ = temp_->path();
  }

  // cmake --install of the SDK component, then configure and build the example against it.
  stdfs::path build_example(const std::string& name) {
    const stdfs::path prefix = base_ / "sdk";
    auto installed =
        run_command(std::string(BATON_CMAKE_COMMAND) + " --install " + quote(build_dir().string()) +
                    " --component PluginSDK --prefix " + quote(prefix.string()));
    EXPECT_EQ(installed.status, 0) << installed.output;
    EXPECT_TRUE(stdfs::exists(prefix / "include" / "baton" / "runtime_plugin.h"));
    EXPECT_TRUE(stdfs::exists(prefix / "include" / "baton" / "runtime_plugin.hpp"));

    const stdfs::path source = stdfs::path(BATON_SOURCE_DIR) / "plugins" / "examples" / name;
    const stdfs::path build = base_ / ("build-" + name);
    // Warnings are errors here too; in sanitizer builds the plugin carries the same sanitizers.
    std::string flags = "-Wall -Wextra -Werror " + std::string(BATON_SANITIZE_FLAGS);
    std::string link = BATON_SANITIZE_FLAGS;
    auto configured =
        run_command(std::string(BATON_CMAKE_COMMAND) + " -S " + quote(source.string()) + " -B " +
                    quote(build.string()) + " -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo" +
                    " -DCMAKE_PREFIX_PATH=" + quote(prefix.string()) + " -DCMAKE_CXX_COMPILER=" +
                    quote(BATON_CXX_COMPILER) + " -DCMAKE_CXX_FLAGS=" + quote(flags) +
                    " -DCMAKE_MODULE_LINKER_FLAGS=" + quote(link));
    EXPECT_EQ(configured.status, 0) << configured.output;
    EXPECT_NE(
        configured.output.find("Baton runtime plugin ABI " + std::string(BATON_PLUGIN_ABI_VERSION)),
        std::string::npos)
        << configured.output;
    auto built =
        run_command(std::string(BATON_CMAKE_COMMAND) + " --build " + quote(build.string()));
    EXPECT_EQ(built.status, 0) << built.output;
    return build / (name + ".so");
  }

  std::optional<files::TempFolder> temp_;
  stdfs::path base_;
};

TEST_F(SdkTest, TheJvmExampleBuildsOutOfTreeAndRunsAJar) {
  for (const char* tool : {"java", "javac", "jar", "ninja"}) {
    if (!have_program(tool))
      GTEST_SKIP() << "\n*** " << tool << " is missing: skipping the SDK test ***\n";
  }
  stdfs::path plugin = build_example("jvm");
  ASSERT_TRUE(stdfs::exists(plugin));

  // The example application, compiled into the component folder of a bundle.
  const stdfs::path app = stdfs::path(BATON_SOURCE_DIR) / "plugins" / "examples" / "jvm" / "hello";
  const stdfs::path classes = base_ / "classes";
  const stdfs::path bundle = base_ / "bundle";
  stdfs::create_directories(bundle / "hello");
  auto compiled = run_command("javac -d " + quote(classes.string()) + " " +
                              quote((app / "Hello.java").string()) + " && jar cfe " +
                              quote((bundle / "hello" / "hello.jar").string()) + " Hello -C " +
                              quote(classes.string()) + " .");
  ASSERT_EQ(compiled.status, 0) << compiled.output;

  stdfs::create_directories(base_ / "plugins");
  stdfs::copy_file(plugin, base_ / "plugins" / "jvm.so");
  Agentless agent(base_ / "data");
  auto report = agent.load({base_ / "plugins"});
  ASSERT_TRUE(report.refused.empty()) << report.refused.front().message;
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_EQ(report.loaded[0], "runtime jvm from " + (base_ / "plugins" / "jvm.so").string() +
                                  " (plugin baton-jvm-example 1.0.0)");
  runtimes::Runtime* jvm = agent.registry.find("jvm");
  ASSERT_NE(jvm, nullptr);
  auto probe = jvm->probe();
  ASSERT_TRUE(probe.available) << probe.reason;
  EXPECT_FALSE(probe.attributes["java.version"].empty());

  auto launch = make_launch(base_, "j1", "hello", {"hello.jar", "world", "7"});
  launch.bundle_root = bundle;
  launch.limits.memory = 64 << 20;
  launch.environment.emplace_back("WEB_BIND_PORT", "10042");
  auto handle = jvm->start(launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  auto exit = agent.host.wait_exit(launch.id, std::chrono::seconds(60));
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->code, 7);
  std::string log;
  ASSERT_TRUE(wait_until([&] {
    log = read_text(launch.log_dir / "hello.log");
    return log_lines(log).size() >= 2 && !log_lines(log, "stderr").empty();
  })) << log;
  auto lines = log_lines(log);
  EXPECT_EQ(lines[0], "hello world from the jvm");
  // -Xmx is 75% of the bundle's 64 MiB.
  ASSERT_EQ(lines[1].rfind("max heap MiB ", 0), 0u) << lines[1];
  int heap = std::stoi(lines[1].substr(13));
  EXPECT_LE(heap, 48);
  EXPECT_GT(heap, 24);
  EXPECT_EQ(log_lines(log, "stderr"), (std::vector<std::string>{"port 10042"}));
  EXPECT_TRUE(jvm->destroy(launch.id).ok());

  auto missing = jvm->start(make_launch(base_, "j2", "hello", {"nope.jar"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "start-command nope.jar: no such jar in the bundle (" +
                                         (base_ / "bundle" / "hello" / "nope.jar").string() + ")");
}

}  // namespace
}  // namespace baton::plugins
