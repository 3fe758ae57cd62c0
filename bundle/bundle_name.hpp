#pragma once
// Bundle file names and ids, ConductR's identity rules:
//   file name  <stem>-<64 hex SHA-256 of the zip's bytes>.zip; a bundle's stem is
//              "<name>-v<compatibilityVersion>", a configuration's is its folder's name
//   bundle id  the first 32 hex of the bundle digest, plus "-" and the first 32 hex of the
//              configuration digest when a configuration is loaded with it
//   short id   7 hex per part, as the CLI shows it: "abf6045" or "abf6045-a53237c"
// Digests and ids are lower-case hex; upper-case input is refused, not folded.

#include <cstddef>
#include <string>
#include <string_view>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"

namespace baton::bundle {

inline constexpr std::size_t kDigestLength = 64;
inline constexpr std::size_t kIdPartLength = 32;
inline constexpr std::size_t kShortIdPartLength = 7;
inline constexpr std::size_t kMaxStemLength = 200;

struct FileName {
  std::string stem;    // "visualizer-v1"
  std::string digest;  // 64 lower-case hex
};

// Parse "<stem>-<64 hex>.zip". Only the last path element counts; errors name the file.
Result<FileName> parse_file_name(std::string_view file_name);

// A stem must be usable as one file name part: 1..kMaxStemLength bytes, no '/', no control
// characters, not starting with '.' (hidden and temporary files start with one).
Status check_stem(std::string_view stem);

// "<name>-v<compatibilityVersion>".
std::string bundle_stem(const Descriptor& descriptor);

// "<stem>-<digest>.zip".
std::string file_name(std::string_view stem, std::string_view digest);

// The bundle id from the digests (64 hex each; only their first 32 are used). An empty
// configuration digest means "no configuration".
std::string bundle_id(std::string_view bundle_digest, std::string_view configuration_digest = {});

// "abf6045" or "abf6045-a53237c" from a full id (or from anything longer than the short form).
std::string short_id(std::string_view id);

// A full id: 32 hex, or 32 hex "-" 32 hex.
bool is_bundle_id(std::string_view text);

// What may be typed where an id is taken: at least 7 (at most 32) hex for the bundle part,
// optionally "-" and 1..32 hex for the configuration part ("abf6045", "abf6045-a53237c").
bool is_id_prefix(std::string_view text);

// True when `prefix` (checked with is_id_prefix) selects `id`: its bundle part is a prefix of the
// id's bundle part and, when it has a configuration part, that is a prefix of the id's one.
// "abf6045" selects both "abf6045..." and "abf6045...-a53237c...".
bool id_matches(std::string_view id, std::string_view prefix);

}  // namespace baton::bundle
