#pragma once
// What baton-core is told on its command line (core/main.cpp), passed down to every part.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "http/tls.hpp"

namespace baton::core {

struct CoreOptions {
  std::string bind = "127.0.0.1";
  unsigned short port = 9005;  // 0: any free port
  std::filesystem::path data;  // store.db, files/, tmp/
  unsigned threads = 2;        // IO threads of the HTTP server
  std::size_t max_request_bytes = std::size_t{1} << 20;
  std::uint64_t max_upload_bytes = std::uint64_t{4} << 30;
  std::chrono::milliseconds down_after{15000};
  std::chrono::milliseconds heartbeat{2000};
  std::uint64_t history_bytes = std::uint64_t{1} << 30;  // files of unloaded bundles kept
  int restart_limit = 3;  // failed starts of a bundle before it shows hasError (ConductR's 3)
  // Who may do what (docs/security.md): HTTPS and client certificates, the tokens file.
  http::TlsServerSettings tls;   // --tls-cert, --tls-key, --tls-client-ca
  std::filesystem::path tokens;  // --tokens: `<level> <name> <token>` lines
  // How the core calls agents' APIs (logs): its own token (--token-file) and, for https://
  // agent APIs, the CA that signs them and the core's client certificate (--agent-ca, ...).
  std::string agent_token;
  http::TlsClientSettings agent_tls;
  // Below: not on the command line; tests shorten them.
  std::chrono::milliseconds restart_backoff{1000};  // doubled after each failed start
  std::chrono::milliseconds plan_debounce{20};      // changes within it are planned together
  std::chrono::milliseconds sse_heartbeat{15000};
  std::chrono::milliseconds default_poll_wait{30000};
  std::chrono::milliseconds max_poll_wait{120000};
  int service_max_age_seconds = 60;
  int prefetch_copies = 3;              // agents that get a bundle ahead of time (ConductR's 3)
  std::size_t events_per_bundle = 200;  // the per-bundle ring of recent events
  bool durable_store = true;            // false: SQLite's normal sync (tests that commit a lot)
};

}  // namespace baton::core
