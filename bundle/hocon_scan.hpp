#pragma once
// A lexical pass over HOCON text that refuses, before cpp-hocon sees it, what cpp-hocon 0.3.0
// would mishandle:
//   - `include` statements: they read files of the host that parses the descriptor;
//   - nesting deeper than kMaxHoconDepth: its recursive parser overflows the stack (a crash at
//     about 10,000 levels, 20 KB of text);
//   - stacks of `+=` (or `key = ${key} ...`) on one key: its resolver throws "A delayed merge
//     should not contain another one" (four in one file, fewer across an overlay);
//   - substitutions that chain deeper than kMaxSubstitutionDepth or expand to more than
//     kMaxSubstitutionExpansion values: its resolver is cubic in chain length (a chain of 400
//     takes 2.5 s) and `b = ${a} ${a}` doubling is exponential.
//   - keys with an empty part (".a", "a..b", "a."): it dereferences a null origin reporting them;
//   - any byte above 0x7F in a "quoted string" (it compares a signed char with ' '): see
//     escape_quoted_non_ascii.
// The pass is conservative: it understands keys, strings, comments, brackets and
// substitutions, not the whole grammar; cpp-hocon still reports syntax errors.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace baton::bundle {

inline constexpr int kMaxHoconDepth = 64;
inline constexpr int kMaxSubstitutionDepth = 32;
inline constexpr long kMaxSubstitutionExpansion = 10000;

struct HoconText {
  std::string_view text;
  std::string_view source;  // names the text in errors
};

// Check the layers together, lowest first as they will be merged: a higher layer's
// substitutions and appends refer to keys of the layers below it.
Status scan_hocon(const std::vector<HoconText>& layers);

// The text with every non-ASCII character inside a "quoted string" written as a \uXXXX escape,
// which cpp-hocon decodes correctly. It decodes surrogate pairs into two U+FFFD, so characters
// beyond U+FFFF are refused (outside comments: elsewhere to_json could not write them back).
// Refuses text that is not UTF-8.
Result<std::string> escape_quoted_non_ascii(const HoconText& input);

bool is_utf8(std::string_view text);

}  // namespace baton::bundle
