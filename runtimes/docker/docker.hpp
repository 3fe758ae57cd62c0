#pragma once
// The "docker" runtime: each launch is a container of the image built (or loaded) from its
// component folder, run through the Docker Engine API on dockerd's unix socket. One thread runs
// every wait, log follow and the events stream (curl multi), so hundreds of launches cost one
// thread and two connections each. docs/runtimes.md ("Docker") describes the contract.

#include <chrono>
#include <filesystem>
#include <string>

#include "logs/format.hpp"
#include "runtimes/runtime.hpp"

namespace baton::runtimes::docker {

struct Options {
  // The agent's name: launches must name it. Required.
  std::string agent_name;
  // What marks this agent's containers, volumes and image tags on a shared dockerd (label
  // baton.agent, name prefixes), so agents that share one never touch each other's. It must be
  // unique per agent on the host and stable across its restarts; empty: agent_name. baton-agent
  // uses its name plus a digest of its data folder, since two sandboxes both have an agent-1.
  std::string owner;
  std::string socket = "/var/run/docker.sock";
  logs::Rotation log_rotation;
  // Containers labelled with this agent that no launch claims (a create that failed half-way, a
  // launch the agent forgot) are removed this long after the runtime first saw them; recover()
  // claims the agent's own after a restart well within it.
  std::chrono::milliseconds orphan_grace{60000};
  // How often the runtime lists its containers to catch what the events stream missed.
  std::chrono::milliseconds reconcile_interval{30000};
  // Each blocking Engine API call (create, start, inspect, remove); builds and loads have none.
  std::chrono::milliseconds api_timeout{60000};
  // After a container ends, how long its remaining log output may take to arrive.
  std::chrono::milliseconds log_drain{2000};
  // Threads that inspect, remove and report ended containers.
  int finish_threads = 2;
};

// Never fails when dockerd is down: probe() says so, and the runtime connects (and reconciles)
// when it comes back. RuntimeHost::exited always comes from the runtime's own threads, never from
// inside a call, exactly once per start/recover (destroy included). Handle::state is JSON:
// {"container": <id>, "name": <container name>, "image": <image id>}.
RuntimePtr make_runtime(RuntimeHost& host, Options options);

// Options::owner for an agent: its name plus 8 hex of a digest of its data folder. The name alone
// is not unique on a host (every sandbox has an agent-1); name and folder are, and both survive
// a restart.
std::string owner_for(const std::string& agent_name, const std::filesystem::path& data_folder);

}  // namespace baton::runtimes::docker
