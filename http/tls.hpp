#pragma once
// TLS settings of the server (Beast's ssl_stream) and the clients (libcurl, the agent's long
// poll). OpenSSL stays in tls.cpp; tls_context.hpp (Asio's ssl::context) is for .cpp files only.

#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace baton::http {

// HTTPS for a Server: TLS 1.2 or later.
struct TlsServerSettings {
  std::filesystem::path certificate;  // PEM: the server's certificate, then its chain
  std::filesystem::path key;          // PEM: its private key
  // When set, every client must present a certificate signed by one of these CAs (PEM), or
  // the handshake fails: mutual TLS. The request then carries the certificate's subject.
  std::filesystem::path client_ca;

  bool enabled() const { return !certificate.empty(); }
};

// What a client trusts and presents (https:// URLs only).
struct TlsClientSettings {
  std::filesystem::path ca;           // PEM CAs that sign the server's certificate; empty: the
                                      // system's trust store
  std::filesystem::path certificate;  // PEM client certificate (mutual TLS), with `key`
  std::filesystem::path key;
};

// Loads the files as a server or client would, so a mistake shows at start-up with the file
// at fault: "TLS key /etc/baton/core.key does not match the certificate /etc/baton/core.pem".
// Errc::invalid for a file that is unreadable, not PEM, or a key that does not match.
Status check_server_files(const TlsServerSettings& settings);
Status check_client_files(const TlsClientSettings& settings);

}  // namespace baton::http
