#include "bundle/bundle_name.hpp"

#include <algorithm>

#include "common/sha256.hpp"

namespace baton::bundle {

namespace {

bool is_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string_view last_element(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<FileName> parse_file_name(std::string_view file_name) {
  std::string_view name = last_element(file_name);
  auto refuse = [&](const std::string& why) {
    return make_error(Errc::invalid,
                      std::string(name) + ": " + why + " (expected <stem>-<64 hex SHA-256>.zip)");
  };
  constexpr std::string_view kSuffix = ".zip";
  if (name.size() < kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return refuse("not a .zip file name");
  }
  std::string_view base = name.substr(0, name.size() - kSuffix.size());
  if (base.size() < kDigestLength + 2 || base[base.size() - kDigestLength - 1] != '-') {
    return refuse("the file name carries no digest");
  }
  std::string_view digest = base.substr(base.size() - kDigestLength);
  if (!is_sha256_hex(digest)) return refuse("the digest is not 64 lower-case hex");
  std::string_view stem = base.substr(0, base.size() - kDigestLength - 1);
  if (auto checked = check_stem(stem); !checked) return refuse(checked.error().message);
  return FileName{std::string(stem), std::string(digest)};
}

Status check_stem(std::string_view stem) {
  if (stem.empty()) return make_error(Errc::invalid, "empty name");
  std::string quoted = "\"" + std::string(stem.substr(0, kMaxStemLength)) + "\"";
  if (stem.size() > kMaxStemLength) {
    return make_error(Errc::invalid,
                      quoted + "...: longer than " + std::to_string(kMaxStemLength) + " bytes");
  }
  if (stem.front() == '.') return make_error(Errc::invalid, quoted + ": starts with '.'");
  for (char c : stem) {
    if (c == '/') return make_error(Errc::invalid, quoted + ": contains '/'");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return make_error(Errc::invalid, quoted + ": contains a control character");
    }
  }
  return {};
}

std::string bundle_stem(const Descriptor& descriptor) {
  return descriptor.name + "-v" + descriptor.compatibility_version;
}

std::string file_name(std::string_view stem, std::string_view digest) {
  return std::string(stem) + "-" + std::string(digest) + ".zip";
}

std::string bundle_id(std::string_view bundle_digest, std::string_view configuration_digest) {
  std::string id(bundle_digest.substr(0, kIdPartLength));
  if (!configuration_digest.empty()) {
    id += '-';
    id += configuration_digest.substr(0, kIdPartLength);
  }
  return id;
}

std::string short_id(std::string_view id) {
  std::size_t dash = id.find('-');
  std::string out(id.substr(0, std::min(dash, kShortIdPartLength)));
  if (dash != std::string_view::npos) {
    out += '-';
    out += id.substr(dash + 1, kShortIdPartLength);
  }
  return out;
}

bool is_bundle_id(std::string_view text) {
  std::string_view first = text.substr(0, kIdPartLength);
  if (first.size() != kIdPartLength || !is_hex(first)) return false;
  if (text.size() == kIdPartLength) return true;
  std::string_view rest = text.substr(kIdPartLength);
  return rest.size() == kIdPartLength + 1 && rest[0] == '-' && is_hex(rest.substr(1));
}

bool is_id_prefix(std::string_view text) {
  std::size_t dash = text.find('-');
  std::string_view first = text.substr(0, dash);
  if (first.size() < kShortIdPartLength || first.size() > kIdPartLength || !is_hex(first)) {
    return false;
  }
  if (dash == std::string_view::npos) return true;
  std::string_view second = text.substr(dash + 1);
  return !second.empty() && second.size() <= kIdPartLength && is_hex(second);
}

bool id_matches(std::string_view id, std::string_view prefix) {
  if (!is_id_prefix(prefix)) return false;
  std::size_t id_dash = id.find('-');
  std::size_t prefix_dash = prefix.find('-');
  std::string_view id_bundle = id.substr(0, id_dash);
  std::string_view prefix_bundle = prefix.substr(0, prefix_dash);
  if (!id_bundle.starts_with(prefix_bundle)) return false;
  if (prefix_dash == std::string_view::npos) return true;
  if (id_dash == std::string_view::npos) return false;
  return id.substr(id_dash + 1).starts_with(prefix.substr(prefix_dash + 1));
}

}  // namespace baton::bundle
