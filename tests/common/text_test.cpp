#include "common/text.hpp"

#include <gtest/gtest.h>

#include <map>

namespace baton::text {
namespace {

std::optional<std::string> from(const std::map<std::string, std::string, std::less<>>& env,
                                std::string_view name) {
  auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  return it->second;
}

TEST(Text, EnvNameFollowsConductR) {
  EXPECT_EQ(env_name("akka-remote"), "AKKA_REMOTE");
  EXPECT_EQ(env_name("web"), "WEB");
  EXPECT_EQ(env_name("a.b c_d9"), "A_B_C_D9");
}

TEST(Text, ExpandsBothVariableForms) {
  std::map<std::string, std::string, std::less<>> env{{"WEB_BIND_PORT", "10001"}, {"X", "y"}};
  auto lookup = [&](std::string_view name) { return from(env, name); };
  EXPECT_EQ(expand_variables("-Dhttp.port=$WEB_BIND_PORT", lookup), "-Dhttp.port=10001");
  EXPECT_EQ(expand_variables("${X}z$X.", lookup), "yzy.");
  EXPECT_EQ(expand_variables("$MISSING|${MISSING}", lookup), "|");
  EXPECT_EQ(expand_variables("cost $$5 and $", lookup), "cost $5 and $");
  EXPECT_EQ(expand_variables("${unclosed", lookup), "${unclosed");
}

TEST(Text, SplitJoinTrim) {
  EXPECT_EQ(split("a:b::c", ':'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(trim("  x y \n"), "x y");
}

TEST(Text, ParsesOnlyWholeIntegers) {
  EXPECT_EQ(parse_integer("42"), 42);
  EXPECT_EQ(parse_integer("-7"), -7);
  EXPECT_FALSE(parse_integer("4x"));
  EXPECT_FALSE(parse_integer(""));
  EXPECT_FALSE(parse_integer("99999999999999999999999"));
}

}  // namespace
}  // namespace baton::text
