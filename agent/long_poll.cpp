#include "agent/long_poll.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "agent/environment.hpp"

namespace baton::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Call : std::enable_shared_from_this<Call> {
  Call(asio::io_context& io, LongPoll::Done done_in)
      : resolver(io), stream(io), done(std::move(done_in)) {}

  tcp::resolver resolver;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> request;
  bhttp::response_parser<bhttp::string_body> parser;
  LongPoll::Done done;
  std::string url;
  std::chrono::milliseconds timeout{0};
  bool cancelled = false;

  void fail(const std::string& why) {
    finish(make_error(Errc::unavailable, "cannot reach " + url + ": " + why));
  }

  void finish(Result<http::Response> result) {
    if (cancelled || !done) return;
    auto callback = std::move(done);
    done = nullptr;
    beast::error_code ignored;
    stream.socket().close(ignored);
    callback(std::move(result));
  }

  void start(const UrlParts& parts, const std::string& target) {
    request.method(bhttp::verb::get);
    request.target(target);
    request.version(11);
    request.set(bhttp::field::host, parts.host + ":" + parts.port);
    request.set(bhttp::field::user_agent, "baton-agent");
    request.set(bhttp::field::connection, "close");
    resolver.async_resolve(parts.host, parts.port,
                           [self = shared_from_this()](const beast::error_code& error,
                                                       tcp::resolver::results_type results) {
                             if (self->cancelled) return;
                             if (error) return self->fail(error.message());
                             self->stream.expires_after(self->timeout);
                             self->stream.async_connect(
                                 results, [self](const beast::error_code& e, const tcp::endpoint&) {
                                   if (self->cancelled) return;
                                   if (e) return self->fail(e.message());
                                   self->write();
                                 });
                           });
  }

  void write() {
    bhttp::async_write(stream, request,
                       [self = shared_from_this()](const beast::error_code& error, std::size_t) {
                         if (self->cancelled) return;
                         if (error) return self->fail(error.message());
                         self->parser.body_limit(16u << 20);
                         bhttp::async_read(self->stream, self->buffer, self->parser,
                                           [self](const beast::error_code& e, std::size_t) {
                                             if (self->cancelled) return;
                                             if (e) return self->fail(e.message());
                                             auto& response = self->parser.get();
                                             http::Response out;
                                             out.status = static_cast<int>(response.result_int());
                                             for (const auto& field : response) {
                                               out.headers[std::string(field.name_string())] =
                                                   std::string(field.value());
                                             }
                                             out.body = std::move(response.body());
                                             self->finish(std::move(out));
                                           });
                       });
  }

  void cancel() {
    cancelled = true;
    done = nullptr;
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().close(ignored);
  }
};

class Poll final : public LongPoll {
 public:
  explicit Poll(asio::io_context& io) : io_(io) {}
  ~Poll() override { cancel(); }

  void get(const std::string& url, std::chrono::milliseconds timeout, Done done) override {
    cancel();
    auto parts = parse_url(url);
    auto call = std::make_shared<Call>(io_, std::move(done));
    call->url = url;
    call->timeout = timeout;
    if (!parts) {
      asio::post(io_, [call, error = std::move(parts).error()]() mutable {
        call->finish(std::move(error));
      });
      return;
    }
    auto scheme_end = url.find("://");
    auto path_start = url.find('/', scheme_end + 3);
    std::string target = path_start == std::string::npos ? "/" : url.substr(path_start);
    call_ = call;
    call->start(*parts, target);
  }

  void cancel() override {
    if (auto call = call_.lock()) call->cancel();
    call_.reset();
  }

 private:
  asio::io_context& io_;
  std::weak_ptr<Call> call_;
};

}  // namespace

std::unique_ptr<LongPoll> LongPoll::create(asio::io_context& io) {
  return std::make_unique<Poll>(io);
}

}  // namespace baton::agent
