#include "cli/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/format.hpp"
#include "common/text.hpp"

namespace baton::cli {

namespace {

constexpr std::size_t kMinBarCells = 10;
constexpr std::size_t kMaxBarCells = 40;

// Byte offset where the first `columns` code points of `text` end.
std::size_t prefix_bytes(std::string_view text, std::size_t columns) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (seen == columns) return i;
      ++seen;
    }
  }
  return text.size();
}

}  // namespace

std::string fit_width(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width <= 3) return std::string(text.substr(0, prefix_bytes(text, width)));
  return std::string(text.substr(0, prefix_bytes(text, width - 3))) + "...";
}

std::string render_progress_bar(std::string_view label, std::uint64_t done, std::uint64_t total,
                                std::size_t width) {
  std::string amounts;
  std::string percent;
  double fraction = 0;
  if (total > 0) {
    fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    char text[8];
    std::snprintf(text, sizeof text, "%3d%%", static_cast<int>(fraction * 100));
    percent = text;
    amounts = format_bytes(done) + " / " + format_bytes(total);
  } else {
    amounts = format_bytes(done);
  }
  // label + " [" + cells + "] " + percent + "  " + amounts
  std::size_t fixed = 4 + (percent.empty() ? 0 : percent.size() + 2) + amounts.size();
  std::size_t room = width > fixed ? width - fixed : 0;
  std::size_t label_width = display_width(label);
  std::size_t cells = kMaxBarCells;
  if (room < label_width + cells) {
    cells = room > label_width + kMinBarCells ? room - label_width : kMinBarCells;
  }
  std::size_t label_room = room > cells ? room - cells : 0;
  std::string shown_label = fit_width(label, label_room);

  std::string bar(cells, ' ');
  if (total > 0) {
    auto filled = static_cast<std::size_t>(fraction * static_cast<double>(cells));
    std::fill(bar.begin(), bar.begin() + static_cast<std::ptrdiff_t>(filled), '#');
  }
  std::string out = shown_label + " [" + bar + "] ";
  if (!percent.empty()) out += percent + "  ";
  out += amounts;
  return out;
}

bool is_terminal(int fd) {
  return ::isatty(fd) == 1;
}

std::size_t terminal_width(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    auto value = text::parse_integer(columns);
    if (value && *value > 0 && *value < 10000) return static_cast<std::size_t>(*value);
  }
  return 80;
}

StatusLine::StatusLine(std::ostream& out, bool live, std::size_t width)
    : out_(out), live_(live), width_(std::max<std::size_t>(width, 20)) {}

StatusLine::~StatusLine() {
  clear();
}

void StatusLine::update(std::string_view text) {
  if (!live_) return;
  // One column less than the terminal: writing the last column wraps on some terminals.
  std::string line = fit_width(text, width_ - 1);
  if (shown_ && line == last_) return;
  out_ << '\r' << line << "\x1b[K" << std::flush;
  last_ = std::move(line);
  shown_ = true;
}

void StatusLine::clear() {
  if (!live_ || !shown_) return;
  out_ << "\r\x1b[K" << std::flush;
  shown_ = false;
  last_.clear();
}

void StatusLine::done() {
  if (!live_ || !shown_) return;
  out_ << '\n' << std::flush;
  shown_ = false;
  last_.clear();
}

}  // namespace baton::cli
