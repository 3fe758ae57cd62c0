#pragma once
// The typed form of bundle.conf (ConductR's descriptor, see docs/bundle-format.md). Parsing and
// validation live in descriptor_parse.hpp; this header is plain data so every folder can use it
// without pulling in HOCON.

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace baton::bundle {

enum class Protocol { http, tcp, udp };
const char* to_string(Protocol protocol);

// One entry of an endpoint's `acls`: `{ http { requests = [ { path-beg = "/x", method = "GET",
// rewrite = "/" } ] } }` or `{ tcp { requests = [ 9000 ] } }`.
struct HttpRequestRule {
  std::string match;  // "path", "path-beg" or "path-regex"
  std::string value;
  std::optional<std::string> method;
  std::optional<std::string> rewrite;
  bool operator==(const HttpRequestRule&) const = default;
};

struct Acl {
  Protocol protocol = Protocol::http;
  std::vector<HttpRequestRule> http_requests;  // protocol == http
  std::vector<int> ports;                      // protocol == tcp or udp
  bool operator==(const Acl&) const = default;
};

struct Endpoint {
  std::string name;                    // unique across all components of the bundle
  Protocol protocol = Protocol::http;  // `bind-protocol`
  int bind_port = 0;                   // `bind-port`; 0 = the agent allocates one
  std::string service_name;            // `service-name`; empty when not given
  std::vector<std::string> services;   // ConductR's older `services` URIs
  std::vector<Acl> acls;
  bool operator==(const Endpoint&) const = default;
};

// How the agent learns that an instance is ready (docs/bundle-format.md, "Readiness").
struct Readiness {
  enum class Mode {
    automatic,  // default: a signal, or all endpoints accepting TCP connections, whichever first
    signal,     // only $CONDUCTR_STATUS or READY=1 on $NOTIFY_SOCKET
    http,       // poll GET http://<endpoint><path> until 2xx/3xx
    tcp,        // poll a TCP connect to the endpoint
    none,       // ready as soon as the process runs
  };
  Mode mode = Mode::automatic;
  std::string endpoint;  // for http/tcp: which endpoint; empty = the first one
  std::string path = "/";
  std::chrono::milliseconds initial_delay{0};
  std::chrono::milliseconds interval{100};
  std::chrono::milliseconds timeout{1000};  // per try
  bool operator==(const Readiness&) const = default;
};
const char* to_string(Readiness::Mode mode);

struct Component {
  std::string name;
  std::string description;
  std::string file_system_type;            // the runtime that runs it: universal, docker, rpm, ...
  std::vector<std::string> start_command;  // empty only for docker (the image's own command)
  std::vector<Endpoint> endpoints;         // sorted by name
  std::map<std::string, std::string> volumes;
  std::string stop_signal = "SIGTERM";           // `stop-signal`
  std::chrono::milliseconds stop_timeout{5000};  // `stop-timeout`: grace before SIGKILL
  bool operator==(const Component&) const = default;
};

struct Descriptor {
  std::string version = "1";
  std::string name;
  std::string compatibility_version;
  std::vector<std::string> tags;
  std::string system;          // defaults to name
  std::string system_version;  // defaults to compatibility_version
  double nr_of_cpus = 0;
  std::int64_t memory = 0;      // resident bytes
  std::int64_t disk_space = 0;  // bytes
  std::vector<std::string> roles{"web"};
  nlohmann::json annotations = nlohmann::json::object();
  std::vector<Component> components;  // sorted by name
  // Readiness is per bundle instance, as ConductR's signal is per bundle: `readiness { ... }`, or
  // derived from a ConductR `bundle-status` component running `check` (which is then not run).
  Readiness readiness;
  std::chrono::milliseconds start_timeout{60000};  // `start-timeout`: not ready by then = failed

  // All endpoints of all components, in component then endpoint order.
  std::vector<const Endpoint*> endpoints() const;
  const Component* component(const std::string& name) const;
  bool operator==(const Descriptor&) const = default;
};

}  // namespace baton::bundle
