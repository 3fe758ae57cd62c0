#pragma once
// Bearer tokens (RFC 6750) as Baton's daemons use them: read from a file, taken from a request's
// Authorization header, compared by their SHA-256 digests in constant time.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "http/message.hpp"

namespace baton::http {

// The token in `file` (surrounding whitespace dropped). Errors name the file, never the token.
Result<std::string> read_token_file(const std::filesystem::path& file);

// The token of "Authorization: Bearer <token>"; nullopt without one (or another scheme).
std::optional<std::string> bearer_token(const Request& request);

// Equal secrets, in a time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b);

// 401 with `WWW-Authenticate: Bearer realm="baton"` (and error="invalid_token" when a token was
// sent but is wrong).
Response unauthorized(std::string_view message, bool bad_token);

}  // namespace baton::http
