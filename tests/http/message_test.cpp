#include "http/message.hpp"

#include <gtest/gtest.h>

#include "http/server.hpp"

namespace baton::http {
namespace {

TEST(Message, HeadersCompareCaseInsensitively) {
  Headers headers;
  headers["Content-Type"] = "application/json";
  EXPECT_EQ(headers.count("content-type"), 1u);
  EXPECT_EQ(headers.count("CONTENT-TYPE"), 1u);
  headers["content-type"] = "text/plain";
  EXPECT_EQ(headers.size(), 1u);
  Request request;
  request.headers = headers;
  EXPECT_EQ(request.header("Content-type"), "text/plain");
  EXPECT_EQ(request.header("Accept"), std::nullopt);
}

TEST(Message, UrlDecodeLeavesPlusAndMalformedEscapes) {
  EXPECT_EQ(url_decode("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(url_decode("a+b"), "a+b");
  EXPECT_EQ(url_decode("100%"), "100%");
  EXPECT_EQ(url_decode("%zz%4"), "%zz%4");
  EXPECT_EQ(url_decode("%e2%82%ac"), "\xe2\x82\xac");
}

TEST(Message, UrlEncodeRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  EXPECT_EQ(url_decode(url_encode(all)), all);
  EXPECT_EQ(url_encode("a b/c~d"), "a%20b%2Fc~d");
  EXPECT_EQ(url_encode("{\"label\":[\"x=y\"]}"), "%7B%22label%22%3A%5B%22x%3Dy%22%5D%7D");
}

TEST(Message, ParseQueryDecodesAndLastOneWins) {
  auto query = parse_query("a=1&b=x%20y+z&&flag&a=2&empty=");
  EXPECT_EQ(query.size(), 4u);
  EXPECT_EQ(query["a"], "2");
  EXPECT_EQ(query["b"], "x y z");
  EXPECT_EQ(query["flag"], "");
  EXPECT_EQ(query["empty"], "");
  Request request;
  request.query = query;
  EXPECT_EQ(request.query_value("b"), "x y z");
  EXPECT_EQ(request.query_value("c"), std::nullopt);
}

TEST(Message, ErrorIsJsonWithEscapes) {
  Response response = Response::error(409, "bundle \"web\"\nis running");
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(response.headers["Content-Type"], "application/json");
  EXPECT_EQ(response.body, "{\"error\":\"bundle \\\"web\\\"\\nis running\"}");
  EXPECT_EQ(error_message(response), "bundle \"web\"\nis running");
}

TEST(Message, JsonQuoteReplacesInvalidUtf8) {
  EXPECT_EQ(json_quote("a\x01"), "\"a\\u0001\"");
  EXPECT_EQ(json_quote("\xff"), "\"\xef\xbf\xbd\"");
}

TEST(Message, SharedBodyIsThePayload) {
  auto cached = std::make_shared<const std::string>("[1,2,3]");
  Response response = Response::json(200, cached);
  EXPECT_EQ(response.payload(), "[1,2,3]");
  EXPECT_TRUE(response.body.empty());
  EXPECT_EQ(Response::text(200, "hi").payload(), "hi");
}

TEST(Message, StatusMappingBothWays) {
  EXPECT_EQ(status_for(Errc::invalid), 400);
  EXPECT_EQ(status_for(Errc::not_found), 404);
  EXPECT_EQ(status_for(Errc::conflict), 409);
  EXPECT_EQ(status_for(Errc::ambiguous), 300);
  EXPECT_EQ(status_for(Errc::limit), 413);
  EXPECT_EQ(status_for(Errc::unavailable), 503);
  EXPECT_EQ(status_for(Errc::io), 500);
  EXPECT_EQ(status_for(Errc::internal), 500);
  for (Errc code : {Errc::invalid, Errc::not_found, Errc::conflict, Errc::ambiguous, Errc::limit,
                    Errc::unavailable, Errc::internal}) {
    EXPECT_EQ(errc_for_status(status_for(code)), code);
  }
  EXPECT_EQ(errc_for_status(401), Errc::invalid);
  EXPECT_EQ(errc_for_status(502), Errc::unavailable);

  Response response = error_response(make_error(Errc::not_found, "bundle 'x' not found"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, "{\"error\":\"bundle 'x' not found\"}");
}

TEST(Message, ErrorMessageFallsBack) {
  Response docker = Response::json(404, "{\"message\":\"No such container: abc\"}");
  EXPECT_EQ(error_message(docker), "No such container: abc");
  Response plain = Response::text(502, "  upstream down\n");
  EXPECT_EQ(error_message(plain), "upstream down");
  Response empty;
  empty.status = 503;
  EXPECT_EQ(error_message(empty), "HTTP 503 Service Unavailable");
}

TEST(Message, RedirectSetsLocation) {
  Response response = Response::redirect(307, "http://10.0.0.5:10001/x");
  EXPECT_EQ(response.status, 307);
  EXPECT_EQ(response.headers["location"], "http://10.0.0.5:10001/x");
  EXPECT_STREQ(reason_phrase(307), "Temporary Redirect");
  EXPECT_STREQ(reason_phrase(431), "Request Header Fields Too Large");
}

TEST(Message, SseEventSplitsLines) {
  EXPECT_EQ(sse_event("bundleExecutionAdded", "{\"a\":1}"),
            "event: bundleExecutionAdded\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(sse_event("x", "one\r\ntwo\nthree"), "event: x\ndata: one\ndata: two\ndata: three\n\n");
  EXPECT_EQ(sse_event("", ""), "data: \n\n");
  EXPECT_EQ(sse_event("bad\nname", "d"), "event: badname\ndata: d\n\n");
}

}  // namespace
}  // namespace baton::http
