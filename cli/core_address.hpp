#pragma once
// Where the core is: --host/--port, then BATON_HOST/BATON_PORT, then ConductR's
// CONDUCTR_HOST/CONDUCTR_PORT, then the settings file's host/port, then 127.0.0.1:9005; and the
// credentials to show it (cli/credentials.hpp).

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cli/credentials.hpp"
#include "common/result.hpp"

namespace baton::cli {

inline constexpr int kDefaultCorePort = 9005;
inline constexpr std::string_view kDefaultCoreHost = "127.0.0.1";

struct CoreAddress {
  std::string host;  // a name, an IPv4 address or an IPv6 address (without brackets)
  int port = kDefaultCorePort;
  bool tls = false;         // https://
  Credentials credentials;  // sent with every request
  // "http://127.0.0.1:9005" ("http://[::1]:9005" for IPv6, "https://..." with tls).
  std::string url() const;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (empty values count as unset).
EnvLookup process_environment();

// A host may also be given as "http://host[:port]" or "https://host[:port]" (TLS; without a port
// 443, as for any https URL); a port there counts as given with the host. Errors
// (Errc::invalid) name the flag, variable or setting and the value.
Result<CoreAddress> resolve_core_address(const std::optional<std::string>& host_flag,
                                         const std::optional<int>& port_flag, const EnvLookup& env,
                                         const Settings& settings = {});

// "user@host" for the X-Baton-User header: $USER (or the passwd entry) and the host name.
std::string user_at_host();

}  // namespace baton::cli
