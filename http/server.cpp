// The Beast side of the server: accept loop, one session per connection on a strand (plain TCP
// or TLS: the same session code over either stream), request reading (in memory or streamed to a
// BodySink), a write queue, responders. This is the only translation unit of http/ that includes
// Beast.

#include "http/server.hpp"

#include <sys/socket.h>

// GCC 12 with the sanitizers reports a false maybe-uninitialized inside Beast's parser (a
// boost::optional it returns); the warning is not about our code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#pragma GCC diagnostic pop

#include "common/text.hpp"
#include "http/tls_context.hpp"

namespace baton::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::size_t kPieceBytes = std::size_t{64} * 1024;  // one read of a streamed body
constexpr std::size_t kIdleReadBytes = 4096;                 // first read of a keep-alive request
constexpr std::size_t kMaxQueuedBytes = std::size_t{16} << 20;  // a slower reader is dropped
constexpr std::size_t kMaxGather = 64;                          // queued pieces per write
constexpr auto kLingerTime = std::chrono::seconds(2);  // reading what a refused client still sends
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

class Connection;

// What the listener and the sessions share; outlives the Server object while handlers run.
struct Shared {
  Shared(ServerOptions options_in, Router router_in, std::shared_ptr<TlsContext> tls_in)
      : options(std::move(options_in)), router(std::move(router_in)), tls(std::move(tls_in)) {}

  const ServerOptions options;
  const Router router;
  const std::shared_ptr<TlsContext> tls;  // null: plain HTTP
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> open{0};
  std::atomic<std::uint64_t> accepted{0};

  // False once stopped: the caller must not start the session.
  bool remember(const std::shared_ptr<Connection>& session);
  void forget(Connection* session) {
    std::lock_guard lock(mutex);
    sessions.erase(session);
  }
  std::vector<std::shared_ptr<Connection>> snapshot() {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard lock(mutex);
    for (auto& [key, weak] : sessions) {
      if (auto session = weak.lock()) out.push_back(std::move(session));
    }
    return out;
  }

  std::mutex mutex;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> sessions;
};

bool Shared::remember(const std::shared_ptr<Connection>& session) {
  std::lock_guard lock(mutex);
  if (stopped) return false;
  sessions.emplace(session.get(), session);
  return true;
}

// One queued piece of output. `last` marks the end of a response.
struct Outgoing {
  std::string head;
  std::string body;
  std::shared_ptr<const std::string> shared;
  bool crlf = false;
  bool last = false;

  std::size_t size() const {
    return head.size() + body.size() + (shared ? shared->size() : 0) + (crlf ? 2 : 0);
  }
};

bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 32 && u < 127 && c != ':' && c != '(' && c != ')' && c != '<' && c != '>' &&
         c != '@' && c != ',' && c != ';' && c != '\\' && c != '"' && c != '/' && c != '[' &&
         c != ']' && c != '?' && c != '=' && c != '{' && c != '}';
}

bool framing_header(std::string_view name) {
  CaseInsensitiveLess less;
  auto same = [&](std::string_view other) { return !less(name, other) && !less(other, name); };
  return same("Content-Length") || same("Transfer-Encoding") || same("Connection");
}

bool iequals(std::string_view a, std::string_view b) {
  CaseInsensitiveLess less;
  return !less(a, b) && !less(b, a);
}

// "HTTP/1.1 200 OK\r\n" and the handler's headers, minus framing; values cannot break lines.
std::string status_and_headers(unsigned version, int status, const Headers& headers) {
  std::string head;
  head.reserve(160 + headers.size() * 48);
  head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += reason_phrase(status);
  head += "\r\n";
  for (const auto& [name, value] : headers) {
    if (name.empty() || framing_header(name)) continue;
    bool valid_name = true;
    for (char c : name)
      valid_name = valid_name && is_token_char(c);
    if (!valid_name) continue;
    head += name;
    head += ": ";
    for (char c : value)
      head += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    head += "\r\n";
  }
  return head;
}

std::string hex(std::size_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 15]);
    value >>= 4;
  } while (value != 0);
  return out;
}

std::string exception_text(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

//--------------------------------------------------------------------------------------------
class SessionResponder;

// What the listener, the server and the responders see of a session, whatever its stream.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  virtual net::any_io_executor executor() = 0;

  // Everything below runs on the session's strand.
  virtual void start() = 0;
  virtual void close_now() = 0;

  // Entry points for responders; requests other than `generation` are ignored.
  virtual void respond(std::uint64_t generation, Response response) = 0;
  virtual void begin_stream(std::uint64_t generation, int status, const Headers& headers) = 0;
  virtual void write_chunk(std::uint64_t generation, std::string chunk) = 0;
  virtual void end_stream(std::uint64_t generation) = 0;
  virtual void abandoned(std::uint64_t generation, bool began) = 0;
};

