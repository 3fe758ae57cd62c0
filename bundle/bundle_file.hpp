#pragma once
// Bundle and configuration files as Baton reads and makes them (ConductR's format):
// - a bundle is a zip holding bundle.conf at its root or in a single top folder, with one folder
//   per component beside it; its file name is "<name>-v<compatibilityVersion>-<digest>.zip";
// - a configuration is a zip holding a partial bundle.conf (merged over the bundle's, its keys
//   win) and/or runtime-config.sh (sourced before a component starts; extra files may come
//   along), at its root or in a single top folder; its file name is "<stem>-<digest>.zip";
// - the digest is the SHA-256 of the zip's bytes.
// Opening never trusts the file: the digest in the name must match the content, and every entry
// is checked as archive.hpp describes, before anything is parsed.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle/archive.hpp"
#include "bundle/descriptor.hpp"
#include "bundle/descriptor_parse.hpp"
#include "common/result.hpp"

namespace baton::bundle {

inline constexpr std::string_view kBundleConf = "bundle.conf";
inline constexpr std::string_view kRuntimeConfig = "runtime-config.sh";

struct BundleFile {
  stdfs::path path;
  std::string digest;               // SHA-256 of the file, equal to the one in its name
  std::string stem;                 // the file name before the digest: "visualizer-v1"
  std::string top_folder;           // the folder holding bundle.conf; "" for the zip's root
  std::string bundle_conf;          // its text
  bool has_runtime_config = false;  // runtime-config.sh beside bundle.conf
  std::uint64_t entries = 0;
  std::uint64_t uncompressed_bytes = 0;

  // How errors name a member: "visualizer-v1-<digest>.zip:visualizer-v1/bundle.conf".
  std::string member_source(std::string_view member) const;
};

struct ConfigurationFile {
  stdfs::path path;
  std::string digest;
  std::string stem;
  std::string top_folder;                  // "" for the zip's root
  std::optional<std::string> bundle_conf;  // the partial bundle.conf, when there is one
  bool has_runtime_config = false;
  std::uint64_t entries = 0;
  std::uint64_t uncompressed_bytes = 0;

  std::string member_source(std::string_view member) const;
};

// Verify a bundle file: name, digest, entries, bundle.conf's place; reads bundle.conf. Does not
// parse it (resolve() does). Errors name the file (and the entry at fault).
Result<BundleFile> open_bundle(const stdfs::path& file, const ArchiveLimits& limits = {});

// The same for a configuration: at least one of bundle.conf and runtime-config.sh must be there.
Result<ConfigurationFile> open_configuration(const stdfs::path& file,
                                             const ArchiveLimits& limits = {});

struct ResolvedBundle {
  Descriptor descriptor;
  std::string bundle_id;             // 32 hex, or 32-32 with a configuration
  std::string bundle_digest;         // 64 hex
  std::string configuration_digest;  // 64 hex; empty without a configuration
};

// Parse and validate the bundle's descriptor, with the configuration's bundle.conf merged over it
// when there is one. Errors name the member ("<zip>:<top>/bundle.conf") and the key.
Result<ResolvedBundle> resolve(const BundleFile& bundle,
                               const ConfigurationFile* configuration = nullptr,
                               const ParseOptions& options = {});

// Descriptor keys set when creating a bundle, appended to bundle.conf (later keys win in HOCON).
// Aliased keys are written in the spelling the file already uses (compatibility-version or
// compatibilityVersion), since a text holding both spellings is refused.
struct DescriptorOverrides {
  std::optional<std::string> name;
  std::optional<std::string> compatibility_version;
  std::optional<std::string> system;
  std::optional<std::string> system_version;
  std::vector<std::string> roles;  // replaces the roles when not empty
  std::vector<std::string> tags;   // added to the bundle's tags (a configuration's tags replace)
  // As given on a command line: a plain number is written as one, anything else ("64M",
  // "1.5 GiB") as a string for the parser to read.
  std::optional<std::string> nr_of_cpus;
  std::optional<std::string> memory;
  std::optional<std::string> disk_space;

  bool empty() const;
};

struct CreateOptions {
  stdfs::path output_folder = ".";  // must exist
  DescriptorOverrides overrides;
  std::vector<std::string> hocon;  // more lines appended to bundle.conf, after the overrides
  // Exported by runtime-config.sh in the top folder (appended to the one there, or a new one).
  std::vector<std::pair<std::string, std::string>> environment;
  bool configuration = false;  // make a configuration bundle
  ParseOptions parse;          // for validating the descriptor
  unsigned threads = 0;        // compression workers; 0 = one per core
};

struct CreatedBundle {
  stdfs::path path;  // <output folder>/<stem>-<digest>.zip
  std::string digest;
  std::string stem;  // also the zip's top folder
  std::uint64_t bytes = 0;
  std::uint64_t entries = 0;
};

// Zip `folder` into a digest-named bundle (or configuration) in options.output_folder. A bundle's
// entries sit under one top folder "<name>-v<compatibilityVersion>", and its bundle.conf (with
// the overrides) is validated before anything is written; a configuration's top folder is named
// after `folder`, and its partial bundle.conf is checked as an overlay. The same input always
// gives the same bytes, hence the same digest (zip_writer.hpp).
Result<CreatedBundle> create_bundle(const stdfs::path& folder, const CreateOptions& options);

// `export NAME="value"` with the shell's double-quote escapes (\ " $ `); refuses a NAME that is
// not a shell variable name.
Result<std::string> export_line(std::string_view name, std::string_view value);

}  // namespace baton::bundle
