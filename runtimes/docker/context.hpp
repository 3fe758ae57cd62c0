#pragma once
// A component folder as a Docker build context: a tar produced piece by piece as the upload
// reads it (libarchive writing into a small buffer), so a large context is never held in memory
// or written to disk. `.dockerignore` is honoured as the docker CLI does.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace baton::runtimes::docker {

namespace stdfs = std::filesystem;

// `.dockerignore` rules: one pattern per line, `#` comments, `!` re-includes, `*`, `?`, `[...]`
// within a path element and `**` across elements. A path is excluded when the last rule that
// matches it or one of its parent folders is not a `!` rule.
class IgnoreRules {
 public:
  static IgnoreRules parse(std::string_view text);
  // `path` is relative with '/' separators ("a/b/c").
  bool excluded(std::string_view path) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::vector<std::string> elements;
    bool negated = false;
  };
  static bool matches(const std::vector<std::string>& pattern, std::size_t p,
                      const std::vector<std::string>& path, std::size_t i);
  std::vector<Rule> rules_;
};

class ContextTar {
 public:
  // Lists the folder (sorted, `.dockerignore` applied; the Dockerfile and .dockerignore are always
  // sent). Errors name the folder or the entry that cannot be read.
  static Result<std::unique_ptr<ContextTar>> open(const stdfs::path& folder);
  ~ContextTar();
  ContextTar(const ContextTar&) = delete;
  ContextTar& operator=(const ContextTar&) = delete;

  // Up to `size` bytes of the tar; 0 at its end.
  Result<std::size_t> read(char* out, std::size_t size);
  // Entries in the context (after ignore rules).
  std::size_t entry_count() const { return entries_.size(); }

 private:
  struct State;
  ContextTar(stdfs::path folder, std::vector<std::string> entries);
  Status step();

  stdfs::path folder_;
  std::vector<std::string> entries_;
  std::unique_ptr<State> state_;
};

}  // namespace baton::runtimes::docker
