#pragma once
// A streaming multipart/form-data parser: fed the body in any pieces, it reports each part's
// headers, data and end, never holding a whole part in memory (it keeps back at most the
// delimiter's length minus one byte of data, and one part's headers).

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "http/message.hpp"

namespace baton::http {

struct MultipartPart {
  std::string name;       // from Content-Disposition
  std::string file_name;  // from Content-Disposition (filename*, else filename); empty for fields
  Headers headers;
};

class MultipartParser {
 public:
  // Any callback may be empty. An error from one stops the parse and is returned by feed().
  struct Callbacks {
    std::function<Status(const MultipartPart&)> on_part_begin;
    std::function<Status(std::string_view)> on_part_data;
    std::function<Status()> on_part_end;
  };

  // `content_type` is the request's header; an error names what is wrong with it.
  static Result<std::string> boundary_of(std::string_view content_type);

  explicit MultipartParser(std::string_view boundary, Callbacks callbacks,
                           std::size_t max_part_header_bytes = std::size_t{16} * 1024);
  // Errors (malformed body, callback refusals) are sticky: later calls return the same error.
  Status feed(std::string_view chunk);
  // The body ended: an error unless the closing boundary was seen.
  Status finish();
  // True once the closing boundary was seen (what follows it is ignored).
  bool done() const { return state_ == State::done; }

 private:
  enum class State { preamble, boundary_line, headers, data, done };
  Status process();
  Status begin_part(std::string_view block);
  Status fail(Error error);
  std::string where() const;

  std::string delimiter_;  // "\r\n--" + boundary
  Callbacks callbacks_;
  std::size_t max_header_bytes_;
  std::string buffer_;
  State state_ = State::preamble;
  std::size_t parts_ = 0;  // parts begun so far
  std::string part_name_;
  std::optional<Error> error_;
};

}  // namespace baton::http