// One connection over PlainStream or TlsStream.
template <class Stream>
class Session final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... StreamArgs>
  explicit Session(std::shared_ptr<Shared> shared, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...), shared_(std::move(shared)) {
    ++shared_->open;
  }
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  net::any_io_executor executor() override { return stream_.get_executor(); }

  void start() override;
  void close_now() override;
  void respond(std::uint64_t generation, Response response) override;
  void begin_stream(std::uint64_t generation, int status, const Headers& headers) override;
  void write_chunk(std::uint64_t generation, std::string chunk) override;
  void end_stream(std::uint64_t generation) override;
  void abandoned(std::uint64_t generation, bool began) override;

 private:
  enum class Phase { reading, waiting, streaming, responding, lingering, closed };
  using Step = void (Session::*)();

  std::shared_ptr<Session> shared_self() {
    return std::static_pointer_cast<Session>(shared_from_this());
  }
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }
  void on_handshake(error_code ec);
  void read_request();
  void on_idle_read(error_code ec, std::size_t bytes);
  void read_header();
  void on_header(error_code ec);
  bool fill_request();
  void read_in_memory(std::size_t limit);
  void read_body_piece();
  void on_body_piece(error_code ec);
  void start_streamed_body();
  void read_stream_piece();
  void on_stream_piece(error_code ec);
  void finish_streamed_body();
  std::optional<std::uint64_t> content_length() const;
  bool expects_continue() const;
  void continue_then(Step next);
  void on_request_read();
  void on_read_error(error_code ec);

  void reject(Response response);
  void respond_now(Response response);
  void enqueue(Outgoing out);
  void do_write();
  void on_write(error_code ec, std::size_t count);
  void after_response();
  void graceful_close();
  void drain();
  void start_watch();
  void on_watch(error_code ec, std::uint64_t generation);
  void stop_watch();
  void notify_responder();
  std::string connection_header();

  Stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<Shared> shared_;
  std::string peer_ip_;
  unsigned short peer_port_ = 0;
  unsigned short local_port_ = 0;
  std::shared_ptr<const PeerCertificate> peer_certificate_;
  Phase phase_ = Phase::reading;

  // The current request.
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  Request request_;
  std::string_view raw_path_;  // within request_.target, still %-encoded
  const Router::Route* route_ = nullptr;
  std::optional<Response> early_;  // 404/405 decided at the head, sent once the body is read
  std::string body_;
  std::size_t filled_ = 0;
  std::size_t body_limit_ = 0;
  std::unique_ptr<BodySink> sink_;
  std::unique_ptr<char[]> piece_;
  std::uint64_t received_ = 0;
  Clock::time_point deadline_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_only_ = false;
  bool chunked_ = false;
  bool close_after_ = false;  // the response says Connection: close
  bool linger_ = false;       // the request was not read to its end
  std::uint64_t requests_ = 0;
  std::uint64_t generation_ = 0;
  std::weak_ptr<SessionResponder> responder_;

  // Output.
  std::deque<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  std::vector<net::const_buffer> buffers_;
  bool writing_ = false;

  // Watching for a disconnect while a responder is pending.
  bool watching_ = false;
  std::uint64_t watch_generation_ = 0;
};

//--------------------------------------------------------------------------------------------
class SessionResponder final : public Responder {
 public:
  SessionResponder(std::weak_ptr<Connection> session, std::uint64_t generation)
      : session_(std::move(session)), generation_(generation) {}
  ~SessionResponder() override;
  SessionResponder(const SessionResponder&) = delete;
  SessionResponder& operator=(const SessionResponder&) = delete;

  void send(Response response) override {
    if (completed_.exchange(true)) return;
    drop_callback();
    post([generation = generation_, response = std::move(response)](Connection& session) mutable {
      session.respond(generation, std::move(response));
    });
  }

  void begin_stream(int status, Headers headers) override {
    if (completed_ || began_.exchange(true)) return;
    post([generation = generation_, status, headers = std::move(headers)](Connection& session) {
      session.begin_stream(generation, status, headers);
    });
  }

  void write(std::string chunk) override {
    if (!began_ || completed_ || gone_ || chunk.empty()) return;
    post([generation = generation_, chunk = std::move(chunk)](Connection& session) mutable {
      session.write_chunk(generation, std::move(chunk));
    });
  }

  void end() override {
    if (!began_ || completed_.exchange(true)) return;
    drop_callback();
    post([generation = generation_](Connection& session) { session.end_stream(generation); });
  }

