#include "runtimes/docker/context.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/files.hpp"
#include "common/text.hpp"

namespace baton::runtimes::docker {

namespace {

constexpr std::size_t kChunk = 64 * 1024;

std::vector<std::string> path_elements(std::string_view path) {
  std::vector<std::string> out;
  for (auto& element : text::split(path, '/')) {
    if (element.empty() || element == ".") continue;
    if (element == ".." && !out.empty()) {
      out.pop_back();
      continue;
    }
    out.push_back(std::move(element));
  }
  return out;
}

}  // namespace

IgnoreRules IgnoreRules::parse(std::string_view content) {
  IgnoreRules rules;
  for (const auto& raw : text::split(content, '\n')) {
    std::string_view line = text::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    Rule rule;
    if (line.front() == '!') {
      rule.negated = true;
      line = text::trim(line.substr(1));
    }
    rule.elements = path_elements(line);
    if (rule.elements.empty()) continue;
    rules.rules_.push_back(std::move(rule));
  }
  return rules;
}

bool IgnoreRules::matches(const std::vector<std::string>& pattern, std::size_t p,
                          const std::vector<std::string>& path, std::size_t i) {
  if (p == pattern.size()) return i == path.size();
  if (pattern[p] == "**") {
    for (std::size_t skip = i; skip <= path.size(); ++skip) {
      if (matches(pattern, p + 1, path, skip)) return true;
    }
    return false;
  }
  if (i == path.size()) return false;
  if (::fnmatch(pattern[p].c_str(), path[i].c_str(), 0) != 0) return false;
  return matches(pattern, p + 1, path, i + 1);
}

bool IgnoreRules::excluded(std::string_view path) const {
  const std::vector<std::string> elements = path_elements(path);
  bool out = false;
  for (const auto& rule : rules_) {
    // The rule matches the path itself or one of its parent folders.
    bool hit = false;
    for (std::size_t length = 1; length <= elements.size() && !hit; ++length) {
      std::vector<std::string> prefix(elements.begin(), elements.begin() + length);
      hit = matches(rule.elements, 0, prefix, 0);
    }
    if (hit) out = !rule.negated;
  }
  return out;
}

struct ContextTar::State {
  archive* writer = nullptr;
  std::string buffer;  // tar bytes not yet handed out
  std::size_t offset = 0;
  std::size_t next = 0;  // next entry to start
  int fd = -1;           // the regular file being copied
  std::string fd_name;
  bool closed = false;
  std::unique_ptr<char[]> chunk = std::make_unique<char[]>(kChunk);

  ~State() {
    if (fd >= 0) ::close(fd);
    if (writer != nullptr) archive_write_free(writer);
  }
};

namespace {

la_ssize_t append_to_buffer(archive*, void* client, const void* data, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(data), length);
  return static_cast<la_ssize_t>(length);
}

}  // namespace

ContextTar::ContextTar(stdfs::path folder, std::vector<std::string> entries)
    : folder_(std::move(folder)), entries_(std::move(entries)), state_(std::make_unique<State>()) {}

ContextTar::~ContextTar() = default;

Result<std::unique_ptr<ContextTar>> ContextTar::open(const stdfs::path& folder) {
  std::error_code error;
  if (!stdfs::is_directory(folder, error)) {
    return make_error(Errc::not_found, "build context " + folder.string() + ": not a folder");
  }
  IgnoreRules rules;
  if (stdfs::exists(folder / ".dockerignore", error)) {
    BATON_ASSIGN_OR_RETURN(std::string content, files::read(folder / ".dockerignore", 1u << 20));
    rules = IgnoreRules::parse(content);
  }
  std::vector<std::string> entries;
  stdfs::recursive_directory_iterator it(folder, stdfs::directory_options::none, error);
  if (error) {
    return make_error(Errc::io, "build context " + folder.string() + ": " + error.message());
  }
  for (; it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    if (error) break;
    std::string relative = it->path().lexically_relative(folder).generic_string();
    auto status = it->symlink_status(error);
    if (error) break;
    const bool always = relative == "Dockerfile" || relative == ".dockerignore";
    if (!always && !rules.empty() && rules.excluded(relative)) continue;
    if (stdfs::is_regular_file(status) || stdfs::is_directory(status) ||
        stdfs::is_symlink(status)) {
      entries.push_back(std::move(relative));
    }
  }
  if (error) {
    return make_error(Errc::io, "build context " + folder.string() + ": " + error.message());
  }
  std::sort(entries.begin(), entries.end());
  auto tar = std::unique_ptr<ContextTar>(new ContextTar(folder, std::move(entries)));
  State& state = *tar->state_;
  state.writer = archive_write_new();
  if (state.writer == nullptr) return make_error(Errc::internal, "libarchive: out of memory");
  archive_write_set_format_pax_restricted(state.writer);
  archive_write_set_bytes_in_last_block(state.writer, 1);
  if (archive_write_open(state.writer, &state.buffer, nullptr, append_to_buffer, nullptr) !=
      ARCHIVE_OK) {
    return make_error(Errc::internal,
                      std::string("libarchive: ") + archive_error_string(state.writer));
  }
  return tar;
}

