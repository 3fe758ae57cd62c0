#include "agent/environment.hpp"

#include <algorithm>
#include <cstdlib>

#include "common/text.hpp"

namespace baton::agent {

Result<UrlParts> parse_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) {
    return make_error(Errc::invalid,
                      "URL '" + std::string(url) + "': expected scheme://host[:port]");
  }
  UrlParts parts;
  parts.protocol = std::string(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return make_error(Errc::invalid, "URL '" + std::string(url) + "': unclosed '['");
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return make_error(Errc::invalid, "URL '" + std::string(url) + "': no host");
  parts.host = std::string(host);
  if (port.empty()) {
    port = parts.protocol == "https" ? "443" : "80";
  } else if (auto number = text::parse_integer(port); !number || *number < 1 || *number > 65535) {
    return make_error(Errc::invalid,
                      "URL '" + std::string(url) + "': bad port '" + std::string(port) + "'");
  }
  parts.port = std::string(port);
  return parts;
}

std::optional<std::string> find_variable(const Environment& environment, std::string_view name) {
  auto it =
      std::lower_bound(environment.begin(), environment.end(), name,
                       [](const auto& entry, std::string_view key) { return entry.first < key; });
  if (it == environment.end() || it->first != name) return std::nullopt;
  return it->second;
}

void set_variable(Environment& environment, const std::string& name, std::string value) {
  auto it =
      std::lower_bound(environment.begin(), environment.end(), name,
                       [](const auto& entry, const std::string& key) { return entry.first < key; });
  if (it != environment.end() && it->first == name) {
    it->second = std::move(value);
  } else {
    environment.emplace(it, name, std::move(value));
  }
}

namespace {

void add_url(std::map<std::string, std::string>& out, const std::string& name,
             const std::string& url) {
  if (url.empty()) return;
  out[name] = url;
  if (auto parts = parse_url(url)) {
    out[name + "_PROTOCOL"] = parts->protocol;
    out[name + "_IP"] = parts->host;
    out[name + "_PORT"] = parts->port;
  }
}

}  // namespace

Environment build_environment(const EnvironmentInput& input) {
  std::map<std::string, std::string> out;
  auto agent_env = input.agent_env;
  if (!agent_env) {
    agent_env = [](const std::string& name) -> std::optional<std::string> {
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) return std::nullopt;
      return std::string(value);
    };
  }
  // Passed-through names first: Baton's own names below win over them, except PATH.
  for (const auto& name : input.pass_env) {
    if (auto value = agent_env(name)) out[name] = *value;
  }
  if (out.count("PATH") == 0) out["PATH"] = std::string(kDefaultPath);

  const bundle::Descriptor& d = *input.descriptor;
  out["BUNDLE_ID"] = input.bundle_id;
  out["BUNDLE_NAME"] = d.name;
  out["BUNDLE_COMPATIBILITY_VERSION"] = d.compatibility_version;
  out["BUNDLE_SYSTEM"] = d.system.empty() ? d.name : d.system;
  out["BUNDLE_SYSTEM_VERSION"] =
      d.system_version.empty() ? d.compatibility_version : d.system_version;
  out["BUNDLE_TAGS"] = text::join(d.tags, ",");
  out["BUNDLE_HOST_IP"] = input.host_ip;
  add_url(out, "CONDUCTR_CONTROL", input.control_url);
  add_url(out, "CONDUCTR_STATUS", input.status_url);
  add_url(out, "SERVICE_LOCATOR", input.locator_url);
  if (!input.notify_socket.empty()) out["NOTIFY_SOCKET"] = input.notify_socket;

  for (const bundle::Endpoint* endpoint : d.endpoints()) {
    const std::string stem = text::env_name(endpoint->name);
    const std::string protocol = bundle::to_string(endpoint->protocol);
    auto port_it = input.ports.find(endpoint->name);
    const std::string port = port_it == input.ports.end() ? "" : std::to_string(port_it->second);
    out[stem + "_PROTOCOL"] = protocol;
    out[stem + "_BIND_IP"] = input.host_ip;
    out[stem + "_BIND_PORT"] = port;
    out[stem + "_HOST_PORT"] = port;
    out[stem + "_HOST"] = protocol + "://" + input.host_ip + ":" + port;
    std::vector<std::string> protocols, ips, ports;
    if (auto peers = input.peers.find(endpoint->name); peers != input.peers.end()) {
      for (const auto& peer : peers->second) {
        protocols.push_back(peer.protocol.empty() ? protocol : peer.protocol);
        ips.push_back(peer.ip);
        ports.push_back(std::to_string(peer.port));
      }
    }
    out[stem + "_OTHER_PROTOCOLS"] = text::join(protocols, ":");
    out[stem + "_OTHER_IPS"] = text::join(ips, ":");
    out[stem + "_OTHER_PORTS"] = text::join(ports, ":");
  }

  Environment environment(out.begin(), out.end());
  set_container_env(environment);
  return environment;
}

Environment container_view(Environment environment, const bundle::Descriptor& descriptor,
                           const std::string& status_url, const std::string& locator_url) {
  for (const bundle::Endpoint* endpoint : descriptor.endpoints()) {
    const std::string name = text::env_name(endpoint->name) + "_BIND_IP";
    if (find_variable(environment, name)) set_variable(environment, name, "0.0.0.0");
  }
  std::map<std::string, std::string> urls;
  add_url(urls, "CONDUCTR_STATUS", status_url);
  add_url(urls, "SERVICE_LOCATOR", locator_url);
  for (auto& [name, value] : urls)
    set_variable(environment, name, std::move(value));
  return environment;
}

void set_container_env(Environment& environment) {
  // The names a container runtime passes into the container: all of them.
  std::vector<std::string> names;
  for (const auto& [name, value] : environment) {
    if (name != "CONTAINER_ENV") names.push_back(name);
  }
  names.push_back("CONTAINER_ENV");
  std::sort(names.begin(), names.end());
  set_variable(environment, "CONTAINER_ENV", text::join(names, ":"));
}

}  // namespace baton::agent
