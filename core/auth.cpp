#include "core/auth.hpp"

#include <set>

#include "common/files.hpp"
#include "common/text.hpp"
#include "http/bearer.hpp"

namespace baton::core {

namespace {

constexpr std::size_t kMinTokenLength = 16;
constexpr std::string_view kDigestPrefix = "sha256:";

std::optional<Digest> digest_from_hex(std::string_view hex) {
  if (!is_sha256_hex(hex)) return std::nullopt;
  Digest out{};
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  }
  return out;
}

Digest digest_of(std::string_view token) {
  Sha256 hash;
  hash.update(token);
  return hash.finish();
}

// No early exit: the time taken does not tell how much of a digest matched.
bool same_digest(const Digest& a, const Digest& b) {
  unsigned difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    difference |= static_cast<unsigned>(a[i] ^ b[i]);
  return difference == 0;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < line.size()) {
    while (at < line.size() && (line[at] == ' ' || line[at] == '\t'))
      ++at;
    std::size_t end = at;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t')
      ++end;
    if (end > at) out.push_back(line.substr(at, end - at));
    at = end;
  }
  return out;
}

// The path as the router sees it: the target up to the query, still %-encoded.
std::string_view raw_path(const http::Request& request) {
  std::string_view target = request.target;
  target = target.substr(0, target.find('?'));
  if (!target.empty() && target.front() != '/') {  // absolute form: http://host/path
    auto scheme = target.find("://");
    auto slash = scheme == std::string_view::npos ? target.find('/') : target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target;
}

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::read:
      return "read";
    case Level::admin:
      return "admin";
    case Level::agent:
      return "agent";
  }
  return "?";
}

std::optional<Level> parse_level(std::string_view text) {
  if (text == "read") return Level::read;
  if (text == "admin") return Level::admin;
  if (text == "agent") return Level::agent;
  return std::nullopt;
}

Result<Tokens> Tokens::load(const std::filesystem::path& file) {
  auto text = files::read(file);
  if (!text) return make_error(Errc::invalid, "tokens file " + text.error().message);
  return parse(*text, "tokens file " + file.string());
}

Result<Tokens> Tokens::parse(std::string_view text, const std::string& origin) {
  Tokens tokens;
  std::size_t number = 0;
  for (std::string_view line : text::split(text, '\n')) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = text::trim(line);
    if (line.empty()) continue;
    const std::string where = origin + ", line " + std::to_string(number);
    auto parts = fields(line);
    if (parts.size() != 3) {
      return make_error(Errc::invalid, where + ": expected '<level> <name> <token>', got " +
                                           std::to_string(parts.size()) + " field(s)");
    }
    auto level = parse_level(parts[0]);
    if (!level) {
      return make_error(Errc::invalid, where + ": unknown level '" +
                                           std::string(parts[0].substr(0, 40)) +
                                           "' (read, admin or agent)");
    }
    Entry entry{Credential{*level, std::string(parts[1])}, {}};
    std::string_view token = parts[2];
    if (token.starts_with(kDigestPrefix)) {
      auto digest = digest_from_hex(token.substr(kDigestPrefix.size()));
      if (!digest) {
        return make_error(Errc::invalid, where + " (" + entry.credential.name +
                                             "): sha256: must be followed by 64 lower-case hex");
      }
      entry.digest = *digest;
    } else {
      if (token.size() < kMinTokenLength) {
        return make_error(Errc::invalid, where + " (" + entry.credential.name +
                                             "): token shorter than " +
                                             std::to_string(kMinTokenLength) + " characters");
      }
      entry.digest = digest_of(token);
    }
    for (const auto& other : tokens.entries_) {
      if (same_digest(other.digest, entry.digest)) {
        return make_error(Errc::invalid, where + " (" + entry.credential.name +
                                             "): the same token as credential " +
                                             other.credential.name);
      }
    }
    tokens.entries_.push_back(std::move(entry));
  }
  return tokens;
}