  bool closed() const override { return gone_ || completed_ || session_.expired(); }

  void on_close(std::function<void()> callback) override {
    {
      std::lock_guard lock(mutex_);
      if (completed_) return;
      if (!gone_ && !session_.expired()) {
        on_close_ = std::move(callback);
        return;
      }
    }
    if (callback) callback();
  }

  // The connection ended (on the session's strand, or in its destructor).
  void connection_closed() {
    std::function<void()> callback;
    {
      std::lock_guard lock(mutex_);
      if (gone_) return;
      gone_ = true;
      if (!completed_) callback = std::move(on_close_);
      on_close_ = nullptr;
    }
    if (!callback) return;
    try {
      callback();
    } catch (...) {  // a bug in the callback must not take the IO thread down
    }
  }

 private:
  template <class F>
  void post(F&& function) {
    auto session = session_.lock();
    if (!session) return;
    auto executor = session->executor();
    net::post(executor, [session = std::move(session),
                         function = std::forward<F>(function)]() mutable { function(*session); });
  }

  void drop_callback() {
    std::function<void()> dropped;
    std::lock_guard lock(mutex_);
    dropped = std::move(on_close_);
    on_close_ = nullptr;
  }

  std::weak_ptr<Connection> session_;
  const std::uint64_t generation_;
  std::atomic<bool> began_{false};
  std::atomic<bool> completed_{false};
  std::atomic<bool> gone_{false};
  std::mutex mutex_;
  std::function<void()> on_close_;
};

SessionResponder::~SessionResponder() {
  if (completed_) return;
  auto session = session_.lock();
  if (!session) return;
  auto executor = session->executor();
  net::post(executor, [session = std::move(session), generation = generation_,
                       began = began_.load()] { session->abandoned(generation, began); });
}

//--------------------------------------------------------------------------------------------
template <class Stream>
Session<Stream>::~Session() {
  notify_responder();
  --shared_->open;
  shared_->forget(this);
}

template <class Stream>
void Session<Stream>::start() {
  error_code ec;
  auto endpoint = tcp_layer().socket().remote_endpoint(ec);
  if (!ec) {
    auto address = endpoint.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
    }
    peer_ip_ = address.to_string();
    peer_port_ = endpoint.port();
  }
  local_port_ = tcp_layer().socket().local_endpoint(ec).port();
  tcp_layer().socket().set_option(tcp::no_delay(true), ec);  // streamed pieces leave at once
  if constexpr (kTls) {
    tcp_layer().expires_after(shared_->options.read_timeout);
    stream_.async_handshake(
        net::ssl::stream_base::server,
        [self = shared_self()](error_code error) { self->on_handshake(error); });
  } else {
    read_request();
  }
}

template <class Stream>
void Session<Stream>::on_handshake(error_code ec) {
  if (phase_ == Phase::closed) return;
  if (ec) {
    close_now();  // no certificate, an untrusted one, not TLS at all: nothing to answer
    return;
  }
  peer_certificate_ = verified_peer(stream_.native_handle());
  read_request();
}

template <class Stream>
void Session<Stream>::read_request() {
  if (shared_->stopped) {
    close_now();
    return;
  }
  phase_ = Phase::reading;
  ++generation_;
  request_ = Request{};
  route_ = nullptr;
  early_.reset();
  body_ = std::string();
  filled_ = 0;
  sink_.reset();
  received_ = 0;
  version_ = 11;
  keep_alive_ = false;
  head_only_ = false;
  chunked_ = false;
  close_after_ = false;
  linger_ = false;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
      shared_->options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  // Limits are checked here, per route. (Beast 1.74 compares a content length against an unset
  // limit as if it were 0, so "no limit" must be the largest value.)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());

  if (requests_ > 0 && buffer_.size() == 0) {
    // Between keep-alive requests the idle timeout applies, until the first byte arrives.
    tcp_layer().expires_after(shared_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kIdleReadBytes),
                            [self = shared_self()](error_code ec, std::size_t bytes) {
                              self->on_idle_read(ec, bytes);
                            });
    return;
  }
  deadline_ = Clock::now() + shared_->options.read_timeout;
  read_header();
}

template <class Stream>
void Session<Stream>::on_idle_read(error_code ec, std::size_t bytes) {
  if (phase_ == Phase::closed) return;
  if (ec) {
    close_now();
    return;
  }
  buffer_.commit(bytes);
  deadline_ = Clock::now() + shared_->options.read_timeout;
  read_header();
}

