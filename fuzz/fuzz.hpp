#pragma once
// What the fuzz targets share. A target is one LLVMFuzzerTestOneInput; libFuzzer drives it in the
// fuzz build (BATON_FUZZ=ON) and replay.cpp runs it over the corpus and the regressions in the
// normal build. A broken invariant aborts: a crash to libFuzzer, a failed test to the replay.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace baton::fuzz {

namespace stdfs = std::filesystem;

[[noreturn]] void fail(const char* file, int line, const char* condition,
                       const std::string& detail);

// The input being replayed, named in failures (empty under libFuzzer, which names it itself).
extern std::string current_input;

// A folder of this process under $TMPDIR (or /tmp), removed at exit.
const stdfs::path& scratch();

void write_file(const stdfs::path& file, std::string_view bytes);

// Removes a tree, read-only or not (adding the owner's write bits first). Never throws.
void remove_tree(const stdfs::path& path) noexcept;

// Every path under `root`, relative and sorted, symlinks not followed.
std::vector<std::string> list_tree(const stdfs::path& root);

// Whether a symlink at `link` (relative to a root) pointing to `target` stays inside that root
// when resolved lexically.
bool stays_inside(std::string_view link, std::string_view target);

// A deterministic source of chunk sizes for splitting an input, seeded from the input itself.
class Chunker {
 public:
  explicit Chunker(std::string_view data);
  // The next chunk size, 1..max.
  std::size_t next(std::size_t max);

 private:
  std::uint64_t state_;
};

}  // namespace baton::fuzz

#define FUZZ_CHECK(condition, detail)                                                \
  do {                                                                               \
    if (!(condition)) ::baton::fuzz::fail(__FILE__, __LINE__, #condition, (detail)); \
  } while (0)
