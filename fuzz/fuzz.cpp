#include "fuzz/fuzz.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <system_error>

namespace baton::fuzz {

std::string current_input;

void fail(const char* file, int line, const char* condition, const std::string& detail) {
  std::fprintf(stderr, "\nfuzz: invariant broken at %s:%d: %s\nfuzz: %s\n", file, line, condition,
               detail.c_str());
  if (!current_input.empty()) std::fprintf(stderr, "fuzz: input %s\n", current_input.c_str());
  std::fflush(stderr);
  std::abort();
}

namespace {

struct Scratch {
  Scratch() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/baton-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    path = pattern;
    owner = ::getpid();
  }
  ~Scratch() {
    if (::getpid() == owner) remove_tree(path);
  }
  stdfs::path path;
  pid_t owner = 0;
};

}  // namespace

const stdfs::path& scratch() {
  static Scratch folder;
  return folder.path;
}

void write_file(const stdfs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail(__FILE__, __LINE__, "write_file", "cannot write " + file.string());
}

void remove_tree(const stdfs::path& path) noexcept {
  std::error_code error;
  if (!stdfs::exists(stdfs::symlink_status(path, error))) return;
  ::chmod(path.c_str(), 0700);
  for (auto it = stdfs::recursive_directory_iterator(path, error);
       !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_directory(error) && !it->is_symlink(error)) ::chmod(it->path().c_str(), 0700);
  }
  stdfs::remove_all(path, error);
}

std::vector<std::string> list_tree(const stdfs::path& root) {
  std::vector<std::string> out;
  std::error_code error;
  for (auto it = stdfs::recursive_directory_iterator(root, error);
       !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    out.push_back(it->path().lexically_relative(root).generic_string());
  }
  if (error) fail(__FILE__, __LINE__, "list_tree", root.string() + ": " + error.message());
  std::sort(out.begin(), out.end());
  return out;
}

bool stays_inside(std::string_view link, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  // The folder holding the link, then each element of the target.
  std::vector<std::string_view> stack;
  auto push_elements = [&](std::string_view path, bool drop_last) {
    std::vector<std::string_view> elements;
    for (std::size_t start = 0;;) {
      std::size_t end = path.find('/', start);
      elements.push_back(path.substr(start, end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    if (drop_last && !elements.empty()) elements.pop_back();
    for (std::string_view element : elements) {
      if (element.empty() || element == ".") continue;
      if (element == "..") {
        if (stack.empty()) return false;
        stack.pop_back();
      } else {
        stack.push_back(element);
      }
    }
    return true;
  };
  return push_elements(link, true) && push_elements(target, false);
}

Chunker::Chunker(std::string_view data) : state_(0x9e3779b97f4a7c15ULL ^ data.size()) {
  for (unsigned char c : data.substr(0, 64))
    state_ = (state_ ^ c) * 0x100000001b3ULL;
}

std::size_t Chunker::next(std::size_t max) {
  state_ ^= state_ << 13;
  state_ ^= state_ >> 7;
  state_ ^= state_ << 17;
  // Mostly small pieces, sometimes large ones: boundaries land everywhere.
  std::size_t limit = (state_ & 3) == 0 ? max : std::min<std::size_t>(max, 16);
  return limit == 0 ? 1 : 1 + static_cast<std::size_t>((state_ >> 8) % limit);
}

}  // namespace baton::fuzz

// LeakSanitizer (fuzz build): OpenSSL keeps per-thread state (its error queue, made on a thread's
// first digest) that LeakSanitizer cannot see as reachable: one block per thread of the core.
// libcrypto has no frame pointers, so the report's stack ends at its allocator; that is what is
// matched, which would also hide a leaked OpenSSL object (Baton holds few: Sha256 owns its one).
extern "C" const char* __lsan_default_suppressions() {
  return "leak:CRYPTO_zalloc\nleak:CRYPTO_malloc\n";
}
