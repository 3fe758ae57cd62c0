// The real `baton` binary: argument handling and exit codes that need no core.
#include <gtest/gtest.h>

#include "tests/cli/support/command_runner.hpp"

namespace baton::cli {
namespace {

using baton::testing::CommandOptions;
using baton::testing::CommandResult;
using baton::testing::program;
using baton::testing::run_command;
using baton::testing::unused_port;

// Runs baton with no core address in the environment, so the user's settings do not leak in.
CommandResult baton(std::vector<std::string> args, CommandOptions options = {}) {
  args.insert(args.begin(), program("baton").string());
  for (const char* name : {"BATON_HOST", "BATON_PORT", "CONDUCTR_HOST", "CONDUCTR_PORT"}) {
    options.environment.emplace(name, std::nullopt);
  }
  options.timeout = std::chrono::seconds(60);
  return run_command(args, options);
}

TEST(Command, NoSubcommandIsAUsageError) {
  auto result = baton({});
  EXPECT_EQ(result.exit_code, 2) << result.describe();
}

TEST(Command, MissingIdIsAUsageError) {
  for (const char* command : {"run", "stop", "unload", "events", "logs"}) {
    auto result = baton({command});
    EXPECT_EQ(result.exit_code, 2) << result.describe();
    EXPECT_NE(result.err.find("ID is required"), std::string::npos) << result.describe();
  }
}

TEST(Command, BadNumbersAreUsageErrors) {
  EXPECT_EQ(baton({"run", "abf6045", "--scale", "-1"}).exit_code, 2);
  EXPECT_EQ(baton({"run", "abf6045", "--scale", "x"}).exit_code, 2);
  EXPECT_EQ(baton({"run", "abf6045", "--wait-timeout", "0"}).exit_code, 2);
  EXPECT_EQ(baton({"logs", "abf6045", "-n", "0"}).exit_code, 2);
  EXPECT_EQ(baton({"info", "--port", "70000"}).exit_code, 2);
}

TEST(Command, LoadTakesABundleOrAHistoryEntry) {
  auto neither = baton({"load"});
  EXPECT_EQ(neither.exit_code, 2) << neither.describe();
  EXPECT_EQ(neither.err, "baton: load: give a BUNDLE or --history SEQ (one of them)\n");
  auto both = baton({"load", "x.zip", "--history", "3"});
  EXPECT_EQ(both.exit_code, 2) << both.describe();
  auto two_stdins = baton({"load", "-", "-"});
  EXPECT_EQ(two_stdins.exit_code, 2) << two_stdins.describe();
}

TEST(Command, UnreachableCoreExits3WithAHint) {
  int port = unused_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::string expected = "baton: cannot reach the core at " + url +
                         " (connection refused); start one with: baton sandbox run\n";
  for (auto args : std::vector<std::vector<std::string>>{
           {"info", "--port", std::to_string(port)},
           {"--port", std::to_string(port), "info"},
           {"run", "abf6045", "--port", std::to_string(port)},
           {"services", "--port", std::to_string(port)},
           {"agents", "--port", std::to_string(port), "--json"}}) {
    auto result = baton(args);
    EXPECT_EQ(result.exit_code, 3) << result.describe();
    EXPECT_EQ(result.err, expected) << result.describe();
    EXPECT_EQ(result.out, "") << result.describe();
  }
}

TEST(Command, AddressComesFromTheEnvironment) {
  int port = unused_port();
  CommandOptions options;
  options.environment["CONDUCTR_PORT"] = std::to_string(port);
  options.environment["BATON_HOST"] = "127.0.0.1";
  // baton() unsets these first; emplace keeps ours.
  auto result = baton({"info"}, options);
  EXPECT_EQ(result.exit_code, 3) << result.describe();
  EXPECT_NE(result.err.find(":" + std::to_string(port) + " "), std::string::npos)
      << result.describe();

  CommandOptions bad;
  bad.environment["BATON_PORT"] = "nine";
  result = baton({"info"}, bad);
  EXPECT_EQ(result.exit_code, 2) << result.describe();
  EXPECT_EQ(result.err, "baton: BATON_PORT: expected a port 1-65535, got 'nine'\n");
}

TEST(Command, LoadOfAMissingFileNamesIt) {
  auto result = baton({"load", "/nonexistent/bundle.zip", "--port", std::to_string(unused_port())});
  EXPECT_EQ(result.exit_code, 1) << result.describe();
  EXPECT_EQ(result.err, "baton: /nonexistent/bundle.zip: no such file or folder\n");
}

TEST(Command, VersionWorksWithoutACore) {
  int port = unused_port();
  auto result = baton({"version", "--port", std::to_string(port)});
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(result.out, std::string("baton ") + BATON_VERSION + "\ncore: not reachable at " +
                            "http://127.0.0.1:" + std::to_string(port) + "\n");
  auto flag = baton({"--version"});
  EXPECT_EQ(flag.exit_code, 0);
  EXPECT_EQ(flag.out, std::string("baton ") + BATON_VERSION + "\n");
}

}  // namespace
}  // namespace baton::cli
