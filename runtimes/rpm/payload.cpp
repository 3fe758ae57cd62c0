#include "runtimes/rpm/payload.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <unordered_map>

namespace baton::runtimes::rpm {

namespace {

constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::size_t kBufferBytes = 64 * 1024;
constexpr unsigned char kRpmMagic[4] = {0xed, 0xab, 0xee, 0xdb};

struct ReaderFree {
  void operator()(archive* reader) const { archive_read_free(reader); }
};
struct WriterFree {
  void operator()(archive* writer) const { archive_write_free(writer); }
};
using Reader = std::unique_ptr<archive, ReaderFree>;
using Writer = std::unique_ptr<archive, WriterFree>;

std::string message_of(archive* handle) {
  const char* message = archive_error_string(handle);
  return message ? message : "unknown libarchive error";
}

bool is_io_errno(int err) {
  return err == ENOSPC || err == EDQUOT || err == EIO || err == EROFS || err == EMFILE ||
         err == ENFILE || err == ENOMEM || err == EACCES || err == EPERM;
}

enum class Kind { folder, file, symlink };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::folder:
      return "folder";
    case Kind::file:
      return "file";
    case Kind::symlink:
      return "symlink";
  }
  return "entry";
}

struct Seen {
  Kind kind = Kind::folder;
  std::size_t rpm = 0;  // index into the rpm list
};

// Everything known about the component's root while its rpms are unpacked.
struct Unpacking {
  const std::vector<stdfs::path>& rpms;
  const PayloadLimits& limits;
  stdfs::path temp;
  std::unordered_map<std::string, Seen> seen;
  std::unordered_map<std::string, mode_t> final_modes;
  std::uint64_t entries = 0;
  std::uint64_t total_bytes = 0;
};

// rpm writes "./usr/bin/x"; the rules see "usr/bin/x". "." itself is the root.
std::string_view strip_dot(std::string_view path) {
  if (path.substr(0, 2) == "./") path.remove_prefix(2);
  return path;
}

// Removes the temporary folder unless disarmed.
class Cleanup {
 public:
  explicit Cleanup(stdfs::path path) : path_(std::move(path)) {}
  ~Cleanup() {
    if (!path_.empty()) remove_tree(path_);
  }
  void disarm() { path_.clear(); }

 private:
  stdfs::path path_;
};

Status check_lead(const stdfs::path& rpm) {
  std::ifstream in(rpm, std::ios::binary);
  if (!in) {
    return make_error(Errc::io, rpm.string() + ": cannot open: " + std::strerror(errno));
  }
  unsigned char lead[4] = {};
  in.read(reinterpret_cast<char*>(lead), sizeof lead);
  if (in.gcount() != static_cast<std::streamsize>(sizeof lead) ||
      std::memcmp(lead, kRpmMagic, sizeof lead) != 0) {
    return make_error(Errc::invalid, rpm.string() + ": not an rpm package (no rpm lead)");
  }
  return {};
}

bool read_through_rpm_filter(archive* reader) {
  for (int i = 0; i < archive_filter_count(reader); ++i) {
    if (archive_filter_code(reader, i) == ARCHIVE_FILTER_RPM) return true;
  }
  return false;
}

