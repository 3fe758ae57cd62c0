// Who may do what, end to end with the real programs: baton-core over HTTPS with a tokens file,
// baton-agent proving itself with its token (and an agent without one refused), the core reading
// logs from the agent's API with its own token, and the baton CLI taking the CA and its token
// from flags, the environment and the settings file.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/files.hpp"
#include "common/sha256.hpp"
#include "http/client.hpp"
#include "tests/cli/support/certificates.hpp"
#include "tests/cli/support/command_runner.hpp"

extern char** environ;

namespace baton::integration {
namespace {

namespace stdfs = std::filesystem;
using baton::testing::CommandOptions;
using baton::testing::CommandResult;
using baton::testing::program;
using baton::testing::run_command;
using baton::testing::wait_until;
using nlohmann::json;

constexpr auto kTimeout = std::chrono::seconds(120);
const std::string kAdminToken = "admin-0123456789abcdef";
const std::string kReadToken = "read-0123456789abcdef";
const std::string kAgentToken = "agent-0123456789abcdef";
const std::string kCoreToken = "core-0123456789abcdef";

// A daemon of this test: its output goes to `log`; SIGTERM, then SIGKILL, when it goes.
class Daemon {
 public:
  Daemon(const std::string& name, std::vector<std::string> arguments, stdfs::path log)
      : log_(std::move(log)) {
    std::vector<std::string> argv_text = {program(name).string()};
    argv_text.insert(argv_text.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (auto& arg : argv_text)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Daemon() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!wait_until([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; },
                    std::chrono::seconds(20))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  std::string log() const { return files::read(log_).ok() ? *files::read(log_) : std::string(); }

 private:
  pid_t pid_ = -1;
  stdfs::path log_;
};

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = stdfs::temp_directory_path() /
            ("baton-trust-" + std::to_string(::getpid()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    stdfs::create_directories(work_ / "home");
    pki_ = baton::testing::make_pki(work_ / "pki", {{"alice", "admin"}});
    write("tokens", "admin alice " + kAdminToken +
                        "\nread grafana sha256:" + sha256_hex(kReadToken) +
                        "\nagent agents sha256:" + sha256_hex(kAgentToken) + "\n");
    write("core.token", kCoreToken + "\n");
    write("agent.token", kAgentToken + "\n");
    write("admin.token", kAdminToken + "\n");
    port_ = baton::testing::unused_port();
    core_ = std::make_unique<Daemon>(
        "baton-core",
        std::vector<std::string>{
            "--data", (work_ / "core").string(), "--port", std::to_string(port_), "--tls-cert",
            pki_.cert("server").string(), "--tls-key", pki_.key("server").string(), "--tokens",
            (work_ / "tokens").string(), "--token-file", (work_ / "core.token").string()},
        work_ / "core.log");
    ASSERT_TRUE(wait_until(
        [&] { return core_->log().find("baton-core listening on https://") != std::string::npos; },
        kTimeout))
        << core_->log();
  }
  void TearDown() override {
    if (!bundle_.empty()) baton({"--token", kAdminToken, "stop", bundle_, "--wait-timeout", "60"});
    agents_.clear();
    core_.reset();
    files::remove_tree(work_);
  }

  void write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(files::write_atomic(work_ / name, text).ok());
  }
  std::string core_url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  Daemon& agent(const std::string& name, std::vector<std::string> more) {
    std::vector<std::string> arguments = {"--name",         name,
                                          "--core",         core_url(),
                                          "--data",         (work_ / name).string(),
                                          "--api-bind",     "127.0.0.1",
                                          "--api-port",     "0",
                                          "--status-port",  "0",
                                          "--locator-port", "0",
                                          "--address",      "127.0.0.1",
                                          "--ports",        "14000-14099",
                                          "--roles",        "web",
                                          "--ca",           pki_.ca().string()};
    arguments.insert(arguments.end(), more.begin(), more.end());
    agents_.push_back(std::make_unique<Daemon>("baton-agent", arguments, work_ / (name + ".log")));
    return *agents_.back();
  }

  // `baton` with HOME and BATON_HOME in the test's folder and `environment` on top.
  CommandResult baton(std::vector<std::string> arguments,
                      std::map<std::string, std::optional<std::string>> environment = {}) {
    std::vector<std::string> argv = {program("baton").string()};
    bool has_host = false;
    for (const auto& argument : arguments)
      has_host = has_host || argument == "--host";
    if (!has_host && environment.count("BATON_HOST") == 0 && !settings_) {
      argv.insert(argv.end(), {"--host", core_url(), "--ca", pki_.ca().string()});
    }
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    CommandOptions options;
    options.environment = {
        {"HOME", (work_ / "home").string()}, {"BATON_HOME", (work_ / "home" / ".baton").string()},
        {"BATON_HOST", std::nullopt},        {"BATON_PORT", std::nullopt},
        {"BATON_CA", std::nullopt},          {"BATON_TOKEN", std::nullopt},
        {"BATON_CERT", std::nullopt},        {"BATON_KEY", std::nullopt}};
    for (auto& [name, value] : environment)
      options.environment[name] = value;
    options.timeout = std::chrono::seconds(150);
    return run_command(argv, options);
  }

  json agents_listed() {
    http::Client client(
        http::ClientOptions{.bearer_token = kReadToken, .tls = {pki_.ca(), {}, {}}});
    auto answer = client.get(core_url() + "/v2/agents");
    if (!answer || answer->status != 200) return json::array();
    return json::parse(answer->body, nullptr, false);
  }
  bool agent_up(const std::string& name) {
    for (const auto& entry : agents_listed()) {
      if (entry.value("name", "") == name && entry.value("up", false)) return true;
    }
    return false;
  }

  stdfs::path work_;
  baton::testing::Pki pki_;
  int port_ = 0;
  bool settings_ = false;
  std::string bundle_;
  std::unique_ptr<Daemon> core_;
  std::vector<std::unique_ptr<Daemon>> agents_;
};

TEST_F(TrustTest, AgentsProveThemselvesAndTheCliCarriesItsCredentials) {
  // An agent without a token cannot register.
  Daemon& stranger = agent("stranger", {});
  ASSERT_TRUE(wait_until(
      [&] { return stranger.log().find("registration refused") != std::string::npos; }, kTimeout))
      << stranger.log();
  EXPECT_NE(stranger.log().find("needs a credential of level agent"), std::string::npos)
      << stranger.log();

  // One with its token registers, and its API wants the core's token.
  Daemon& trusted = agent("trusted", {"--token-file", (work_ / "agent.token").string(),
                                      "--core-token-file", (work_ / "core.token").string()});
  ASSERT_TRUE(wait_until([&] { return agent_up("trusted"); }, kTimeout)) << trusted.log();
  EXPECT_FALSE(agent_up("stranger"));
  std::string api_url;
  for (const auto& entry : agents_listed()) {
    if (entry.value("name", "") == "trusted") api_url = entry.value("apiUrl", "");
  }
  ASSERT_FALSE(api_url.empty());
  auto anonymous = http::Client().get(api_url + "/agent/v1/instances");
  ASSERT_TRUE(anonymous.ok()) << anonymous.error().message;
  EXPECT_EQ(anonymous->status, 401);
  auto as_core = http::Client(http::ClientOptions{.bearer_token = kCoreToken})
                     .get(api_url + "/agent/v1/instances");
  ASSERT_TRUE(as_core.ok());
  EXPECT_EQ(as_core->status, 200);

  // The CLI: flags.
  stdfs::path folder = work_ / "guarded";
  stdfs::create_directories(folder);
  std::string testcomponent = program("baton-testcomponent").string();
  ASSERT_TRUE(files::write_atomic(
                  folder / "bundle.conf",
                  "version = \"1\"\nname = \"guarded\"\ncompatibilityVersion = \"1\"\n"
                  "system = \"guarded\"\nnrOfCpus = 0.1\nmemory = 67108864\ndiskSpace = 1000000\n"
                  "roles = [\"web\"]\ncomponents { main {\n  description = \"test\"\n"
                  "  file-system-type = \"universal\"\n  start-command = [\"" +
                      testcomponent +
                      "\", \"--listen-env\", \"WEB\", \"--sleep\"]\n  endpoints { web { "
                      "bind-protocol = \"http\" } }\n} }\n")
                  .ok());
  auto refused = baton({"load", folder.string()});
  EXPECT_EQ(refused.exit_code, 1) << refused.describe();
  EXPECT_NE(refused.err.find("needs a credential of level admin"), std::string::npos)
      << refused.describe();
  auto loaded = baton({"--token", kAdminToken, "-q", "load", folder.string()});
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  bundle_ = "guarded";
  auto run = baton({"--token", kAdminToken, "run", "guarded", "--wait-timeout", "120"});
  ASSERT_EQ(run.exit_code, 0) << run.describe() << trusted.log();

  // The environment: a read token looks, and may not stop.
  std::map<std::string, std::optional<std::string>> reader = {
      {"BATON_HOST", core_url()}, {"BATON_CA", pki_.ca().string()}, {"BATON_TOKEN", kReadToken}};
  auto info = baton({"info"}, reader);
  EXPECT_EQ(info.exit_code, 0) << info.describe();
  EXPECT_NE(info.out.find("guarded"), std::string::npos) << info.describe();
  auto stop = baton({"stop", "guarded"}, reader);
  EXPECT_EQ(stop.exit_code, 1) << stop.describe();
  EXPECT_NE(stop.err.find("credential grafana (level read) may not PUT"), std::string::npos)
      << stop.describe();

  // The settings file (paths relative to it), and the core reading the agent's logs with its
  // own token.
  settings_ = true;
  stdfs::create_directories(work_ / "home" / ".baton");
  stdfs::copy_file(pki_.ca(), work_ / "home" / ".baton" / "ca.pem");
  stdfs::copy_file(work_ / "admin.token", work_ / "home" / ".baton" / "admin.token");
  ASSERT_TRUE(files::write_atomic(work_ / "home" / ".baton" / "settings.conf",
                                  "# the test's core\nhost = " + core_url() +
                                      "\nca = ca.pem\ntoken-file = admin.token\n")
                  .ok());
  ASSERT_TRUE(wait_until(
      [&] {
        auto logs = baton({"logs", "guarded"});
        return logs.exit_code == 0 && logs.out.find("ready") != std::string::npos;
      },
      kTimeout))
      << baton({"logs", "guarded"}).describe();
  // A flag wins over the settings file.
  auto as_reader = baton({"--token", kReadToken, "stop", "guarded"});
  EXPECT_EQ(as_reader.exit_code, 1) << as_reader.describe();

  // Errors name the file at fault.
  auto no_ca = baton({"--ca", (work_ / "no-such-ca.pem").string(), "info"});
  EXPECT_NE(no_ca.exit_code, 0);
  EXPECT_NE(no_ca.err.find("no-such-ca.pem"), std::string::npos) << no_ca.describe();
  auto mismatched =
      baton({"--cert", pki_.cert("alice").string(), "--key", pki_.key("server").string(), "info"});
  EXPECT_NE(mismatched.exit_code, 0);
  EXPECT_NE(mismatched.err.find("does not match"), std::string::npos) << mismatched.describe();
  EXPECT_NE(mismatched.err.find(pki_.key("server").string()), std::string::npos);
  // Without the CA (no settings file either) the core's certificate is not trusted.
  auto untrusted = baton({"--host", core_url(), "--token", kReadToken, "info"},
                         {{"BATON_HOME", (work_ / "nowhere").string()}});
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.err.find("TLS"), std::string::npos) << untrusted.describe();

  auto stopped = baton({"stop", "guarded", "--wait-timeout", "120"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  bundle_.clear();
}

}  // namespace
}  // namespace baton::integration
