#include "http/multipart.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace baton::http {
namespace {

struct Parsed {
  std::string name;
  std::string file_name;
  std::string content_type;
  std::string data;
  bool ended = false;

  bool operator==(const Parsed& other) const {
    return name == other.name && file_name == other.file_name &&
           content_type == other.content_type && data == other.data && ended == other.ended;
  }
};

// Collects parts; `largest_pending` tracks how much the parser held back at any time.
struct Collector {
  std::vector<Parsed> parts;

  MultipartParser::Callbacks callbacks() {
    return {
        [this](const MultipartPart& part) -> Status {
          Parsed parsed;
          parsed.name = part.name;
          parsed.file_name = part.file_name;
          auto type = part.headers.find(std::string_view("content-type"));
          if (type != part.headers.end()) parsed.content_type = type->second;
          parts.push_back(parsed);
          return {};
        },
        [this](std::string_view data) -> Status {
          parts.back().data += data;
          return {};
        },
        [this]() -> Status {
          parts.back().ended = true;
          return {};
        },
    };
  }
};

// A function, not a global std::string: no initialization that may throw before main().
const std::string& boundary() {
  static const std::string value = "----BatonBoundary7MA4YWxk";
  return value;
}

std::string sample_body() {
  std::string body = "preamble to ignore\r\n";
  body += "--" + boundary() + "\r\n";
  body += "Content-Disposition: form-data; name=\"bundleConf\"\r\n\r\n";
  body += "name = \"web\"\nversion = \"1\"\n";
  body += "\r\n--" + boundary() + "\r\n";
  body += "Content-Disposition: form-data; name=\"bundle\"; filename=\"web \\\"v1\\\".zip\"\r\n";
  body += "Content-Type: application/zip\r\n\r\n";
  // Data that looks like the delimiter without being it.
  body += "PK\x03\x04\r\n--" + boundary().substr(0, 10) + "\r\n-\r\r\n--";
  body += "\r\n--" + boundary() + "  \r\n";  // transport padding after a boundary is allowed
  body += "content-disposition: form-data; name=empty\r\n\r\n";
  body += "\r\n--" + boundary() + "--\r\nepilogue to ignore";
  return body;
}

std::vector<Parsed> expected_parts() {
  return {
      {"bundleConf", "", "", "name = \"web\"\nversion = \"1\"\n", true},
      {"bundle", "web \"v1\".zip", "application/zip",
       "PK\x03\x04\r\n--" + boundary().substr(0, 10) + "\r\n-\r\r\n--", true},
      {"empty", "", "", "", true},
  };
}

TEST(Multipart, BoundaryOfContentType) {
  EXPECT_EQ(*MultipartParser::boundary_of("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*MultipartParser::boundary_of("Multipart/Form-Data;charset=utf-8; Boundary=\"a b\""),
            "a b");
  auto missing = MultipartParser::boundary_of("multipart/form-data");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::invalid);
  EXPECT_NE(missing.error().message.find("has no boundary parameter"), std::string::npos);
  auto json = MultipartParser::boundary_of("application/json");
  ASSERT_FALSE(json.ok());
  EXPECT_NE(json.error().message.find("'application/json' is not multipart/form-data"),
            std::string::npos);
  auto unterminated = MultipartParser::boundary_of("multipart/form-data; boundary=\"abc");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_NE(unterminated.error().message.find("unterminated"), std::string::npos);
  EXPECT_FALSE(
      MultipartParser::boundary_of("multipart/form-data; boundary=" + std::string(71, 'x')).ok());
}

TEST(Multipart, WholeBody) {
  Collector collector;
  MultipartParser parser(boundary(), collector.callbacks());
  ASSERT_TRUE(parser.feed(sample_body()).ok());
  EXPECT_TRUE(parser.done());
  ASSERT_TRUE(parser.finish().ok());
  EXPECT_EQ(collector.parts, expected_parts());
}

