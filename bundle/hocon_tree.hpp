#pragma once
// HOCON text -> a resolved JSON tree plus where each value was written. hocon_tree.cpp is the
// only file that includes cpp-hocon: its headers are heavy and its traps many (hocon_scan.hpp
// lists the ones guarded before it parses). It parses with parse_string only (parse_file*
// swallows syntax errors and reads a missing file as empty) and resolves without the process
// environment, so a descriptor means the same on every host.

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/hocon_scan.hpp"
#include "common/result.hpp"

namespace baton::bundle {

struct HoconLimits {
  std::size_t max_bytes = 256 * 1024;
  std::size_t max_substitutions = 1000;  // occurrences of "${" per text
};

// Where a value was written. A value merged from several layers (an object both define, a list
// extended by `+=` in an overlay) has no line; `layer` is the highest of them, `lowest_layer`
// the lowest.
struct HoconOrigin {
  std::size_t layer = 0;
  std::size_t lowest_layer = 0;
  int line = 0;             // 0 = unknown
  std::string number_text;  // numbers only: as written ("1", "1.10", "1e3")
};

struct HoconTree {
  nlohmann::json root = nlohmann::json::object();
  // By JSON pointer ("/components/web/start-command/0"); "" is the root.
  std::map<std::string, HoconOrigin> origins;
};

// Size and substitution limits, scan_hocon, and a parse without resolving (an overlay may refer
// to keys it does not define).
Status check_hocon(const HoconText& text, const HoconLimits& limits);

// Parse each layer (lowest first), merge them (a higher layer's keys win, objects merge),
// resolve substitutions and convert. Errors name the layer at fault.
Result<HoconTree> load_hocon(const std::vector<HoconText>& layers, const HoconLimits& limits);

// "/" and "~" escaped as a JSON pointer reference token.
std::string pointer_token(std::string_view key);

}  // namespace baton::bundle
