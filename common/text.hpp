#pragma once
// Small string helpers shared by every folder.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::text {

std::vector<std::string> split(std::string_view text, char separator);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
std::string_view trim(std::string_view text);
std::string to_upper(std::string_view text);

// ConductR's endpoint variable stem: upper-cased, every non-word character replaced by '_'
// ("akka-remote" -> "AKKA_REMOTE").
std::string env_name(std::string_view endpoint);

// Expand `$NAME` and `${NAME}` from `lookup`; unknown names expand to "" (as a shell would).
// `$$` gives a literal '$'.
std::string expand_variables(
    std::string_view text,
    const std::function<std::optional<std::string>(std::string_view)>& lookup);

// Parse a whole decimal number; nullopt on any junk or overflow.
std::optional<long long> parse_integer(std::string_view text);

}  // namespace baton::text
