#include "runtimes/docker/spec.hpp"

#include <arpa/inet.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/text.hpp"

namespace baton::runtimes::docker {

using nlohmann::json;

namespace {

// Docker's repository path component: [a-z0-9]+ joined by single separators.
std::string repository_component(std::string_view text) {
  std::string out;
  bool separator = false;
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if (separator && !out.empty()) out += '-';
      separator = false;
      out += c;
    } else {
      separator = true;
    }
  }
  if (out.empty()) out = "x";
  return out;
}

// Container and volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
std::string object_name(std::string_view text) {
  std::string out;
  for (char c : text) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += word || c == '_' || c == '.' || c == '-' ? c : '_';
  }
  if (out.empty() || !std::isalnum(static_cast<unsigned char>(out.front()))) out = "x" + out;
  return out;
}

const char* protocol_suffix(bundle::Protocol protocol) {
  return protocol == bundle::Protocol::udp ? "/udp" : "/tcp";
}

}  // namespace

std::string container_name(std::string_view agent, std::string_view launch_id) {
  return object_name("baton-" + std::string(agent) + "-" + std::string(launch_id));
}

std::string image_repository_prefix(std::string_view agent) {
  return "baton/" + repository_component(agent) + "/";
}

std::string image_repository(std::string_view agent, std::string_view bundle_name,
                             std::string_view component) {
  return image_repository_prefix(agent) + repository_component(bundle_name) + "-" +
         repository_component(component);
}

std::string image_tag(std::string_view bundle_digest) {
  return std::string(bundle_digest);
}

std::string image_reference(std::string_view agent, std::string_view bundle_name,
                            std::string_view component, std::string_view bundle_digest) {
  return image_repository(agent, bundle_name, component) + ":" + image_tag(bundle_digest);
}

std::string volume_name(std::string_view agent, std::string_view bundle_name,
                        std::string_view volume) {
  return object_name("baton-" + std::string(agent) + "-" + std::string(bundle_name) + "-" +
                     std::string(volume));
}

std::vector<std::pair<std::string, std::string>> container_environment(const Launch& launch) {
  std::map<std::string, std::string> overrides;
  for (const auto& port : launch.ports) {
    const std::string stem = text::env_name(port.endpoint);
    overrides[stem + "_BIND_IP"] = "0.0.0.0";
    overrides[stem + "_BIND_PORT"] = std::to_string(port.bind_port);
    overrides[stem + "_HOST_PORT"] = std::to_string(port.host_port);
  }
  // The image's own PATH names its own file system; the agent's default is the host's.
  std::set<std::string> dropped = {"PATH"};
  for (const auto& [name, value] : launch.environment) {
    if (name == "NOTIFY_SOCKET" && !value.empty() && value.front() == '@') dropped.insert(name);
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : launch.environment) {
    if (dropped.count(name) != 0) continue;
    if (name == "CONTAINER_ENV") {
      std::vector<std::string> kept;
      for (auto& listed : text::split(value, ':')) {
        if (dropped.count(listed) == 0) kept.push_back(std::move(listed));
      }
      out.emplace_back(name, text::join(kept, ":"));
      continue;
    }
    auto it = overrides.find(name);
    if (it == overrides.end()) {
      out.emplace_back(name, value);
    } else {
      out.emplace_back(name, it->second);
      overrides.erase(it);
    }
  }
  for (auto& [name, value] : overrides)
    out.emplace_back(name, std::move(value));
  return out;
}

std::string publish_address(const Launch& launch) {
  for (const auto& [name, value] : launch.environment) {
    if (name != "BUNDLE_HOST_IP") continue;
    unsigned char buffer[16];
    if (::inet_pton(AF_INET, value.c_str(), buffer) == 1 ||
        ::inet_pton(AF_INET6, value.c_str(), buffer) == 1) {
      return value == "0.0.0.0" || value == "::" ? std::string() : value;
    }
  }
  return {};
}

std::string create_body(const Launch& launch, const CreateOptions& options) {
  json body;
  body["Image"] = options.image;
  if (!launch.command.empty()) body["Cmd"] = launch.command;
  json environment = json::array();
  for (const auto& [name, value] : container_environment(launch)) {
    environment.push_back(name + "=" + value);
  }
  body["Env"] = std::move(environment);
  body["Labels"] = {
      {std::string(kLabelAgent), options.owner.empty() ? launch.agent_name : options.owner},
      {std::string(kLabelBundleId), launch.bundle_id},
      {std::string(kLabelBundleDigest), launch.bundle_digest},
      {std::string(kLabelInstance), launch.instance_id},
      {std::string(kLabelLaunch), launch.id},
      {std::string(kLabelComponent), launch.component}};
  body["Tty"] = false;
  body["OpenStdin"] = false;
  body["AttachStdin"] = false;
  body["AttachStdout"] = false;
  body["AttachStderr"] = false;
  body["StopSignal"] = std::to_string(launch.stop_signal);
  body["StopTimeout"] = static_cast<int>((launch.stop_timeout.count() + 999) / 1000);

  json host;
  json exposed = json::object();
  json bindings = json::object();
  const std::string address = publish_address(launch);
  for (const auto& port : launch.ports) {
    if (port.bind_port <= 0) continue;
    const std::string key = std::to_string(port.bind_port) + protocol_suffix(port.protocol);
    exposed[key] = json::object();
    if (port.host_port > 0) {
      bindings[key].push_back({{"HostIp", address}, {"HostPort", std::to_string(port.host_port)}});
    }
  }
  body["ExposedPorts"] = std::move(exposed);
  host["PortBindings"] = std::move(bindings);
  if (launch.limits.memory > 0) {
    host["Memory"] = launch.limits.memory;
    host["MemorySwap"] = launch.limits.memory;  // resident memory: no swap on top
  }
  if (launch.limits.cpus > 0) {
    host["NanoCpus"] = static_cast<std::int64_t>(std::llround(launch.limits.cpus * 1e9));
  }
  host["LogConfig"] = {
      {"Type", "json-file"},
      {"Config",
       {{"max-size", options.log_max_size}, {"max-file", std::to_string(options.log_max_files)}}}};
  host["RestartPolicy"] = {{"Name", "no"}};
  json mounts = json::array();
  for (const auto& mount : options.mounts) {
    mounts.push_back({{"Type", mount.type}, {"Source", mount.source}, {"Target", mount.target}});
  }
  if (!mounts.empty()) host["Mounts"] = std::move(mounts);
  body["HostConfig"] = std::move(host);
  return body.dump();
}

ExitStatus exit_status(int code, bool oom_killed, std::int64_t memory_limit) {
  ExitStatus status;
  status.oom_killed = oom_killed;
  if (code > 128 && code <= 128 + 64) {
    status.code = -1;
    status.signal = code - 128;
    const char* name = sigabbrev_np(status.signal);
    status.message = "killed by SIG" + std::string(name != nullptr ? name : "?") + " (exit code " +
                     std::to_string(code) + ")";
  } else {
    status.code = code;
    status.message = "exit code " + std::to_string(code);
  }
  if (oom_killed) {
    status.message += memory_limit > 0
                          ? " (memory limit " + std::to_string(memory_limit >> 20) + " MiB)"
                          : " (out of memory)";
  }
  return status;
}

}  // namespace baton::runtimes::docker
