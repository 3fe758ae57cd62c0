#include "core/ids.hpp"

#include <algorithm>

#include "bundle/bundle_name.hpp"
#include "common/text.hpp"

namespace baton::core {

std::vector<std::string> match_ids(const std::vector<IdCandidate>& bundles, std::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  if (bundle::is_bundle_id(text)) {
    for (const auto& b : bundles) {
      if (b.bundle_id == text) out.push_back(b.bundle_id);
    }
    // A full bundle part without its configuration part still selects as a prefix would.
    if (!out.empty() || text.find('-') != std::string_view::npos) return out;
  }
  if (bundle::is_id_prefix(text)) {
    for (const auto& b : bundles) {
      if (bundle::id_matches(b.bundle_id, text)) out.push_back(b.bundle_id);
    }
    if (!out.empty()) {
      std::sort(out.begin(), out.end());
      return out;
    }
  }
  std::string_view name = text;
  std::string_view tag;
  if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    tag = text.substr(colon + 1);
    if (tag.empty()) return out;
  }
  for (const auto& b : bundles) {
    if (b.name != name) continue;
    bool tagged = tag.empty() || b.compatibility_version == tag ||
                  std::find(b.tags.begin(), b.tags.end(), tag) != b.tags.end();
    if (tagged) out.push_back(b.bundle_id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> resolve_id(const std::vector<IdCandidate>& bundles, std::string_view text) {
  if (text.empty()) return make_error(Errc::invalid, "empty bundle id");
  auto ids = match_ids(bundles, text);
  std::string shown(text.substr(0, 200));
  if (ids.empty()) return make_error(Errc::not_found, "no bundle matches '" + shown + "'");
  if (ids.size() > 1) {
    return make_error(Errc::ambiguous, "'" + shown + "' matches " + std::to_string(ids.size()) +
                                           " bundles: " + text::join(ids, ", "));
  }
  return ids.front();
}

}  // namespace baton::core
