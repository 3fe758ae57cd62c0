#include "bundle/bundle_file.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "bundle/bundle_name.hpp"
#include "bundle/hocon_tree.hpp"
#include "bundle/zip_writer.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"

namespace baton::bundle {

namespace {

std::string member_path(const std::string& top, std::string_view member) {
  return top.empty() ? std::string(member) : top + "/" + std::string(member);
}

std::string member_source_of(const stdfs::path& path, const std::string& top,
                             std::string_view member) {
  return path.filename().string() + ":" + member_path(top, member);
}

// The parts shared by bundles and configurations: name, digest, entries, top folder.
struct Opened {
  FileName name;
  std::vector<ArchiveEntry> entries;
  std::string top;
  std::uint64_t uncompressed_bytes = 0;
};

Result<Opened> open_zip(const stdfs::path& file, const ArchiveLimits& limits,
                        std::span<const std::string_view> markers) {
  Opened opened;
  BATON_ASSIGN_OR_RETURN(opened.name, parse_file_name(file.filename().string()));
  BATON_ASSIGN_OR_RETURN(std::string actual, sha256_file_hex(file));
  if (actual != opened.name.digest) {
    return make_error(Errc::invalid, file.string() + ": digest mismatch: the name says " +
                                         opened.name.digest + ", the content hashes to " + actual);
  }
  BATON_ASSIGN_OR_RETURN(opened.entries, list_entries(file, limits));
  BATON_ASSIGN_OR_RETURN(opened.top, find_top_folder(file, opened.entries, markers));
  for (const ArchiveEntry& entry : opened.entries)
    opened.uncompressed_bytes += entry.size;
  return opened;
}

// Whether `member` is in the top folder; anything there by that name must be a file.
Result<bool> has_file(const stdfs::path& file, const Opened& opened, std::string_view member) {
  std::string path = member_path(opened.top, member);
  for (const ArchiveEntry& entry : opened.entries) {
    if (entry.path != path) continue;
    if (entry.type != EntryType::file) {
      return make_error(Errc::invalid, file.string() + ": " + path + " is a " +
                                           to_string(entry.type) + ", expected a file");
    }
    return true;
  }
  return false;
}

std::string hocon_string(std::string_view value) {
  return nlohmann::json(std::string(value)).dump();
}

std::string hocon_list(const std::vector<std::string>& values) {
  return nlohmann::json(values).dump();
}

bool is_plain_number(const std::string& value, bool fraction_allowed) {
  if (value.empty()) return false;
  bool digits = false;
  bool point = false;
  for (char c : value) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else if (c == '.' && fraction_allowed && !point) {
      point = true;
    } else {
      return false;
    }
  }
  return digits && value.back() != '.' && value.front() != '.';
}

// `value` as HOCON: a plain number as is, anything else quoted.
std::string number_or_string(const std::string& value, bool fraction_allowed) {
  return is_plain_number(value, fraction_allowed) ? value : hocon_string(value);
}

// The lines that apply `overrides` to `text`. Aliased keys keep the spelling `text` uses; tags
// are added to the ones `text` has (when `merge_tags`).
Result<std::string> override_text(std::string_view text, std::string_view source,
                                  const DescriptorOverrides& overrides,
                                  const std::vector<std::string>& hocon,
                                  const ParseOptions& options, bool merge_tags) {
  if (overrides.empty() && hocon.empty()) return std::string();
  nlohmann::json root = nlohmann::json::object();
  if (!overrides.empty()) {
    // A text that does not resolve alone (an overlay referring to the bundle's keys) keeps the
    // canonical spellings.
    auto tree = load_hocon({HoconText{text, source}},
                           HoconLimits{options.max_bytes, options.max_substitutions});
    if (tree) {
      root = std::move(tree->root);
    } else if (merge_tags) {
      return std::move(tree).error();
    }
  }
  auto key = [&](std::string_view canonical, std::string_view alias) {
    return root.contains(alias) && !root.contains(canonical) ? std::string(alias)
                                                             : std::string(canonical);
  };
  std::string lines;
  auto set = [&](const std::string& name, const std::string& value) {
    lines += name + " = " + value + "\n";
  };
  if (overrides.name) set("name", hocon_string(*overrides.name));
  if (overrides.compatibility_version) {
    set(key("compatibilityVersion", "compatibility-version"),
        hocon_string(*overrides.compatibility_version));
  }
  if (overrides.system) set("system", hocon_string(*overrides.system));
  if (overrides.system_version) {
    set(key("systemVersion", "system-version"), hocon_string(*overrides.system_version));
  }
  if (!overrides.roles.empty()) set("roles", hocon_list(overrides.roles));
  if (!overrides.tags.empty()) {
    std::vector<std::string> tags;
    const auto found = root.find("tags");
    if (merge_tags && found != root.end() && found->is_array()) {
      for (const auto& tag : *found) {
        if (tag.is_string()) tags.push_back(tag.get<std::string>());
      }
    }
    for (const std::string& tag : overrides.tags) {
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
    set("tags", hocon_list(tags));
  }
  if (overrides.nr_of_cpus) {
    set(key("nrOfCpus", "nr-of-cpus"), number_or_string(*overrides.nr_of_cpus, true));
  }
  if (overrides.memory) set("memory", number_or_string(*overrides.memory, false));
  if (overrides.disk_space) {
    set(key("diskSpace", "disk-space"), number_or_string(*overrides.disk_space, false));
  }
  for (const std::string& line : hocon)
    lines += line + "\n";
  return "\n# Set by baton bundle create\n" + lines;
}

std::string with_newline(std::string text) {
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

Result<std::string> exports_text(const std::vector<std::pair<std::string, std::string>>& env) {
  std::string text;
  for (const auto& [name, value] : env) {
    BATON_ASSIGN_OR_RETURN(std::string line, export_line(name, value));
    text += line + "\n";
  }
  return text;
}

// The file entry for `member` of the top folder, added when missing.
ZipEntry& member_entry(std::vector<ZipEntry>& entries, const std::string& path) {
  for (ZipEntry& entry : entries) {
    if (entry.path != path) continue;
    // A symlinked bundle.conf is stored as the file it was read from.
    entry.type = EntryType::file;
    entry.target.clear();
    return entry;
  }
  entries.push_back(ZipEntry{.path = path, .type = EntryType::file, .mode = 0644});
  return entries.back();
}

Result<std::optional<std::string>> read_optional(const stdfs::path& file, std::size_t max_bytes) {
  auto content = files::read(file, max_bytes);
  if (content) return std::optional<std::string>(std::move(*content));
  if (content.error().code == Errc::not_found) return std::optional<std::string>();
  return std::move(content).error();
}

}  // namespace

std::string BundleFile::member_source(std::string_view member) const {
  return member_source_of(path, top_folder, member);
}

std::string ConfigurationFile::member_source(std::string_view member) const {
  return member_source_of(path, top_folder, member);
}

Result<BundleFile> open_bundle(const stdfs::path& file, const ArchiveLimits& limits) {
  constexpr std::array<std::string_view, 1> kMarkers{kBundleConf};
  BATON_ASSIGN_OR_RETURN(Opened opened, open_zip(file, limits, kMarkers));
  BundleFile bundle{.path = file,
                    .digest = opened.name.digest,
                    .stem = opened.name.stem,
                    .top_folder = opened.top,
                    .entries = opened.entries.size(),
                    .uncompressed_bytes = opened.uncompressed_bytes};
  BATON_ASSIGN_OR_RETURN(bundle.has_runtime_config, has_file(file, opened, kRuntimeConfig));
  BATON_ASSIGN_OR_RETURN(bundle.bundle_conf,
                         read_member(file, member_path(opened.top, kBundleConf), limits));
  return bundle;
}

Result<ConfigurationFile> open_configuration(const stdfs::path& file, const ArchiveLimits& limits) {
  constexpr std::array<std::string_view, 2> kMarkers{kBundleConf, kRuntimeConfig};
  BATON_ASSIGN_OR_RETURN(Opened opened, open_zip(file, limits, kMarkers));
  ConfigurationFile configuration{.path = file,
                                  .digest = opened.name.digest,
                                  .stem = opened.name.stem,
                                  .top_folder = opened.top,
                                  .entries = opened.entries.size(),
                                  .uncompressed_bytes = opened.uncompressed_bytes};
  BATON_ASSIGN_OR_RETURN(configuration.has_runtime_config, has_file(file, opened, kRuntimeConfig));
  BATON_ASSIGN_OR_RETURN(bool has_conf, has_file(file, opened, kBundleConf));
  if (has_conf) {
    BATON_ASSIGN_OR_RETURN(configuration.bundle_conf,
                           read_member(file, member_path(opened.top, kBundleConf), limits));
  }
  return configuration;
}

Result<ResolvedBundle> resolve(const BundleFile& bundle, const ConfigurationFile* configuration,
                               const ParseOptions& options) {
  ResolvedBundle resolved;
  std::string source = bundle.member_source(kBundleConf);
  if (configuration != nullptr && configuration->bundle_conf) {
    BATON_ASSIGN_OR_RETURN(
        resolved.descriptor,
        parse_descriptor_with_overlay(bundle.bundle_conf, source, *configuration->bundle_conf,
                                      configuration->member_source(kBundleConf), options));
  } else {
    BATON_ASSIGN_OR_RETURN(resolved.descriptor,
                           parse_descriptor(bundle.bundle_conf, source, options));
  }
  resolved.bundle_digest = bundle.digest;
  if (configuration != nullptr) resolved.configuration_digest = configuration->digest;
  resolved.bundle_id = bundle_id(resolved.bundle_digest, resolved.configuration_digest);
  return resolved;
}

bool DescriptorOverrides::empty() const {
  return !name && !compatibility_version && !system && !system_version && roles.empty() &&
         tags.empty() && !nr_of_cpus && !memory && !disk_space;
}

Result<std::string> export_line(std::string_view name, std::string_view value) {
  bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front()));
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') valid = false;
  }
  if (!valid) {
    return make_error(Errc::invalid, "\"" + std::string(name) + "\": not a shell variable name");
  }
  std::string line = "export " + std::string(name) + "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"' || c == '$' || c == '`') line += '\\';
    line += c;
  }
  return line + "\"";
}

Result<CreatedBundle> create_bundle(const stdfs::path& folder, const CreateOptions& options) {
  const std::size_t max_conf_bytes = ArchiveLimits{}.max_conf_bytes;
  stdfs::path conf_file = folder / kBundleConf;
  stdfs::path runtime_file = folder / kRuntimeConfig;
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> conf, read_optional(conf_file, max_conf_bytes));
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> runtime,
                         read_optional(runtime_file, max_conf_bytes));
  BATON_ASSIGN_OR_RETURN(std::string exports, exports_text(options.environment));

  std::string stem;
  if (!options.configuration) {
    if (!conf) return make_error(Errc::not_found, conf_file.string() + ": no such file");
    BATON_ASSIGN_OR_RETURN(std::string extra,
                           override_text(*conf, conf_file.string(), options.overrides,
                                         options.hocon, options.parse, true));
    if (!extra.empty()) conf = with_newline(std::move(*conf)) + extra;
    BATON_ASSIGN_OR_RETURN(Descriptor descriptor,
                           parse_descriptor(*conf, conf_file.string(), options.parse));
    stem = bundle_stem(descriptor);
  } else {
    std::error_code error;
    stdfs::path absolute = stdfs::weakly_canonical(stdfs::absolute(folder), error);
    if (error) return make_error(Errc::io, folder.string() + ": " + error.message());
    stem = absolute.filename().string();
    BATON_ASSIGN_OR_RETURN(std::string extra,
                           override_text(conf.value_or(""), conf_file.string(), options.overrides,
                                         options.hocon, options.parse, false));
    if (!extra.empty()) conf = with_newline(conf.value_or("")) + extra;
    if (!conf && !runtime && exports.empty()) {
      return make_error(Errc::invalid, folder.string() + ": a configuration needs " +
                                           std::string(kBundleConf) + " or " +
                                           std::string(kRuntimeConfig));
    }
    if (conf) BATON_TRY(check_overlay(*conf, conf_file.string(), options.parse));
  }
  if (auto checked = check_stem(stem); !checked) {
    return std::move(checked).error().within(folder.string() + ": cannot name the bundle");
  }

  BATON_ASSIGN_OR_RETURN(std::vector<ZipEntry> entries, collect_folder(folder, stem));
  if (conf) member_entry(entries, stem + "/" + std::string(kBundleConf)).content = *conf;
  if (!exports.empty()) {
    ZipEntry& entry = member_entry(entries, stem + "/" + std::string(kRuntimeConfig));
    entry.content = runtime ? with_newline(std::move(*runtime)) + exports
                            : "# Set by baton bundle create\n" + exports;
  }
  BATON_ASSIGN_OR_RETURN(WrittenZip written,
                         write_zip(std::move(entries), options.output_folder, stem,
                                   ZipOptions{.threads = options.threads}));
  return CreatedBundle{.path = written.path,
                       .digest = written.digest,
                       .stem = stem,
                       .bytes = written.bytes,
                       .entries = written.entries};
}

}  // namespace baton::bundle
