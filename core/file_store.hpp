#pragma once
// Bundle and configuration files on the core's disk, by digest: <data>/files/<digest>.
// Uploads are written under <data>/tmp/ and moved in once verified, so a file under its digest
// name is always complete and verified. Which files are wanted is the model's business
// (FileRecord in the store); this class only moves bytes.

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "common/result.hpp"

namespace baton::core {

namespace stdfs = std::filesystem;

class FileStore {
 public:
  explicit FileStore(stdfs::path data);

  // Creates files/ and tmp/, and empties tmp/ (uploads a crash interrupted).
  Status open();

  const stdfs::path& tmp_folder() const { return tmp_; }
  stdfs::path path_of(const std::string& digest) const;
  bool has(const std::string& digest) const;

  // fsync a file (before adopt(), outside any lock: a large upload's data reaches the disk here).
  static Status sync(const stdfs::path& file);

  // Moves a verified, synced temporary file in under its digest (linked, then the folder
  // fsynced). Returns true when the file was new, false when one was there already (then the
  // temporary file is removed).
  Result<bool> adopt(const stdfs::path& temporary, const std::string& digest);

  // Removes a file; "not there" is fine.
  void remove(const std::string& digest);

  // The digests present on disk (names that are not digests are ignored).
  std::set<std::string> list() const;

 private:
  stdfs::path files_;
  stdfs::path tmp_;
};

}  // namespace baton::core
