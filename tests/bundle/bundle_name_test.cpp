#include "bundle/bundle_name.hpp"

#include <gtest/gtest.h>

namespace baton::bundle {
namespace {

const std::string kDigest = "abf60451c6af18adcc851d67b369b7f5e2f7d4c3b2a1908f7e6d5c4b3a291807";
const std::string kConfig = "a53237c1f4a23b1f5c2e1b8b6b8e9f4ad0c1b2a3948576f0e1d2c3b4a5968778";

TEST(BundleName, ParsesStemAndDigest) {
  auto parsed = parse_file_name("/var/lib/visualizer-v1-" + kDigest + ".zip");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->stem, "visualizer-v1");
  EXPECT_EQ(parsed->digest, kDigest);
  EXPECT_EQ(file_name("visualizer-v1", kDigest), "visualizer-v1-" + kDigest + ".zip");
}

TEST(BundleName, RefusesNamesWithoutADigestNamingTheFile) {
  auto expect_refused = [](const std::string& name, const std::string& why) {
    auto parsed = parse_file_name(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.error().code, Errc::invalid);
    EXPECT_NE(parsed.error().message.find(name.substr(name.rfind('/') + 1)), std::string::npos)
        << parsed.error().message;
    EXPECT_NE(parsed.error().message.find(why), std::string::npos) << parsed.error().message;
  };
  expect_refused("visualizer-v1.zip", "carries no digest");
  expect_refused("visualizer-v1-" + kDigest + ".tar", "not a .zip");
  expect_refused("visualizer-v1-" + kDigest.substr(1) + ".zip", "carries no digest");
  std::string upper = kDigest;
  upper[0] = 'A';
  expect_refused("visualizer-v1-" + upper + ".zip", "not 64 lower-case hex");
  expect_refused("-" + kDigest + ".zip", "carries no digest");
  expect_refused("dir/.hidden-" + kDigest + ".zip", "starts with '.'");
}

TEST(BundleName, StemRules) {
  EXPECT_TRUE(check_stem("visualizer-v1").ok());
  EXPECT_TRUE(check_stem("my config").ok());
  EXPECT_FALSE(check_stem("").ok());
  EXPECT_FALSE(check_stem("a/b").ok());
  EXPECT_FALSE(check_stem("..").ok());
  EXPECT_FALSE(check_stem("a\nb").ok());
  EXPECT_FALSE(check_stem(std::string(kMaxStemLength + 1, 'a')).ok());
  Descriptor descriptor;
  descriptor.name = "visualizer";
  descriptor.compatibility_version = "1";
  EXPECT_EQ(bundle_stem(descriptor), "visualizer-v1");
}

TEST(BundleName, IdsAndShortIds) {
  std::string id = bundle_id(kDigest);
  EXPECT_EQ(id, "abf60451c6af18adcc851d67b369b7f5");
  EXPECT_EQ(short_id(id), "abf6045");
  std::string with_config = bundle_id(kDigest, kConfig);
  EXPECT_EQ(with_config, "abf60451c6af18adcc851d67b369b7f5-a53237c1f4a23b1f5c2e1b8b6b8e9f4a");
  EXPECT_EQ(short_id(with_config), "abf6045-a53237c");
  EXPECT_TRUE(is_bundle_id(id));
  EXPECT_TRUE(is_bundle_id(with_config));
  EXPECT_FALSE(is_bundle_id(id.substr(1)));
  EXPECT_FALSE(is_bundle_id(id + "-"));
  EXPECT_FALSE(is_bundle_id(id + "-" + kConfig.substr(0, 31)));
}

TEST(BundleName, IdPrefixesSelectLikeConductR) {
  std::string plain = bundle_id(kDigest);
  std::string configured = bundle_id(kDigest, kConfig);
  EXPECT_TRUE(is_id_prefix("abf6045"));
  EXPECT_TRUE(is_id_prefix("abf6045-a53237c"));
  EXPECT_TRUE(is_id_prefix(configured));
  EXPECT_FALSE(is_id_prefix("abf604"));      // shorter than 7
  EXPECT_FALSE(is_id_prefix("abf6045-"));    // empty configuration part
  EXPECT_FALSE(is_id_prefix("ABF6045"));     // upper case
  EXPECT_FALSE(is_id_prefix("visualizer"));  // a name, not an id

  EXPECT_TRUE(id_matches(plain, "abf6045"));
  EXPECT_TRUE(id_matches(configured, "abf6045"));
  EXPECT_TRUE(id_matches(configured, "abf6045-a53237c"));
  EXPECT_TRUE(id_matches(configured, configured));
  EXPECT_FALSE(id_matches(plain, "abf6045-a53237c"));
  EXPECT_FALSE(id_matches(configured, "abf6045-b"));
  EXPECT_FALSE(id_matches(configured, "abf6046"));
}

}  // namespace
}  // namespace baton::bundle