template <class Stream>
void Session<Stream>::read_header() {
  tcp_layer().expires_at(deadline_);
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_self()](error_code ec, std::size_t) { self->on_header(ec); });
}

template <class Stream>
void Session<Stream>::on_header(error_code ec) {
  if (phase_ == Phase::closed) return;
  if (ec) {
    on_read_error(ec);
    return;
  }
  ++requests_;
  if (!fill_request()) return;

  if (shared_->options.authorize) {
    std::optional<Response> refusal;
    try {
      refusal = shared_->options.authorize(request_);
    } catch (...) {
      refusal = Response::error(500, "internal error: " + exception_text(std::current_exception()));
    }
    if (refusal) {  // answered once the body (up to the in-memory limit) is read, like a 404
      early_ = std::move(*refusal);
      read_in_memory(shared_->options.max_body_bytes);
      return;
    }
  }

  Router::Match match = shared_->router.find(request_.method, raw_path_, request_.params);
  if (match.route == nullptr) {
    early_ = match.allow.empty()
                 ? Response::error(404, "not found: " + request_.path)
                 : Response::error(405, "method " + request_.method + " is not allowed for " +
                                            request_.path + " (allowed: " + match.allow + ")");
    if (!match.allow.empty()) early_->headers["Allow"] = match.allow;
    read_in_memory(shared_->options.max_body_bytes);
    return;
  }
  route_ = match.route;
  head_only_ = request_.method == "HEAD" && route_->method != "HEAD";
  if (route_->kind == Router::Kind::stream) {
    start_streamed_body();
  } else {
    read_in_memory(shared_->options.max_body_bytes);
  }
}

