// Where the core is (flags, environment, defaults) and the CLI's error mapping.
#include <gtest/gtest.h>

#include <map>

#include "cli/control_client.hpp"
#include "cli/core_address.hpp"
#include "cli/exit_codes.hpp"

namespace baton::cli {
namespace {

EnvLookup env(std::map<std::string, std::string> values) {
  return [values](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(CoreAddress, DefaultsTo127001Port9005) {
  auto address = resolve_core_address(std::nullopt, std::nullopt, env({}));
  ASSERT_TRUE(address) << address.error().message;
  EXPECT_EQ(address->url(), "http://127.0.0.1:9005");
}

TEST(CoreAddress, FlagsBeatBatonVariablesWhichBeatConductRs) {
  auto all = env(
      {{"BATON_HOST", "b"}, {"BATON_PORT", "2"}, {"CONDUCTR_HOST", "c"}, {"CONDUCTR_PORT", "3"}});
  EXPECT_EQ(resolve_core_address("a", 1, all)->url(), "http://a:1");
  EXPECT_EQ(resolve_core_address(std::nullopt, std::nullopt, all)->url(), "http://b:2");
  auto conductr = env({{"CONDUCTR_HOST", "c"}, {"CONDUCTR_PORT", "3"}});
  EXPECT_EQ(resolve_core_address(std::nullopt, std::nullopt, conductr)->url(), "http://c:3");
  EXPECT_EQ(resolve_core_address("a", std::nullopt, conductr)->url(), "http://a:3");
}

TEST(CoreAddress, AcceptsUrlsAndIpv6) {
  EXPECT_EQ(resolve_core_address("http://core.example:9105/", std::nullopt, env({}))->url(),
            "http://core.example:9105");
  EXPECT_EQ(resolve_core_address("http://core.example:9105", 7000, env({}))->url(),
            "http://core.example:7000");
  EXPECT_EQ(resolve_core_address("::1", std::nullopt, env({}))->url(), "http://[::1]:9005");
  EXPECT_EQ(resolve_core_address("[::1]:9106", std::nullopt, env({}))->url(), "http://[::1]:9106");
  EXPECT_EQ(resolve_core_address(std::nullopt, std::nullopt,
                                 env({{"BATON_HOST", "http://10.0.0.5:9200"}}))
                ->url(),
            "http://10.0.0.5:9200");
}

TEST(CoreAddress, RefusesNamingTheSource) {
  auto bad_port = resolve_core_address(std::nullopt, std::nullopt, env({{"BATON_PORT", "x"}}));
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().message, "BATON_PORT: expected a port 1-65535, got 'x'");
  auto out_of_range = resolve_core_address(std::nullopt, 70000, env({}));
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.error().message.find("--port"), std::string::npos);
  auto ftp = resolve_core_address("ftp://a", std::nullopt, env({}));
  ASSERT_FALSE(ftp);
  EXPECT_NE(ftp.error().message.find("only http:// and https://"), std::string::npos);
  auto colon = resolve_core_address("a:9005", std::nullopt, env({}));
  ASSERT_FALSE(colon);
  EXPECT_NE(colon.error().message.find("--port"), std::string::npos);
  EXPECT_FALSE(resolve_core_address("a/b", std::nullopt, env({})));
  EXPECT_FALSE(resolve_core_address("", std::nullopt, env({})));
}

TEST(UserAtHost, HasBothParts) {
  std::string user = user_at_host();
  auto at = user.find('@');
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(at, 0u);
  EXPECT_LT(at + 1, user.size());
}

TEST(Errors, UnreachableReasonFromCurlsWords) {
  EXPECT_EQ(unreachable_reason("cannot reach http://127.0.0.1:9005/v2/bundles: Failed to connect "
                               "to 127.0.0.1 port 9005 after 0 ms: Connection refused"),
            "connection refused");
  EXPECT_EQ(unreachable_reason("cannot reach http://x/: Connection timed out after 5001 ms"),
            "timed out");
  EXPECT_EQ(unreachable_reason("cannot reach http://nohost/: Could not resolve host: nohost"),
            "unknown host");
}

TEST(Errors, ResponsesMapToExitCodes) {
  http::Response not_found;
  not_found.status = 404;
  not_found.body = R"({"error": "no bundle matches 'abf6045'"})";
  Error error = response_error(not_found, "GET /v2/bundles/abf6045");
  EXPECT_EQ(error.message, "no bundle matches 'abf6045'");
  EXPECT_EQ(exit_code_for(error), kNotFound);

  http::Response ambiguous;
  ambiguous.status = 300;
  ambiguous.body = R"({"error": "'abf6045' matches 2 bundles", "candidates": ["a1", "a2"]})";
  error = response_error(ambiguous, "PUT /v2/bundles/abf6045");
  EXPECT_EQ(error.message, "'abf6045' matches 2 bundles (candidates: a1, a2)");
  EXPECT_EQ(exit_code_for(error), kUsage);

  http::Response conflict;
  conflict.status = 409;
  conflict.body = R"({"error": "bundle abf6045 has running instances"})";
  EXPECT_EQ(exit_code_for(response_error(conflict, "DELETE")), kFailed);

  // A core that answers is reachable, even when it cannot serve the request.
  http::Response not_ready;
  not_ready.status = 503;
  not_ready.body = R"({"error": "no store"})";
  error = response_error(not_ready, "GET /v2/bundles");
  EXPECT_EQ(exit_code_for(error), kFailed);
  EXPECT_NE(error.message.find("no store"), std::string::npos);

  EXPECT_EQ(exit_code_for(make_error(Errc::unavailable, "cannot reach")), kUnreachable);
}

}  // namespace
}  // namespace baton::cli
