// Runtime plugins in the whole system, through the CLI as a user drives it (docs/plugins.md):
// - the rpm runtime Baton ships: `baton sandbox run` gives its agents the plugins folder next to
//   baton, and an rpm built here with rpmbuild runs as a bundle;
// - a plugin built out of tree against the installed SDK (plugins/examples/jvm): given to the
//   sandbox with --plugins-dir, its runtime is accepted by the core at `baton load` because the
//   agents offer it, and its bundle runs and answers HTTP.
// No sleeps: every wait polls its condition with a deadline.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "integration/cluster.hpp"
#include "tests/plugins/sdk_build.hpp"
#include "tests/rpm/rpmbuild.hpp"

namespace baton::integration {
namespace {

namespace stdfs = std::filesystem;

#define ASSERT_CLUSTER(cluster) \
  ASSERT_TRUE((cluster).ok()) << "baton sandbox run failed: " << (cluster).startup().describe()

CommandResult shell(const std::string& command) {
  return baton::testing::run_command({"/bin/sh", "-c", command});
}

bool have_program(const std::string& name) {
  return shell("command -v " + name + " >/dev/null").exit_code == 0;
}

// A temporary folder outside any sandbox (what the user keeps in their own folders).
class Workspace {
 public:
  Workspace() {
    std::string pattern = (stdfs::temp_directory_path() / "baton-it-plugins-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~Workspace() {
    std::error_code ec;
    if (!path_.empty()) stdfs::remove_all(path_, ec);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
};

std::string last_line(std::string text) {
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text.substr(text.rfind('\n') + 1);
}

// The runtime `name` as the core lists it for the sandbox's agent.
json runtime_of(const Cluster& cluster, const std::string& name) {
  auto agents = json::parse(http_get(cluster.core_url() + "/v2/agents").body, nullptr, false);
  if (!agents.is_array() || agents.empty()) return nullptr;
  return agents[0].value("runtimes", json::object()).value(name, json(nullptr));
}

std::string endpoint_url(const json& execution) {
  return "http://" + execution.value("host", "127.0.0.1") + ":" +
         std::to_string(execution["endpoints"]["web"].value("hostPort", 0)) + "/";
}

TEST(Plugins, AnRpmBundleRunsInTheSandbox) {
  if (!have_program("rpmbuild")) {
    GTEST_SKIP() << "\n*** rpmbuild is missing: install Debian's rpm package (apt-get install -y "
                    "rpm) to run this scenario ***\n";
  }
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  // The agent got the plugins folder next to baton by default.
  json rpm_runtime = runtime_of(cluster, "rpm");
  ASSERT_TRUE(rpm_runtime.is_object()) << http_get(cluster.core_url() + "/v2/agents").body;
  EXPECT_EQ(rpm_runtime.value("available", false), true) << rpm_runtime.dump();

  // A package of the test component, built now, as the component's folder of a bundle.
  const stdfs::path top = cluster.home() / "rpmbuild";
  auto built = shell(baton::testing::rpm::prepare_rpm(
      top, baton::testing::rpm::program_package(
               "testcomponent", baton::testing::program("baton-testcomponent"), "testcomponent")));
  ASSERT_EQ(built.exit_code, 0) << built.describe();
  const stdfs::path rpm = baton::testing::rpm::built_rpm(top, "testcomponent");
  ASSERT_FALSE(rpm.empty()) << built.describe();
  const stdfs::path folder = cluster.home() / "bundles" / "rpm-web";
  stdfs::create_directories(folder / "web");
  stdfs::copy_file(rpm, folder / "web" / rpm.filename());
  std::ofstream(folder / "bundle.conf")
      << "version = \"1\"\nname = \"rpm-web\"\ncompatibilityVersion = \"1\"\n"
         "system = \"rpm-web\"\nnrOfCpus = 0.01\nmemory = 16M\ndiskSpace = 1M\n"
         "roles = [\"web\"]\n"
         "components {\n  web {\n    file-system-type = \"rpm\"\n"
         "    start-command = [\"/usr/bin/testcomponent\", \"--listen-env\", \"WEB\", "
         "\"--signal-http\"]\n"
         "    endpoints { web { bind-protocol = \"http\", bind-port = 0, "
         "service-name = \"rpm-web\" } }\n  }\n}\n";

  auto loaded = cluster.baton({"load", "-q", "--long-ids", folder.string()});
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  const std::string id = last_line(loaded.out);
  auto run = cluster.baton({"run", id});
  ASSERT_EQ(run.exit_code, 0) << run.describe();

  auto executions = cluster.started(id);
  ASSERT_EQ(executions.size(), 1u) << cluster.info(id).dump(2);
  auto answer = http_get(endpoint_url(executions[0]));
  EXPECT_EQ(answer.status, 200) << executions[0].dump();
  EXPECT_NE(answer.body.find("ok " + id), std::string::npos) << answer.body;
  // The program ran from the root the plugin unpacked in the agent's data folder.
  auto logs = cluster.baton({"logs", id, "-n", "50"});
  EXPECT_EQ(logs.exit_code, 0) << logs.describe();
  EXPECT_NE(logs.out.find("ready"), std::string::npos) << logs.out;

  auto stop = cluster.baton({"stop", id});
  EXPECT_EQ(stop.exit_code, 0) << stop.describe();
  auto unload = cluster.baton({"unload", id});
  EXPECT_EQ(unload.exit_code, 0) << unload.describe();
}

// docs/plugins.md, step by step: install the SDK, build the example, point the sandbox at the
// folder holding the .so, bundle the example app, load, run, curl.
TEST(Plugins, AnOutOfTreePluginRunsItsBundleInTheSandbox) {
  for (const char* tool : {"java", "javac", "jar", "ninja"}) {
    if (!have_program(tool)) {
      GTEST_SKIP() << "\n*** " << tool
                   << " is missing: install default-jdk-headless and ninja-build to run this "
                      "scenario ***\n";
    }
  }
  Workspace work;
  ASSERT_FALSE(work.path().empty());
  const baton::testing::sdk::Toolchain toolchain{BATON_SOURCE_DIR, baton::testing::build_dir(),
                                                 BATON_CMAKE_COMMAND, BATON_CXX_COMPILER,
                                                 BATON_SANITIZE_FLAGS};
  auto build = baton::testing::sdk::example_build(toolchain, work.path(), "jvm");
  for (const auto& step : {build.install, build.configure, build.build}) {
    auto done = shell(step);
    ASSERT_EQ(done.exit_code, 0) << done.describe();
  }
  const stdfs::path plugins = work.path() / "plugins";
  stdfs::create_directories(plugins);
  stdfs::copy_file(build.library, plugins / "jvm.so");

  // The example's bundle folder (plugins/examples/jvm/hello), with the jar in its component.
  const stdfs::path app = work.path() / "hello";
  stdfs::copy(toolchain.source_dir / "plugins" / "examples" / "jvm" / "hello", app,
              stdfs::copy_options::recursive);
  auto jar = shell(baton::testing::sdk::jvm_hello_jar(toolchain, work.path() / "classes",
                                                      app / "hello" / "hello.jar"));
  ASSERT_EQ(jar.exit_code, 0) << jar.describe();

  Cluster cluster(1, {"--plugins-dir", plugins.string()});
  ASSERT_CLUSTER(cluster);
  json jvm = runtime_of(cluster, "jvm");
  ASSERT_TRUE(jvm.is_object()) << http_get(cluster.core_url() + "/v2/agents").body;
  EXPECT_EQ(jvm.value("available", false), true) << jvm.dump();
  // The rpm plugin Baton ships is still there: the extra folder comes in addition.
  EXPECT_TRUE(runtime_of(cluster, "rpm").is_object());

  // Offline, the CLI knows only the built-in runtimes unless told.
  const stdfs::path out = work.path() / "out";
  stdfs::create_directories(out);
  auto unknown = cluster.baton({"bundle", "create", app.string(), "-o", out.string()});
  EXPECT_NE(unknown.exit_code, 0) << unknown.describe();
  EXPECT_NE(unknown.err.find("file-system-type"), std::string::npos) << unknown.describe();
  auto created = cluster.baton(
      {"bundle", "create", "--allow-runtime", "jvm", app.string(), "-o", out.string()});
  ASSERT_EQ(created.exit_code, 0) << created.describe();
  const std::string zip = last_line(created.out);
  ASSERT_TRUE(stdfs::exists(zip)) << created.describe();

  auto loaded = cluster.baton({"load", zip});
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  auto run = cluster.baton({"run", "hello-jvm"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json bundle = cluster.info("hello-jvm");
  ASSERT_TRUE(bundle.is_object());
  auto executions = cluster.started(bundle.value("bundleId", ""));
  ASSERT_EQ(executions.size(), 1u) << bundle.dump(2);
  auto answer = http_get(endpoint_url(executions[0]));
  EXPECT_EQ(answer.status, 200) << executions[0].dump();
  EXPECT_EQ(answer.body, "hello from the jvm\n");
  // curl -L http://127.0.0.1:<core port>/services/hello-jvm/
  auto lookup = http_get(cluster.core_url() + "/services/hello-jvm/");
  ASSERT_EQ(lookup.status, 307) << lookup.body;
  EXPECT_EQ(http_get(lookup.location).body, "hello from the jvm\n");
  auto agents = cluster.baton({"agents"});
  EXPECT_NE(agents.out.find("jvm, rpm, universal"), std::string::npos) << agents.describe();
  auto logs = cluster.baton({"logs", "hello-jvm"});
  EXPECT_EQ(logs.exit_code, 0) << logs.describe();
  EXPECT_NE(logs.out.find("serving on "), std::string::npos) << logs.out;
}

}  // namespace
}  // namespace baton::integration
