#include "agent/runtime_config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "common/files.hpp"

namespace baton::agent {
namespace {

namespace stdfs = std::filesystem;

class RuntimeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "runtime-config-");
    ASSERT_TRUE(folder.ok());
    folder_ = std::make_unique<files::TempFolder>(std::move(folder).value());
  }
  stdfs::path script(const std::string& text) {
    auto path = folder_->path() / "runtime-config.sh";
    EXPECT_TRUE(files::write_atomic(path, text).ok());
    return path;
  }
  Environment base() {
    return {{"BUNDLE_NAME", "visualizer"},
            {"KEEP", "same"},
            {"PATH", std::string(kDefaultPath)},
            {"WEB_BIND_PORT", "10001"}};
  }
  std::unique_ptr<files::TempFolder> folder_;
};

TEST_F(RuntimeConfigTest, ExportsNewAndChangedVariablesOnly) {
  auto path = script(
      "export NEW_ONE=\"from $BUNDLE_NAME on $WEB_BIND_PORT\"\n"
      "export KEEP=same\n"
      "export BUNDLE_NAME=renamed\n"
      "NOT_EXPORTED=1\n"
      "export MULTI='line one\nline two'\n"
      "echo 'chatter on stdout does not spoil the result'\n"
      "cd /tmp\n");
  auto exports = run_runtime_config(path, base());
  ASSERT_TRUE(exports.ok()) << exports.error().message;
  EXPECT_EQ(find_variable(*exports, "NEW_ONE").value_or(""), "from visualizer on 10001");
  EXPECT_EQ(find_variable(*exports, "BUNDLE_NAME").value_or(""), "renamed");
  EXPECT_EQ(find_variable(*exports, "MULTI").value_or(""), "line one\nline two");
  EXPECT_FALSE(find_variable(*exports, "KEEP").has_value());
  EXPECT_FALSE(find_variable(*exports, "NOT_EXPORTED").has_value());
  EXPECT_FALSE(find_variable(*exports, "PWD").has_value());
  EXPECT_FALSE(find_variable(*exports, "OLDPWD").has_value());
  EXPECT_FALSE(find_variable(*exports, "SHLVL").has_value());

  Environment merged = merge_exports(base(), *exports);
  EXPECT_EQ(find_variable(merged, "NEW_ONE").value_or(""), "from visualizer on 10001");
  EXPECT_NE(find_variable(merged, "CONTAINER_ENV").value_or("").find("NEW_ONE"), std::string::npos);
}

TEST_F(RuntimeConfigTest, RunsInItsFolderWithOnlyTheGivenEnvironment) {
  std::ofstream(folder_->path() / "extra.txt") << "payload";
  auto path = script("export CONTENT=$(cat extra.txt)\nexport HOME_WAS=\"${HOME:-unset}\"\n");
  auto exports = run_runtime_config(path, base());
  ASSERT_TRUE(exports.ok()) << exports.error().message;
  EXPECT_EQ(find_variable(*exports, "CONTENT").value_or(""), "payload");
  EXPECT_EQ(find_variable(*exports, "HOME_WAS").value_or(""), "unset");
}

TEST_F(RuntimeConfigTest, FailureCarriesTheTailOfStderr) {
  auto path = script("echo 'first line' >&2\necho 'database url missing' >&2\nexit 3\n");
  auto exports = run_runtime_config(path, base());
  ASSERT_FALSE(exports.ok());
  const std::string& message = exports.error().message;
  EXPECT_NE(message.find("runtime-config.sh"), std::string::npos) << message;
  EXPECT_NE(message.find("exited with code 3"), std::string::npos) << message;
  EXPECT_NE(message.find("database url missing"), std::string::npos) << message;
}

TEST_F(RuntimeConfigTest, SyntaxErrorFails) {
  auto path = script("if then fi (\n");
  auto exports = run_runtime_config(path, base());
  ASSERT_FALSE(exports.ok());
  EXPECT_NE(exports.error().message.find("exited with code"), std::string::npos);
}

TEST_F(RuntimeConfigTest, TimeoutKillsTheScriptAndItsChildren) {
  auto path = script("echo started >&2\nsleep 30 &\nsleep 30\n");
  auto started = std::chrono::steady_clock::now();
  auto exports = run_runtime_config(
      path, base(), RuntimeConfigOptions{.timeout = std::chrono::milliseconds(300)});
  ASSERT_FALSE(exports.ok());
  EXPECT_NE(exports.error().message.find("did not finish within 300 ms"), std::string::npos)
      << exports.error().message;
  EXPECT_NE(exports.error().message.find("started"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

TEST_F(RuntimeConfigTest, LongStderrIsCutToItsTail) {
  auto path = script(
      "i=0; while [ $i -lt 2000 ]; do echo \"noise $i\" >&2; i=$((i+1)); done\n"
      "echo 'the real cause' >&2; exit 1\n");
  auto exports = run_runtime_config(path, base());
  ASSERT_FALSE(exports.ok());
  EXPECT_LT(exports.error().message.size(), 2400u);
  EXPECT_NE(exports.error().message.find("the real cause"), std::string::npos);
}

}  // namespace
}  // namespace baton::agent
