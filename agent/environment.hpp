#pragma once
// The environment of a component: exactly ConductR's names (docs/environment.md), a default PATH
// and the names the operator passes through with --pass-env. Nothing else of the agent's own
// environment reaches a component.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"
#include "protocol/agent_messages.hpp"

namespace baton::agent {

using Environment = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// "http://10.0.0.5:9005/x" -> {"http", "10.0.0.5", "9005"} (the port defaults by scheme).
struct UrlParts {
  std::string protocol;
  std::string host;
  std::string port;
};
Result<UrlParts> parse_url(std::string_view url);

struct EnvironmentInput {
  const bundle::Descriptor* descriptor = nullptr;
  std::string bundle_id;
  std::string host_ip;               // BUNDLE_HOST_IP and every *_BIND_IP
  std::string control_url;           // the core: CONDUCTR_CONTROL
  std::string status_url;            // http://<ip>:<port>/i/<token>: CONDUCTR_STATUS
  std::string locator_url;           // http://<ip>:<port>/services: SERVICE_LOCATOR
  std::map<std::string, int> ports;  // endpoint -> host port (= bind port outside containers)
  std::map<std::string, std::vector<protocol::Peer>> peers;  // endpoint -> other instances
  std::string notify_socket;                                 // NOTIFY_SOCKET; empty = none
  std::vector<std::string> pass_env;                         // names taken from the agent's own
  std::function<std::optional<std::string>(const std::string&)> agent_env;  // default: getenv
};

// Sorted by name; each name once.
Environment build_environment(const EnvironmentInput& input);
// CONTAINER_ENV: every name of `environment`, colon-separated (again after names were added).
void set_container_env(Environment& environment);

// The environment as a component in a container on a bridge network sees it: every
// `<EP>_BIND_IP` of the bundle is 0.0.0.0 (it binds inside its own network namespace, on the
// container port, which the agent makes equal to the host port), and CONDUCTR_STATUS and
// SERVICE_LOCATOR, with their _PROTOCOL, _IP and _PORT, name the agent's listener on the bridge
// (`status_url`, `locator_url`). BUNDLE_HOST_IP, ports and `<EP>_HOST` keep the host's values.
Environment container_view(Environment environment, const bundle::Descriptor& descriptor,
                           const std::string& status_url, const std::string& locator_url);

// The value of `name` in `environment`, if present.
std::optional<std::string> find_variable(const Environment& environment, std::string_view name);
// Sets (replacing) `name`, keeping the order sorted.
void set_variable(Environment& environment, const std::string& name, std::string value);

}  // namespace baton::agent
