#include <gtest/gtest.h>

#include <stdexcept>

#include "http/server.hpp"

namespace baton::http {
namespace {

Handler named(const std::string& name) {
  return [name](const Request&) { return Response::text(200, name); };
}

std::string run(const Router::Match& match, const Request& request = {}) {
  if (match.route == nullptr) return "<none>";
  return match.route->handler(request).body;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router.add("GET", "/", named("root"));
    router.add("GET", "/v2/bundles", named("list"));
    router.add("GET", "/v2/bundles/events", named("events"));
    router.add("GET", "/v2/bundles/{id}", named("get"));
    router.add("PUT", "/v2/bundles/{id}", named("scale"));
    router.add("DELETE", "/v2/bundles/{id}", named("unload"));
    router.add("GET", "/v2/bundles/{id}/logs", named("logs"));
    router.add("GET", "/services/{name}/{rest...}", named("service"));
    router.add("GET", "/files/{rest...}", named("files"));
  }
  Router router;
  std::map<std::string, std::string> params;
};

TEST_F(RouterTest, ExactSegmentsWinOverCaptures) {
  EXPECT_EQ(run(router.find("GET", "/v2/bundles/events", params)), "events");
  EXPECT_TRUE(params.empty());
  EXPECT_EQ(run(router.find("GET", "/v2/bundles/abc", params)), "get");
  EXPECT_EQ(params["id"], "abc");
}

TEST_F(RouterTest, OtherMethodsStillReachTheCapture) {
  // DELETE has no exact /v2/bundles/events route: the capture takes it.
  EXPECT_EQ(run(router.find("DELETE", "/v2/bundles/events", params)), "unload");
  EXPECT_EQ(params["id"], "events");
}

TEST_F(RouterTest, CapturesAreDecoded) {
  EXPECT_EQ(run(router.find("GET", "/v2/bundles/web%20v1%2Fx/logs", params)), "logs");
  EXPECT_EQ(params["id"], "web v1/x");
}

TEST_F(RouterTest, RestCaptureTakesZeroOrMoreSegments) {
  EXPECT_EQ(run(router.find("GET", "/services/web/a/b%20c/", params)), "service");
  EXPECT_EQ(params["name"], "web");
  EXPECT_EQ(params["rest"], "a/b c/");
  params.clear();
  EXPECT_EQ(run(router.find("GET", "/services/web", params)), "service");
  EXPECT_EQ(params["rest"], "");
  params.clear();
  EXPECT_EQ(run(router.find("GET", "/files/x", params)), "files");
  EXPECT_EQ(params["rest"], "x");
}

TEST_F(RouterTest, UnknownPathHasNoAllow) {
  auto match = router.find("GET", "/v3/nothing", params);
  EXPECT_EQ(match.route, nullptr);
  EXPECT_EQ(match.allow, "");
  EXPECT_EQ(router.find("GET", "/v2/bundles/", params).route, nullptr);  // empty capture
  EXPECT_EQ(router.find("GET", "relative", params).route, nullptr);
}

TEST_F(RouterTest, KnownPathWithOtherMethodListsAllowed) {
  auto match = router.find("POST", "/v2/bundles/abc", params);
  EXPECT_EQ(match.route, nullptr);
  EXPECT_EQ(match.allow, "DELETE, GET, PUT");
  EXPECT_EQ(router.find("POST", "/", params).allow, "GET");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  EXPECT_EQ(run(router.find("HEAD", "/v2/bundles", params)), "list");
  EXPECT_EQ(run(router.find("HEAD", "/v2/bundles/x", params)), "get");
  EXPECT_EQ(params["id"], "x");
}

TEST_F(RouterTest, RootMatchesOnlyRoot) {
  EXPECT_EQ(run(router.find("GET", "/", params)), "root");
  EXPECT_EQ(run(router.find("GET", "/v2", params)), "<none>");
}

TEST(Router, MalformedPatternsAreBugs) {
  Router router;
  EXPECT_THROW(router.add("GET", "v2", named("x")), std::logic_error);
  EXPECT_THROW(router.add("GET", "/a//b", named("x")), std::logic_error);
  EXPECT_THROW(router.add("GET", "/a/{x", named("x")), std::logic_error);
  EXPECT_THROW(router.add("GET", "/a/{rest...}/b", named("x")), std::logic_error);
  EXPECT_THROW(router.add("GET", "/a/b{x}", named("x")), std::logic_error);
  router.add("GET", "/a/{x}", named("x"));
  EXPECT_THROW(router.add("GET", "/a/{y}", named("y")), std::logic_error);
  router.add("PUT", "/a/{y}", named("y"));  // another method: fine, with its own capture name
  std::map<std::string, std::string> params;
  EXPECT_EQ(run(router.find("PUT", "/a/1", params)), "y");
  EXPECT_EQ(params["y"], "1");
}

TEST(Router, RouteKindsAndLimits) {
  Router router;
  router.add_async("GET", "/poll", [](const Request&, const ResponderPtr&) {});
  router.add_stream(
      "POST", "/upload",
      [](const Request&) -> Result<std::unique_ptr<BodySink>> {
        return make_error(Errc::internal, "unused");
      },
      1234);
  std::map<std::string, std::string> params;
  auto poll = router.find("GET", "/poll", params);
  ASSERT_NE(poll.route, nullptr);
  EXPECT_EQ(poll.route->kind, Router::Kind::async);
  EXPECT_EQ(router.find("HEAD", "/poll", params).route, nullptr);  // HEAD only for plain GETs
  auto upload = router.find("POST", "/upload", params);
  ASSERT_NE(upload.route, nullptr);
  EXPECT_EQ(upload.route->kind, Router::Kind::stream);
  EXPECT_EQ(upload.route->max_body_bytes, 1234u);
}

}  // namespace
}  // namespace baton::http
