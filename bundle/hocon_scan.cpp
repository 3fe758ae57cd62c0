#include "bundle/hocon_scan.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace baton::bundle {
namespace {

// One `key = value` (or `key += value`, `key { ... }`) as written, in text order over all layers.
struct Assignment {
  std::string key;  // full path from the root; elements of lists add "[]": "a[].b"
  std::size_t layer = 0;
  int line = 0;
  bool append = false;                  // `+=`
  std::vector<std::string> references;  // the paths of the ${...} in its value
};

struct Frame {
  bool object = true;
  std::string path;
  int depth = 0;
  int current = -1;  // object frames: the assignment whose value is being read
  int owner = -1;    // list frames: the assignment the list belongs to
};

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string_view trim_blank(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// `include "x"`, `include file("x")`, `include url(...)`, `include classpath(...)`,
// `include required(...)`; a key that merely is named "include" is not one.
bool is_include(std::string_view raw_key) {
  raw_key = trim_blank(raw_key);
  if (!raw_key.starts_with("include") || raw_key.size() == 7) return false;
  if (raw_key[7] != ' ' && raw_key[7] != '\t') return false;
  std::string_view rest = trim_blank(raw_key.substr(7));
  return rest.starts_with('"') || rest.starts_with("file(") || rest.starts_with("url(") ||
         rest.starts_with("classpath(") || rest.starts_with("required(");
}

class Scanner {
 public:
  Scanner(const HoconText& input, std::size_t layer, std::vector<Assignment>& assignments)
      : text_(input.text), source_(input.source), layer_(layer), assignments_(assignments) {}

  Status run() {
    frames_.push_back(Frame{});
    bool entry_start = true;  // in an object frame, the next token starts a key
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
        if (frames_.back().object) entry_start = true;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '#' || text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          ++pos_;
      } else if (c == ',') {
        ++pos_;
        if (frames_.back().object) entry_start = true;
      } else if (c == '}' || c == ']') {
        ++pos_;
        if (frames_.size() > 1) frames_.pop_back();
        entry_start = false;
      } else if (c == '{' || c == '[') {
        ++pos_;
        BATON_TRY(push(c == '{', entry_start));
        entry_start = c == '{';
      } else if (frames_.back().object && entry_start) {
        BATON_TRY(read_key());
        entry_start = false;
      } else if (c == '"') {
        read_string();
      } else if (c == '$' && text_.substr(pos_, 2) == "${") {
        BATON_TRY(read_reference());
      } else {
        skip_unquoted_text();
      }
    }
    return {};
  }

 private:
  Error error(Errc code, const std::string& what) const {
    return make_error(code, std::string(source_) + ":" + std::to_string(line_) + ": " + what);
  }

  Status push(bool object, bool at_entry_start) {
    const Frame& top = frames_.back();
    Frame next{.object = object};
    if (top.object) {
      const bool value = !at_entry_start && top.current >= 0;
      next.path = value ? assignments_[top.current].key : top.path;
      next.owner = object ? -1 : (value ? top.current : -1);
    } else {
      next.path = top.path + "[]";
      next.owner = top.owner;
    }
    next.depth = top.depth + 1;
    if (next.depth > kMaxHoconDepth) {
      return error(Errc::limit, "nested deeper than " + std::to_string(kMaxHoconDepth) + " levels");
    }
    frames_.push_back(std::move(next));
    return {};
  }

  // Unquoted value text, up to the next character that can start something that matters.
  void skip_unquoted_text() {
    constexpr std::string_view kSignificant = "\n{}[],\"$#/";
    do {
      ++pos_;
    } while (pos_ < text_.size() && kSignificant.find(text_[pos_]) == std::string_view::npos);
  }

