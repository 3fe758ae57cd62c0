#pragma once
// A whole Baton on this machine for one test: `baton sandbox run --agents N` under a temporary
// BATON_HOME with its own core port, `baton` commands against it, a bundle of
// baton-testcomponent, and on teardown `baton sandbox stop` plus a check, independent of the
// CLI's own, that no process of the sandbox survived.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/cli/support/command_runner.hpp"

namespace baton::integration {

using baton::testing::CommandResult;
using nlohmann::json;

// Generous: the tests share two cores with builds.
inline constexpr std::chrono::seconds kStateTimeout{180};

class Cluster {
 public:
  // Runs the sandbox; check ok() (and startup()) before using it.
  explicit Cluster(int agents, std::vector<std::string> run_options = {});
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  bool ok() const { return startup_.exit_code == 0; }
  const CommandResult& startup() const { return startup_; }

  // `baton <args>` against this cluster.
  CommandResult baton(std::vector<std::string> args, const std::string& input = {}) const;
  // Any program with this cluster's BATON_HOME and BATON_PORT (scripts that drive `baton`).
  CommandResult run(std::vector<std::string> argv, const std::string& input = {}) const;

  const std::filesystem::path& home() const { return home_; }
  std::filesystem::path sandbox() const { return home_ / "sandbox"; }
  int core_port() const { return core_port_; }
  std::string core_url() const { return "http://127.0.0.1:" + std::to_string(core_port_); }

  // A bundle folder running baton-testcomponent with `arguments` (after the binary), one http
  // endpoint "web" with service name `name`.
  std::filesystem::path make_bundle(const std::string& name,
                                    const std::vector<std::string>& arguments) const;

  // `baton info --json [id]`; null when the command fails.
  json info(const std::string& id = {}) const;
  // Started executions of a bundle, from `baton info --json ID`.
  std::vector<json> started(const std::string& id) const;
  // pid of a sandbox daemon ("core", "agent-2") from `baton sandbox ps --json`; 0 when stopped.
  pid_t daemon_pid(const std::string& name) const;

  // Processes the sandbox left: environment marker, arguments, working folder or program in it.
  std::vector<std::string> leftovers() const;

 private:
  std::filesystem::path home_;
  int core_port_ = 0;
  CommandResult startup_;
};

// Polls until `condition` holds, up to kStateTimeout.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = kStateTimeout);

// GET http://<host>:<port>/<path> (no redirects followed): status and body; status 0 when no
// answer.
struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string location;
};
HttpAnswer http_get(const std::string& url);

}  // namespace baton::integration
