#pragma once
// Which loaded bundles an `{id}` of the control protocol names (docs/control-protocol.md,
// "Bundle ids"): a full id, a prefix of at least 7 characters, `name`, or `name:tag` (a tag
// from bundle.conf's `tags`, or the compatibilityVersion).

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace baton::core {

struct IdCandidate {
  std::string bundle_id;
  std::string name;
  std::string compatibility_version;
  std::vector<std::string> tags;
};

// The full ids `text` selects, sorted. An exact full id selects only itself; a hex prefix is
// tried before a name (a name may look like hex).
std::vector<std::string> match_ids(const std::vector<IdCandidate>& bundles, std::string_view text);

// Exactly one id: Errc::not_found when none matches, Errc::ambiguous (listing the candidates)
// when several do; Errc::invalid for text that can be neither an id nor a name.
Result<std::string> resolve_id(const std::vector<IdCandidate>& bundles, std::string_view text);

}  // namespace baton::core
