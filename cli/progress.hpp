#pragma once
// Live progress on a terminal: an upload bar and a one-line status that rewrites itself. On
// anything but a terminal nothing is drawn, so logs and pipes stay clean.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace baton::cli {

// "<label> [#######             ]  35%  12 MiB / 34 MiB" in at most `width` columns (the label
// is shortened with "..." first; the bar keeps at least 10 cells). total 0 = unknown size.
std::string render_progress_bar(std::string_view label, std::uint64_t done, std::uint64_t total,
                                std::size_t width);

// `text` cut to `width` columns, ending in "..." when cut.
std::string fit_width(std::string_view text, std::size_t width);

// True when `fd` is a terminal.
bool is_terminal(int fd);
// Columns of the terminal on `fd`; $COLUMNS or 80 when it cannot be told.
std::size_t terminal_width(int fd);

// One line that each update() overwrites ("\r", the text, erase to the end of the line), drawn
// only when `live` (a terminal). clear() erases it; done() leaves the last text on its own line.
class StatusLine {
 public:
  StatusLine(std::ostream& out, bool live, std::size_t width = 80);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  bool live() const { return live_; }
  std::size_t width() const { return width_; }
  void update(std::string_view text);
  void clear();
  void done();

 private:
  std::ostream& out_;
  bool live_;
  std::size_t width_;
  std::string last_;
  bool shown_ = false;
};

}  // namespace baton::cli
