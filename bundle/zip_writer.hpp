#pragma once
// A deterministic, parallel zip writer for bundles. Our own rather than libarchive's writer for
// two reasons: libarchive deflates on the calling thread only, and bundles must be reproducible
// byte for byte (the digest is the bundle's identity), which needs full control over every
// header field. Reading stays with libarchive (archive.hpp).
//
// What it writes:
// - entries sorted by path (folders as "<path>/"), a folder entry for every folder;
// - every timestamp 1980-01-01 00:00 (DOS time 0, date 0x21); no extra fields with times, uids
//   or gids; version made by Unix, external attributes = st_mode << 16 (type and the 0777
//   permission bits), so permissions survive;
// - symlinks as symlink entries (the target as stored data), when the target stays inside;
// - file data deflated (raw deflate, level 6) on std::thread::hardware_concurrency() workers in
//   1 MiB chunks (each chunk primed with the previous 32 KiB, like pigz), while the calling
//   thread writes in order and hashes what it writes (no second read for the digest). A file
//   whose first 64 KiB do not deflate below 97% is stored (method 0): jars, images, random data;
// - single-chunk entries carry CRC and sizes in the local header; larger ones use a data
//   descriptor (flag bit 3), since their CRC is known only once every chunk is done;
// - Zip64 (extra field, end record and locator) where sizes, offsets or the entry count pass the
//   32/16-bit limits: entries of 3.75 GiB and more, offsets past 4 GiB, 65535 entries and more.
// The output depends only on the entries and zlib's deflate, not on the number of threads.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/archive.hpp"
#include "common/result.hpp"

namespace baton::bundle {

struct ZipEntry {
  std::string path;  // inside the zip: '/'-separated, no trailing '/'
  EntryType type = EntryType::file;
  std::uint32_t mode = 0644;           // permission bits (at most 0777 are kept)
  stdfs::path source;                  // file: read from here, unless `content` is set
  std::optional<std::string> content;  // file: these bytes
  std::string target;                  // symlink target
};

struct ZipOptions {
  unsigned threads = 0;  // compression workers; 0 = std::thread::hardware_concurrency()
  int level = 6;         // zlib level
};

struct WrittenZip {
  stdfs::path path;    // <output folder>/<stem>-<digest>.zip
  std::string digest;  // SHA-256 of the zip's bytes, 64 hex
  std::uint64_t bytes = 0;
  std::uint64_t entries = 0;
};

// A folder's tree as entries under `prefix` ("" for the zip's root, or a top folder name, which
// gets its own folder entry), with the permission bits found on disk. Symlinks stay symlinks
// when their target stays inside `folder`; escaping symlinks and special files (sockets, fifos,
// devices) are refused. Errors name the file.
Result<std::vector<ZipEntry>> collect_folder(const stdfs::path& folder, std::string_view prefix);

// Write `entries` as <output_folder>/<stem>-<digest>.zip: into a temporary sibling first, renamed
// once complete (a crash leaves no file under a digest name; not fsynced, since a reader verifies
// the digest anyway). Missing parent folder entries are added; paths and symlink targets are
// checked with the rules of archive.hpp; duplicates are refused. Errors name the entry or file.
Result<WrittenZip> write_zip(std::vector<ZipEntry> entries, const stdfs::path& output_folder,
                             std::string_view stem, const ZipOptions& options = {});

}  // namespace baton::bundle
