#include "http/bearer.hpp"

#include <cctype>

#include "common/files.hpp"
#include "common/sha256.hpp"
#include "common/text.hpp"

namespace baton::http {

Result<std::string> read_token_file(const std::filesystem::path& file) {
  auto content = files::read(file, 4096);
  if (!content) return make_error(Errc::invalid, "token file: " + content.error().message);
  std::string token(text::trim(*content));
  if (token.empty()) return make_error(Errc::invalid, "token file " + file.string() + " is empty");
  if (token.find_first_of(" \t\r\n") != std::string::npos) {
    return make_error(Errc::invalid,
                      "token file " + file.string() + " holds more than one word (one token only)");
  }
  return token;
}

std::optional<std::string> bearer_token(const Request& request) {
  auto header = request.header("Authorization");
  if (!header) return std::nullopt;
  std::string_view value = text::trim(*header);
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return std::nullopt;
  }
  return std::string(text::trim(value.substr(kScheme.size())));
}

bool same_secret(std::string_view a, std::string_view b) {
  Sha256 hash_a, hash_b;
  hash_a.update(a);
  hash_b.update(b);
  Digest x = hash_a.finish(), y = hash_b.finish();
  unsigned difference = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    difference |= static_cast<unsigned>(x[i] ^ y[i]);
  return difference == 0;
}

Response unauthorized(std::string_view message, bool bad_token) {
  auto response = Response::error(401, message);
  response.headers["WWW-Authenticate"] =
      bad_token ? R"(Bearer realm="baton", error="invalid_token")" : R"(Bearer realm="baton")";
  return response;
}

}  // namespace baton::http