  // At '"': the content of a quoted or triple-quoted string, escapes taken literally.
  std::string read_string() {
    if (text_.substr(pos_, 3) == "\"\"\"") {
      pos_ += 3;
      std::size_t end = text_.find("\"\"\"", pos_);
      if (end == std::string_view::npos) end = text_.size();
      // """a"""" ends with the last three quotes
      while (end + 3 < text_.size() && text_[end + 3] == '"')
        ++end;
      std::string content(text_.substr(pos_, end - pos_));
      line_ += static_cast<int>(std::count(content.begin(), content.end(), '\n'));
      pos_ = std::min(end + 3, text_.size());
      return content;
    }
    ++pos_;
    std::string content;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] != '\n') {
        content += text_[pos_ + 1];
        pos_ += 2;
      } else if (c == '"') {
        ++pos_;
        break;
      } else if (c == '\n') {
        break;  // unterminated: cpp-hocon reports it
      } else {
        content += c;
        ++pos_;
      }
    }
    return content;
  }

  Status read_key() {
    const int key_line = line_;
    const std::size_t key_start = pos_;
    std::string key;
    std::string raw;  // as written, quotes kept as '"', to recognise `include`
    int segments = 1;
    bool segment_written = false;  // the part since the last '.' has something in it
    bool empty_segment = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      std::string_view two = text_.substr(pos_, 2);
      if (c == '=' || c == ':' || c == '{' || c == '[' || c == '\n' || c == ',' || c == '}' ||
          c == ']' || c == '#' || two == "//" || two == "+=" || two == "${") {
        break;
      }
      if (c == '"') {
        key += read_string();
        raw += "\"\"";
        segment_written = true;
        continue;
      }
      if (c == '.') {
        ++segments;
        empty_segment = empty_segment || !segment_written;
        segment_written = false;
      } else if (!std::isspace(static_cast<unsigned char>(c))) {
        segment_written = true;
      }
      key += c;
      raw += c;
      ++pos_;
    }
    if (is_include(raw)) {
      return error(Errc::invalid, "expected a self-contained descriptor, got an include statement");
    }
    // cpp-hocon dereferences a null origin when it reports such a path: a crash.
    if (segments > 1 && (empty_segment || !segment_written)) {
      return error(Errc::invalid,
                   "expected a key without empty parts between dots, got \"" +
                       std::string(trim_blank(text_.substr(key_start, pos_ - key_start))) + "\"");
    }
    bool append = false;
    bool has_value = false;
    if (pos_ < text_.size()) {
      char c = text_[pos_];
      if (text_.substr(pos_, 2) == "+=") {
        append = has_value = true;
        pos_ += 2;
      } else if (c == '=' || c == ':') {
        has_value = true;
        ++pos_;
      } else if (c == '{') {
        has_value = true;  // the main loop opens the object
      }
    }
    Frame& frame = frames_.back();
    std::string trimmed(trim_blank(key));
    if (trimmed.empty() || !has_value) {
      frame.current = -1;
      return {};
    }
    if (frame.depth + segments > kMaxHoconDepth) {
      return error(Errc::limit, "nested deeper than " + std::to_string(kMaxHoconDepth) + " levels");
    }
    Assignment assignment{
        .key = join_path(frame.path, trimmed), .layer = layer_, .line = key_line, .append = append};
    if (append) assignment.references.push_back(assignment.key);  // `a += x` is `a = ${?a} [x]`
    assignments_.push_back(std::move(assignment));
    frame.current = static_cast<int>(assignments_.size() - 1);
    return {};
  }

  Status read_reference() {
    pos_ += 2;
    std::string path;
    int segments = 1;
    while (pos_ < text_.size() && text_[pos_] != '}' && text_[pos_] != '\n') {
      char c = text_[pos_];
      if (c == '"') {
        path += read_string();
        continue;
      }
      if (c == '.') ++segments;
      path += c;
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '}') ++pos_;
    if (segments > kMaxHoconDepth) {
      return error(Errc::limit, "nested deeper than " + std::to_string(kMaxHoconDepth) + " levels");
    }
    std::string_view trimmed = trim_blank(path);
    if (trimmed.starts_with('?')) trimmed = trim_blank(trimmed.substr(1));
    const Frame& frame = frames_.back();
    int owner = frame.object ? frame.current : frame.owner;
    if (owner >= 0 && !trimmed.empty()) assignments_[owner].references.emplace_back(trimmed);
    return {};
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t layer_;
  std::vector<Assignment>& assignments_;
  std::vector<Frame> frames_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

// One path is the other, or lies under it ("a" and "a.b", "a" and "a[].b").
bool related(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() <= b.size() ? a : b;
  const std::string& longer = a.size() <= b.size() ? b : a;
  if (!longer.starts_with(shorter)) return false;
  return longer.size() == shorter.size() || longer[shorter.size()] == '.' ||
         longer[shorter.size()] == '[';
}

bool refers_to_itself(const Assignment& assignment) {
  return std::find(assignment.references.begin(), assignment.references.end(), assignment.key) !=
         assignment.references.end();
}

Error at(const std::vector<HoconText>& layers, const Assignment& assignment, Errc code,
         const std::string& what) {
  return make_error(code, std::string(layers[assignment.layer].source) + ":" +
                              std::to_string(assignment.line) + ": " + assignment.key + ": " +
                              what);
}

// cpp-hocon keeps `a = [0]` followed by `a += ...` lines as a stack of delayed merges and throws
// when a stack holds another one. What it resolves, found by trying: up to 3 entries per file
// (a plain value restarts the stack), and across a merge a higher layer may add one append to a
// key set below it, or start afresh with a plain value.
Status check_append_stacks(const std::vector<HoconText>& layers,
                           const std::vector<Assignment>& assignments) {
  std::map<std::string, std::vector<const Assignment*>> by_key;
  for (const Assignment& assignment : assignments)
    by_key[assignment.key].push_back(&assignment);
  for (const auto& [key, list] : by_key) {
    const std::string too_many = "expected fewer appends to one key (+= or ${" + key +
                                 "}), got more than the HOCON library can merge";
    int stack = 0;
    std::size_t begin = 0;
    while (begin < list.size()) {
      std::size_t end = begin;
      while (end < list.size() && list[end]->layer == list[begin]->layer)
        ++end;
      // [begin, end) is one layer's assignments to this key
      std::size_t last_plain = end;
      for (std::size_t i = begin; i < end; ++i) {
        if (!list[i]->append && !refers_to_itself(*list[i])) last_plain = i;
      }
      const Assignment& last = *list[end - 1];
      if (last_plain != end) {
        stack = 1 + static_cast<int>(end - last_plain - 1);
      } else {
        int appends = static_cast<int>(end - begin);
        if (stack > 0 && appends >= 2) return at(layers, last, Errc::invalid, too_many);
        stack += appends;
      }
      if (stack >= 4) return at(layers, last, Errc::invalid, too_many);
      begin = end;
    }
  }
  return {};
}

class SubstitutionCost {
 public:
  SubstitutionCost(const std::vector<HoconText>& layers, const std::vector<Assignment>& assignments)
      : layers_(layers), assignments_(assignments), memo_(assignments.size()) {
    for (std::size_t i = 0; i < assignments.size(); ++i)
      by_key_[assignments[i].key].push_back(i);
  }

  Status check() {
    long total = 0;
    for (std::size_t i = 0; i < assignments_.size(); ++i) {
      if (assignments_[i].references.empty()) continue;
      BATON_TRY(compute(i, 1, i));
      total = std::min(total + memo_[i].expansion, kMaxSubstitutionExpansion + 1);
      if (total > kMaxSubstitutionExpansion) {
        return at(layers_, assignments_[i], Errc::limit,
                  "substitutions expand to more than " + std::to_string(kMaxSubstitutionExpansion) +
                      " values");
      }
    }
    return {};
  }

 private:
  enum class State { unseen, running, done };
  struct Cost {
    State state = State::unseen;
    long expansion = 0;  // values copied in by its substitutions, transitively
    int depth = 0;       // longest chain of substitutions below it
  };

  // The assignments a reference from `from` can see: the referenced path, what lies under it
  // and what it lies under. A reference to its own key (or a key related to it) sees only what
  // was written before, as HOCON's self-references do.
  std::vector<std::size_t> targets(std::size_t from, const std::string& path) const {
    std::vector<std::size_t> out;
    auto take = [&](const std::vector<std::size_t>& list) {
      for (std::size_t index : list) {
        if (index == from) continue;
        if (index > from && related(assignments_[index].key, assignments_[from].key)) continue;
        out.push_back(index);
      }
    };
    if (auto exact = by_key_.find(path); exact != by_key_.end()) take(exact->second);
    for (const char* separator : {".", "["}) {
      std::string prefix = path + separator;
      for (auto it = by_key_.lower_bound(prefix);
           it != by_key_.end() && it->first.starts_with(prefix); ++it) {
        take(it->second);
      }
    }
    for (std::size_t cut = 0; cut < path.size(); ++cut) {
      if (path[cut] != '.' && path[cut] != '[') continue;
      if (auto parent = by_key_.find(path.substr(0, cut)); parent != by_key_.end()) {
        take(parent->second);
      }
    }
    return out;
  }

  Status compute(std::size_t index, int level, std::size_t root) {
    Cost& cost = memo_[index];
    if (cost.state != State::unseen) return {};  // done, or a cycle cpp-hocon will report
    if (level > kMaxSubstitutionDepth) {
      return at(
          layers_, assignments_[root], Errc::limit,
          "substitutions nest deeper than " + std::to_string(kMaxSubstitutionDepth) + " levels");
    }
    cost.state = State::running;
    long expansion = 0;
    int depth = 0;
    for (const std::string& path : assignments_[index].references) {
      for (std::size_t target : targets(index, path)) {
        BATON_TRY(compute(target, level + 1, root));
        const Cost& below = memo_[target];
        long values = below.state == State::done ? 1 + below.expansion : 1;
        expansion = std::min(expansion + values, kMaxSubstitutionExpansion + 1);
        if (below.state == State::done) depth = std::max(depth, below.depth);
      }
    }
    if (!assignments_[index].references.empty()) ++depth;
    if (depth > kMaxSubstitutionDepth) {
      return at(
          layers_, assignments_[root], Errc::limit,
          "substitutions nest deeper than " + std::to_string(kMaxSubstitutionDepth) + " levels");
    }
    memo_[index] = Cost{.state = State::done, .expansion = expansion, .depth = depth};
    return {};
  }

  const std::vector<HoconText>& layers_;
  const std::vector<Assignment>& assignments_;
  std::map<std::string, std::vector<std::size_t>> by_key_;
  std::vector<Cost> memo_;
};

// The code point of the UTF-8 sequence at text[at], and its length; nullopt when malformed.
std::optional<std::pair<std::uint32_t, std::size_t>> decode_utf8(std::string_view text,
                                                                 std::size_t at) {
  auto byte = static_cast<unsigned char>(text[at]);
  std::size_t length = byte < 0x80           ? 1
                       : (byte >> 5) == 0x6  ? 2
                       : (byte >> 4) == 0xE  ? 3
                       : (byte >> 3) == 0x1E ? 4
                                             : 0;
  if (length == 0 || at + length > text.size()) return std::nullopt;
  std::uint32_t code = length == 1 ? byte : byte & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    auto next = static_cast<unsigned char>(text[at + k]);
    if ((next >> 6) != 0x2) return std::nullopt;
    code = (code << 6) | (next & 0x3F);
  }
  constexpr std::array<std::uint32_t, 5> kSmallest{0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    return std::nullopt;
  }
  return std::pair{code, length};
}

}  // namespace