// Copies the head into request_; false when it was refused (the refusal is under way).
template <class Stream>
bool Session<Stream>::fill_request() {
  const auto& head = parser_->get();
  version_ = head.version();
  keep_alive_ = head.keep_alive();
  request_.method = std::string(head.method_string());
  request_.target = std::string(head.target());
  request_.peer_ip = peer_ip_;
  request_.peer_port = peer_port_;
  request_.local_port = local_port_;
  request_.client_certificate = peer_certificate_;
  for (const auto& field : head) {
    auto [it, inserted] =
        request_.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  std::string_view target = request_.target;
  std::size_t question = target.find('?');
  std::string_view raw_path = target.substr(0, question);
  if (std::size_t scheme = raw_path.find("://");
      scheme != std::string_view::npos && !raw_path.empty() && raw_path[0] != '/') {
    std::size_t slash = raw_path.find('/', scheme + 3);  // absolute form: drop scheme and host
    raw_path = slash == std::string_view::npos ? std::string_view("/") : raw_path.substr(slash);
  }
  raw_path_ = raw_path;
  if (raw_path.empty() || raw_path[0] != '/') {
    reject(Response::error(400, "malformed request target '" + request_.target.substr(0, 200) +
                                    "': expected a path starting with '/'"));
    return false;
  }
  request_.path = url_decode(raw_path);
  if (question != std::string_view::npos) request_.query = parse_query(target.substr(question + 1));
  bool bad_segment = request_.path.find('\0') != std::string::npos;
  for (std::size_t start = 1; !bad_segment && start <= request_.path.size();) {
    std::size_t end = request_.path.find('/', start);
    std::string_view segment = std::string_view(request_.path).substr(start, end - start);
    bad_segment = segment == "." || segment == "..";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (bad_segment) {
    reject(Response::error(400, "path '" + request_.path.substr(0, 200) +
                                    "' holds a '.' or '..' segment or a NUL byte"));
    return false;
  }
  return true;
}

template <class Stream>
void Session<Stream>::read_in_memory(std::size_t limit) {
  body_limit_ = limit;
  if (auto length = content_length(); length && *length > limit) {
    if (early_) {
      reject(std::move(*early_));
    } else {
      reject(Response::error(413, "request body of " + std::to_string(*length) +
                                      " bytes exceeds the limit of " + std::to_string(limit) +
                                      " bytes"));
    }
    return;
  }
  if (parser_->is_done()) {
    on_request_read();
    return;
  }
  if (early_ && expects_continue()) {
    reject(std::move(*early_));  // the client holds the body back: no need to read it
    return;
  }
  continue_then(&Session::read_body_piece);
}

template <class Stream>
void Session<Stream>::read_body_piece() {
  if (filled_ == body_.size()) {
    auto length = content_length();
    // Without a length, grow up to one byte over the limit, which tells an oversized body.
    std::size_t size =
        length ? static_cast<std::size_t>(*length)
               : std::min(body_.size() + kPieceBytes, std::max(body_limit_, body_limit_ + 1));
    body_.resize(size);
  }
  auto& body = parser_->get().body();
  body.data = body_.data() + filled_;
  body.size = body_.size() - filled_;
  body.more = true;
  tcp_layer().expires_at(deadline_);
  bhttp::async_read(stream_, buffer_, *parser_, [self = shared_self()](error_code ec, std::size_t) {
    self->on_body_piece(ec);
  });
}

template <class Stream>
void Session<Stream>::on_body_piece(error_code ec) {
  if (phase_ == Phase::closed) return;
  if (ec == bhttp::error::need_buffer) ec = {};
  filled_ = body_.size() - parser_->get().body().size;
  if (ec) {
    on_read_error(ec);
    return;
  }
  if (filled_ > body_limit_) {
    reject(early_ ? std::move(*early_)
                  : Response::error(413, "request body exceeds the limit of " +
                                             std::to_string(body_limit_) + " bytes"));
    return;
  }
  if (!parser_->is_done()) {
    read_body_piece();
    return;
  }
  body_.resize(filled_);
  request_.body = std::move(body_);
  body_ = std::string();
  on_request_read();
}

template <class Stream>
void Session<Stream>::start_streamed_body() {
  body_limit_ = route_->max_body_bytes;
  if (auto length = content_length(); length && *length > body_limit_) {
    reject(Response::error(413, "request body of " + std::to_string(*length) +
                                    " bytes exceeds the limit of " + std::to_string(body_limit_) +
                                    " bytes"));
    return;
  }
  std::optional<Result<std::unique_ptr<BodySink>>> made;
  try {
    made.emplace(route_->sink_factory(request_));
  } catch (...) {
    reject(Response::error(500, "internal error: " + exception_text(std::current_exception())));
    return;
  }
  if (!made->ok()) {
    reject(error_response(made->error()));
    return;
  }
  sink_ = std::move(made->value());
  if (!sink_) {
    reject(Response::error(500, "internal error: no body sink for " + request_.path));
    return;
  }
  if (parser_->is_done()) {
    finish_streamed_body();
    return;
  }
  continue_then(&Session::read_stream_piece);
}

template <class Stream>
void Session<Stream>::read_stream_piece() {
  if (!piece_) piece_ = std::make_unique<char[]>(kPieceBytes);
  auto& body = parser_->get().body();
  body.data = piece_.get();
  body.size = kPieceBytes;
  body.more = true;
  // A streamed body may take long; each piece must arrive within the read timeout.
  tcp_layer().expires_after(shared_->options.read_timeout);
  bhttp::async_read(stream_, buffer_, *parser_, [self = shared_self()](error_code ec, std::size_t) {
    self->on_stream_piece(ec);
  });
}

template <class Stream>
void Session<Stream>::on_stream_piece(error_code ec) {
  if (phase_ == Phase::closed) return;
  if (ec == bhttp::error::need_buffer) ec = {};
  std::size_t got = kPieceBytes - parser_->get().body().size;
  if (ec) {
    on_read_error(ec);
    return;
  }
  received_ += got;
  if (received_ > body_limit_) {
    reject(Response::error(
        413, "request body exceeds the limit of " + std::to_string(body_limit_) + " bytes"));
    return;
  }
  if (got > 0) {
    std::optional<Status> written;
    try {
      written.emplace(sink_->write(std::string_view(piece_.get(), got)));
    } catch (...) {
      reject(Response::error(500, "internal error: " + exception_text(std::current_exception())));
      return;
    }
    if (!written->ok()) {
      reject(error_response(written->error()));
      return;
    }
  }
  if (parser_->is_done()) {
    finish_streamed_body();
  } else {
    read_stream_piece();
  }
}

template <class Stream>
void Session<Stream>::finish_streamed_body() {
  std::optional<Response> response;
  try {
    response.emplace(sink_->finish());
  } catch (...) {
    response.emplace(
        Response::error(500, "internal error: " + exception_text(std::current_exception())));
  }
  sink_.reset();
  respond_now(std::move(*response));
}

// Answers `Expect: 100-continue` before reading the body, as curl and other clients wait for it.
// Read from the head rather than through the parser's boost::optional, which makes GCC 12 warn
// (maybe-uninitialized) under the sanitizers. Beast already refused malformed values.
template <class Stream>
std::optional<std::uint64_t> Session<Stream>::content_length() const {
  if (parser_->chunked()) return std::nullopt;
  const auto& head = parser_->get();
  auto field = head.find(bhttp::field::content_length);
  if (field == head.end()) return std::nullopt;
  auto value = text::parse_integer(text::trim(field->value()));
  if (!value || *value < 0) return std::nullopt;
  return static_cast<std::uint64_t>(*value);
}

template <class Stream>
bool Session<Stream>::expects_continue() const {
  auto expect = request_.header("Expect");
  return version_ >= 11 && expect && iequals(*expect, "100-continue");
}

template <class Stream>
void Session<Stream>::continue_then(Step next) {
  if (!expects_continue()) {
    (this->*next)();
    return;
  }
  tcp_layer().expires_after(shared_->options.write_timeout);
  net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                   [self = shared_self(), next](error_code ec, std::size_t) {
                     if (self->phase_ == Phase::closed) return;
                     if (ec) {
                       self->close_now();
                       return;
                     }
                     ((*self).*next)();
                   });
}

template <class Stream>
void Session<Stream>::on_request_read() {
  if (early_) {
    respond_now(std::move(*early_));
    return;
  }
  if (route_->kind == Router::Kind::plain) {
    std::optional<Response> response;
    try {
      response.emplace(route_->handler(request_));
    } catch (...) {
      response.emplace(
          Response::error(500, "internal error: " + exception_text(std::current_exception())));
    }
    respond_now(std::move(*response));
    return;
  }
  phase_ = Phase::waiting;
  auto responder = std::make_shared<SessionResponder>(weak_from_this(), generation_);
  responder_ = responder;
  start_watch();
  try {
    route_->async_handler(request_, responder);
  } catch (...) {
    responder->send(
        Response::error(500, "internal error: " + exception_text(std::current_exception())));
  }
}

template <class Stream>
void Session<Stream>::on_read_error(error_code ec) {
  if (ec == bhttp::error::header_limit) {
    reject(Response::error(431, "request header exceeds the limit of " +
                                    std::to_string(shared_->options.max_header_bytes) + " bytes"));
  } else if (ec == bhttp::error::body_limit) {
    reject(Response::error(
        413, "request body exceeds the limit of " + std::to_string(body_limit_) + " bytes"));
  } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
             ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    reject(Response::error(400, "malformed request: " + ec.message()));
  } else {
    close_now();  // the client went away or timed out
  }
}

