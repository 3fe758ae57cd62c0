#pragma once
// File helpers that fail with messages naming the path, and write atomically so a crash never
// leaves a half-written file under its final name.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace baton::files {

namespace stdfs = std::filesystem;

// Whole file as a string; refuses files larger than max_bytes (naming the file and the limit).
Result<std::string> read(const stdfs::path& file, std::size_t max_bytes = 64u << 20);

// Write to a temporary sibling, fsync, rename over `file`, fsync the folder.
Status write_atomic(const stdfs::path& file, std::string_view content,
                    stdfs::perms mode = stdfs::perms(0644));

// fsync a folder so a rename or create inside it survives a crash.
Status sync_folder(const stdfs::path& folder);

// Remove a tree, ignoring "not there". Never throws.
void remove_tree(const stdfs::path& path) noexcept;

// A folder that is removed when the object dies, unless release() handed it over.
class TempFolder {
 public:
  // Creates `<parent>/<prefix>XXXXXX`; parent must exist.
  static Result<TempFolder> create(const stdfs::path& parent, std::string_view prefix);

  TempFolder(TempFolder&& other) noexcept;
  TempFolder& operator=(TempFolder&& other) noexcept;
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  ~TempFolder();

  const stdfs::path& path() const { return path_; }
  // Keep the folder on disk; the caller owns it now.
  stdfs::path release();

 private:
  explicit TempFolder(stdfs::path path) : path_(std::move(path)) {}
  stdfs::path path_;
};

}  // namespace baton::files
