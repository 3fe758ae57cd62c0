#pragma once
// The agent service: registers with a core, runs the instances it is assigned through the
// runtimes of the registry, and reports their state (docs/architecture.md, docs/protocol.md).
//
// Threads: one io thread runs every socket, timer and instance state machine; a worker pool does
// blocking work (fetch, verify, extract, runtime calls, runtime-config.sh); a side pool answers
// service lookups and reads logs; the core-client thread registers and reports; a writer thread
// saves instance.json files. Work crosses threads by posting to the io thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/ports.hpp"
#include "agent/restart_policy.hpp"
#include "agent/runtime_events.hpp"
#include "common/result.hpp"
#include "http/tls.hpp"
#include "protocol/agent_messages.hpp"
#include "runtimes/registry.hpp"

namespace baton::agent {

struct AgentOptions {
  std::string name;                   // registration name, stable across restarts
  std::vector<std::string> cores;     // core base URLs: register with one, move on when it goes
  std::filesystem::path data;         // instances/, cache/
  std::string address = "127.0.0.1";  // BUNDLE_HOST_IP: where endpoints are reachable
  std::string api_bind = "0.0.0.0";
  int api_port = 9004;                   // 0 = any
  std::string local_bind = "127.0.0.1";  // status and service locator (the local router)
  int status_port = 19007;               // 0 = any
  int locator_port = 19008;              // 0 = any; the same router as the status port
  std::vector<std::string> roles;
  PortRange ports;
  protocol::Resources resources;
  std::vector<std::string> pass_env;
  std::uint64_t cache_bytes = std::uint64_t{10} << 30;
  RestartPolicy restart;
  std::size_t workers = 4;
  std::chrono::milliseconds poll_wait{30000};
  std::chrono::milliseconds runtime_config_timeout{30000};
  std::chrono::milliseconds locator_max_age{60000};
  std::chrono::milliseconds log_follow_interval{250};
  // Runtimes are probed this often; a change of availability registers the agent again.
  std::chrono::milliseconds runtime_probe_interval{5000};
  // Who may do what (docs/security.md). Towards the cores: the agent's token (--token-file) and,
  // for https:// cores, the CA to trust and the agent's client certificate (--ca, --cert, --key).
  std::string token;
  http::TlsClientSettings core_tls;
  // On the agent API: the token cores must send (--core-token-file), and HTTPS with an optional
  // required client certificate (--api-tls-cert, --api-tls-key, --api-client-ca).
  std::string core_token;
  http::TlsServerSettings api_tls;
  // Called on the io thread when an instance becomes ready (benchmarks).
  std::function<void(const std::string& instance_id)> on_ready;
};

class Agent {
 public:
  Agent(AgentOptions options, runtimes::Registry& runtimes, RuntimeEvents& events);
  ~Agent();  // stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Opens the data folder, recovers the instances it finds, binds the servers, and starts the
  // threads and the core client. Errors name the folder or the address.
  Status start();
  // Stops the core client and the servers, drains the outstanding work and saves every instance.
  // Instances keep running (a restarted agent adopts them). Idempotent.
  void stop();

  unsigned short api_port() const;
  unsigned short status_port() const;
  unsigned short locator_port() const;

  // What the agent runs, as reported to the core. Any thread but the io thread.
  std::vector<protocol::InstanceStatus> instances() const;
  // True once the core client is registered.
  bool registered() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::agent
