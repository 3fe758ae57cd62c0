#include "logs/reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace baton::logs {

namespace {

constexpr std::size_t kBlock = 64 * 1024;

struct LogFile {
  int index = 0;  // 0 = current, 1 = newest rotated, ...
  dev_t device = 0;
  ino_t inode = 0;
  std::uint64_t size = 0;
};

// Every component's files, each list ordered newest first (index ascending).
using Listing = std::map<std::string, std::vector<LogFile>>;

Error os_error(const stdfs::path& path, std::string_view what, int err) {
  return make_error(Errc::io, path.string() + ": " + std::string(what) + ": " + std::strerror(err));
}

Result<Listing> list(const stdfs::path& log_dir) {
  Listing listing;
  DIR* dir = ::opendir(log_dir.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return listing;
    return os_error(log_dir, "cannot read folder", errno);
  }
  while (dirent* item = ::readdir(dir)) {
    auto name = parse_file_name(item->d_name);
    if (!name) continue;
    struct stat info {};
    if (::fstatat(::dirfd(dir), item->d_name, &info, 0) != 0 || !S_ISREG(info.st_mode)) continue;
    listing[name->component].push_back(
        LogFile{name->index, info.st_dev, info.st_ino, static_cast<std::uint64_t>(info.st_size)});
  }
  ::closedir(dir);
  for (auto& [component, files] : listing) {
    std::sort(files.begin(), files.end(),
              [](const LogFile& a, const LogFile& b) { return a.index < b.index; });
  }
  return listing;
}

// Opens a component's file by index and checks it is still the file that was listed (a rotation
// may have renamed it since); -1 when it is not.
int open_listed(const stdfs::path& log_dir, const std::string& component, const LogFile& file) {
  stdfs::path path = log_dir / file_name(component, file.index);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_ino != file.inode || info.st_dev != file.device) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool read_at(int fd, char* data, std::size_t length, std::uint64_t offset) {
  while (length > 0) {
    ssize_t n = ::pread(fd, data, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    length -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

void add_entry(std::vector<Entry>& out, const std::string& component, std::string_view line) {
  auto parsed = parse_line(line);
  if (!parsed) return;  // not ours: skip rather than invent a time
  out.push_back(
      Entry{std::string(parsed->time), component, parsed->stream, std::string(parsed->text)});
}

// The last `count` complete lines of [0, end) of `fd`, oldest first, prepended to `out`.
void last_lines(int fd, std::uint64_t end, std::size_t count, const std::string& component,
                std::vector<Entry>& out) {
  if (count == 0 || end == 0) return;
  std::string buffer;
  std::uint64_t start = end;
  std::size_t newlines = 0;
  // Read backwards until count+1 newlines (the first bounds the oldest wanted line) or the start.
  while (start > 0 && newlines <= count) {
    std::uint64_t from = start > kBlock ? start - kBlock : 0;
    std::string block(start - from, '\0');
    if (!read_at(fd, block.data(), block.size(), from)) break;
    newlines += static_cast<std::size_t>(std::count(block.begin(), block.end(), '\n'));
    buffer.insert(0, block);
    start = from;
  }
  std::string_view text(buffer);
  // Text after the last newline is a line still being written.
  auto last = text.rfind('\n');
  if (last == std::string_view::npos) return;
  text = text.substr(0, last + 1);
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    text.remove_prefix(newline + 1);
  }
  // Without the file start, the first piece may be the tail of a longer line.
  if (start > 0 && !lines.empty()) lines.erase(lines.begin());
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - static_cast<long>(count));
  std::vector<Entry> entries;
  entries.reserve(lines.size());
  for (auto line : lines)
    add_entry(entries, component, line);
  out.insert(out.begin(), std::make_move_iterator(entries.begin()),
             std::make_move_iterator(entries.end()));
}

// Complete lines in [offset, size) of `fd`, reading at most about `budget` bytes; returns the
// offset after the last complete line read.
std::uint64_t new_lines(int fd, std::uint64_t offset, std::uint64_t size, std::size_t budget,
                        const std::string& component, std::vector<Entry>& out) {
  std::string buffer;
  while (offset + buffer.size() < size && budget > 0) {
    std::size_t kept = buffer.size();
    std::size_t step = std::max<std::size_t>(std::min(budget, kBlock), 4096);
    std::size_t length =
        static_cast<std::size_t>(std::min<std::uint64_t>(size - offset - kept, step));
    buffer.resize(kept + length);
    if (!read_at(fd, buffer.data() + kept, length, offset + kept)) {
      buffer.resize(kept);
      break;
    }
    std::string_view text(buffer);
    std::size_t consumed = 0;
    for (;;) {
      auto newline = text.find('\n', consumed);
      if (newline == std::string_view::npos) break;
      add_entry(out, component, text.substr(consumed, newline - consumed));
      consumed = newline + 1;
    }
    offset += consumed;
    buffer.erase(0, consumed);
    budget = budget > length ? budget - length : 0;
    // A kept piece longer than any line we write means junk: skip it rather than loop forever.
    if (buffer.size() > kMaxLineBytes + 64) {
      offset += buffer.size();
      buffer.clear();
    }
  }
  return offset;
}

void merge_by_time(std::vector<Entry>& entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.time < b.time; });
}

