#pragma once
// Unpacking the payloads of rpm packages without trusting them. An rpm is a lead, two headers and
// a compressed cpio archive; libarchive reads it (rpm filter, any compression, cpio format) and
// every entry is checked before it is written, with the rules bundle zips follow
// (bundle/archive.hpp; tests/rpm checks that both agree):
// - paths are relative ('./' as rpm writes them is dropped), '/'-separated, without empty, "." or
//   ".." elements, at most 4096 bytes (255 per element);
// - only files, folders, symlinks and hard links; a hard link names an earlier file of the same
//   rpm by a path that passes the same rules;
// - nothing sits under a path that is a symlink or a file (no writing through a symlink, whatever
//   the order or the rpm it came from), and no two rpms of a component ship the same file;
// - symlink targets are relative and stay inside the root: "../" may only lead the target, at
//   most as many times as the link is deep. Absolute targets are refused: the root is not a
//   chroot, so "/etc/x" would name the host's file;
// - limits on entries, bytes and bytes per byte of rpm file are checked while reading.
// Errors name the rpm file and the entry. Only the C++ standard library, libarchive and the
// plugin SDK are used: the rpm runtime is a plugin like any other.

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "baton/runtime_plugin.hpp"

namespace baton::runtimes::rpm {

namespace stdfs = std::filesystem;
using plugin::Errc;
using plugin::Error;
using plugin::make_error;
using plugin::Result;
using plugin::Status;

// Per component (all its rpms together); the defaults are those of bundle zips.
struct PayloadLimits {
  std::uint64_t max_entries = 200'000;
  std::uint64_t max_total_bytes = std::uint64_t{8} << 30;
  // Unpacked bytes of one rpm per byte of the rpm file.
  double max_ratio = 100;
  // Below this many unpacked bytes per rpm the ratio is not checked (small files of zeros
  // legitimately compress several hundred to one).
  std::uint64_t ratio_min_bytes = 1 << 20;
};

// The rules above; errors name the path (the caller adds the rpm).
Status check_entry_path(std::string_view path);
Status check_symlink_target(std::string_view link_path, std::string_view target);

// Unpacks `rpms` (in the given order) into `destination`, which must not exist (its parent must):
// everything goes into a temporary sibling, is made read-only (write bits removed, owner read
// kept), then renamed into place. On failure nothing is left behind. An existing destination is
// Errc::conflict.
Status extract_rpms(const std::vector<stdfs::path>& rpms, const stdfs::path& destination,
                    const PayloadLimits& limits = {});

// Removes a tree extract_rpms() made (restoring write bits first). Never throws.
void remove_tree(const stdfs::path& path) noexcept;

}  // namespace baton::runtimes::rpm
