#pragma once
// bundle.conf text -> Descriptor, with ConductR's keys and kebab-case aliases. Every error names
// the source (file name), the line where cpp-hocon knows it, the key path and what was expected:
//   "bundle.conf:7: components.web.endpoints.http.bind-port: expected a port 0-65535, got 70000"
// Accepted forms: sizes as bytes or HOCON sizes ("64M", "64 MiB", "1G"; "kB", "MB" are powers of
// ten); durations as HOCON durations ("10s", "500ms", "2 seconds") or a bare number of seconds.
// Substitutions resolve within the text only (never the environment); `include` is refused.
// Unknown keys are ignored; null unsets a key.

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"

namespace baton::bundle {

// The runtimes Baton ships (docker, rpm, universal), sorted: every tool knows these names. Other
// runtimes come from plugins and are known only where a plugin offers them.
std::vector<std::string> builtin_runtimes();

// Whether `name` can name a runtime: [a-z0-9][a-z0-9-]*, at most 64 characters (the rule for
// plugins' runtime names too).
bool is_runtime_name(std::string_view name);

struct ParseOptions {
  // Runtimes a component may name in `file-system-type` beyond the built-in ones
  // (universal, docker, rpm): names of runtime plugins.
  std::set<std::string> extra_runtimes;
  // Accept any well-formed runtime name (is_runtime_name): for callers that check the names
  // themselves against what they know (the core, against the runtimes its agents offer).
  bool any_runtime = false;
  // cpp-hocon's resolve is roughly quadratic in substitutions: refuse larger inputs up front.
  std::size_t max_bytes = 256 * 1024;
  std::size_t max_substitutions = 1000;
};

// Parse and validate a complete bundle.conf. `source` names it in errors ("bundle.conf", or
// "visualizer-v1-....zip:visualizer-v1/bundle.conf").
Result<Descriptor> parse_descriptor(std::string_view text, std::string_view source,
                                    const ParseOptions& options = {});

// A configuration bundle's partial bundle.conf merged over the bundle's (its keys win, objects
// merge as HOCON merges them), then validated as a whole.
Result<Descriptor> parse_descriptor_with_overlay(std::string_view base,
                                                 std::string_view base_source,
                                                 std::string_view overlay,
                                                 std::string_view overlay_source,
                                                 const ParseOptions& options = {});

// Check that a partial bundle.conf (of a configuration bundle) is well-formed HOCON within the
// size limits, without requiring the keys a full descriptor needs.
Status check_overlay(std::string_view text, std::string_view source,
                     const ParseOptions& options = {});

// The resolved descriptor as bundle.conf-shaped JSON (ConductR's key spelling), for
// `baton bundle inspect --json` and the control protocol.
nlohmann::json to_json(const Descriptor& descriptor);

}  // namespace baton::bundle