TEST(Multipart, EverySplitPoint) {
  std::string body = sample_body();
  for (std::size_t split = 0; split <= body.size(); ++split) {
    Collector collector;
    MultipartParser parser(boundary(), collector.callbacks());
    ASSERT_TRUE(parser.feed(std::string_view(body).substr(0, split)).ok()) << split;
    ASSERT_TRUE(parser.feed(std::string_view(body).substr(split)).ok()) << split;
    ASSERT_TRUE(parser.finish().ok()) << split;
    EXPECT_EQ(collector.parts, expected_parts()) << "split at " << split;
  }
}

TEST(Multipart, EveryPairOfSplitPoints) {
  std::string body = sample_body();
  for (std::size_t first = 0; first <= body.size(); first += 3) {
    for (std::size_t second = first; second <= body.size(); ++second) {
      Collector collector;
      MultipartParser parser(boundary(), collector.callbacks());
      std::string_view view(body);
      ASSERT_TRUE(parser.feed(view.substr(0, first)).ok());
      ASSERT_TRUE(parser.feed(view.substr(first, second - first)).ok());
      ASSERT_TRUE(parser.feed(view.substr(second)).ok());
      ASSERT_TRUE(parser.finish().ok());
      ASSERT_EQ(collector.parts, expected_parts()) << first << "/" << second;
    }
  }
}

TEST(Multipart, OneByteFeeds) {
  std::string body = sample_body();
  Collector collector;
  MultipartParser parser(boundary(), collector.callbacks());
  for (char c : body)
    ASSERT_TRUE(parser.feed(std::string_view(&c, 1)).ok());
  ASSERT_TRUE(parser.finish().ok());
  EXPECT_EQ(collector.parts, expected_parts());
}

TEST(Multipart, HoldsBackLessThanTheDelimiter) {
  // A large part fed in random pieces: the data handed out trails what was fed by less than the
  // delimiter ("\r\n--" + boundary), so nothing accumulates.
  std::mt19937 random(42);
  std::string payload(1 << 20, '\0');
  for (char& c : payload)
    c = static_cast<char>(random() % 7 == 0 ? '\r' : random() & 0xff);
  std::string body = "--" + boundary() + "\r\nContent-Disposition: form-data; name=\"f\"; " +
                     "filename=\"f.bin\"\r\n\r\n";
  std::size_t data_start = body.size();
  body += payload + "\r\n--" + boundary() + "--\r\n";

  std::size_t received = 0;
  MultipartParser::Callbacks callbacks;
  callbacks.on_part_data = [&](std::string_view data) -> Status {
    received += data.size();
    return {};
  };
  MultipartParser parser(boundary(), callbacks);
  std::size_t fed = 0;
  std::size_t max_lag = 0;
  const std::size_t delimiter = boundary().size() + 4;
  while (fed < body.size()) {
    std::size_t n = std::min<std::size_t>(body.size() - fed, 1 + random() % 70000);
    ASSERT_TRUE(parser.feed(std::string_view(body).substr(fed, n)).ok());
    fed += n;
    if (fed > data_start && fed <= data_start + payload.size()) {
      max_lag = std::max(max_lag, fed - data_start - received);
    }
  }
  ASSERT_TRUE(parser.finish().ok());
  EXPECT_EQ(received, payload.size());
  EXPECT_LT(max_lag, delimiter);
}

TEST(Multipart, FileNameVariants) {
  struct Case {
    std::string disposition;
    std::string name;
    std::string file_name;
  };
  std::vector<Case> cases = {
      {"form-data; name=\"a\"; filename=\"x;y.zip\"", "a", "x;y.zip"},
      {"form-data; name=a; filename=plain.zip", "a", "plain.zip"},
      {"form-data; name=\"a\"; filename=\"C:\\\\dir\\\\f.zip\"", "a", "C:\\dir\\f.zip"},
      {"form-data; name=\"a\"; filename=\"old.zip\"; filename*=UTF-8''%E2%82%AC.zip", "a",
       "\xe2\x82\xac.zip"},
      {"Form-Data ; NAME=\"a\"", "a", ""},
  };
  for (const auto& test : cases) {
    std::string body = "--b\r\nContent-Disposition: " + test.disposition + "\r\n\r\nx\r\n--b--";
    Collector collector;
    MultipartParser parser("b", collector.callbacks());
    ASSERT_TRUE(parser.feed(body).ok()) << test.disposition;
    ASSERT_TRUE(parser.finish().ok()) << test.disposition;
    ASSERT_EQ(collector.parts.size(), 1u);
    EXPECT_EQ(collector.parts[0].name, test.name) << test.disposition;
    EXPECT_EQ(collector.parts[0].file_name, test.file_name) << test.disposition;
  }
}