//--------------------------------------------------------------------------------------------
template <class Stream>
std::string Session<Stream>::connection_header() {
  if (close_after_ || !keep_alive_ || shared_->stopped) {
    close_after_ = true;
    return "Connection: close\r\n";
  }
  return version_ == 10 ? "Connection: keep-alive\r\n" : "";
}

// Refuses the request before its end: the answer, then the connection is closed.
template <class Stream>
void Session<Stream>::reject(Response response) {
  sink_.reset();
  close_after_ = true;
  linger_ = true;
  respond_now(std::move(response));
}

template <class Stream>
void Session<Stream>::respond_now(Response response) {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::responding;
  int status = response.status;
  bool no_body = status < 200 || status == 204 || status == 304;
  Outgoing out;
  out.head = status_and_headers(version_, status, response.headers);
  if (!no_body) {
    out.head += "Content-Length: ";
    out.head += std::to_string(response.payload().size());
    out.head += "\r\n";
  }
  out.head += connection_header();
  out.head += "\r\n";
  if (!no_body && !head_only_) {
    out.body = std::move(response.body);
    out.shared = std::move(response.shared_body);
    if (out.shared) out.body.clear();
  }
  out.last = true;
  enqueue(std::move(out));
}

template <class Stream>
void Session<Stream>::respond(std::uint64_t generation, Response response) {
  if (generation != generation_ || phase_ != Phase::waiting) return;
  respond_now(std::move(response));
}

template <class Stream>
void Session<Stream>::begin_stream(std::uint64_t generation, int status, const Headers& headers) {
  if (generation != generation_ || phase_ != Phase::waiting) return;
  phase_ = Phase::streaming;
  chunked_ = version_ >= 11;
  if (!chunked_) close_after_ = true;  // HTTP/1.0: the end of the stream is the end of the body
  Outgoing out;
  out.head = status_and_headers(version_, status, headers);
  if (chunked_) out.head += "Transfer-Encoding: chunked\r\n";
  out.head += connection_header();
  out.head += "\r\n";
  enqueue(std::move(out));
}

template <class Stream>
void Session<Stream>::write_chunk(std::uint64_t generation, std::string chunk) {
  if (generation != generation_ || phase_ != Phase::streaming || chunk.empty()) return;
  Outgoing out;
  if (chunked_) {
    out.head = hex(chunk.size()) + "\r\n";
    out.crlf = true;
  }
  out.body = std::move(chunk);
  enqueue(std::move(out));
}

