// baton-agent: the execution service on each machine (docs/architecture.md). Parses flags, builds
// the runtime registry (universal, docker, plugins), runs the agent until SIGINT or SIGTERM.

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "agent/agent.hpp"
#include "agent/host.hpp"
#include "http/bearer.hpp"
#include "plugins/host/loader.hpp"
#include "runtimes/docker/docker.hpp"
#include "runtimes/universal/universal.hpp"

namespace {

using namespace baton;

// "10G", "512M", "1048576" -> bytes; -1 when malformed.
std::int64_t parse_bytes(std::string text) {
  if (text.empty()) return -1;
  std::int64_t unit = 1;
  char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
  if (last == 'B' && text.size() > 1) {
    text.pop_back();
    last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
  }
  if (last == 'K' || last == 'M' || last == 'G' || last == 'T') {
    unit = last == 'K' ? 1LL << 10 : last == 'M' ? 1LL << 20 : last == 'G' ? 1LL << 30 : 1LL << 40;
    text.pop_back();
  }
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || value < 0) return -1;
  return static_cast<std::int64_t>(value * static_cast<double>(unit));
}

}  // namespace

int main(int argc, char** argv) {
  agent::AgentOptions options;
  options.name = agent::host_name();
  options.address = agent::first_ipv4_address();
  options.data = "/var/lib/baton/agent";
  std::string ports = options.ports.to_string();
  std::string memory, disk, cache = "10G", log_file_bytes = "10M";
  int log_files = baton::logs::kDefaultMaxFiles;
  std::size_t spare_shims = baton::runtimes::universal::Options{}.spare_shims;
  double restart_window_s = 60;
  std::string log_level = "info";
  double cpus = 0;

  CLI::App app{"baton-agent: runs the instances a Baton core assigns to this machine"};
  app.add_option("--name", options.name, "Agent name, stable across restarts (default: host name)");
  app.add_option("--core", options.cores,
                 "Core URL, e.g. http://10.0.0.1:9005; repeatable (the next is used when one goes "
                 "away)")
      ->required();
  app.add_option("--data", options.data, "Data folder: instances, bundle cache")
      ->capture_default_str();
  app.add_option("--address", options.address,
                 "Address of this machine for endpoints, BUNDLE_HOST_IP (default: first "
                 "non-loopback IPv4)");
  app.add_option("--api-bind", options.api_bind, "Address of the agent API")->capture_default_str();
  app.add_option("--api-port", options.api_port, "Port of the agent API (0: any)")
      ->capture_default_str();
  app.add_option("--status-port", options.status_port,
                 "Local status port for readiness signals, CONDUCTR_STATUS (0: any)")
      ->capture_default_str();
  app.add_option("--locator-port", options.locator_port,
                 "Local service locator port, SERVICE_LOCATOR (0: any)")
      ->capture_default_str();
  app.add_option("--roles,--role", options.roles, "Roles of this agent (repeatable or a,b)")
      ->delimiter(',');
  app.add_option("--ports", ports, "Range of dynamic endpoint ports")->capture_default_str();
  app.add_option("--cpus", cpus, "CPUs offered (default: detected)");
  app.add_option("--memory", memory, "Memory offered, e.g. 16G (default: detected)");
  app.add_option("--disk", disk, "Disk offered, e.g. 100G (default: free space of --data)");
  app.add_option("--pass-env", options.pass_env,
                 "A variable of the agent's environment passed to components; repeatable");
  app.add_option("--cache-bytes", cache, "Disk budget of the bundle cache")->capture_default_str();
  app.add_option("--log-file-bytes", log_file_bytes,
                 "Size of a component's log file before rotation")
      ->capture_default_str();
  app.add_option("--log-files", log_files, "Rotated log files kept per component")
      ->capture_default_str();
  app.add_option("--spare-shims", spare_shims,
                 "baton-shim processes started ahead of need (0: one spawned per start)")
      ->capture_default_str();
  app.add_option("--restart-limit", options.restart.limit,
                 "Restarts of an instance within the window before it fails")
      ->capture_default_str();
  app.add_option("--restart-window", restart_window_s, "The restart window, in seconds")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  std::string docker_socket = "/var/run/docker.sock";
  app.add_option("--docker-socket", docker_socket,
                 "Docker Engine API socket of the docker runtime (docs/runtimes.md)")
      ->capture_default_str();
  double probe_interval_s = 5;
  app.add_option("--runtime-probe-interval", probe_interval_s,
                 "Seconds between probes of the runtimes (a change is reported to the core)")
      ->capture_default_str();
  std::vector<std::filesystem::path> plugin_dirs;
  app.add_option("--plugins-dir", plugin_dirs,
                 "Folder of runtime plugins (*.so, docs/plugins.md) to load; repeatable");
  // Who may do what (docs/security.md).
  std::string token_file, core_token_file;
  app.add_option("--token-file", token_file,
                 "File holding this agent's bearer token for the cores (level agent)");
  app.add_option("--ca", options.core_tls.ca,
                 "PEM CA that signs the cores' certificates (https:// cores; default: the "
                 "system's CAs)");
  app.add_option("--cert", options.core_tls.certificate,
                 "PEM client certificate presented to the cores (mutual TLS, OU=agent)");
  app.add_option("--key", options.core_tls.key, "The PEM private key of --cert");
  app.add_option("--core-token-file", core_token_file,
                 "File holding the token cores must send to this agent's API (the core's "
                 "--token-file); without it the API answers anyone who reaches it");
  app.add_option("--api-tls-cert", options.api_tls.certificate,
                 "Serve the agent API over HTTPS with this PEM certificate");
  app.add_option("--api-tls-key", options.api_tls.key, "The PEM private key of --api-tls-cert");
  app.add_option("--api-client-ca", options.api_tls.client_ca,
                 "Require client certificates signed by this PEM CA on the agent API");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("baton-agent");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  auto fail = [](const std::string& message) {
    spdlog::error("{}", message);
    return 1;
  };
  if (!token_file.empty()) {
    auto token = http::read_token_file(token_file);
    if (!token) return fail("--token-file: " + token.error().message);
    options.token = *token;
  }
  if (!core_token_file.empty()) {
    auto token = http::read_token_file(core_token_file);
    if (!token) return fail("--core-token-file: " + token.error().message);
    options.core_token = *token;
  }
  if (!options.core_tls.ca.empty() || !options.core_tls.certificate.empty() ||
      !options.core_tls.key.empty()) {
    if (auto checked = http::check_client_files(options.core_tls); !checked) {
      return fail("--ca/--cert/--key: " + checked.error().message);
    }
  }
  if (options.api_tls.enabled() || !options.api_tls.key.empty() ||
      !options.api_tls.client_ca.empty()) {
    if (!options.api_tls.enabled()) {
      return fail("--api-tls-key and --api-client-ca need --api-tls-cert");
    }
    if (auto checked = http::check_server_files(options.api_tls); !checked) {
      return fail("--api-tls-cert/--api-tls-key/--api-client-ca: " + checked.error().message);
    }
  }
  auto range = agent::parse_port_range(ports);
  if (!range) return fail("--ports: " + range.error().message);
  options.ports = *range;
  options.restart.window =
      std::chrono::milliseconds(static_cast<std::int64_t>(restart_window_s * 1000));
  if (probe_interval_s <= 0) return fail("--runtime-probe-interval: expected seconds above 0");
  options.runtime_probe_interval =
      std::chrono::milliseconds(static_cast<std::int64_t>(probe_interval_s * 1000));
  std::error_code error;
  std::filesystem::create_directories(options.data, error);
  if (error) return fail("--data " + options.data.string() + ": " + error.message());
  options.resources.cpus = cpus > 0 ? cpus : agent::cpu_count();
  options.resources.memory = memory.empty() ? agent::memory_bytes() : parse_bytes(memory);
  options.resources.disk = disk.empty() ? agent::disk_bytes(options.data) : parse_bytes(disk);
  std::int64_t cache_bytes = parse_bytes(cache);
  std::int64_t file_bytes = parse_bytes(log_file_bytes);
  if (options.resources.memory < 0) return fail("--memory '" + memory + "': expected e.g. 16G");
  if (options.resources.disk < 0) return fail("--disk '" + disk + "': expected e.g. 100G");
  if (cache_bytes <= 0) return fail("--cache-bytes '" + cache + "': expected e.g. 10G");
  if (file_bytes <= 0) return fail("--log-file-bytes '" + log_file_bytes + "': expected e.g. 10M");
  options.cache_bytes = static_cast<std::uint64_t>(cache_bytes);
  options.workers = std::max<std::size_t>(4, 2 * static_cast<std::size_t>(agent::cpu_count()));

  // Signals are taken by sigwait below; every thread started from here on inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  agent::RuntimeEvents events;
  agent::RuntimeHostFor universal_host(events, "universal");
  agent::RuntimeHostFor docker_host(events, "docker");  // hosts outlive the registry's runtimes
  runtimes::universal::Options universal_options;
  universal_options.log_rotation.max_bytes = static_cast<std::uint64_t>(file_bytes);
  universal_options.log_rotation.max_files = log_files;
  universal_options.spare_shims = spare_shims;
  runtimes::Registry registry;
  if (auto added =
          registry.add(runtimes::universal::make_runtime(universal_host, universal_options));
      !added) {
    return fail(added.error().message);
  }
  // Never fails without dockerd: its probe says so and the runtime connects when dockerd comes.
  runtimes::docker::Options docker_options;
  docker_options.agent_name = options.name;
  docker_options.owner = runtimes::docker::owner_for(options.name, options.data);
  docker_options.socket = docker_socket;
  docker_options.log_rotation = universal_options.log_rotation;
  if (auto added = registry.add(runtimes::docker::make_runtime(docker_host, docker_options));
      !added) {
    return fail(added.error().message);
  }
  // Runtime plugins join the registry next to the built-in runtimes; one that cannot load is
  // reported and skipped. Their process service is the universal runtime above.
  plugins::LoadOptions plugin_options;
  plugin_options.folders = plugin_dirs;
  plugin_options.data_dir = options.data / "runtimes";
  plugin_options.services = {registry.find("universal"), universal_options.log_rotation};
  plugin_options.make_host = [&events](const std::string& name) {
    return std::make_unique<agent::RuntimeHostFor>(events, name);
  };
  auto loaded = plugins::load_plugins(registry, plugin_options);
  for (const auto& line : loaded.loaded)
    spdlog::info("loaded {}", line);
  for (const auto& refused : loaded.refused)
    spdlog::error("{}", refused.message);

  agent::Agent agent(options, registry, events);
  if (auto started = agent.start(); !started) return fail(started.error().message);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("stopping on signal {}", signal_number);
  agent.stop();
  return 0;
}
