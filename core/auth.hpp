#pragma once
// Who may do what on the core's HTTP API (docs/security.md): the credential levels, the tokens
// file, the level a request needs, and the 401/403 answers. Nothing here reads a request body:
// the server asks before the body is read, so a refused request changes nothing.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/sha256.hpp"
#include "http/message.hpp"

namespace baton::core {

// read: look (bundles, events, logs, members, agents, history, service lookups).
// admin: read, and change (load, scale, unload, reload from history).
// agent: the agent protocol (register, assignment, status, bundle files) and service lookups.
enum class Level { read, admin, agent };

std::string_view level_name(Level level);
std::optional<Level> parse_level(std::string_view text);

struct Credential {
  Level level = Level::read;
  std::string name;  // from the tokens file, or the certificate's CN
};

// A tokens file: one credential a line, `<level> <name> <token>`; the token is the secret
// itself (16 characters at least) or `sha256:<64 hex>`, the SHA-256 of the secret. `#` starts a
// comment; blank lines are skipped. Only digests are kept in memory.
class Tokens {
 public:
  // Errors name the file and line; never the token.
  static Result<Tokens> load(const std::filesystem::path& file);
  static Result<Tokens> parse(std::string_view text, const std::string& origin);

  // The credential holding `token`. Compares the token's digest with every entry's in constant
  // time, whether or not one matched earlier.
  std::optional<Credential> find(std::string_view token) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Credential credential;
    Digest digest;
  };
  std::vector<Entry> entries_;
};

// What a request needs: its method and path decide (unknown paths need admin to change and read
// to look, so a new route is never open by mistake).
enum class Need { read, admin, agent, lookup /* read, admin or agent */ };
Need need_of(std::string_view method, std::string_view path);
bool satisfies(Level level, Need need);
std::string_view need_text(Need need);  // "level admin", "level read, admin or agent"

// The level a verified client certificate carries: its subject's OU naming a level (`read`,
// `admin`, `agent`). Errors (none, or several different) name the certificate's subject.
Result<Credential> certificate_credential(const http::PeerCertificate& certificate);

class Authorizer {
 public:
  // `tokens` when the core has a tokens file; `certificates` when clients present verified
  // certificates (mutual TLS). Neither: every request is allowed.
  Authorizer(std::optional<Tokens> tokens, bool certificates);

  bool enabled() const { return tokens_.has_value() || certificates_; }
  // nullopt: allowed. Else the answer: 401 (no or unknown credential, with WWW-Authenticate) or
  // 403 (a known credential below the level needed), naming the request and what it needs.
  std::optional<http::Response> check(const http::Request& request) const;

 private:
  std::optional<Tokens> tokens_;
  bool certificates_ = false;
};

}  // namespace baton::core
