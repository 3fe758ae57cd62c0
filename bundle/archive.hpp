#pragma once
// Reading bundle zips without trusting them. Every read first parses the zip's central directory
// (counts, declared sizes and compression ratios are checked before a byte is inflated), then
// walks the entries with libarchive, checking each one against the rules below and against the
// central directory. libarchive stays inside archive.cpp.
//
// Entry rules (errors name the zip file and the entry):
// - paths are relative, '/'-separated, without empty, "." or ".." elements, at most 4096 bytes
//   (255 per element); no two entries share a path;
// - only files, folders and symlinks; zip cannot carry hard links, and one reported anyway must
//   name an earlier file of the archive by a path that passes the same rules;
// - nothing sits under a path that is a symlink or a file in the archive (no writing through a
//   symlink, whatever the entry order);
// - symlink targets are relative and stay inside the extracted tree: "../" may only lead the
//   target, at most as many times as the link is deep, and no ".." follows a name (after
//   "a/.." the kernel resolves "a" first, and "a" may itself be a symlink).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace baton::bundle {

namespace stdfs = std::filesystem;

// Limits applied to every zip read. The defaults fit real application bundles (a JVM service
// with its jars, a Node service with node_modules) while keeping a hostile zip from exhausting
// disk, inodes or memory.
struct ArchiveLimits {
  // Entries in the central directory (files, folders, symlinks).
  std::uint64_t max_entries = 200'000;
  // Sum of the entries' uncompressed sizes: 8 GiB.
  std::uint64_t max_total_bytes = std::uint64_t{8} << 30;
  // Uncompressed / compressed size of one entry. Text and logs compress 5-20:1; deflate tops out
  // near 1032:1, so 1 GiB of zeros (about 1 MiB deflated) is refused before it is inflated.
  double max_ratio = 100;
  // Entries whose uncompressed size is at most this are not ratio-checked: a small file of zeros
  // legitimately compresses several hundred to one, and the total limit still bounds them.
  std::uint64_t ratio_min_bytes = 1 << 20;
  // Members read into memory (bundle.conf, runtime-config.sh): 1 MiB.
  std::size_t max_conf_bytes = 1 << 20;
};

enum class EntryType { file, folder, symlink };
const char* to_string(EntryType type);

struct ArchiveEntry {
  std::string path;  // relative, '/'-separated, no trailing '/'
  EntryType type = EntryType::file;
  std::uint64_t size = 0;             // uncompressed bytes
  std::uint64_t compressed_size = 0;  // bytes in the zip
  std::uint32_t mode = 0;             // permission bits as stored (at most 0777)
  std::string target;                 // symlink target
};

// The path rules above; the error names the path.
Status check_entry_path(std::string_view path);
// The symlink rule above for a link at `link_path` (an entry path); the error names the link.
Status check_symlink_target(std::string_view link_path, std::string_view target);

// Every entry of `zip` in archive order, checked against `limits` and the rules, without
// extracting anything.
Result<std::vector<ArchiveEntry>> list_entries(const stdfs::path& zip,
                                               const ArchiveLimits& limits = {});

// Where the files of a bundle (or configuration) sit, given the names that mark its root
// ("bundle.conf", "runtime-config.sh"): "" when one of them is at the zip's root, else the name
// of the single top folder holding one (every entry must be under it). Errors name the zip.
Result<std::string> find_top_folder(const stdfs::path& zip, std::span<const ArchiveEntry> entries,
                                    std::span<const std::string_view> markers);

// The whole content of one file entry (e.g. "visualizer-v1/bundle.conf"), at most
// limits.max_conf_bytes. The zip is checked as list_entries checks it.
Result<std::string> read_member(const stdfs::path& zip, std::string_view member,
                                const ArchiveLimits& limits = {});

// Extract `zip` so that its entries land under `destination`, which must not exist (its parent
// must). Everything is written into a temporary sibling, made read-only (write bits removed,
// execute bits kept as stored, owner read added; folders keep owner read and search), then
// renamed to `destination` (without replacing anything that appeared meanwhile). On any failure
// nothing is left behind; the error names the zip and the offending entry. Not fsynced: the
// zip stays the source of truth. Caveat from libarchive 3.6: its disk writer calls umask() (a
// process-wide setting) twice per entry to read it, so a thread of the same process creating
// files at that instant may see umask 0.
Status extract(const stdfs::path& zip, const stdfs::path& destination,
               const ArchiveLimits& limits = {});

// Remove a tree made read-only by extract() (restoring the owner's write bits first, so this
// works without root). Ignores "not there"; never throws.
void remove_extracted(const stdfs::path& destination) noexcept;

}  // namespace baton::bundle
