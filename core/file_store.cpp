#include "core/file_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/files.hpp"
#include "common/sha256.hpp"

namespace baton::core {

namespace {
Error os_error(const stdfs::path& path, std::string_view what, int err) {
  return make_error(Errc::io, path.string() + ": " + std::string(what) + ": " + std::strerror(err));
}
}  // namespace

FileStore::FileStore(stdfs::path data) : files_(data / "files"), tmp_(data / "tmp") {}

Status FileStore::open() {
  std::error_code ec;
  stdfs::create_directories(files_, ec);
  if (ec) return make_error(Errc::io, files_.string() + ": cannot create: " + ec.message());
  files::remove_tree(tmp_);
  stdfs::create_directories(tmp_, ec);
  if (ec) return make_error(Errc::io, tmp_.string() + ": cannot create: " + ec.message());
  return {};
}

stdfs::path FileStore::path_of(const std::string& digest) const {
  return files_ / digest;
}

bool FileStore::has(const std::string& digest) const {
  std::error_code ec;
  return stdfs::is_regular_file(path_of(digest), ec);
}

Status FileStore::sync(const stdfs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return os_error(file, "cannot open", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return os_error(file, "fsync failed", err);
  return {};
}

Result<bool> FileStore::adopt(const stdfs::path& temporary, const std::string& digest) {
  stdfs::path target = path_of(digest);
  int err = 0;
  // link() refuses to replace: a file under its digest name never changes.
  if (::link(temporary.c_str(), target.c_str()) != 0) {
    err = errno;
    if (err != EEXIST) return os_error(target, "cannot link from " + temporary.string(), err);
    ::unlink(temporary.c_str());
    return false;
  }
  ::unlink(temporary.c_str());
  if (auto synced = files::sync_folder(files_); !synced) {
    ::unlink(target.c_str());
    return std::move(synced).error();
  }
  return true;
}

void FileStore::remove(const std::string& digest) {
  std::error_code ec;
  stdfs::remove(path_of(digest), ec);
}

std::set<std::string> FileStore::list() const {
  std::set<std::string> out;
  std::error_code ec;
  for (stdfs::directory_iterator it(files_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (is_sha256_hex(name)) out.insert(name);
  }
  return out;
}

}  // namespace baton::core
