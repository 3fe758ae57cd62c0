// What the Docker Engine API streams: build/load progress lines, event lines, the multiplexed log
// frames of a container and their timestamps, on any bytes fed in any pieces.
// Invariants: the frames and lines decoded do not depend on how the stream was cut (a line cut
// into pieces may only be refused where the whole line would not be); frames hold at most
// kMaxFrame bytes; a log entry's text is the end of its frame; an event has an action without
// ':'; a time that parses prints back as the API's "<seconds>.<9 digits>".

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz.hpp"
#include "runtimes/docker/streams.hpp"

namespace {

using namespace baton;
namespace docker = baton::runtimes::docker;

struct Frames {
  bool ok = true;
  std::vector<std::pair<logs::Stream, std::string>> frames;
};

Frames decode(std::string_view input, fuzz::Chunker* chunker) {
  Frames out;
  docker::FrameDecoder decoder;
  auto on_frame = [&](logs::Stream stream, std::string_view payload) {
    FUZZ_CHECK(payload.size() <= docker::FrameDecoder::kMaxFrame, "a frame over the limit");
    out.frames.emplace_back(stream, std::string(payload));
  };
  while (!input.empty() && out.ok) {
    std::size_t take = chunker ? chunker->next(input.size()) : input.size();
    out.ok = decoder.feed(input.substr(0, take), on_frame);
    input.remove_prefix(take);
  }
  return out;
}

struct Lines {
  bool ok = true;
  std::vector<std::string> lines;
  std::string rest;
};

Lines split(std::string_view input, fuzz::Chunker* chunker, std::size_t max_line) {
  Lines out;
  docker::LineSplitter splitter(max_line);
  auto on_line = [&](std::string_view line) {
    FUZZ_CHECK(line.find('\n') == std::string_view::npos, "a line holds a newline");
    out.lines.emplace_back(line);
  };
  while (!input.empty() && out.ok) {
    std::size_t take = chunker ? chunker->next(input.size()) : input.size();
    out.ok = splitter.feed(input.substr(0, take), on_line);
    input.remove_prefix(take);
  }
  out.rest = std::string(splitter.rest());
  return out;
}

void check_time(std::string_view text) {
  auto ns = docker::parse_time_ns(text);
  if (!ns) return;
  std::string api = docker::api_time(*ns);
  std::size_t dot = api.find('.');
  FUZZ_CHECK(dot != std::string::npos && dot > 0 && api.size() - dot - 1 == 9,
             "api_time wrote " + api + " for " + std::string(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz::Chunker chunker(input);

  // The multiplexed log stream.
  Frames whole = decode(input, nullptr);
  Frames pieces = decode(input, &chunker);
  FUZZ_CHECK(whole.ok == pieces.ok, "the frame decoder's verdict depends on the chunks");
  FUZZ_CHECK(whole.frames == pieces.frames, "the frames depend on the chunks");
  for (const auto& [stream, payload] : whole.frames) {
    if (auto entry = docker::parse_log_entry(payload)) {
      FUZZ_CHECK(std::string_view(payload).ends_with(entry->text),
                 "a log entry's text is not the end of its frame");
    }
    check_time(std::string_view(payload).substr(0, payload.find(' ')));
  }

  // JSON lines: progress and events.
  constexpr std::size_t kMaxLine = 512;
  Lines all = split(input, nullptr, kMaxLine);
  Lines cut = split(input, &chunker, kMaxLine);
  if (cut.ok) FUZZ_CHECK(all.ok, "a stream accepted in pieces is refused whole");
  if (all.ok && cut.ok) {
    FUZZ_CHECK(all.lines == cut.lines && all.rest == cut.rest, "the lines depend on the chunks");
  }
  docker::Progress progress(4);
  for (const auto& line : all.lines) {
    progress.feed_line(line);
    if (auto event = docker::parse_event(line)) {
      FUZZ_CHECK(!event->action.empty() && event->action.find(':') == std::string::npos,
                 "an event's action is empty or keeps its ':' suffix: " + event->action);
    }
    check_time(line);
  }
  progress.finish();
  FUZZ_CHECK(progress.failed() == !progress.error().empty(), "failed() disagrees with error()");
  std::string tail = progress.tail();
  if (progress.failed() && all.lines.size() == 1) {
    FUZZ_CHECK(tail.find(progress.error()) != std::string::npos, "the tail lost the error");
  }
  return 0;
}
