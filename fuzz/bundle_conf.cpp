// bundle.conf: parse_descriptor (and a configuration's overlay merged over it) on any text.
// Invariants: an error names the file at fault; a descriptor that parses is a well-formed overlay
// too; its JSON form (what `baton bundle inspect --json` and the control API show) parses back
// to the same descriptor.

#include <cstdint>
#include <string>
#include <string_view>

#include "bundle/descriptor_parse.hpp"
#include "fuzz/fuzz.hpp"

namespace {

using namespace baton;
using baton::bundle::Descriptor;

constexpr std::string_view kBase = "bundle.conf";
constexpr std::string_view kOverlay = "config.zip:config/bundle.conf";

void check_names(const Error& error, std::string_view a, std::string_view b = {}) {
  bool named = error.message.starts_with(a) || (!b.empty() && error.message.starts_with(b));
  FUZZ_CHECK(named, "the error does not start with the file's name: " + error.message);
}

void check_round_trip(const Descriptor& descriptor, const bundle::ParseOptions& options) {
  nlohmann::json shown = bundle::to_json(descriptor);
  std::string text = shown.dump(2);
  // JSON is HOCON; past the size limit the parse is refused by design.
  if (text.size() > options.max_bytes) return;
  auto again = bundle::parse_descriptor(text, "round-trip.conf", options);
  FUZZ_CHECK(again.ok(), "the JSON form does not parse: " +
                             (again.ok() ? std::string() : again.error().message) + "\n" + text);
  nlohmann::json shown_again = bundle::to_json(*again);
  FUZZ_CHECK(shown_again == shown,
             "the JSON form parses to another descriptor:\n" + text + "\n" + shown_again.dump(2));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bundle::ParseOptions options;
  options.extra_runtimes = {"jvm"};
  // A NUL splits a bundle's bundle.conf from a configuration's overlay (NUL is no HOCON).
  if (std::size_t nul = input.find('\0'); nul != std::string_view::npos) {
    std::string_view base = input.substr(0, nul);
    std::string_view overlay = input.substr(nul + 1);
    auto checked = bundle::check_overlay(overlay, kOverlay, options);
    if (!checked) check_names(checked.error(), kOverlay);
    auto merged = bundle::parse_descriptor_with_overlay(base, kBase, overlay, kOverlay, options);
    if (!merged) {
      check_names(merged.error(), kBase, kOverlay);
      return 0;
    }
    FUZZ_CHECK(checked.ok(), "an overlay that merges is not well-formed on its own");
    check_round_trip(*merged, options);
    return 0;
  }
  auto parsed = bundle::parse_descriptor(input, kBase, options);
  auto checked = bundle::check_overlay(input, kBase, options);
  if (!checked) check_names(checked.error(), kBase);
  if (!parsed) {
    check_names(parsed.error(), kBase);
    return 0;
  }
  FUZZ_CHECK(checked.ok(),
             "a descriptor that parses is refused as an overlay: " + checked.error().message);
  check_round_trip(*parsed, options);
  return 0;
}
