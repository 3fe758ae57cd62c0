// Loading plugin libraries: what loads, what is refused (each with the file and the cause), and
// that a refusal never stops the rest from loading.
#include "plugins/host/loader.hpp"

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "tests/plugins/support.hpp"

namespace baton::plugins {
namespace {

using namespace baton::testing;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-loader-");
    ASSERT_TRUE(folder.ok());
    temp_.emplace(std::move(folder).value());
    plugins_ = temp_->path() / "plugins";
    stdfs::create_directories(plugins_);
    agentless_ = std::make_unique<Agentless>(temp_->path() / "data");
  }

  // Puts a built library into the plugin folder under `name`.
  void add(const std::string& built, const std::string& name) {
    stdfs::copy_file(built, plugins_ / name);
  }

  std::string refusals(const LoadReport& report) {
    std::string all;
    for (const auto& error : report.refused)
      all += error.message + "\n";
    return all;
  }

  std::optional<files::TempFolder> temp_;
  stdfs::path plugins_;
  std::unique_ptr<Agentless> agentless_;
};

TEST_F(LoaderTest, LoadsPluginsNextToBuiltInRuntimes) {
  add(BATON_TEST_PLUGIN_C, "echo-c.so");
  add(BATON_TEST_PLUGIN_CPP, "cpp-test.so");
  auto report = agentless_->load({plugins_});
  EXPECT_TRUE(report.refused.empty()) << refusals(report);
  ASSERT_EQ(report.loaded.size(), 3u);
  EXPECT_EQ(report.loaded[0], "runtime echo-cpp from " + (plugins_ / "cpp-test.so").string() +
                                  " (plugin cpp-test 2.0)");
  EXPECT_EQ(agentless_->registry.names(),
            (std::vector<std::string>{"echo-c", "echo-cpp", "proc-cpp", "universal"}));
  // Each runtime got its data folder and the plugin's log line went through its host.
  EXPECT_TRUE(stdfs::is_directory(temp_->path() / "data" / "echo-c"));
  EXPECT_TRUE(stdfs::is_directory(temp_->path() / "data" / "echo-cpp"));
  auto logs = agentless_->host.logs();
  EXPECT_NE(std::find(logs.begin(), logs.end(), "[echo-c] echo-c created"), logs.end());
  EXPECT_NE(std::find(logs.begin(), logs.end(), "[echo-cpp] echo-cpp created with {}"), logs.end());
}

TEST_F(LoaderTest, RefusesEachBrokenPluginAndLoadsTheRest) {
  struct Case {
    const char* built;
    const char* file;
    std::string cause;
  };
  const std::vector<Case> cases = {
      {BATON_TEST_BROKEN_WRONG_ABI, "a-wrong-abi.so",
       "built for runtime plugin ABI version 0.0000000000000000, but this agent has ABI version " +
           std::string(BATON_PLUGIN_ABI_VERSION) + "; rebuild the plugin against this agent's SDK"},
      {BATON_TEST_BROKEN_NO_ENTRY, "b-no-entry.so",
       "not a Baton runtime plugin: it exports no baton_plugin_entry()"},
      {BATON_TEST_BROKEN_NULL_PLUGIN, "c-null.so", "baton_plugin_entry() returned nothing"},
      {BATON_TEST_BROKEN_NO_RUNTIMES, "d-no-runtimes.so", "plugin broken 0.0 offers no runtime"},
      {BATON_TEST_BROKEN_BAD_NAME, "e-bad-name.so",
       "runtime name 'Not A Type' is not a file-system-type ([a-z0-9][a-z0-9-]*)"},
      {BATON_TEST_BROKEN_MISSING_FUNCTION, "f-missing.so",
       "runtime broken lacks functions of its table"},
      {BATON_TEST_BROKEN_DUPLICATE, "g-duplicate.so",
       "runtime universal from PATH is already registered by built-in"},
      {BATON_TEST_BROKEN_TWICE, "h-twice.so", "runtime broken is offered twice"},
      {BATON_TEST_BROKEN_CREATE_FAILS, "i-create-fails.so",
       "runtime broken refused to start: cannot reach the frobnicator at /run/frob.sock"},
  };
  for (const auto& item : cases)
    add(item.built, item.file);
  write_text(plugins_ / "j-junk.so", "this is not an ELF file\n");
  add(BATON_TEST_PLUGIN_C, "z-echo-c.so");

  auto report = agentless_->load({plugins_, temp_->path() / "no-such-folder"});
  ASSERT_EQ(report.loaded.size(), 1u) << refusals(report);
  EXPECT_NE(report.loaded[0].find("runtime echo-c from"), std::string::npos);
  ASSERT_EQ(report.refused.size(), cases.size() + 2) << refusals(report);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::string file = (plugins_ / cases[i].file).string();
    std::string cause = cases[i].cause;
    if (auto at = cause.find("PATH"); at != std::string::npos) cause.replace(at, 4, file);
    EXPECT_EQ(report.refused[i].message, "plugin " + file + ": " + cause);
  }
  const std::string junk = report.refused[cases.size()].message;
  EXPECT_EQ(junk.rfind("plugin " + (plugins_ / "j-junk.so").string() + ": cannot load: ", 0), 0u)
      << junk;
  EXPECT_NE(report.refused.back().message.find("plugin folder " +
                                               (temp_->path() / "no-such-folder").string()),
            std::string::npos);
  EXPECT_EQ(agentless_->registry.names(), (std::vector<std::string>{"echo-c", "universal"}));
}

