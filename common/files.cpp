#include "common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace baton::files {

namespace {
Error os_error(const stdfs::path& path, std::string_view what, int err) {
  return make_error(Errc::io, path.string() + ": " + std::string(what) + ": " + std::strerror(err));
}
}  // namespace

Result<std::string> read(const stdfs::path& file, std::size_t max_bytes) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return make_error(Errc::not_found, file.string() + ": no such file");
    return os_error(file, "cannot open", err);
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int err = errno;
    ::close(fd);
    return os_error(file, "cannot stat", err);
  }
  if (S_ISDIR(info.st_mode)) {
    ::close(fd);
    return make_error(Errc::invalid, file.string() + ": is a folder, expected a file");
  }
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return os_error(file, "read failed", err);
    }
    if (content.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      return make_error(Errc::limit, file.string() + ": larger than the limit of " +
                                         std::to_string(max_bytes) + " bytes");
    }
    content.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return content;
}

Status sync_folder(const stdfs::path& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error(folder, "cannot open folder", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return os_error(folder, "fsync failed", err);
  return {};
}

Status write_atomic(const stdfs::path& file, std::string_view content, stdfs::perms mode) {
  stdfs::path temp = file;
  temp += ".tmp-" + std::to_string(::getpid());
  int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return os_error(temp, "cannot create", errno);
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return os_error(file, "write failed", err);
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return os_error(file, "fsync failed", err);
  }
  ::close(fd);
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return os_error(file, "rename failed", err);
  }
  return sync_folder(file.has_parent_path() ? file.parent_path() : stdfs::path("."));
}

void remove_tree(const stdfs::path& path) noexcept {
  std::error_code ignored;
  stdfs::remove_all(path, ignored);
}

Result<TempFolder> TempFolder::create(const stdfs::path& parent, std::string_view prefix) {
  std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (::mkdtemp(name.data()) == nullptr) return os_error(parent, "cannot create a folder", errno);
  return TempFolder(stdfs::path(name.data()));
}

TempFolder::TempFolder(TempFolder&& other) noexcept : path_(other.release()) {}

TempFolder& TempFolder::operator=(TempFolder&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) remove_tree(path_);
    path_ = other.release();
  }
  return *this;
}

TempFolder::~TempFolder() {
  if (!path_.empty()) remove_tree(path_);
}

stdfs::path TempFolder::release() {
  stdfs::path kept = std::move(path_);
  path_.clear();
  return kept;
}

}  // namespace baton::files