template <class Stream>
void Session<Stream>::end_stream(std::uint64_t generation) {
  if (generation != generation_ || phase_ != Phase::streaming) return;
  phase_ = Phase::responding;
  Outgoing out;
  if (chunked_) out.head = "0\r\n\r\n";
  out.last = true;
  enqueue(std::move(out));
}

template <class Stream>
void Session<Stream>::abandoned(std::uint64_t generation, bool began) {
  if (generation != generation_) return;
  if (phase_ == Phase::waiting && !began) {
    respond_now(Response::error(500, "internal error: the request was dropped without an answer"));
  } else if (phase_ == Phase::streaming) {
    end_stream(generation);
  }
}

template <class Stream>
void Session<Stream>::enqueue(Outgoing out) {
  if (phase_ == Phase::closed) return;
  queued_bytes_ += out.size();
  queue_.push_back(std::move(out));
  if (queued_bytes_ > kMaxQueuedBytes && phase_ == Phase::streaming) {
    close_now();  // the client reads slower than the stream is written
    return;
  }
  do_write();
}

template <class Stream>
void Session<Stream>::do_write() {
  if (writing_ || queue_.empty() || phase_ == Phase::closed) return;
  buffers_.clear();
  std::size_t count = 0;
  for (const Outgoing& out : queue_) {
    if (count == kMaxGather) break;
    ++count;
    if (!out.head.empty()) buffers_.emplace_back(out.head.data(), out.head.size());
    if (out.shared && !out.shared->empty()) {
      buffers_.emplace_back(out.shared->data(), out.shared->size());
    } else if (!out.body.empty()) {
      buffers_.emplace_back(out.body.data(), out.body.size());
    }
    if (out.crlf) buffers_.emplace_back("\r\n", 2);
    if (out.last) break;
  }
  writing_ = true;
  tcp_layer().expires_after(shared_->options.write_timeout);
  net::async_write(stream_, buffers_, [self = shared_self(), count](error_code ec, std::size_t) {
    self->on_write(ec, count);
  });
}

template <class Stream>
void Session<Stream>::on_write(error_code ec, std::size_t count) {
  writing_ = false;
  if (phase_ == Phase::closed) return;
  if (ec) {
    close_now();
    return;
  }
  bool completed = false;
  for (std::size_t i = 0; i < count; ++i) {
    completed = completed || queue_.front().last;
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
  }
  if (completed) {
    after_response();
    return;
  }
  do_write();
}

template <class Stream>
void Session<Stream>::after_response() {
  responder_.reset();
  stop_watch();
  if (close_after_ || shared_->stopped) {
    graceful_close();
    return;
  }
  read_request();
}

// Half-closes, then reads what the client still sends for a moment: closing with unread data
// would make the kernel send a reset that can destroy our answer before the client reads it.
template <class Stream>
void Session<Stream>::graceful_close() {
  if constexpr (kTls) {
    // close_notify, then wait a moment for the client's (or anything else it still sends).
    phase_ = Phase::lingering;
    tcp_layer().expires_after(kLingerTime);
    stream_.async_shutdown([self = shared_self()](error_code) { self->close_now(); });
    return;
  }
  error_code ignored;
  tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (!linger_ || shared_->stopped) {
    close_now();
    return;
  }
  phase_ = Phase::lingering;
  tcp_layer().expires_after(kLingerTime);
  drain();
}

template <class Stream>
void Session<Stream>::drain() {
  buffer_.consume(buffer_.size());
  stream_.async_read_some(buffer_.prepare(kPieceBytes),
                          [self = shared_self()](error_code ec, std::size_t bytes) {
                            if (self->phase_ != Phase::lingering) return;
                            if (ec) {
                              self->close_now();
                              return;
                            }
                            self->buffer_.commit(bytes);
                            self->drain();
                          });
}

template <class Stream>
void Session<Stream>::close_now() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  watching_ = false;
  ++watch_generation_;
  error_code ignored;
  tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp_layer().close();
  sink_.reset();
  notify_responder();
}

template <class Stream>
void Session<Stream>::notify_responder() {
  if (auto responder = responder_.lock()) responder->connection_closed();
  responder_.reset();
}

// While a responder is pending nothing is read, so a disconnect would go unnoticed; waiting for
// readability (without reading) sees the end of the stream.
template <class Stream>
void Session<Stream>::start_watch() {
  if (watching_ || phase_ == Phase::closed) return;
  watching_ = true;
  tcp_layer().socket().async_wait(tcp::socket::wait_read,
                                  [self = shared_self(), generation = watch_generation_](
                                      error_code ec) { self->on_watch(ec, generation); });
}

