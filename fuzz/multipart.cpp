// The streaming multipart/form-data parser of the control API's uploads, on any Content-Type
// (the input's first line) and body (the rest), fed whole and in pieces.
// Invariants: what the parser reports (parts, their headers and data, errors) does not depend on
// how the body was cut; every part that begins ends before the next one (or the body is refused);
// no part's data holds the delimiter; errors carry a message (their kind, not their text, is
// compared: a message may quote what was buffered).

#include "http/multipart.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz.hpp"

namespace {

using namespace baton;

struct Outcome {
  std::vector<std::string> events;  // "begin name file headers", "data ...", "end"
  bool ok = true;
  Errc code = Errc::internal;
  std::string error;  // not compared: it may quote what was buffered
  bool done = false;

  bool operator==(const Outcome& other) const {
    return events == other.events && ok == other.ok && code == other.code && done == other.done;
  }
};

Outcome parse(std::string_view boundary, std::string_view body, fuzz::Chunker* chunker) {
  Outcome out;
  bool open = false;
  std::string data;
  http::MultipartParser::Callbacks callbacks;
  callbacks.on_part_begin = [&](const http::MultipartPart& part) -> Status {
    FUZZ_CHECK(!open, "a part begins before the previous one ended");
    open = true;
    std::string event = "begin " + part.name + " " + part.file_name;
    for (const auto& [name, value] : part.headers)
      event += " " + name + ":" + value;
    out.events.push_back(std::move(event));
    return {};
  };
  callbacks.on_part_data = [&](std::string_view piece) -> Status {
    FUZZ_CHECK(open, "data outside a part");
    FUZZ_CHECK(!piece.empty(), "an empty data callback");
    data.append(piece);
    return {};
  };
  callbacks.on_part_end = [&]() -> Status {
    FUZZ_CHECK(open, "a part ends that did not begin");
    FUZZ_CHECK(data.find("\r\n--" + std::string(boundary)) == std::string::npos,
               "a part's data holds the delimiter");
    out.events.push_back("data " + data);
    out.events.push_back("end");
    data.clear();
    open = false;
    return {};
  };
  http::MultipartParser parser(boundary, callbacks, 1024);
  Status status;
  while (!body.empty() && status.ok()) {
    std::size_t take = chunker ? chunker->next(body.size()) : body.size();
    status = parser.feed(body.substr(0, take));
    body.remove_prefix(take);
  }
  if (status.ok()) status = parser.finish();
  out.ok = status.ok();
  if (!status.ok()) {
    out.code = status.error().code;
    out.error = status.error().message;
    FUZZ_CHECK(!out.error.empty(), "an error without a message");
  } else {
    FUZZ_CHECK(!open, "the body was accepted with a part still open");
  }
  out.done = parser.done();
  if (out.ok) FUZZ_CHECK(out.done, "finish() accepted a body without its closing boundary");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  std::string_view content_type = input.substr(0, newline);
  std::string_view body = input.substr(newline + 1);
  auto boundary = http::MultipartParser::boundary_of(content_type);
  if (!boundary) {
    FUZZ_CHECK(!boundary.error().message.empty(), "a refused Content-Type without a message");
    return 0;
  }
  FUZZ_CHECK(!boundary->empty() && boundary->size() <= 70, "a boundary of the wrong length");
  fuzz::Chunker chunker(input);
  Outcome whole = parse(*boundary, body, nullptr);
  Outcome pieces = parse(*boundary, body, &chunker);
  FUZZ_CHECK(
      whole == pieces,
      "the parse depends on the chunks (whole: " + (whole.ok ? std::string("ok") : whole.error) +
          ", pieces: " + (pieces.ok ? std::string("ok") : pieces.error) + ")");
  return 0;
}