// Offset just after the last newline before `size` (a line being written is not yet ours).
std::uint64_t line_start_before(int fd, std::uint64_t size) {
  std::uint64_t end = size;
  while (end > 0) {
    std::uint64_t from = end > kBlock ? end - kBlock : 0;
    std::string block(end - from, '\0');
    if (!read_at(fd, block.data(), block.size(), from)) return size;
    if (auto newline = block.rfind('\n'); newline != std::string::npos) return from + newline + 1;
    end = from;
  }
  return 0;
}

}  // namespace

Result<std::vector<Entry>> tail(const stdfs::path& log_dir, std::size_t count) {
  return Follower(log_dir).backlog(count);
}

Follower::Follower(stdfs::path log_dir) : log_dir_(std::move(log_dir)) {
  auto listing = list(log_dir_);
  if (!listing) return;  // an unreadable folder behaves like an empty one; poll() reports it
  for (const auto& [component, files] : *listing) {
    const LogFile& newest = files.front();
    Position position{newest.device, newest.inode, newest.size};
    if (int fd = open_listed(log_dir_, component, newest); fd >= 0) {
      position.offset = line_start_before(fd, newest.size);
      ::close(fd);
    }
    positions_.emplace(component, position);
  }
}

Result<std::vector<Entry>> Follower::backlog(std::size_t count) const {
  BATON_ASSIGN_OR_RETURN(Listing listing, list(log_dir_));
  std::vector<Entry> entries;
  for (const auto& [component, position] : positions_) {
    auto found = listing.find(component);
    if (found == listing.end()) continue;
    const auto& files = found->second;
    // clang 14 (the fuzz build) cannot capture a structured binding: capture a reference to it.
    auto at = std::find_if(files.begin(), files.end(), [&wanted = position](const LogFile& file) {
      return file.inode == wanted.inode && file.device == wanted.device;
    });
    std::vector<Entry> lines;
    for (; at != files.end() && lines.size() < count; ++at) {
      int fd = open_listed(log_dir_, component, *at);
      if (fd < 0) break;
      std::uint64_t end = at->inode == position.inode ? position.offset : at->size;
      last_lines(fd, end, count - lines.size(), component, lines);
      ::close(fd);
    }
    entries.insert(entries.end(), std::make_move_iterator(lines.begin()),
                   std::make_move_iterator(lines.end()));
  }
  merge_by_time(entries);
  if (entries.size() > count) {
    entries.erase(entries.begin(), entries.end() - static_cast<long>(count));
  }
  return entries;
}

Result<std::vector<Entry>> Follower::poll(std::size_t max_bytes) {
  BATON_ASSIGN_OR_RETURN(Listing listing, list(log_dir_));
  std::vector<Entry> entries;
  for (const auto& [component, files] : listing) {
    auto [it, added] = positions_.try_emplace(component);
    Position& position = it->second;
    // A component that appeared since: all of its files are new, oldest first.
    if (added) position = Position{files.back().device, files.back().inode, 0};
    // Where the position's file is now (a rotation renames it to a higher index).
    auto at = std::find_if(files.rbegin(), files.rend(), [&](const LogFile& file) {
      return file.inode == position.inode && file.device == position.device;
    });
    if (at == files.rend()) {
      // Rotated out before we read it: continue with the oldest file that is left.
      at = files.rbegin();
      position = Position{at->device, at->inode, 0};
    }
    std::size_t budget = max_bytes;
    for (; at != files.rend(); ++at) {
      if (at->inode != position.inode) position = Position{at->device, at->inode, 0};
      int fd = open_listed(log_dir_, component, *at);
      if (fd < 0) break;  // renamed under us: the next poll sees the new names
      std::uint64_t before = position.offset;
      position.offset = new_lines(fd, position.offset, at->size, budget, component, entries);
      ::close(fd);
      std::uint64_t read = position.offset - before;
      budget = budget > read ? budget - static_cast<std::size_t>(read) : 0;
      // Move to a newer file only when this (rotated, hence complete) one is used up.
      if (position.offset < at->size || at->index == 0 || budget == 0) break;
    }
  }
  merge_by_time(entries);
  return entries;
}

}  // namespace baton::logs
