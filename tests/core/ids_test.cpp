#include "core/ids.hpp"

#include <gtest/gtest.h>

namespace baton::core {
namespace {

const std::string kA = "abf60451c6af18adcc851d67b369b7f5";
const std::string kAc = "abf60451c6af18adcc851d67b369b7f5-a53237c1f4a23b1f5c2e1b8b6b8e9f4a";
const std::string kB = "abf6045fffffffffffffffffffffffff";
const std::string kC = "0123456789abcdef0123456789abcdef";

std::vector<IdCandidate> loaded() {
  return {
      {kA, "visualizer", "1", {"1.0.0", "latest"}},
      {kAc, "visualizer", "1", {"1.0.0"}},
      {kB, "eslite", "2", {}},
      {kC, "abcdef1", "3", {"x"}},  // a name that looks like hex
  };
}

TEST(Ids, FullIdSelectsExactlyThatBundle) {
  EXPECT_EQ(resolve_id(loaded(), kA).value(), kA);
  EXPECT_EQ(resolve_id(loaded(), kAc).value(), kAc);
}

TEST(Ids, PrefixOfSevenSelects) {
  EXPECT_EQ(resolve_id(loaded(), "0123456").value(), kC);
  EXPECT_EQ(resolve_id(loaded(), "abf6045-a53237c").value(), kAc);
  EXPECT_EQ(resolve_id(loaded(), "abf60451").error().code, Errc::ambiguous);  // kA and kAc
}

TEST(Ids, AmbiguousPrefixListsCandidates) {
  auto r = resolve_id(loaded(), "abf6045");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::ambiguous);
  EXPECT_NE(r.error().message.find(kAc), std::string::npos);
  EXPECT_NE(r.error().message.find(kB), std::string::npos);
  auto ids = match_ids(loaded(), "abf6045");
  ASSERT_EQ(ids.size(), 3u);
}

TEST(Ids, ShorterThanSevenIsANameNotAPrefix) {
  auto r = resolve_id(loaded(), "abf604");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
}

TEST(Ids, NameAndTag) {
  EXPECT_EQ(resolve_id(loaded(), "eslite").value(), kB);
  EXPECT_EQ(resolve_id(loaded(), "visualizer:latest").value(), kA);
  EXPECT_EQ(resolve_id(loaded(), "eslite:2").value(), kB);  // compatibilityVersion
  EXPECT_EQ(resolve_id(loaded(), "visualizer").error().code, Errc::ambiguous);
  EXPECT_EQ(resolve_id(loaded(), "visualizer:1.0.0").error().code, Errc::ambiguous);
  EXPECT_EQ(resolve_id(loaded(), "visualizer:nope").error().code, Errc::not_found);
  EXPECT_EQ(resolve_id(loaded(), "visualizer:").error().code, Errc::not_found);
}

TEST(Ids, HexLookingNameFallsBackToName) {
  // "abcdef1" is a valid prefix but matches no id: the name wins then.
  EXPECT_EQ(resolve_id(loaded(), "abcdef1").value(), kC);
}

TEST(Ids, UnknownAndEmpty) {
  EXPECT_EQ(resolve_id(loaded(), "nothing").error().code, Errc::not_found);
  EXPECT_EQ(resolve_id(loaded(), "").error().code, Errc::invalid);
  EXPECT_EQ(resolve_id({}, kA).error().code, Errc::not_found);
  EXPECT_EQ(resolve_id(loaded(), "ffffffffffffffffffffffffffffffff").error().code, Errc::not_found);
}

TEST(Ids, FullBundlePartSelectsBundleWithConfiguration) {
  std::vector<IdCandidate> only_configured{{kAc, "visualizer", "1", {}}};
  EXPECT_EQ(resolve_id(only_configured, kA).value(), kAc);
}

}  // namespace
}  // namespace baton::core
