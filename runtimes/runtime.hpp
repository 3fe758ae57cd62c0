#pragma once
// The one interface every runtime implements: built-in ones (universal, docker) and shared-library
// plugins (through the C ABI in plugins/, which is a thin wrapper over exactly these calls).
//
// Units: a *launch* is one component of one instance, keyed "<instance id>.<component>". The
// agent calls prepare() once per bundle digest before the first start, start() per launch,
// stop()/destroy() to end it, recover() after an agent restart, release() when a bundle digest
// leaves the agent. Exits are reported through RuntimeHost::exited(), never polled.
//
// Threading: the agent calls prepare/start/stop/destroy/recover/stats/release from its worker
// threads, possibly concurrently for different launches, never concurrently for the same launch.
// prepare and start may block (image builds, extraction); stop must not wait for the exit.
// RuntimeHost methods may be called from any thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"

namespace baton::runtimes {

namespace stdfs = std::filesystem;

struct ProbeResult {
  bool available = false;
  std::string reason;                             // why not, when unavailable
  std::map<std::string, std::string> attributes;  // reported to the core, e.g. {"cgroup": "v1"}
};

// One verified, extracted bundle (prepare/release are per bundle digest).
struct BundleContent {
  std::string digest;  // bundle file SHA-256 (64 hex)
  stdfs::path root;    // extracted top folder holding bundle.conf; read-only
  const bundle::Descriptor* descriptor = nullptr;  // valid during the call
};

struct PortBinding {
  std::string endpoint;  // endpoint name from bundle.conf
  bundle::Protocol protocol = bundle::Protocol::http;
  int bind_port = 0;  // the port the component binds (inside a container: the container port)
  int host_port = 0;  // the port on the host (equal to bind_port outside containers)
};

struct Limits {
  double cpus = 0;          // 0 = no limit
  std::int64_t memory = 0;  // bytes of resident memory; 0 = no limit
};

struct Launch {
  std::string id;  // "<instance id>.<component>": the runtime's key for everything below
  std::string instance_id;
  std::string bundle_id;
  std::string bundle_digest;
  std::string component;
  std::string agent_name;   // for labels/cgroup names that must not clash between agents
  stdfs::path bundle_root;  // extracted bundle (read-only), as given to prepare()
  stdfs::path work_dir;     // writable, the component's working folder
  stdfs::path log_dir;      // stdout/stderr go here in the format of logs/ (docs/logs.md)
  stdfs::path state_dir;    // the runtime's private, persistent folder for this launch
  // start-command after `$NAME` expansion; the program is not yet resolved (the runtime decides:
  // relative to bundle_root for universal, inside the image for docker). Empty: image default.
  std::vector<std::string> command;
  // The complete environment of the component (ConductR's names, docs/environment.md).
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<PortBinding> ports;
  Limits limits;
  int stop_signal = 15;  // SIGTERM
  std::chrono::milliseconds stop_timeout{5000};
  stdfs::path notify_socket;  // the agent's NOTIFY_SOCKET for this instance ("" = none)
};

// What the agent saves about a running launch so recover() can find it again.
struct Handle {
  int pid = 0;        // main process on the host, 0 when not meaningful
  std::string state;  // runtime-private recovery data (JSON text), saved verbatim by the agent
};

struct ExitStatus {
  int code = -1;            // exit code, -1 when killed by a signal or unknown
  int signal = 0;           // terminating signal, 0 when it exited
  bool oom_killed = false;  // the memory limit killed it
  std::string message;      // e.g. "killed by SIGKILL (memory limit 64 MiB)"

  bool success() const { return code == 0 && signal == 0; }
};

struct Stats {
  double cpu_seconds = 0;         // user + system since start
  std::int64_t memory_bytes = 0;  // resident
};

enum class LogLevel { debug, info, warn, error };

// Services the agent offers every runtime.
class RuntimeHost {
 public:
  virtual ~RuntimeHost() = default;
  // A launch ended (once per start/recover). Any thread; it may arrive before start() or
  // recover() has returned.
  virtual void exited(const std::string& launch_id, ExitStatus status) = 0;
  // The agent's own log, tagged with the runtime's name.
  virtual void log(LogLevel level, std::string_view message) = 0;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // The name `file-system-type` selects.
  virtual std::string name() const = 0;
  // Is it usable on this host? Cheap enough to call every few seconds.
  virtual ProbeResult probe() = 0;
  // Once per bundle digest before its first start (build or load images, unpack payloads).
  virtual Status prepare(const BundleContent& bundle) = 0;
  // Start one launch. On error nothing of it is left running.
  virtual Result<Handle> start(const Launch& launch) = 0;
  // Ask a launch to end: `signal`, then SIGKILL after `timeout`. Returns at once; the exit comes
  // through RuntimeHost::exited. Unknown ids are not an error.
  virtual Status stop(const std::string& launch_id, int signal,
                      std::chrono::milliseconds timeout) = 0;
  // Kill if running and remove everything the launch left (containers, folders it made).
  // Idempotent, also for ids the runtime never saw.
  virtual Status destroy(const std::string& launch_id) = 0;
  // After an agent restart: re-adopt a launch from its saved handle. If it ended meanwhile, the
  // runtime reports the exit through RuntimeHost::exited (with the real status when it is known).
  virtual Result<Handle> recover(const Launch& launch, const Handle& saved) = 0;
  virtual Result<Stats> stats(const std::string& launch_id) = 0;
  // The bundle digest left this agent: remove what prepare() made.
  virtual Status release(const std::string& bundle_digest) = 0;
};

using RuntimePtr = std::unique_ptr<Runtime>;

}  // namespace baton::runtimes
