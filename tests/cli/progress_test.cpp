#include "cli/progress.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/format.hpp"

namespace baton::cli {
namespace {

TEST(ProgressBar, ShowsFillPercentAndAmounts) {
  std::string bar = render_progress_bar("Uploading x.zip", 50ull << 20, 100ull << 20, 100);
  EXPECT_EQ(bar, "Uploading x.zip [" + std::string(20, '#') + std::string(20, ' ') +
                     "]  50%  50 MiB / 100 MiB");
}

TEST(ProgressBar, FitsTheWidthByShorteningTheLabelFirst) {
  std::string label = "Uploading a-very-long-bundle-name-v1-" + std::string(64, 'a') + ".zip";
  for (std::size_t width : {40u, 60u, 80u, 120u}) {
    std::string bar = render_progress_bar(label, 1, 4, width);
    EXPECT_LE(display_width(bar), width) << bar;
    EXPECT_NE(bar.find(" 25%"), std::string::npos) << bar;
    EXPECT_NE(bar.find("..."), std::string::npos) << bar;
  }
}

TEST(ProgressBar, UnknownTotalShowsOnlyTheAmount) {
  std::string bar = render_progress_bar("Up", 2048, 0, 80);
  EXPECT_EQ(bar, "Up [" + std::string(40, ' ') + "] 2 KiB");
}

TEST(ProgressBar, CompleteIsFull) {
  std::string bar = render_progress_bar("x", 10, 10, 80);
  EXPECT_NE(bar.find("[" + std::string(40, '#') + "] 100%"), std::string::npos) << bar;
}

TEST(FitWidth, CutsWithAnEllipsis) {
  EXPECT_EQ(fit_width("hello", 10), "hello");
  EXPECT_EQ(fit_width("hello world", 8), "hello...");
  EXPECT_EQ(fit_width("héllo world", 8), "héllo...");
  EXPECT_EQ(fit_width("hello", 2), "he");
}

TEST(StatusLine, RewritesOneLineOnATerminal) {
  std::ostringstream out;
  {
    StatusLine line(out, true, 80);
    line.update("Waiting: 1/3 started");
    line.update("Waiting: 1/3 started");  // unchanged: not redrawn
    line.update("Waiting: 2/3 started");
    line.clear();
  }
  EXPECT_EQ(out.str(), "\rWaiting: 1/3 started\x1b[K\rWaiting: 2/3 started\x1b[K\r\x1b[K");
}

TEST(StatusLine, DrawsNothingElsewhere) {
  std::ostringstream out;
  {
    StatusLine line(out, false, 80);
    line.update("Waiting");
    line.done();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(StatusLine, DoneKeepsTheLastText) {
  std::ostringstream out;
  StatusLine line(out, true, 20);
  line.update("a long line that does not fit");
  line.done();
  EXPECT_EQ(out.str(), "\ra long line that...\x1b[K\n");
}

}  // namespace
}  // namespace baton::cli
