#include "cli/format.hpp"

#include <gtest/gtest.h>

namespace baton::cli {
namespace {

TEST(Table, AlignsColumnsWithTwoSpacesAndTrimsTrailingBlanks) {
  Table table({{"ID"}, {"NAME"}, {"#RUN", Align::right}, {"ROLES"}});
  table.add_row({"abf6045", "visualizer", "3", "web"});
  table.add_row({"! 45e0c47", "db", "10", ""});
  EXPECT_EQ(table.render(),
            "ID         NAME        #RUN  ROLES\n"
            "abf6045    visualizer     3  web\n"
            "! 45e0c47  db            10\n");
}

TEST(Table, PadsShortRowsAndDropsExtraCells) {
  Table table({{"A"}, {"B"}});
  table.add_row({"x"});
  table.add_row({"1", "2", "3"});
  EXPECT_EQ(table.render(), "A  B\nx\n1  2\n");
}

TEST(Table, MeasuresUtf8ByCodePoints) {
  Table table({{"NAME"}, {"X"}});
  table.add_row({"café", "1"});
  EXPECT_EQ(table.render(), "NAME  X\ncafé  1\n");
  EXPECT_EQ(display_width("café"), 4u);
}

TEST(DisplayId, ShortensEachPartToSevenCharacters) {
  std::string bundle(32, 'a');
  std::string configuration(32, 'b');
  EXPECT_EQ(display_id(bundle, false), "aaaaaaa");
  EXPECT_EQ(display_id(bundle + "-" + configuration, false), "aaaaaaa-bbbbbbb");
  EXPECT_EQ(display_id(bundle + "-" + configuration, true), bundle + "-" + configuration);
  EXPECT_EQ(display_id("abc", false), "abc");
}

TEST(FormatBytes, UsesBinaryUnits) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(64ull << 20), "64 MiB");
  EXPECT_EQ(format_bytes(150ull << 30), "150 GiB");
}

TEST(FormatDuration, ShowsTheTwoLargestUnits) {
  EXPECT_EQ(format_duration(std::chrono::seconds(0)), "0s");
  EXPECT_EQ(format_duration(std::chrono::seconds(45)), "45s");
  EXPECT_EQ(format_duration(std::chrono::seconds(182)), "3m 2s");
  EXPECT_EQ(format_duration(std::chrono::seconds(7200)), "2h");
  EXPECT_EQ(format_duration(std::chrono::seconds(3 * 86400 + 4 * 3600 + 5)), "3d 4h");
}

TEST(FormatTime, IsUtcIso8601) {
  EXPECT_EQ(format_time(1763772930582), "2025-11-22T00:55:30Z");
  EXPECT_EQ(format_time(0), "-");
}

TEST(FormatAge, IsRelativeToNow) {
  EXPECT_EQ(format_age(1000, 1500), "just now");
  EXPECT_EQ(format_age(1000, 63000), "1m 2s ago");
  EXPECT_EQ(format_age(0, 63000), "-");
}

TEST(Plural, PicksTheForm) {
  EXPECT_EQ(plural(1, "instance", "instances"), "1 instance");
  EXPECT_EQ(plural(0, "instance", "instances"), "0 instances");
}

}  // namespace
}  // namespace baton::cli