template <class Stream>
void Session<Stream>::on_watch(error_code ec, std::uint64_t generation) {
  if (generation != watch_generation_ || phase_ == Phase::closed) return;
  watching_ = false;
  if (ec) {
    close_now();
    return;
  }
  char byte = 0;
  ssize_t n = ::recv(tcp_layer().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    close_now();  // end of stream: the client went away
  } else if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      start_watch();
    } else {
      close_now();
    }
  }
  // n > 0: the client sent more (a pipelined request); it is there, stop watching.
}

template <class Stream>
void Session<Stream>::stop_watch() {
  if (!watching_) return;
  watching_ = false;
  ++watch_generation_;
  error_code ignored;
  tcp_layer().socket().cancel(ignored);
}

//--------------------------------------------------------------------------------------------
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& io, std::shared_ptr<Shared> shared)
      : io_(io),
        acceptor_(net::make_strand(io)),
        retry_(acceptor_.get_executor()),
        shared_(std::move(shared)) {}

  Result<unsigned short> open(const tcp::endpoint& endpoint, const std::string& where) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return make_error(Errc::unavailable, "cannot listen on " + where + ": " + ec.message());
    auto local = acceptor_.local_endpoint(ec);
    if (ec) return make_error(Errc::unavailable, "cannot listen on " + where + ": " + ec.message());
    return local.port();
  }

  net::any_io_executor executor() { return acceptor_.get_executor(); }

  void accept() {
    if (shared_->stopped) return;
    acceptor_.async_accept(net::make_strand(io_),
                           [self = shared_from_this()](error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void close() {
    error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void on_accept(error_code ec, tcp::socket socket) {
    if (shared_->stopped || !acceptor_.is_open() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or similar: try again shortly instead of spinning.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = shared_from_this()](error_code wait_ec) {
        if (!wait_ec) self->accept();
      });
      return;
    }
    ++shared_->accepted;
    if (shared_->open >= shared_->options.max_connections) {
      refuse(std::move(socket));
    } else {
      std::shared_ptr<Connection> session;
      if (shared_->tls) {
        session = std::make_shared<Session<TlsStream>>(shared_, std::move(socket), *shared_->tls);
      } else {
        session = std::make_shared<Session<PlainStream>>(shared_, std::move(socket));
      }
      if (shared_->remember(session)) {
        net::post(session->executor(), [session] { session->start(); });
      }
    }
    accept();
  }

  // Over the connection limit: a best-effort 503 without reading the request.
  void refuse(tcp::socket socket) {
    std::string body = "{\"error\":\"too many connections (limit " +
                       std::to_string(shared_->options.max_connections) + ")\"}";
    std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    error_code ignored;
    socket.non_blocking(true, ignored);
    if (!shared_->tls) socket.write_some(net::buffer(answer), ignored);  // TLS: just close
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  std::shared_ptr<Shared> shared_;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(std::shared_ptr<Shared> shared, std::shared_ptr<Listener> listener,
             unsigned short port)
      : shared_(std::move(shared)), listener_(std::move(listener)), port_(port) {}
  ~ServerImpl() override { stop(); }
  ServerImpl(const ServerImpl&) = delete;
  ServerImpl& operator=(const ServerImpl&) = delete;

  unsigned short port() const override { return port_; }

  void stop() override {
    if (shared_->stopped.exchange(true)) return;
    net::post(listener_->executor(), [listener = listener_] { listener->close(); });
    for (auto& session : shared_->snapshot()) {
      net::post(session->executor(), [session] { session->close_now(); });
    }
  }

  std::size_t connections_open() const override { return shared_->open; }
  std::uint64_t connections_accepted() const override { return shared_->accepted; }

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Listener> listener_;
  unsigned short port_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(boost::asio::io_context& io, ServerOptions options,
                                              Router router) {
  std::string where = options.address + ":" + std::to_string(options.port);
  error_code ec;
  auto address = net::ip::make_address(options.address, ec);
  if (ec) {
    return make_error(Errc::invalid, "cannot listen on " + where + ": not an IP address");
  }
  tcp::endpoint endpoint(address, options.port);
  std::shared_ptr<TlsContext> tls;
  if (options.tls.enabled()) {
    BATON_ASSIGN_OR_RETURN(tls, make_server_context(options.tls));
  }
  auto shared = std::make_shared<Shared>(std::move(options), std::move(router), std::move(tls));
  auto listener = std::make_shared<Listener>(io, shared);
  BATON_ASSIGN_OR_RETURN(unsigned short port, listener->open(endpoint, where));
  net::post(listener->executor(), [listener] { listener->accept(); });
  return std::unique_ptr<Server>(std::make_unique<ServerImpl>(shared, listener, port));
}

}  // namespace baton::http
