// The ABI version must follow the header's content: any change to runtime_plugin.h without a new
// BATON_PLUGIN_ABI_VERSION would let the agent load plugins built against a different contract.
#include <gtest/gtest.h>

#include <cstddef>
#include <sstream>
#include <string>

#include "baton/runtime_plugin.h"
#include "common/sha256.hpp"
#include "tests/plugins/support.hpp"

namespace baton::plugins {
namespace {

TEST(AbiVersion, IsDerivedFromTheHeader) {
  const std::string header = testing::read_text(stdfs::path(BATON_SOURCE_DIR) / "plugins" /
                                                "include" / "baton" / "runtime_plugin.h");
  ASSERT_FALSE(header.empty());
  // The header without the line defining the version, as plugins/tools/abi-version hashes it.
  const std::string line = "#define BATON_PLUGIN_ABI_VERSION ";
  std::string rest;
  std::istringstream in(header);
  std::string text;
  int defined = 0;
  while (std::getline(in, text)) {
    if (text.rfind(line, 0) == 0) {
      ++defined;
      continue;
    }
    rest += text + "\n";
  }
  ASSERT_EQ(defined, 1) << "exactly one line must define the version";
  const std::string expected = "1." + sha256_hex(rest).substr(0, 16);
  EXPECT_EQ(std::string(BATON_PLUGIN_ABI_VERSION), expected)
      << "runtime_plugin.h changed without a new ABI version: run plugins/tools/abi-version "
         "--update (after clang-format) and rebuild every plugin";
}

TEST(AbiVersion, IsTheFirstFieldOfThePlugin) {
  // The agent reads abi_version before anything else, whatever the plugin's header version.
  static_assert(offsetof(baton_plugin, abi_version) == 0);
  SUCCEED();
}

}  // namespace
}  // namespace baton::plugins
