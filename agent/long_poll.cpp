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
#include <boost/beast/ssl/ssl_stream.hpp>

#include "agent/environment.hpp"
#include "http/tls_context.hpp"

namespace baton::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// The TLS stream always exists (over its TCP stream); plain http:// uses the TCP stream alone.
struct Call : std::enable_shared_from_this<Call> {
  Call(asio::io_context& io, http::TlsContext& context, bool tls_in, LongPoll::Done done_in)
      : resolver(io), stream(io, context), tls(tls_in), done(std::move(done_in)) {}

  tcp::resolver resolver;
  beast::ssl_stream<beast::tcp_stream> stream;
  bool tls = false;
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
    tcp_layer().socket().close(ignored);
    callback(std::move(result));
  }

  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream); }

  void start(const UrlParts& parts, const std::string& target, const std::string& token) {
    request.method(bhttp::verb::get);
    request.target(target);
    request.version(11);
    request.set(bhttp::field::host, parts.host + ":" + parts.port);
    request.set(bhttp::field::user_agent, "baton-agent");
    request.set(bhttp::field::connection, "close");
    if (!token.empty()) request.set(bhttp::field::authorization, "Bearer " + token);
    if (tls) {
      if (auto named = http::expect_server_name(stream.native_handle(), parts.host); !named) {
        asio::post(resolver.get_executor(),
                   [self = shared_from_this(), error = std::move(named).error()]() mutable {
                     self->finish(std::move(error));
                   });
        return;
      }
    }
    resolver.async_resolve(parts.host, parts.port,
                           [self = shared_from_this()](const beast::error_code& error,
                                                       tcp::resolver::results_type results) {
                             if (self->cancelled) return;
                             if (error) return self->fail(error.message());
                             self->tcp_layer().expires_after(self->timeout);
                             self->tcp_layer().async_connect(
                                 results, [self](const beast::error_code& e, const tcp::endpoint&) {
                                   if (self->cancelled) return;
                                   if (e) return self->fail(e.message());
                                   self->handshake();
                                 });
                           });
  }

  void handshake() {
    if (!tls) return write(tcp_layer());
    stream.async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](
                                                               const beast::error_code& error) {
      if (self->cancelled) return;
      if (error) {
        std::string reason = http::openssl_errors();
        return self->fail("TLS: " + (reason.empty() ? error.message() : reason));
      }
      self->write(self->stream);
    });
  }

  template <class Stream>
  void write(Stream& out) {
    bhttp::async_write(
        out, request,
        [self = shared_from_this(), &out](const beast::error_code& error, std::size_t) {
          if (self->cancelled) return;
          if (error) return self->fail(error.message());
          self->parser.body_limit(16u << 20);
          bhttp::async_read(
              out, self->buffer, self->parser, [self](const beast::error_code& e, std::size_t) {
                if (self->cancelled) return;
                if (e) return self->fail(e.message());
                auto& response = self->parser.get();
                http::Response out;
                out.status = static_cast<int>(response.result_int());
                for (const auto& field : response) {
                  out.headers[std::string(field.name_string())] = std::string(field.value());
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
    tcp_layer().socket().close(ignored);
  }
};

class Poll final : public LongPoll {
 public:
  Poll(asio::io_context& io, std::string token, http::TlsClientSettings tls)
      : io_(io), token_(std::move(token)) {
    auto context = http::make_client_context(tls);
    if (context) {
      context_ = std::move(*context);
    } else {
      context_error_ = std::move(context).error();
      context_ = std::make_shared<http::TlsContext>(http::TlsContext::tls_client);
    }
  }
  ~Poll() override { cancel(); }

  void get(const std::string& url, std::chrono::milliseconds timeout, Done done) override {
    cancel();
    auto parts = parse_url(url);
    const bool tls = parts && parts->protocol == "https";
    auto call = std::make_shared<Call>(io_, *context_, tls, std::move(done));
    call->url = url;
    call->timeout = timeout;
    if (!parts || (tls && context_error_)) {
      Error error = parts ? *context_error_ : std::move(parts).error();
      asio::post(io_,
                 [call, error = std::move(error)]() mutable { call->finish(std::move(error)); });
      return;
    }
    auto scheme_end = url.find("://");
    auto path_start = url.find('/', scheme_end + 3);
    std::string target = path_start == std::string::npos ? "/" : url.substr(path_start);
    call_ = call;
    call->start(*parts, target, token_);
  }

  void cancel() override {
    if (auto call = call_.lock()) call->cancel();
    call_.reset();
  }

 private:
  asio::io_context& io_;
  std::string token_;
  std::shared_ptr<http::TlsContext> context_;
  std::optional<Error> context_error_;  // the TLS files cannot be used: every https get fails
  std::weak_ptr<Call> call_;
};

}  // namespace

std::unique_ptr<LongPoll> LongPoll::create(asio::io_context& io, std::string token,
                                           http::TlsClientSettings tls) {
  return std::make_unique<Poll>(io, std::move(token), std::move(tls));
}

}  // namespace baton::agent