std::optional<Credential> Tokens::find(std::string_view token) const {
  const Digest digest = digest_of(token);
  const Entry* found = nullptr;
  for (const auto& entry : entries_) {
    if (same_digest(entry.digest, digest)) found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  return found->credential;
}

Need need_of(std::string_view method, std::string_view path) {
  const bool look = method == "GET" || method == "HEAD";
  const std::vector<std::string> s = text::split(path.substr(path.starts_with('/') ? 1 : 0), '/');
  auto is = [&](std::size_t i, std::string_view word) { return i < s.size() && s[i] == word; };
  // docs/protocol.md: the agent protocol.
  if (is(0, "v2") && is(1, "agents")) {
    if (s.size() == 2 && method == "POST") return Need::agent;
    if (s.size() == 4 && is(3, "status") && method == "PUT") return Need::agent;
    if (s.size() == 4 && is(3, "assignment") && look) return Need::agent;
  }
  if (is(0, "v2") && (is(1, "bundles") || is(1, "configurations")) && is(2, "files") &&
      s.size() == 4 && look) {
    return Need::agent;
  }
  if (look && (is(0, "services") || (is(0, "v2") && is(1, "service-hosts")))) return Need::lookup;
  return look ? Need::read : Need::admin;
}

bool satisfies(Level level, Need need) {
  switch (need) {
    case Need::read:
      return level == Level::read || level == Level::admin;
    case Need::admin:
      return level == Level::admin;
    case Need::agent:
      return level == Level::agent;
    case Need::lookup:
      return true;
  }
  return false;
}

std::string_view need_text(Need need) {
  switch (need) {
    case Need::read:
      return "level read or admin";
    case Need::admin:
      return "level admin";
    case Need::agent:
      return "level agent";
    case Need::lookup:
      return "level read, admin or agent";
  }
  return "?";
}

Result<Credential> certificate_credential(const http::PeerCertificate& certificate) {
  std::set<Level> levels;
  for (const auto& unit : certificate.organizational_units) {
    if (auto level = parse_level(unit)) levels.insert(*level);
  }
  const std::string who = "client certificate " + certificate.subject;
  if (levels.empty()) {
    return make_error(Errc::invalid,
                      who + " names no level: give it an OU of read, admin or agent");
  }
  if (levels.size() > 1) {
    return make_error(Errc::invalid, who + " names several levels in its OUs: give it one");
  }
  return Credential{*levels.begin(), certificate.common_name.empty() ? certificate.subject
                                                                     : certificate.common_name};
}

Authorizer::Authorizer(std::optional<Tokens> tokens, bool certificates)
    : tokens_(std::move(tokens)), certificates_(certificates) {}

std::optional<http::Response> Authorizer::check(const http::Request& request) const {
  if (!enabled()) return std::nullopt;
  const Need need = need_of(request.method, raw_path(request));
  const std::string what = request.method + " " + request.path.substr(0, 120);
  std::optional<Credential> who;
  auto header = request.header("Authorization");
  if (header && tokens_) {
    std::string_view value = text::trim(*header);
    auto space = value.find(' ');
    std::string scheme(value.substr(0, space));
    for (char& c : scheme)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "bearer" || space == std::string_view::npos) {
      return http::unauthorized("Authorization: expected 'Bearer <token>' (" + what + " needs " +
                                    std::string(need_text(need)) + ")",
                                true);
    }
    who = tokens_->find(text::trim(value.substr(space + 1)));
    if (!who) {
      return http::unauthorized("the bearer token is not known to this core (" + what + " needs " +
                                    std::string(need_text(need)) + ")",
                                true);
    }
  } else if (request.client_certificate && certificates_) {
    auto credential = certificate_credential(*request.client_certificate);
    if (!credential) return http::Response::error(403, credential.error().message);
    who = std::move(*credential);
  } else {
    std::string how = tokens_ ? "send Authorization: Bearer <token>" : "";
    if (certificates_) how += std::string(how.empty() ? "" : ", or ") + "a client certificate";
    return http::unauthorized(
        what + " needs a credential of " + std::string(need_text(need)) + ": " + how, false);
  }
  if (!satisfies(who->level, need)) {
    return http::Response::error(403, "credential " + who->name + " (level " +
                                          std::string(level_name(who->level)) + ") may not " +
                                          what + ": that needs " + std::string(need_text(need)));
  }
  return std::nullopt;
}

}  // namespace baton::core
