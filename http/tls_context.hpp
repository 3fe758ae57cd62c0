#pragma once
// Asio's ssl::context built from the settings of tls.hpp, and what the server and the agent's
// long poll need per connection. Heavy (Asio SSL, OpenSSL): include it from .cpp files only.

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "http/message.hpp"
#include "http/tls.hpp"

namespace baton::http {

using TlsContext = boost::asio::ssl::context;

// TLS 1.2+, the certificate and key loaded and matched, client certificates required and
// verified when `client_ca` is set. Errors name the file at fault.
Result<std::shared_ptr<TlsContext>> make_server_context(const TlsServerSettings& settings);
// TLS 1.2+, the peer verified against `ca` (else the system's CAs), the client certificate
// loaded when set. Errors name the file at fault.
Result<std::shared_ptr<TlsContext>> make_client_context(const TlsClientSettings& settings);

// Before a client handshake: SNI and the name the server's certificate must carry (a DNS name,
// or an IP address checked against the certificate's IP entries).
Status expect_server_name(SSL* ssl, const std::string& host);

// The verified peer certificate of a finished handshake, or null.
std::shared_ptr<const PeerCertificate> verified_peer(SSL* ssl);

// OpenSSL's queued errors as one line ("unable to get local issuer certificate"); clears them.
std::string openssl_errors();

}  // namespace baton::http
