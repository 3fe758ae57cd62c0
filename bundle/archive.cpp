#include "bundle/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "common/files.hpp"

namespace baton::bundle {

namespace {

constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::uint64_t kMaxSymlinkBytes = 4096;
constexpr std::uint64_t kMaxCentralDirectoryBytes = std::uint64_t{256} << 20;
constexpr std::size_t kEndRecordSize = 22;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kZip64EndRecordSize = 56;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kDataBufferSize = std::size_t{256} << 10;

std::uint16_t u16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t u32(const unsigned char* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}
std::uint64_t u64(const unsigned char* p) {
  return u32(p) | (std::uint64_t{u32(p + 4)} << 32);
}

Error zip_error(const stdfs::path& zip, Errc code, const std::string& what) {
  return make_error(code, zip.string() + ": " + what);
}

Error entry_error(const stdfs::path& zip, std::string_view entry, Errc code,
                  const std::string& what) {
  return make_error(code, zip.string() + ": " + std::string(entry) + ": " + what);
}

std::string archive_message(archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

// What the central directory says about one entry. Sizes and counts are checked here, before
// libarchive inflates anything.
struct CentralEntry {
  std::string path;  // normalized: no trailing '/'
  EntryType type = EntryType::file;
  std::uint64_t size = 0;
  std::uint64_t compressed_size = 0;
  std::uint32_t mode = 0;
};

struct Index {
  std::vector<CentralEntry> entries;
  std::unordered_map<std::string, std::size_t> by_path;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status read_at(const stdfs::path& zip, int fd, std::uint64_t offset, unsigned char* out,
               std::size_t size) {
  while (size > 0) {
    ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return zip_error(zip, Errc::io, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) return zip_error(zip, Errc::invalid, "truncated zip");
    out += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

struct EndRecord {
  std::uint64_t entries = 0;
  std::uint64_t directory_size = 0;
  std::uint64_t directory_offset = 0;
  std::uint64_t directory_end_limit = 0;  // the central directory must end before this offset
};

Result<EndRecord> read_end_record(const stdfs::path& zip, int fd, std::uint64_t file_size) {
  if (file_size < kEndRecordSize) return zip_error(zip, Errc::invalid, "not a zip file");
  std::size_t tail_size =
      static_cast<std::size_t>(std::min<std::uint64_t>(file_size, 0xffff + kEndRecordSize));
  std::vector<unsigned char> tail(tail_size);
  std::uint64_t tail_offset = file_size - tail_size;
  BATON_TRY(read_at(zip, fd, tail_offset, tail.data(), tail_size));
  // The last end-of-central-directory signature whose record (and comment) fits in the file.
  std::size_t at = tail_size - kEndRecordSize + 1;
  bool found = false;
  while (at-- > 0) {
    if (u32(&tail[at]) == 0x06054b50 && at + kEndRecordSize + u16(&tail[at + 20]) <= tail_size) {
      found = true;
      break;
    }
  }
  if (!found) return zip_error(zip, Errc::invalid, "not a zip file (no end of central directory)");
  const unsigned char* end = &tail[at];
  std::uint64_t end_offset = tail_offset + at;
  if (u16(end + 4) != 0 || u16(end + 6) != 0) {
    return zip_error(zip, Errc::invalid, "multi-disk zips are not supported");
  }
  EndRecord record{.entries = u16(end + 10),
                   .directory_size = u32(end + 12),
                   .directory_offset = u32(end + 16),
                   .directory_end_limit = end_offset};
  // A Zip64 locator right before the end record points at the Zip64 end record.
  if (end_offset >= kZip64LocatorSize) {
    unsigned char locator[kZip64LocatorSize];
    BATON_TRY(read_at(zip, fd, end_offset - kZip64LocatorSize, locator, sizeof locator));
    if (u32(locator) == 0x07064b50) {
      std::uint64_t zip64_offset = u64(locator + 8);
      if (u32(locator + 4) != 0 || zip64_offset > end_offset - kZip64LocatorSize ||
          end_offset - kZip64LocatorSize - zip64_offset < kZip64EndRecordSize) {
        return zip_error(zip, Errc::invalid, "bad Zip64 end of central directory locator");
      }
      unsigned char zip64[kZip64EndRecordSize];
      BATON_TRY(read_at(zip, fd, zip64_offset, zip64, sizeof zip64));
      if (u32(zip64) != 0x06064b50) {
        return zip_error(zip, Errc::invalid, "bad Zip64 end of central directory record");
      }
      if (u32(zip64 + 16) != 0 || u32(zip64 + 20) != 0) {
        return zip_error(zip, Errc::invalid, "multi-disk zips are not supported");
      }
      record.entries = u64(zip64 + 32);
      record.directory_size = u64(zip64 + 40);
      record.directory_offset = u64(zip64 + 48);
      record.directory_end_limit = zip64_offset;
    }
  }
  if (record.directory_offset > record.directory_end_limit ||
      record.directory_size > record.directory_end_limit - record.directory_offset) {
    return zip_error(zip, Errc::invalid, "the central directory lies outside the file");
  }
  return record;
}

// Type and permission bits the way libarchive derives them: Unix-made entries carry st_mode in
// the high half of the external attributes; others only know folders (trailing '/' or the
// MS-DOS folder bit).
Result<EntryType> entry_type(std::uint16_t made_by, std::uint32_t external, bool slash,
                             std::uint32_t& mode) {
  std::uint32_t unix_mode = external >> 16;
  if ((made_by >> 8) == 3 && (unix_mode & S_IFMT) != 0) {
    mode = unix_mode & 0777;
    switch (unix_mode & S_IFMT) {
      case S_IFREG:
        return EntryType::file;
      case S_IFDIR:
        return EntryType::folder;
      case S_IFLNK:
        return EntryType::symlink;
      default:
        return make_error(Errc::invalid, "not a file, folder or symlink");
    }
  }
  bool folder = slash || ((made_by >> 8) == 0 && (external & 0x10) != 0);
  mode = folder ? 0755 : 0644;
  return folder ? EntryType::folder : EntryType::file;
}

Result<Index> read_index(const stdfs::path& zip, const ArchiveLimits& limits) {
  Fd fd(::open(zip.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return zip_error(zip, Errc::not_found, "no such file");
    return zip_error(zip, Errc::io, std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return zip_error(zip, Errc::io, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) return zip_error(zip, Errc::invalid, "not a regular file");
  BATON_ASSIGN_OR_RETURN(EndRecord end,
                         read_end_record(zip, fd.get(), static_cast<std::uint64_t>(info.st_size)));
  if (end.entries > limits.max_entries) {
    return zip_error(zip, Errc::limit,
                     std::to_string(end.entries) + " entries, beyond the limit of " +
                         std::to_string(limits.max_entries));
  }
  if (end.directory_size > kMaxCentralDirectoryBytes ||
      end.directory_size < end.entries * kCentralHeaderSize) {
    return zip_error(zip, Errc::invalid, "implausible central directory size");
  }
  std::vector<unsigned char> directory(static_cast<std::size_t>(end.directory_size));
  BATON_TRY(read_at(zip, fd.get(), end.directory_offset, directory.data(), directory.size()));

  Index index;
  index.entries.reserve(static_cast<std::size_t>(end.entries));
  index.by_path.reserve(static_cast<std::size_t>(end.entries));
  std::uint64_t total = 0;
  std::size_t at = 0;
  for (std::uint64_t i = 0; i < end.entries; ++i) {
    if (directory.size() - at < kCentralHeaderSize || u32(&directory[at]) != 0x02014b50) {
      return zip_error(zip, Errc::invalid,
                       "corrupt central directory at entry " + std::to_string(i));
    }
    const unsigned char* header = &directory[at];
    std::size_t name_length = u16(header + 28);
    std::size_t extra_length = u16(header + 30);
    std::size_t comment_length = u16(header + 32);
    if (directory.size() - at - kCentralHeaderSize < name_length + extra_length + comment_length) {
      return zip_error(zip, Errc::invalid,
                       "corrupt central directory at entry " + std::to_string(i));
    }
    std::string name(reinterpret_cast<const char*>(header + kCentralHeaderSize), name_length);
    std::uint64_t compressed = u32(header + 20);
    std::uint64_t size = u32(header + 24);
    // Zip64 extra field: 8-byte values for exactly the fields saturated in the header.
    const unsigned char* extra = header + kCentralHeaderSize + name_length;
    for (std::size_t e = 0; e + 4 <= extra_length;) {
      std::size_t field_size = u16(extra + e + 2);
      if (e + 4 + field_size > extra_length) break;
      if (u16(extra + e) == 0x0001) {
        const unsigned char* value = extra + e + 4;
        std::size_t left = field_size;
        auto take = [&](std::uint64_t& field) {
          if (left < 8) return;
          field = u64(value);
          value += 8;
          left -= 8;
        };
        if (size == 0xffffffff) take(size);
        if (compressed == 0xffffffff) take(compressed);
      }
      e += 4 + field_size;
    }
    at += kCentralHeaderSize + name_length + extra_length + comment_length;

    bool slash = !name.empty() && name.back() == '/';
    std::string path = slash ? name.substr(0, name.size() - 1) : name;
    auto refuse = [&](Errc code, const std::string& what) {
      return entry_error(zip, name, code, what);
    };
    if (auto checked = check_entry_path(path); !checked) {
      return std::move(checked).error().within(zip.string());
    }
    std::uint32_t mode = 0;
    auto type = entry_type(u16(header + 4), u32(header + 38), slash, mode);
    if (!type) return refuse(Errc::invalid, type.error().message);
    if (slash && *type != EntryType::folder) {
      return refuse(Errc::invalid, "a name ending in '/' that is not a folder");
    }
    if ((u16(header + 8) & 0x0001) != 0) return refuse(Errc::invalid, "encrypted entry");
    if (*type == EntryType::folder && size != 0) return refuse(Errc::invalid, "a folder with data");
    if (*type == EntryType::symlink && size > kMaxSymlinkBytes) {
      return refuse(Errc::invalid,
                    "symlink target longer than " + std::to_string(kMaxSymlinkBytes) + " bytes");
    }
    if (u16(header + 10) == 0 && size != compressed) {
      return refuse(Errc::invalid, "stored entry whose sizes differ");
    }
    if (size > limits.ratio_min_bytes &&
        static_cast<double>(size) > limits.max_ratio * static_cast<double>(compressed)) {
      char ratio[64];
      std::snprintf(
          ratio, sizeof ratio, "%.0f:1",
          compressed == 0 ? 0.0 : static_cast<double>(size) / static_cast<double>(compressed));
      std::string what = compressed == 0 ? std::string("inflates from nothing")
                                         : std::string("compression ratio ") + ratio;
      char limit[64];
      std::snprintf(limit, sizeof limit, "%g:1", limits.max_ratio);
      return refuse(Errc::limit,
                    what + " (" + std::to_string(size) + " bytes), beyond the limit of " + limit);
    }
    total += size;
    if (total > limits.max_total_bytes) {
      return refuse(Errc::limit, "the entries so far inflate to " + std::to_string(total) +
                                     " bytes, beyond the limit of " +
                                     std::to_string(limits.max_total_bytes));
    }
    if (!index.by_path.emplace(path, index.entries.size()).second) {
      return refuse(Errc::invalid, "duplicate entry");
    }
    index.entries.push_back(CentralEntry{.path = std::move(path),
                                         .type = *type,
                                         .size = size,
                                         .compressed_size = compressed,
                                         .mode = mode});
  }
  // Nothing may sit under a symlink or a file, whatever the order of the entries.
  for (const CentralEntry& entry : index.entries) {
    for (std::size_t slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1)) {
      auto parent = index.by_path.find(entry.path.substr(0, slash));
      if (parent == index.by_path.end()) continue;
      EntryType parent_type = index.entries[parent->second].type;
      if (parent_type != EntryType::folder) {
        return entry_error(
            zip, entry.path, Errc::invalid,
            "lies under " + parent->first + ", which is a " + to_string(parent_type) +
                (parent_type == EntryType::symlink ? " (writing through a symlink)" : ""));
      }
    }
  }
  return index;
}

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using Reader = std::unique_ptr<archive, ReadFree>;
using DiskWriter = std::unique_ptr<archive, WriteFree>;

Result<Reader> open_reader(const stdfs::path& zip) {
  Reader reader(archive_read_new());
  if (!reader) return zip_error(zip, Errc::internal, "libarchive: out of memory");
  // Only the seekable reader: it reads the same central directory as read_index(), so both
  // see the same entries (the streaming reader trusts local headers instead).
  archive_read_support_format_zip_seekable(reader.get());
  if (archive_read_open_filename(reader.get(), zip.c_str(), 1 << 16) != ARCHIVE_OK) {
    return zip_error(zip, Errc::invalid, "cannot read: " + archive_message(reader.get()));
  }
  return reader;
}

// The entry's view from libarchive, checked against the rules and the central directory.
struct Visited {
  const CentralEntry& central;
  archive_entry* entry;
  std::string symlink;   // target when a symlink
  std::string hardlink;  // target when a hard link (never from zip, checked anyway)
};

// libarchive converts UTF-8 names to the locale's charset, which fails for non-ASCII names in
// the C locale. A UTF-8 LC_CTYPE for this thread only (uselocale, not the process-wide
// setlocale) makes the conversion the identity.
class Utf8Names {
 public:
  Utf8Names() : utf8_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {
    if (utf8_ != static_cast<locale_t>(nullptr)) previous_ = ::uselocale(utf8_);
  }
  Utf8Names(const Utf8Names&) = delete;
  Utf8Names& operator=(const Utf8Names&) = delete;
  ~Utf8Names() {
    if (utf8_ == static_cast<locale_t>(nullptr)) return;
    ::uselocale(previous_);
    ::freelocale(utf8_);
  }

 private:
  locale_t utf8_;
  locale_t previous_ = static_cast<locale_t>(nullptr);
};

// Walk every entry with libarchive; `visit(Visited&, archive* reader)` returns Result<bool>
// (false stops the walk early).
template <class Visit>
Status walk(const stdfs::path& zip, const Index& index, Visit&& visit) {
  Utf8Names utf8_names;
  BATON_ASSIGN_OR_RETURN(Reader reader, open_reader(zip));
  std::vector<bool> seen(index.entries.size(), false);
  std::size_t count = 0;
  std::string last = "the start";
  for (;;) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(reader.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    // ARCHIVE_WARN: usable, e.g. a UTF-8 name that does not convert to the C locale.
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return zip_error(zip, Errc::invalid,
                       "unreadable entry after " + last + ": " + archive_message(reader.get()));
    }
    // Under the UTF-8 locale the name is the zip's bytes; the _utf8 form is the fallback for
    // hosts without C.UTF-8.
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
    if (raw == nullptr) {
      return zip_error(zip, Errc::invalid, "entry after " + last + " has an unreadable name");
    }
    std::string path = raw;
    last = path;
    auto file_type = archive_entry_filetype(entry);
    if (file_type == AE_IFDIR && !path.empty() && path.back() == '/') path.pop_back();
    if (auto checked = check_entry_path(path); !checked) {
      return std::move(checked).error().within(zip.string());
    }
    auto found = index.by_path.find(path);
    if (found == index.by_path.end()) {
      return entry_error(zip, path, Errc::invalid, "not in the central directory");
    }
    if (seen[found->second]) return entry_error(zip, path, Errc::invalid, "duplicate entry");
    seen[found->second] = true;
    const CentralEntry& central = index.entries[found->second];
    EntryType type = EntryType::file;
    switch (file_type) {
      case AE_IFREG:
        type = EntryType::file;
        break;
      case AE_IFDIR:
        type = EntryType::folder;
        break;
      case AE_IFLNK:
        type = EntryType::symlink;
        break;
      default:
        return entry_error(zip, path, Errc::invalid, "not a file, folder or symlink");
    }
    if (type != central.type) {
      return entry_error(zip, path, Errc::invalid,
                         std::string("ambiguous type: a ") + to_string(type) +
                             " to libarchive, a " + to_string(central.type) +
                             " in the central directory");
    }
    Visited visited{.central = central, .entry = entry};
    const char* hardlink = archive_entry_hardlink(entry);
    if (hardlink == nullptr) hardlink = archive_entry_hardlink_utf8(entry);
    if (hardlink != nullptr) {
      visited.hardlink = hardlink;
      if (auto checked = check_entry_path(visited.hardlink); !checked) {
        return entry_error(zip, path, Errc::invalid,
                           "hard link outside the bundle: " + checked.error().message);
      }
      auto target = index.by_path.find(visited.hardlink);
      if (target == index.by_path.end() || !seen[target->second] ||
          index.entries[target->second].type != EntryType::file) {
        return entry_error(zip, path, Errc::invalid,
                           "hard link to " + visited.hardlink + ", not an earlier file");
      }
    }
    if (type == EntryType::symlink) {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr) target = archive_entry_symlink_utf8(entry);
      if (target == nullptr) return entry_error(zip, path, Errc::invalid, "unreadable symlink");
      visited.symlink = target;
      if (auto checked = check_symlink_target(path, visited.symlink); !checked) {
        return std::move(checked).error().within(zip.string());
      }
    }
    ++count;
    BATON_ASSIGN_OR_RETURN(bool more, visit(visited, reader.get()));
    if (!more) return {};
  }
  if (count != index.entries.size()) {
    return zip_error(zip, Errc::invalid,
                     "libarchive read " + std::to_string(count) +
                         " entries, the central directory lists " +
                         std::to_string(index.entries.size()));
  }
  return {};
}

bool is_io_errno(int err) {
  return err == ENOSPC || err == EDQUOT || err == EIO || err == EACCES || err == EPERM ||
         err == EROFS || err == EMFILE || err == ENFILE || err == ENOMEM;
}

// Removes a temporary extraction folder unless disarmed.
class Cleanup {
 public:
  explicit Cleanup(stdfs::path path) : path_(std::move(path)) {}
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  ~Cleanup() {
    if (!path_.empty()) remove_extracted(path_);
  }
  void disarm() { path_.clear(); }

 private:
  stdfs::path path_;
};

}  // namespace

const char* to_string(EntryType type) {
  switch (type) {
    case EntryType::file:
      return "file";
    case EntryType::folder:
      return "folder";
    case EntryType::symlink:
      return "symlink";
  }
  return "file";
}

Status check_entry_path(std::string_view path) {
  auto refuse = [&](const std::string& why) {
    return make_error(Errc::invalid, std::string(path.substr(0, 256)) + ": " + why);
  };
  if (path.empty()) return make_error(Errc::invalid, "an entry with an empty path");
  if (path.size() > kMaxPathBytes) {
    return refuse("path longer than " + std::to_string(kMaxPathBytes) + " bytes");
  }
  if (path.front() == '/') return refuse("absolute path");
  std::size_t start = 0;
  for (;;) {
    std::size_t end = path.find('/', start);
    std::string_view element = path.substr(start, end - start);
    if (element.empty()) return refuse("empty path element");
    if (element == ".") return refuse("'.' path element");
    if (element == "..") return refuse("'..' path element escapes the bundle");
    if (element.size() > kMaxNameBytes) {
      return refuse("path element longer than " + std::to_string(kMaxNameBytes) + " bytes");
    }
    if (element.find('\0') != std::string_view::npos) return refuse("NUL in path");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

Status check_symlink_target(std::string_view link_path, std::string_view target) {
  auto refuse = [&](const std::string& why) {
    return make_error(Errc::invalid, std::string(link_path) + ": symlink to \"" +
                                         std::string(target.substr(0, 256)) + "\" " + why);
  };
  if (target.empty()) return refuse("(empty target)");
  if (target.size() > kMaxPathBytes) return refuse("is too long");
  if (target.front() == '/') return refuse("is absolute");
  std::size_t depth = static_cast<std::size_t>(std::count(link_path.begin(), link_path.end(), '/'));
  std::size_t ups = 0;
  bool named = false;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = target.find('/', start);
    std::string_view element = target.substr(start, end - start);
    if (element == "..") {
      if (named) return refuse("has '..' after a name");
      if (++ups > depth) return refuse("points outside the bundle");
    } else if (!element.empty() && element != ".") {
      named = true;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

Result<std::vector<ArchiveEntry>> list_entries(const stdfs::path& zip,
                                               const ArchiveLimits& limits) {
  BATON_ASSIGN_OR_RETURN(Index index, read_index(zip, limits));
  std::vector<ArchiveEntry> entries;
  entries.reserve(index.entries.size());
  BATON_TRY(walk(zip, index, [&](Visited& visited, archive*) -> Result<bool> {
    const CentralEntry& central = visited.central;
    entries.push_back(ArchiveEntry{.path = central.path,
                                   .type = central.type,
                                   .size = central.size,
                                   .compressed_size = central.compressed_size,
                                   .mode = central.mode,
                                   .target = std::move(visited.symlink)});
    return true;
  }));
  return entries;
}

Result<std::string> find_top_folder(const stdfs::path& zip, std::span<const ArchiveEntry> entries,
                                    std::span<const std::string_view> markers) {
  std::string wanted;
  for (std::size_t i = 0; i < markers.size(); ++i) {
    if (i > 0) wanted += i + 1 == markers.size() ? " or " : ", ";
    wanted += markers[i];
  }
  auto find = [&](const std::string& path) -> Result<bool> {
    for (const ArchiveEntry& entry : entries) {
      if (entry.path != path) continue;
      if (entry.type != EntryType::file) {
        return zip_error(zip, Errc::invalid,
                         path + " is a " + to_string(entry.type) + ", expected a file");
      }
      return true;
    }
    return false;
  };
  for (std::string_view marker : markers) {
    BATON_ASSIGN_OR_RETURN(bool at_root, find(std::string(marker)));
    if (at_root) return std::string();
  }
  std::vector<std::string> tops;
  for (const ArchiveEntry& entry : entries) {
    std::string top = entry.path.substr(0, entry.path.find('/'));
    if (std::find(tops.begin(), tops.end(), top) == tops.end()) tops.push_back(top);
  }
  if (tops.size() != 1) {
    std::string listed;
    for (std::size_t i = 0; i < tops.size() && i < 5; ++i)
      listed += (i ? ", " : "") + tops[i];
    if (tops.size() > 5) listed += ", ...";
    return zip_error(
        zip, Errc::invalid,
        "no " + wanted + " at the root or in a single top folder" +
            (tops.empty() ? std::string(" (empty zip)") : " (top-level entries: " + listed + ")"));
  }
  for (std::string_view marker : markers) {
    BATON_ASSIGN_OR_RETURN(bool in_top, find(tops[0] + "/" + std::string(marker)));
    if (in_top) return tops[0];
  }
  return zip_error(zip, Errc::invalid,
                   "no " + wanted + " at the root or in the top folder " + tops[0]);
}

Result<std::string> read_member(const stdfs::path& zip, std::string_view member,
                                const ArchiveLimits& limits) {
  BATON_ASSIGN_OR_RETURN(Index index, read_index(zip, limits));
  auto found = index.by_path.find(std::string(member));
  if (found == index.by_path.end()) {
    return zip_error(zip, Errc::not_found, "no " + std::string(member));
  }
  const CentralEntry& central = index.entries[found->second];
  if (central.type != EntryType::file) {
    return entry_error(zip, member, Errc::invalid,
                       std::string("a ") + to_string(central.type) + ", expected a file");
  }
  if (central.size > limits.max_conf_bytes) {
    return entry_error(zip, member, Errc::limit,
                       std::to_string(central.size) + " bytes, beyond the limit of " +
                           std::to_string(limits.max_conf_bytes));
  }
  std::string content;
  bool read = false;
  BATON_TRY(walk(zip, index, [&](Visited& visited, archive* reader) -> Result<bool> {
    if (visited.central.path != member) return true;
    content.resize(static_cast<std::size_t>(central.size));
    std::size_t have = 0;
    char probe = 0;
    for (;;) {
      // Read one byte past the declared size to notice an entry that inflates beyond it.
      char* into = have < content.size() ? content.data() + have : &probe;
      std::size_t room = have < content.size() ? content.size() - have : 1;
      la_ssize_t n = archive_read_data(reader, into, room);
      if (n < 0) {
        return entry_error(zip, member, Errc::invalid,
                           "cannot inflate: " + archive_message(reader));
      }
      if (n == 0) break;
      if (have >= content.size()) {
        return entry_error(zip, member, Errc::invalid,
                           "inflates beyond its declared size of " + std::to_string(central.size));
      }
      have += static_cast<std::size_t>(n);
    }
    if (have != content.size()) {
      return entry_error(zip, member, Errc::invalid,
                         std::to_string(have) + " bytes where the central directory declares " +
                             std::to_string(central.size));
    }
    read = true;
    return false;
  }));
  if (!read) return entry_error(zip, member, Errc::invalid, "not reached by libarchive");
  return content;
}

Status extract(const stdfs::path& zip, const stdfs::path& destination,
               const ArchiveLimits& limits) {
  BATON_ASSIGN_OR_RETURN(Index index, read_index(zip, limits));
  stdfs::path name = destination.filename();
  if (name.empty() || name == "." || name == "..") {
    return make_error(Errc::invalid, destination.string() + ": not a folder name to extract to");
  }
  std::error_code error;
  stdfs::path parent =
      destination.parent_path().empty() ? stdfs::path(".") : destination.parent_path();
  // Canonical, because libarchive's symlink check walks every element of an absolute path and
  // refuses a symlink anywhere in it, even above the destination.
  parent = stdfs::canonical(parent, error);
  if (error) {
    return make_error(error == std::errc::no_such_file_or_directory ? Errc::not_found : Errc::io,
                      destination.parent_path().string() + ": " + error.message());
  }
  stdfs::path final_path = parent / name;
  if (stdfs::exists(stdfs::symlink_status(final_path, error))) {
    return make_error(Errc::conflict, final_path.string() + ": already exists");
  }
  std::string pattern = (parent / ("." + name.string() + ".extract-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return make_error(Errc::io,
                      parent.string() + ": cannot create a folder: " + std::strerror(errno));
  }
  stdfs::path temp(pattern);
  Cleanup cleanup(temp);

  DiskWriter disk(archive_write_disk_new());
  if (!disk) return zip_error(zip, Errc::internal, "libarchive: out of memory");
  // Not SECURE_NOABSOLUTEPATHS: it refuses the absolute per-entry paths we set (instead of a
  // process-wide chdir); entry paths are checked to be relative before they are joined.
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                 ARCHIVE_EXTRACT_PERM);
  auto disk_error = [&](std::string_view entry, const std::string& what) {
    int err = archive_errno(disk.get());
    return entry_error(zip, entry, is_io_errno(err) ? Errc::io : Errc::invalid,
                       what + ": " + archive_message(disk.get()));
  };

  std::unordered_map<std::string, mode_t> final_modes;
  final_modes.reserve(index.entries.size());
  std::vector<char> buffer(kDataBufferSize);
  BATON_TRY(walk(zip, index, [&](Visited& visited, archive* reader) -> Result<bool> {
    const CentralEntry& central = visited.central;
    archive_entry* entry = visited.entry;
    stdfs::path target = temp / central.path;
    archive_entry_set_pathname(entry, target.c_str());
    if (!visited.hardlink.empty()) {
      archive_entry_set_hardlink(entry, (temp / visited.hardlink).c_str());
    }
    // Owner-writable while extracting; read-only once complete.
    mode_t stored = static_cast<mode_t>(central.mode & 0777);
    if (central.type == EntryType::folder) {
      archive_entry_set_perm(entry, (stored & 0755) | 0700);
      final_modes[central.path] = (stored & 0555) | 0500;
    } else if (central.type == EntryType::file) {
      archive_entry_set_perm(entry, (stored & 0755) | 0600);
      final_modes[central.path] = (stored & 0555) | 0400;
    }
    if (archive_write_header(disk.get(), entry) != ARCHIVE_OK) {
      return disk_error(central.path, "cannot extract");
    }
    if (central.type == EntryType::file && visited.hardlink.empty()) {
      std::uint64_t written = 0;
      for (;;) {
        la_ssize_t n = archive_read_data(reader, buffer.data(), buffer.size());
        if (n < 0) {
          return entry_error(zip, central.path, Errc::invalid,
                             "cannot inflate: " + archive_message(reader));
        }
        if (n == 0) break;
        written += static_cast<std::uint64_t>(n);
        if (written > central.size) {
          return entry_error(
              zip, central.path, Errc::limit,
              "inflates beyond its declared size of " + std::to_string(central.size) + " bytes");
        }
        if (archive_write_data(disk.get(), buffer.data(), static_cast<std::size_t>(n)) != n) {
          return disk_error(central.path, "cannot write");
        }
      }
      if (written != central.size) {
        return entry_error(zip, central.path, Errc::invalid,
                           std::to_string(written) +
                               " bytes where the central directory declares " +
                               std::to_string(central.size));
      }
    }
    if (archive_write_finish_entry(disk.get()) != ARCHIVE_OK) {
      return disk_error(central.path, "cannot finish");
    }
    return true;
  }));
  // Folder permissions are applied on close.
  if (archive_write_close(disk.get()) != ARCHIVE_OK)
    return disk_error("(closing)", "cannot finish");

  // Read-only from here on; folders the zip did not list get r-x for everyone.
  for (auto it = stdfs::recursive_directory_iterator(temp, error);
       !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    stdfs::file_status status = it->symlink_status(error);
    if (error) break;
    if (stdfs::is_symlink(status)) continue;
    std::string relative = it->path().lexically_relative(temp).generic_string();
    auto mode = final_modes.find(relative);
    mode_t wanted = mode != final_modes.end() ? mode->second
                    : stdfs::is_directory(status)
                        ? mode_t{0555}
                        : (static_cast<mode_t>(status.permissions()) & 0555) | 0400;
    if (::chmod(it->path().c_str(), wanted) != 0) {
      return make_error(Errc::io, it->path().string() + ": chmod failed: " + std::strerror(errno));
    }
  }
  if (error) return make_error(Errc::io, temp.string() + ": " + error.message());
  if (::chmod(temp.c_str(), 0555) != 0) {
    return make_error(Errc::io, temp.string() + ": chmod failed: " + std::strerror(errno));
  }
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST || err == ENOTEMPTY) {
      return make_error(Errc::conflict, final_path.string() + ": already exists");
    }
    return make_error(Errc::io, final_path.string() + ": rename failed: " + std::strerror(err));
  }
  cleanup.disarm();
  return {};
}

void remove_extracted(const stdfs::path& destination) noexcept {
  try {
    std::error_code error;
    stdfs::file_status status = stdfs::symlink_status(destination, error);
    if (error || !stdfs::exists(status)) return;
    if (stdfs::is_directory(status)) {
      ::chmod(destination.c_str(), 0700);
      for (auto it = stdfs::recursive_directory_iterator(destination, error);
           !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
        std::error_code ignored;
        if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
          ::chmod(it->path().c_str(), 0700);
        }
      }
    }
    files::remove_tree(destination);
  } catch (...) {
    // remove_tree never throws; recursive_directory_iterator may allocate.
    files::remove_tree(destination);
  }
}

}  // namespace baton::bundle