TEST_F(LoaderTest, AWholePluginIsRefusedWhenOneRuntimeClashes) {
  add(BATON_TEST_PLUGIN_CPP, "a.so");
  add(BATON_TEST_PLUGIN_CPP, "b.so");  // the same runtimes again
  auto report = agentless_->load({plugins_});
  ASSERT_EQ(report.refused.size(), 1u);
  EXPECT_EQ(report.refused[0].code, Errc::conflict);
  EXPECT_EQ(report.refused[0].message,
            "plugin " + (plugins_ / "b.so").string() + ": runtime echo-cpp from " +
                (plugins_ / "b.so").string() + " is already registered by " +
                (plugins_ / "a.so").string());
  EXPECT_EQ(report.loaded.size(), 2u);
}

TEST_F(LoaderTest, PassesTheRuntimeConfigurationAndRefusesABadOne) {
  add(BATON_TEST_PLUGIN_CPP, "cpp-test.so");
  write_text(plugins_ / "echo-cpp.json", R"({"colour": "blue"})");
  auto report = agentless_->load({plugins_});
  ASSERT_TRUE(report.refused.empty()) << refusals(report);
  auto probe = agentless_->registry.find("echo-cpp")->probe();
  EXPECT_TRUE(probe.available);
  EXPECT_EQ(probe.attributes["config"], R"({"colour": "blue"})");
  EXPECT_EQ(probe.attributes["dataDir"], (temp_->path() / "data" / "echo-cpp").string());

  Agentless second(temp_->path() / "data2");
  write_text(plugins_ / "echo-cpp.json", R"({"refuse": true})");
  report = second.load({plugins_});
  ASSERT_EQ(report.refused.size(), 1u);
  EXPECT_EQ(report.refused[0].message,
            "plugin " + (plugins_ / "cpp-test.so").string() +
                ": runtime echo-cpp refused to start: echo-cpp refuses: {\"refuse\": true}");
  // All or nothing: proc-cpp of the same library is not registered either.
  EXPECT_EQ(second.registry.names(), (std::vector<std::string>{"universal"}));

  Agentless third(temp_->path() / "data3");
  write_text(plugins_ / "echo-cpp.json", "[1, 2");
  report = third.load({plugins_});
  ASSERT_EQ(report.refused.size(), 1u);
  EXPECT_EQ(report.refused[0].message, "plugin " + (plugins_ / "cpp-test.so").string() +
                                           ": configuration " +
                                           (plugins_ / "echo-cpp.json").string() +
                                           " of runtime echo-cpp is not a JSON object");
}

TEST_F(LoaderTest, ACreateFailureLeavesNothingRegistered) {
  add(BATON_TEST_PLUGIN_C, "echo-c.so");
  write_text(plugins_ / "echo-c.json", R"({"refuse": 1})");
  auto report = agentless_->load({plugins_});
  ASSERT_EQ(report.refused.size(), 1u);
  EXPECT_EQ(report.refused[0].message,
            "plugin " + (plugins_ / "echo-c.so").string() +
                ": runtime echo-c refused to start: echo-c: told to refuse by its configuration");
  EXPECT_EQ(agentless_->registry.find("echo-c"), nullptr);
}

}  // namespace
}  // namespace baton::plugins
