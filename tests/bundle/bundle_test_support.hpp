#pragma once
// Helpers for the bundle format tests: temporary folders, files, zips written entry by entry with
// libarchive (which writes what it is told: "../x", "/abs", escaping symlinks), digest naming,
// byte patches of a zip's headers, and running a command.

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "common/sha256.hpp"

namespace baton::bundle::testing {

namespace stdfs = std::filesystem;

inline files::TempFolder temp_folder() {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-bundle-test-");
  if (!folder) throw std::runtime_error(folder.error().message);
  return std::move(folder).value();
}

inline void write_file(const stdfs::path& file, const std::string& content,
                       stdfs::perms mode = stdfs::perms(0644)) {
  stdfs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  stdfs::permissions(file, mode);
}

inline std::string read_file(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Names in a folder, sorted: what a refused operation must leave unchanged.
inline std::vector<std::string> names_in(const stdfs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : stdfs::directory_iterator(folder)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Deterministic bytes that deflate well (text) or not at all (xorshift noise).
inline std::string text_bytes(std::size_t size, int seed = 0) {
  std::string out;
  for (int line = 0; out.size() < size; ++line) {
    out += "2024-05-01T12:00:" + std::to_string(line % 60) + " INFO request " +
           std::to_string(line * 7 + seed) + " served in " + std::to_string(line % 13) + " ms\n";
  }
  out.resize(size);
  return out;
}

inline std::string random_bytes(std::size_t size, std::uint64_t seed = 88172645463325252ull) {
  std::string out(size, '\0');
  std::uint64_t x = seed;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

struct RawEntry {
  std::string path;
  int type = AE_IFREG;  // AE_IFREG, AE_IFDIR, AE_IFLNK
  std::string data;
  std::string symlink;
  std::string hardlink;
  int mode = 0644;
};

// A zip with exactly these entries, written by libarchive.
inline void write_raw_zip(const stdfs::path& zip, const std::vector<RawEntry>& entries) {
  archive* writer = archive_write_new();
  archive_write_set_format_zip(writer);
  ASSERT_EQ(archive_write_open_filename(writer, zip.c_str()), ARCHIVE_OK);
  for (const RawEntry& raw : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, raw.path.c_str());
    archive_entry_set_filetype(entry, static_cast<unsigned>(raw.type));
    archive_entry_set_perm(entry, static_cast<mode_t>(raw.mode));
    if (!raw.symlink.empty()) archive_entry_set_symlink(entry, raw.symlink.c_str());
    if (!raw.hardlink.empty()) archive_entry_set_hardlink(entry, raw.hardlink.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(raw.data.size()));
    ASSERT_EQ(archive_write_header(writer, entry), ARCHIVE_OK) << archive_error_string(writer);
    if (!raw.data.empty()) {
      ASSERT_EQ(archive_write_data(writer, raw.data.data(), raw.data.size()),
                static_cast<la_ssize_t>(raw.data.size()));
    }
    archive_entry_free(entry);
  }
  ASSERT_EQ(archive_write_close(writer), ARCHIVE_OK);
  archive_write_free(writer);
}

// Rename `zip` to "<stem>-<its sha256>.zip" beside it.
inline stdfs::path digest_named(const stdfs::path& zip, const std::string& stem) {
  auto digest = sha256_file_hex(zip);
  if (!digest) throw std::runtime_error(digest.error().message);
  stdfs::path named = zip.parent_path() / (stem + "-" + *digest + ".zip");
  stdfs::rename(zip, named);
  return named;
}

// Overwrite bytes of the central directory header of `name` (offset from the header's start)
// and, when local_offset >= 0, of its local header too.
inline void patch_headers(const stdfs::path& zip, const std::string& name, std::size_t offset,
                          const std::vector<unsigned char>& bytes, int local_offset = -1) {
  std::string data = read_file(zip);
  auto u32 = [&](std::size_t at) {
    return std::uint32_t{static_cast<unsigned char>(data[at])} |
           std::uint32_t{static_cast<unsigned char>(data[at + 1])} << 8 |
           std::uint32_t{static_cast<unsigned char>(data[at + 2])} << 16 |
           std::uint32_t{static_cast<unsigned char>(data[at + 3])} << 24;
  };
  bool patched = false;
  for (std::size_t at = 0; at + 46 + name.size() <= data.size(); ++at) {
    if (u32(at) != 0x02014b50) continue;
    std::size_t name_length =
        static_cast<unsigned char>(data[at + 28]) | static_cast<unsigned char>(data[at + 29]) << 8;
    if (data.compare(at + 46, name_length, name) != 0 || name_length != name.size()) continue;
    std::copy(bytes.begin(), bytes.end(), data.begin() + static_cast<std::ptrdiff_t>(at + offset));
    if (local_offset >= 0) {
      std::size_t local = u32(at + 42);
      std::copy(bytes.begin(), bytes.end(),
                data.begin() + static_cast<std::ptrdiff_t>(local + local_offset));
    }
    patched = true;
  }
  ASSERT_TRUE(patched) << name << " not found in " << zip;
  std::ofstream(zip, std::ios::binary | std::ios::trunc) << data;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout (and stderr when asked to)
};

// Run a shell command line; stdout is captured.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// A zip holding one entry `name` of `mib` MiB of zeros, deflated (about 1000:1), built from one
// deflated MiB repeated: each 1 MiB block primed with zeros deflates to the same bytes, so this
// takes milliseconds where deflating a GiB would take seconds.
inline void write_zero_bomb(const stdfs::path& zip, const std::string& name, std::size_t mib) {
  const std::vector<unsigned char> zeros(1 << 20, 0);
  auto deflate_block = [&](bool primed, int flush) {
    z_stream stream{};
    deflateInit2(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    if (primed) deflateSetDictionary(&stream, zeros.data(), 32768);
    std::vector<unsigned char> out(deflateBound(&stream, zeros.size()) + 64);
    stream.next_in = const_cast<unsigned char*>(zeros.data());
    stream.avail_in = static_cast<uInt>(zeros.size());
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, flush);
    out.resize(out.size() - stream.avail_out);
    deflateEnd(&stream);
    return out;
  };
  std::vector<unsigned char> first = deflate_block(false, Z_SYNC_FLUSH);
  std::vector<unsigned char> middle = deflate_block(true, Z_SYNC_FLUSH);
  std::vector<unsigned char> last = deflate_block(true, Z_FINISH);
  std::uint32_t crc_block = static_cast<std::uint32_t>(crc32(0, zeros.data(), 1 << 20));
  std::uint32_t crc = crc_block;
  for (std::size_t i = 1; i < mib; ++i)
    crc = crc32_combine(crc, crc_block, 1 << 20);
  std::uint64_t size = std::uint64_t{mib} << 20;
  std::uint64_t compressed = first.size() + middle.size() * (mib - 2) + last.size();
  std::string out;
  auto put = [&](std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i)
      out.push_back(static_cast<char>(value >> (8 * i)));
  };
  auto header = [&](bool central) {
    put(central ? 0x02014b50 : 0x04034b50, 4);
    if (central) put((3 << 8) | 20, 2);
    put(20, 2);  // version needed
    put(0, 2);   // flags
    put(8, 2);   // deflate
    put(0, 2);
    put(0x21, 2);
    put(crc, 4);
    put(compressed, 4);
    put(size, 4);
    put(name.size(), 2);
    put(0, 2);  // extra
    if (central) {
      put(0, 2);
      put(0, 2);
      put(0, 2);
      put(std::uint64_t{S_IFREG | 0644} << 16, 4);
      put(0, 4);  // local header offset
    }
    out += name;
  };
  header(false);
  out.append(first.begin(), first.end());
  for (std::size_t i = 2; i < mib; ++i)
    out.append(middle.begin(), middle.end());
  out.append(last.begin(), last.end());
  std::size_t directory = out.size();
  header(true);
  std::size_t directory_size = out.size() - directory;
  put(0x06054b50, 4);
  put(0, 4);
  put(1, 2);
  put(1, 2);
  put(directory_size, 4);
  put(directory, 4);
  put(0, 2);
  std::ofstream(zip, std::ios::binary | std::ios::trunc) << out;
}

// `unzip -t` of Debian's unzip; skipped loudly where it is missing.
inline bool have_unzip() {
  return run_command("command -v unzip >/dev/null 2>&1").exit_code == 0;
}

}  // namespace baton::bundle::testing