Status ContextTar::step() {
  State& s = *state_;
  if (s.fd >= 0) {
    ssize_t got = ::read(s.fd, s.chunk.get(), kChunk);
    if (got < 0) {
      if (errno == EINTR) return {};
      return make_error(Errc::io, "build context " + s.fd_name + ": " + std::strerror(errno));
    }
    if (got == 0) {
      ::close(s.fd);
      s.fd = -1;
      return {};
    }
    if (archive_write_data(s.writer, s.chunk.get(), static_cast<size_t>(got)) < 0) {
      return make_error(Errc::io,
                        "build context " + s.fd_name + ": " + archive_error_string(s.writer));
    }
    return {};
  }
  if (s.next == entries_.size()) {
    if (archive_write_close(s.writer) != ARCHIVE_OK) {
      return make_error(Errc::io, std::string("build context: ") + archive_error_string(s.writer));
    }
    s.closed = true;
    return {};
  }
  const std::string& name = entries_[s.next++];
  const stdfs::path path = folder_ / name;
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    return make_error(Errc::io, "build context " + path.string() + ": " + std::strerror(errno));
  }
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                 archive_entry_free);
  archive_entry_copy_stat(entry.get(), &info);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  archive_entry_set_uname(entry.get(), "");
  archive_entry_set_gname(entry.get(), "");
  archive_entry_set_nlink(entry.get(), 1);
  archive_entry_set_dev(entry.get(), 0);
  archive_entry_set_ino(entry.get(), 0);
  if (S_ISDIR(info.st_mode)) {
    archive_entry_copy_pathname(entry.get(), (name + "/").c_str());
    archive_entry_set_size(entry.get(), 0);
  } else if (S_ISLNK(info.st_mode)) {
    std::error_code error;
    stdfs::path target = stdfs::read_symlink(path, error);
    if (error) {
      return make_error(Errc::io, "build context " + path.string() + ": " + error.message());
    }
    archive_entry_copy_pathname(entry.get(), name.c_str());
    archive_entry_copy_symlink(entry.get(), target.c_str());
    archive_entry_set_size(entry.get(), 0);
  } else {
    s.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (s.fd < 0) {
      return make_error(Errc::io, "build context " + path.string() + ": " + std::strerror(errno));
    }
    s.fd_name = path.string();
    archive_entry_copy_pathname(entry.get(), name.c_str());
  }
  if (archive_write_header(s.writer, entry.get()) != ARCHIVE_OK) {
    return make_error(Errc::io,
                      "build context " + path.string() + ": " + archive_error_string(s.writer));
  }
  return {};
}

Result<std::size_t> ContextTar::read(char* out, std::size_t size) {
  State& s = *state_;
  while (s.offset == s.buffer.size()) {
    s.buffer.clear();
    s.offset = 0;
    if (s.closed) return std::size_t{0};
    BATON_TRY(step());
  }
  std::size_t take = std::min(size, s.buffer.size() - s.offset);
  std::memcpy(out, s.buffer.data() + s.offset, take);
  s.offset += take;
  return take;
}

}  // namespace baton::runtimes::docker
