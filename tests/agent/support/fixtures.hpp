#pragma once
// Agent test helpers: bundles running baton-testcomponent, assignments, the agent library
// in-process with the real universal runtime, the baton-agent program as a child process, and
// a small blocking HTTP client.

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "agent/runtime_events.hpp"
#include "common/files.hpp"
#include "protocol/agent_messages.hpp"
#include "runtimes/registry.hpp"
#include "runtimes/universal/universal.hpp"
#include "tests/agent/support/test_core.hpp"
#include "tests/cli/support/port_slot.hpp"

namespace baton::agent::testing {

namespace stdfs = std::filesystem;

// The build's bin folder ($BATON_BUILD_DIR/bin, else next to the test binary's folder).
stdfs::path bin_folder();
stdfs::path testcomponent();

struct TestBundle {
  std::string name;
  std::string digest;
  stdfs::path zip;
};

// Writes <stem>-<digest>.zip of `files` (path inside the zip -> content; paths ending in
// "@exec" are written executable without the suffix) under `folder`.
TestBundle write_zip(const stdfs::path& folder, const std::string& stem,
                     const std::map<std::string, std::string>& files);

// bundle.conf of a one-component bundle running baton-testcomponent with `arguments`, with
// `endpoints` (HOCON inside `endpoints { }`) and `extra` top-level HOCON (readiness,
// start-timeout).
std::string testcomponent_conf(const std::string& name, const std::vector<std::string>& arguments,
                               const std::string& endpoints = "web { bind-protocol = \"http\" }",
                               const std::string& extra = "");

// A bundle of that conf under a top folder "<name>-v1".
TestBundle make_bundle(const stdfs::path& folder, const std::string& name, const std::string& conf,
                       std::map<std::string, std::string> more_files = {});

protocol::AssignedInstance assigned(const std::string& instance_id, const TestBundle& bundle,
                                    const TestBundle* configuration = nullptr);

// A temporary folder for one test.
class Scratch {
 public:
  Scratch();
  // Kills what a failed test left running in the folder before removing it.
  ~Scratch();
  Scratch(Scratch&&) = default;
  Scratch& operator=(Scratch&&) = default;
  const stdfs::path& path() const { return folder_->path(); }

 private:
  std::unique_ptr<files::TempFolder> folder_;
};

// The agent library in-process with the universal runtime.
class InProcessAgent {
 public:
  InProcessAgent(const TestCore& core, stdfs::path data, std::string name,
                 const std::function<void(AgentOptions&)>& tweak = {},
                 const std::function<void(runtimes::universal::Options&)>& tweak_universal = {});
  ~InProcessAgent();
  Status start();
  void stop();
  Agent& agent() { return *agent_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  RuntimeEvents events_;
  std::unique_ptr<runtimes::RuntimeHost> host_;
  runtimes::Registry registry_;
  std::unique_ptr<Agent> agent_;
};

// baton-agent as a child process (its stderr goes to `log`).
class AgentProcess {
 public:
  AgentProcess(std::vector<std::string> arguments, stdfs::path log);
  ~AgentProcess();  // SIGTERM, then SIGKILL
  pid_t pid() const { return pid_; }
  void kill(int signal);
  // Waits for the process to end; its wait status.
  int wait();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  stdfs::path log_;
};

bool process_alive(pid_t pid);

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string location;
};
HttpAnswer http_call(const std::string& method, const std::string& url);

// A unique agent name (cgroup folders are per agent name).
std::string unique_agent_name(const std::string& base);

}  // namespace baton::agent::testing