Status unpack_one(Unpacking& state, std::size_t index) {
  const stdfs::path& rpm = state.rpms[index];
  const std::string name = rpm.string();
  if (auto lead = check_lead(rpm); !lead) return lead;
  std::error_code error;
  const std::uintmax_t file_size = stdfs::file_size(rpm, error);
  if (error) return make_error(Errc::io, name + ": " + error.message());

  Reader reader(archive_read_new());
  Writer disk(archive_write_disk_new());
  if (!reader || !disk) return make_error(Errc::internal, name + ": libarchive: out of memory");
  archive_read_support_filter_rpm(reader.get());
  archive_read_support_filter_all(reader.get());
  archive_read_support_format_cpio(reader.get());
  if (archive_read_open_filename(reader.get(), rpm.c_str(), kBufferBytes) != ARCHIVE_OK) {
    return make_error(Errc::invalid, name + ": not a readable rpm: " + message_of(reader.get()));
  }
  // Not SECURE_NOABSOLUTEPATHS: it refuses the absolute per-entry paths set below (instead of a
  // process-wide chdir); entry paths are checked to be relative before they are joined.
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                 ARCHIVE_EXTRACT_PERM);
  auto entry_error = [&](std::string_view entry, Errc code, const std::string& why) {
    return make_error(code, name + ": " + std::string(entry.substr(0, 256)) + ": " + why);
  };
  auto disk_error = [&](std::string_view entry, const std::string& what) {
    int err = archive_errno(disk.get());
    return entry_error(entry, is_io_errno(err) ? Errc::io : Errc::invalid,
                       what + ": " + message_of(disk.get()));
  };

  std::vector<char> buffer(kBufferBytes);
  std::uint64_t rpm_bytes = 0;
  std::string last = "(the first entry)";
  bool first = true;
  for (;;) {
    archive_entry* entry = nullptr;
    int read = archive_read_next_header(reader.get(), &entry);
    if (read == ARCHIVE_EOF) break;
    if (read < ARCHIVE_WARN) {
      return make_error(Errc::invalid, name + ": cannot read the payload" +
                                           (first ? std::string() : " after " + last) + ": " +
                                           message_of(reader.get()));
    }
    if (first && !read_through_rpm_filter(reader.get())) {
      return make_error(Errc::invalid, name + ": not an rpm package (a bare cpio archive)");
    }
    first = false;
    const char* raw = archive_entry_pathname(entry);
    const std::string raw_path = raw ? raw : "";
    const std::string path(strip_dot(raw_path));
    last = path;
    const bool root_entry = path.empty() || path == ".";
    if (++state.entries > state.limits.max_entries) {
      return entry_error(path, Errc::limit,
                         "more than " + std::to_string(state.limits.max_entries) +
                             " entries in the component's rpms");
    }
    if (root_entry && archive_entry_filetype(entry) == AE_IFDIR) continue;
    if (auto checked = check_entry_path(path); !checked) {
      return make_error(checked.error().code, name + ": " + checked.error().message);
    }

    const char* hardlink_raw = archive_entry_hardlink(entry);
    const mode_t type = archive_entry_filetype(entry);
    Kind kind = Kind::file;
    std::string hardlink;
    if (hardlink_raw != nullptr) {
      hardlink = std::string(strip_dot(hardlink_raw));
      if (auto checked = check_entry_path(hardlink); !checked) {
        return entry_error(path, Errc::invalid, "hard link to " + checked.error().message);
      }
      auto target = state.seen.find(hardlink);
      if (target == state.seen.end() || target->second.kind != Kind::file ||
          target->second.rpm != index) {
        return entry_error(
            path, Errc::invalid,
            "hard link to " + hardlink + ", which is not an earlier file of the rpm");
      }
    } else if (type == AE_IFDIR) {
      kind = Kind::folder;
    } else if (type == AE_IFLNK) {
      kind = Kind::symlink;
      const char* target = archive_entry_symlink(entry);
      if (auto checked = check_symlink_target(path, target ? target : ""); !checked) {
        return make_error(Errc::invalid, name + ": " + checked.error().message);
      }
    } else if (type != AE_IFREG) {
      return entry_error(path, Errc::invalid,
                         "not a file, folder, symlink or hard link (device, fifo or socket)");
    }

    // Nothing under a file or symlink, from this rpm or an earlier one.
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string parent = path.substr(0, slash);
      auto it = state.seen.find(parent);
      if (it == state.seen.end()) {
        state.seen.emplace(parent, Seen{Kind::folder, index});
      } else if (it->second.kind != Kind::folder) {
        return entry_error(path, Errc::invalid,
                           std::string("lies under ") + parent + ", a " +
                               kind_name(it->second.kind) + " of " +
                               state.rpms[it->second.rpm].filename().string());
      }
    }
    if (auto it = state.seen.find(path); it != state.seen.end()) {
      if (!(it->second.kind == Kind::folder && kind == Kind::folder)) {
        return entry_error(
            path, Errc::conflict,
            it->second.rpm == index
                ? std::string("appears twice")
                : "also shipped by " + state.rpms[it->second.rpm].filename().string());
      }
    }
    state.seen[path] = Seen{kind, index};

    std::uint64_t declared =
        archive_entry_size_is_set(entry)
            ? static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)))
            : 0;
    if (kind == Kind::file && declared > state.limits.max_total_bytes - state.total_bytes) {
      return entry_error(path, Errc::limit,
                         std::to_string(declared) + " bytes would take the component's rpms past " +
                             std::to_string(state.limits.max_total_bytes) + " bytes");
    }

    stdfs::path target = state.temp / path;
    archive_entry_set_pathname(entry, target.c_str());
    if (!hardlink.empty()) archive_entry_set_hardlink(entry, (state.temp / hardlink).c_str());
    // Owner-writable while unpacking; read-only once complete.
    mode_t stored = archive_entry_perm(entry) & 0777;
    if (kind == Kind::folder) {
      archive_entry_set_perm(entry, (stored & 0755) | 0700);
      state.final_modes[path] = (stored & 0555) | 0500;
    } else if (kind == Kind::file && hardlink.empty()) {
      archive_entry_set_perm(entry, (stored & 0755) | 0600);
      state.final_modes[path] = (stored & 0555) | 0400;
    }
    if (archive_write_header(disk.get(), entry) != ARCHIVE_OK) {
      return disk_error(path, "cannot unpack");
    }
    if (kind == Kind::file) {
      std::uint64_t written = 0;
      for (;;) {
        la_ssize_t n = archive_read_data(reader.get(), buffer.data(), buffer.size());
        if (n < 0) {
          return entry_error(path, Errc::invalid, "cannot read: " + message_of(reader.get()));
        }
        if (n == 0) break;
        written += static_cast<std::uint64_t>(n);
        rpm_bytes += static_cast<std::uint64_t>(n);
        state.total_bytes += static_cast<std::uint64_t>(n);
        if (written > declared) {
          return entry_error(path, Errc::invalid,
                             "holds more than its declared " + std::to_string(declared) + " bytes");
        }
        if (state.total_bytes > state.limits.max_total_bytes) {
          return entry_error(path, Errc::limit,
                             "the component's rpms unpack to more than " +
                                 std::to_string(state.limits.max_total_bytes) + " bytes");
        }
        if (rpm_bytes > state.limits.ratio_min_bytes &&
            static_cast<double>(rpm_bytes) >
                state.limits.max_ratio *
                    static_cast<double>(std::max<std::uintmax_t>(1, file_size))) {
          return entry_error(path, Errc::limit,
                             "the rpm unpacks to more than " +
                                 std::to_string(static_cast<long long>(state.limits.max_ratio)) +
                                 " times its size of " + std::to_string(file_size) + " bytes");
        }
        if (archive_write_data(disk.get(), buffer.data(), static_cast<std::size_t>(n)) != n) {
          return disk_error(path, "cannot write");
        }
      }
      if (written != declared) {
        return entry_error(
            path, Errc::invalid,
            std::to_string(written) + " bytes where " + std::to_string(declared) + " are declared");
      }
    }
    if (archive_write_finish_entry(disk.get()) != ARCHIVE_OK) {
      return disk_error(path, "cannot finish");
    }
  }
  if (first) return make_error(Errc::invalid, name + ": the rpm's payload is empty");
  if (archive_write_close(disk.get()) != ARCHIVE_OK) {
    return disk_error("(closing)", "cannot finish");
  }
  return {};
}

}  // namespace

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
    if (element == "..") return refuse("'..' path element escapes the root");
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
    return make_error(Errc::invalid, std::string(link_path.substr(0, 256)) + ": symlink to \"" +
                                         std::string(target.substr(0, 256)) + "\" " + why);
  };
  if (target.empty()) return refuse("(empty target)");
  if (target.size() > kMaxPathBytes) return refuse("is too long");
  if (target.front() == '/') return refuse("is absolute (it would point outside the root)");
  std::size_t depth = static_cast<std::size_t>(std::count(link_path.begin(), link_path.end(), '/'));
  std::size_t ups = 0;
  bool named = false;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = target.find('/', start);
    std::string_view element = target.substr(start, end - start);
    if (element == "..") {
      if (named) return refuse("has '..' after a name");
      if (++ups > depth) return refuse("points outside the root");
    } else if (!element.empty() && element != ".") {
      named = true;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

Status extract_rpms(const std::vector<stdfs::path>& rpms, const stdfs::path& destination,
                    const PayloadLimits& limits) {
  stdfs::path name = destination.filename();
  if (name.empty() || name == "." || name == "..") {
    return make_error(Errc::invalid, destination.string() + ": not a folder name to unpack into");
  }
  if (rpms.empty()) return make_error(Errc::invalid, destination.string() + ": no rpm to unpack");
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
  Unpacking state{rpms, limits, stdfs::path(pattern), {}, {}, 0, 0};
  Cleanup cleanup(state.temp);
  for (std::size_t i = 0; i < rpms.size(); ++i) {
    if (auto unpacked = unpack_one(state, i); !unpacked) return unpacked;
  }

  // Read-only from here on; folders no rpm listed get r-x for everyone.
  for (auto it = stdfs::recursive_directory_iterator(state.temp, error);
       !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    stdfs::file_status status = it->symlink_status(error);
    if (error) break;
    if (stdfs::is_symlink(status)) continue;
    std::string relative = it->path().lexically_relative(state.temp).generic_string();
    auto mode = state.final_modes.find(relative);
    mode_t wanted = mode != state.final_modes.end() ? mode->second
                    : stdfs::is_directory(status)
                        ? mode_t{0555}
                        : (static_cast<mode_t>(status.permissions()) & 0555) | 0400;
    if (::chmod(it->path().c_str(), wanted) != 0) {
      return make_error(Errc::io, it->path().string() + ": chmod failed: " + std::strerror(errno));
    }
  }
  if (error) return make_error(Errc::io, state.temp.string() + ": " + error.message());
  if (::chmod(state.temp.c_str(), 0555) != 0) {
    return make_error(Errc::io, state.temp.string() + ": chmod failed: " + std::strerror(errno));
  }
  if (::renameat2(AT_FDCWD, state.temp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) !=
      0) {
    int err = errno;
    if (err == EEXIST || err == ENOTEMPTY) {
      return make_error(Errc::conflict, final_path.string() + ": already exists");
    }
    return make_error(Errc::io, final_path.string() + ": rename failed: " + std::strerror(err));
  }
  cleanup.disarm();
  return {};
}

void remove_tree(const stdfs::path& path) noexcept {
  try {
    std::error_code error;
    stdfs::file_status status = stdfs::symlink_status(path, error);
    if (error || !stdfs::exists(status)) return;
    if (stdfs::is_directory(status)) {
      ::chmod(path.c_str(), 0700);
      for (auto it = stdfs::recursive_directory_iterator(path, error);
           !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
        std::error_code ignored;
        if (it->is_directory(ignored) && !it->is_symlink(ignored))
          ::chmod(it->path().c_str(), 0700);
      }
    }
    stdfs::remove_all(path, error);
  } catch (...) {
    // Out of memory while walking: what is left stays; never throw from cleanup.
  }
}

}  // namespace baton::runtimes::rpm
