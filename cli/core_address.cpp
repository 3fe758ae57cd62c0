#include "cli/core_address.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "common/text.hpp"

namespace baton::cli {

namespace {

Result<int> parse_port(std::string_view text, std::string_view source) {
  auto value = text::parse_integer(text::trim(text));
  if (!value || *value < 1 || *value > 65535) {
    return make_error(Errc::invalid, std::string(source) + ": expected a port 1-65535, got '" +
                                         std::string(text) + "'");
  }
  return static_cast<int>(*value);
}

struct HostAndPort {
  std::string host;
  std::optional<int> port;
  bool tls = false;
};

Result<HostAndPort> parse_host(std::string_view text, std::string_view source) {
  std::string_view rest = text::trim(text);
  auto invalid = [&](std::string_view why) {
    return make_error(Errc::invalid, std::string(source) + ": " + std::string(why) + ", got '" +
                                         std::string(text) + "'");
  };
  bool url = false;
  HostAndPort out;
  if (rest.starts_with("http://") || rest.starts_with("https://")) {
    out.tls = rest.starts_with("https://");
    rest.remove_prefix(out.tls ? 8 : 7);
    url = true;
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  } else if (rest.find("://") != std::string_view::npos) {
    return invalid("only http:// and https:// are supported");
  }
  if (rest.starts_with('[')) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return invalid("unclosed '[' in an IPv6 address");
    out.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return invalid("expected ':<port>' after ']'");
      BATON_ASSIGN_OR_RETURN(out.port, parse_port(rest.substr(1), source));
    }
  } else if (std::size_t colon = rest.find(':');
             colon != std::string_view::npos &&
             rest.find(':', colon + 1) == std::string_view::npos) {
    // One colon: host:port. Several: a bare IPv6 address.
    if (!url) return invalid("give the port with --port (or use http://host:port)");
    out.host = std::string(rest.substr(0, colon));
    BATON_ASSIGN_OR_RETURN(out.port, parse_port(rest.substr(colon + 1), source));
  } else {
    out.host = std::string(rest);
  }
  if (out.host.empty()) return invalid("expected a host name or address");
  if (out.host.find_first_of("/ \t@?#") != std::string::npos) {
    return invalid("expected a host name or address");
  }
  if (out.tls && !out.port) out.port = 443;
  return out;
}

}  // namespace

std::string CoreAddress::url() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (tls ? "https://" : "http://") + (ipv6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

Result<CoreAddress> resolve_core_address(const std::optional<std::string>& host_flag,
                                         const std::optional<int>& port_flag, const EnvLookup& env,
                                         const Settings& settings) {
  CoreAddress address{std::string(kDefaultCoreHost), kDefaultCorePort};
  std::optional<int> host_port;
  auto take = [&](const HostAndPort& parsed) {
    address.host = parsed.host;
    address.tls = parsed.tls;
    host_port = parsed.port;
  };
  if (host_flag) {
    BATON_ASSIGN_OR_RETURN(auto parsed, parse_host(*host_flag, "--host"));
    take(parsed);
  } else {
    bool found = false;
    for (std::string_view name : {"BATON_HOST", "CONDUCTR_HOST"}) {
      if (auto value = env(name)) {
        BATON_ASSIGN_OR_RETURN(auto parsed, parse_host(*value, name));
        take(parsed);
        found = true;
        break;
      }
    }
    if (auto value = settings.value("host"); !found && value) {
      BATON_ASSIGN_OR_RETURN(auto parsed, parse_host(*value, settings.file.string() + ": host"));
      take(parsed);
    }
  }
  if (port_flag) {
    if (*port_flag < 1 || *port_flag > 65535) {
      return make_error(Errc::invalid, "--port: expected a port 1-65535, got '" +
                                           std::to_string(*port_flag) + "'");
    }
    address.port = *port_flag;
    return address;
  }
  if (host_port) {
    address.port = *host_port;
    return address;
  }
  for (std::string_view name : {"BATON_PORT", "CONDUCTR_PORT"}) {
    if (auto value = env(name)) {
      BATON_ASSIGN_OR_RETURN(address.port, parse_port(*value, name));
      return address;
    }
  }
  if (auto value = settings.value("port")) {
    BATON_ASSIGN_OR_RETURN(address.port, parse_port(*value, settings.file.string() + ": port"));
  }
  return address;
}

std::string user_at_host() {
  std::string user;
  if (const char* name = std::getenv("USER"); name != nullptr && *name != '\0') {
    user = name;
  } else if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr) {
    user = entry->pw_name;
  } else {
    user = "uid" + std::to_string(::getuid());
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return user + "@localhost";
  return user + "@" + host;
}

}  // namespace baton::cli
