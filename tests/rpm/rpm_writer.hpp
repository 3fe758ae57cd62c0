#pragma once
// Crafting rpm files that rpmbuild would never make: a newc cpio payload written with libarchive
// (any paths, types, links, sizes), compressed, behind a minimal rpm lead and two empty headers
// (all an rpm reader skips to reach the payload).

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace baton::testing {

struct CpioEntry {
  enum class Type { file, folder, symlink, fifo };
  std::string path;  // as stored, e.g. "./usr/bin/hello"
  Type type = Type::file;
  std::string data;    // file content
  std::string target;  // symlink target
  unsigned mode = 0644;
  std::int64_t ino = 0;  // entries sharing an ino (and nlink > 1) are hard links
  unsigned nlink = 1;
};

enum class Compression { gzip, xz, zstd, none };

inline std::string cpio_payload(const std::vector<CpioEntry>& entries, Compression compression) {
  std::string out;
  archive* writer = archive_write_new();
  archive_write_set_format_cpio_newc(writer);
  switch (compression) {
    case Compression::gzip:
      archive_write_add_filter_gzip(writer);
      break;
    case Compression::xz:
      archive_write_add_filter_xz(writer);
      break;
    case Compression::zstd:
      archive_write_add_filter_zstd(writer);
      break;
    case Compression::none:
      break;
  }
  archive_write_set_bytes_in_last_block(writer, 1);
  auto append = [](archive*, void* context, const void* data, size_t size) -> la_ssize_t {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
    return static_cast<la_ssize_t>(size);
  };
  if (archive_write_open(writer, &out, nullptr, append, nullptr) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(writer));
  }
  std::int64_t next_ino = 1000;
  for (const auto& item : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, item.path.c_str());
    archive_entry_set_perm(entry, item.mode);
    archive_entry_set_ino64(entry, item.ino ? item.ino : next_ino++);
    archive_entry_set_nlink(entry, item.nlink);
    switch (item.type) {
      case CpioEntry::Type::file:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(item.data.size()));
        break;
      case CpioEntry::Type::folder:
        archive_entry_set_filetype(entry, AE_IFDIR);
        archive_entry_set_size(entry, 0);
        break;
      case CpioEntry::Type::symlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, item.target.c_str());
        archive_entry_set_size(entry, 0);
        break;
      case CpioEntry::Type::fifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        archive_entry_set_size(entry, 0);
        break;
    }
    if (archive_write_header(writer, entry) != ARCHIVE_OK) {
      throw std::runtime_error(archive_error_string(writer));
    }
    if (!item.data.empty()) archive_write_data(writer, item.data.data(), item.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(writer);
  archive_write_free(writer);
  return out;
}

// The lead (96 bytes: magic, version 3.0, binary package) and two headers with no entries.
inline std::string rpm_preamble() {
  std::string lead(96, '\0');
  lead[0] = '\xed';
  lead[1] = '\xab';
  lead[2] = '\xee';
  lead[3] = '\xdb';
  lead[4] = 3;
  std::string header("\x8e\xad\xe8\x01\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  return lead + header + header;
}

inline void write_rpm(const std::filesystem::path& file, const std::vector<CpioEntry>& entries,
                      Compression compression = Compression::gzip) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << rpm_preamble() << cpio_payload(entries, compression);
}

}  // namespace baton::testing