Error parse_error(const std::string& body, std::size_t max_header = std::size_t{16} * 1024) {
  Collector collector;
  MultipartParser parser("b", collector.callbacks(), max_header);
  Status fed = parser.feed(body);
  Status result = fed.ok() ? parser.finish() : fed;
  EXPECT_FALSE(result.ok()) << body;
  if (result.ok()) return {};
  // Sticky: any later call gives the same error.
  EXPECT_EQ(parser.feed("more").error().message, result.error().message);
  EXPECT_EQ(parser.finish().error().message, result.error().message);
  return result.error();
}

void expect_error(const std::string& body, Errc code, const std::string& fragment,
                  std::size_t max_header = std::size_t{16} * 1024) {
  Error error = parse_error(body, max_header);
  EXPECT_EQ(error.code, code) << body;
  EXPECT_NE(error.message.find(fragment), std::string::npos)
      << "message: " << error.message << "\nexpected: " << fragment;
}

TEST(Multipart, MalformedBodiesNameTheProblem) {
  const std::string head = "--b\r\nContent-Disposition: form-data; name=\"bundle\"\r\n\r\n";
  expect_error(head + "data", Errc::invalid, "ended inside multipart part 1 ('bundle')");
  expect_error(head + "data\r\n--b\r\n", Errc::invalid, "ended after the boundary");
  expect_error("no boundary here", Errc::invalid, "holds no boundary '--b'");
  expect_error("", Errc::invalid, "holds no boundary");
  expect_error("--b\r\ngarbage without colon\r\n\r\nx\r\n--b--", Errc::invalid,
               "malformed header line in multipart part 1: 'garbage without colon'");
  expect_error("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", Errc::invalid,
               "multipart part 1 has no Content-Disposition header");
  expect_error("--b\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nx\r\n--b--",
               Errc::invalid, "has no name");
  expect_error("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--",
               Errc::invalid, "is not form-data");
  expect_error("--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--", Errc::invalid,
               "unterminated quoted value of 'name'");
  expect_error(head + "x\r\n--bXYZ\r\n", Errc::invalid,
               "malformed multipart boundary line after multipart part 1 ('bundle')");
  expect_error("--b\r\nX-Long: " + std::string(100, 'x') + "\r\n\r\n", Errc::limit,
               "headers of multipart part 1 exceed the limit of 64 bytes", 64);
  expect_error("--b\r\nX-Long: " + std::string(100, 'x'), Errc::limit,
               "exceed the limit of 64 bytes", 64);
}

TEST(Multipart, CallbackErrorsStopTheParse) {
  MultipartParser::Callbacks callbacks;
  int data_calls = 0;
  callbacks.on_part_begin = [](const MultipartPart& part) -> Status {
    if (part.name == "unexpected") return make_error(Errc::invalid, "unexpected part 'unexpected'");
    return {};
  };
  callbacks.on_part_data = [&](std::string_view) -> Status {
    ++data_calls;
    return {};
  };
  MultipartParser parser("b", callbacks);
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"ok\"\r\n\r\n1\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"unexpected\"\r\n\r\n2\r\n--b--";
  Status status = parser.feed(body);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "unexpected part 'unexpected'");
  EXPECT_EQ(data_calls, 1);
  EXPECT_FALSE(parser.finish().ok());
}

TEST(Multipart, EmptyBoundaryIsAnError) {
  MultipartParser parser("", {});
  Status status = parser.feed("--\r\n");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("boundary is empty"), std::string::npos);
}

}  // namespace
}  // namespace baton::http