bool is_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    auto decoded = decode_utf8(text, at);
    if (!decoded) return false;
    at += decoded->second;
  }
  return true;
}

Result<std::string> escape_quoted_non_ascii(const HoconText& input) {
  std::string_view text = input.text;
  int line = 1;
  auto error = [&](const std::string& what) {
    return make_error(Errc::invalid,
                      std::string(input.source) + ":" + std::to_string(line) + ": " + what);
  };
  // Allowed unquoted, but to_json would have to quote them: refused everywhere but comments.
  auto beyond_bmp = [&](std::uint32_t code) {
    char shown[16];
    std::snprintf(shown, sizeof shown, "U+%04X", static_cast<unsigned>(code));
    return error(std::string("expected characters up to U+FFFF (a limit of the HOCON library), "
                             "got ") +
                 shown);
  };
  std::string out;
  out.reserve(text.size());
  bool quoted = false;
  for (std::size_t at = 0; at < text.size();) {
    char c = text[at];
    if (c == '\n') ++line;
    if (static_cast<unsigned char>(c) >= 0x80) {
      auto decoded = decode_utf8(text, at);
      if (!decoded) return error("expected UTF-8 text, got invalid bytes");
      auto [code, length] = *decoded;
      if (code > 0xFFFF) return beyond_bmp(code);
      if (quoted) {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(code));
        out += escape;
      } else {
        out.append(text.substr(at, length));
      }
      at += length;
      continue;
    }
    if (quoted) {
      if (c == '\\' && at + 1 < text.size() && text[at + 1] != '\n') {
        out.append(text.substr(at, 2));
        at += 2;
        continue;
      }
      if (c == '"' || c == '\n') quoted = false;  // a newline: unterminated, cpp-hocon reports it
      out += c;
      ++at;
      continue;
    }
    if (c == '#' || text.substr(at, 2) == "//") {
      std::size_t end = std::min(text.find('\n', at), text.size());
      std::string_view comment = text.substr(at, end - at);
      if (!is_utf8(comment)) return error("expected UTF-8 text, got invalid bytes");
      out.append(comment);
      at = end;
      continue;
    }
    if (text.substr(at, 3) == "\"\"\"") {
      std::size_t end = text.find("\"\"\"", at + 3);
      end = end == std::string_view::npos ? text.size() : end + 3;
      while (end < text.size() && text[end] == '"')
        ++end;
      std::string_view raw = text.substr(at, end - at);
      for (std::size_t i = 0; i < raw.size();) {
        auto decoded = decode_utf8(raw, i);
        if (!decoded) return error("expected UTF-8 text, got invalid bytes");
        if (decoded->first > 0xFFFF) return beyond_bmp(decoded->first);
        if (raw[i] == '\n') ++line;
        i += decoded->second;
      }
      out.append(raw);
      at = end;
      continue;
    }
    if (c == '"') quoted = true;
    out += c;
    ++at;
  }
  return out;
}

Status scan_hocon(const std::vector<HoconText>& layers) {
  std::vector<Assignment> assignments;
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    BATON_TRY(Scanner(layers[layer], layer, assignments).run());
  }
  BATON_TRY(check_append_stacks(layers, assignments));
  return SubstitutionCost(layers, assignments).check();
}

}  // namespace baton::bundle
