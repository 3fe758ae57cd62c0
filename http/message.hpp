#pragma once
// Plain request/response values shared by the server and the client; no Beast or curl types.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace baton::http {

// Header names compare case-insensitively.
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

// The subject of a client certificate the server verified (mutual TLS).
struct PeerCertificate {
  std::string subject;      // RFC 2253 form, e.g. "CN=alice,OU=admin,O=Example"
  std::string common_name;  // the first CN, empty when none
  std::vector<std::string> organizational_units;  // every OU, in order
};

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // path and query as received, e.g. "/v2/bundles/abc?scale=2"
  std::string path;    // decoded path, e.g. "/v2/bundles/abc"
  std::map<std::string, std::string> query;   // decoded query parameters (last one wins)
  std::map<std::string, std::string> params;  // route captures, e.g. {"id": "abc"}
  Headers headers;                // a header sent several times holds the values joined by ", "
  std::string body;               // empty for streamed bodies (see Router::add_stream)
  std::string peer_ip;            // the caller's address, for local-only endpoints
  unsigned short peer_port = 0;   // the caller's port (identifying a local caller's process)
  unsigned short local_port = 0;  // the port the request came in on
  // Set on a TLS connection whose client presented a certificate the server verified.
  std::shared_ptr<const PeerCertificate> client_certificate;

  std::optional<std::string> query_value(std::string_view name) const;
  std::optional<std::string> header(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // A body shared with a cache, sent instead of `body` when set: no copy per request.
  std::shared_ptr<const std::string> shared_body;

  // The body that goes on the wire: `shared_body` when set, else `body`.
  std::string_view payload() const { return shared_body ? *shared_body : body; }

  static Response json(int status, std::string body);
  static Response json(int status, std::shared_ptr<const std::string> body);
  static Response text(int status, std::string body);
  // {"error": message} with the given status: every 4xx/5xx of Baton's APIs looks like this.
  static Response error(int status, std::string_view message);
  static Response redirect(int status, std::string location);
};

// Maps an Errc to its HTTP status: invalid 400, not_found 404, conflict 409, ambiguous 300,
// limit 413, unavailable 503, io and internal 500.
int status_for(Errc code);
// Response::error(status_for(error.code), error.message).
Response error_response(const Error& error);

// The reverse, for clients: 300 ambiguous, 400/422 invalid, 404/410 not_found, 409 conflict,
// 413 limit, 502/503/504 unavailable, other 4xx invalid, other statuses internal.
Errc errc_for_status(int status);
// What an error response says: the body's "error" (Baton) or "message" (Docker) field, else the
// body itself (trimmed, at most 200 bytes), else "HTTP <status> <reason>".
std::string error_message(const Response& response);

// Decodes %XX escapes (malformed ones stay as they are); '+' stays '+' (paths).
std::string url_decode(std::string_view text);
// Escapes everything but RFC 3986's unreserved characters.
std::string url_encode(std::string_view text);
// "a=1&b=x%20y+z" -> {a:"1", b:"x y z"} (form encoding: '+' is a space; last one wins).
std::map<std::string, std::string> parse_query(std::string_view query);
const char* reason_phrase(int status);
// `text` as a JSON string literal, quotes included (invalid UTF-8 is replaced).
std::string json_quote(std::string_view text);

}  // namespace baton::http
