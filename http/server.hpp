#pragma once
// An HTTP/1.1 server on Boost.Beast, run on the caller's io_context (the caller decides how many
// threads run it). Handlers see plain Request/Response values; Beast stays inside server.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "http/message.hpp"
#include "http/tls.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0: the kernel picks; read it back with Server::port()
  std::size_t max_header_bytes = std::size_t{16} * 1024;  // over it: 431
  // Bodies held in memory (over it: 413); streamed routes set their own.
  std::size_t max_body_bytes = std::size_t{1} << 20;
  std::chrono::milliseconds read_timeout{30000};   // to receive one whole in-memory request, or
                                                   // each 64 KiB piece of a streamed body
  std::chrono::milliseconds idle_timeout{120000};  // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{30000};  // to send one response or one streamed piece
  std::size_t max_connections = 10000;             // over it: 503 and close
  TlsServerSettings tls;                           // HTTPS when tls.enabled()
  // Called on an IO thread with each request's head (body not read yet), before routing; an
  // answer refuses the request: it is sent instead, and no handler runs. Keep it short.
  std::function<std::optional<Response>(const Request&)> authorize;
};

// A reply that comes later or in pieces: long polls, server-sent events, log follow.
// Every method may be called from any thread, also after the connection is gone (then they do
// nothing). Dropping the last reference without completing answers 500 (or ends the stream).
class Responder {
 public:
  virtual ~Responder() = default;
  // Complete with one whole response. Only the first completion counts.
  virtual void send(Response response) = 0;
  // Start a streamed (chunked) response, then write() pieces and end() it. Each piece is sent as
  // soon as the connection can take it (no buffering until end()).
  virtual void begin_stream(int status, Headers headers) = 0;
  virtual void write(std::string chunk) = 0;  // queued, never blocks
  virtual void end() = 0;
  // True once nothing more can be sent: the client went away, the server stopped, the response
  // is complete, or the client read too slowly (over 16 MiB queued).
  virtual bool closed() const = 0;
  // Called once, on an IO thread, when the client disconnects or the server stops before the
  // response is complete; at once on the calling thread when that already happened. Never called
  // after send() or end().
  virtual void on_close(std::function<void()> callback) = 0;
};
using ResponderPtr = std::shared_ptr<Responder>;

// Receives a request body as it arrives, for uploads that must not be held in memory.
// Destroyed without finish() (client gone, limit, error), it must discard what it wrote.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // An error ends the request with the status its Errc maps to and the error's message.
  virtual Status write(std::string_view chunk) = 0;
  // The whole body has arrived.
  virtual Response finish() = 0;
};

// Handlers run on an IO thread: keep them short (hand long work to another thread with an async
// route). The Request is only valid during the call.
using Handler = std::function<Response(const Request&)>;
using AsyncHandler = std::function<void(const Request&, ResponderPtr)>;
// Called with the request head (body empty); an error refuses the request before the body.
using SinkFactory = std::function<Result<std::unique_ptr<BodySink>>(const Request&)>;

// Routes: exact segments, `{name}` captures one non-empty segment, a final `{name...}` captures
// the rest (zero or more segments, joined by '/'); captures are URL-decoded. Exact segments win
// over captures, which win over a rest capture. Method and path decide: an unknown path is 404,
// a known path with another method is 405 with `Allow`. HEAD is served by a plain GET route
// when no HEAD route exists.
class Router {
 public:
  enum class Kind { plain, async, stream };
  struct Route {
    std::string method;
    std::string pattern;
    Kind kind = Kind::plain;
    Handler handler;                         // plain
    AsyncHandler async_handler;              // async
    SinkFactory sink_factory;                // stream
    std::size_t max_body_bytes = 0;          // stream: the route's own limit
    std::vector<std::string> capture_names;  // in pattern order
  };
  struct Match {
    const Route* route = nullptr;  // null: 404 (allow empty) or 405
    std::string allow;             // for 405: the path's methods, e.g. "GET, PUT"
  };

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // A malformed pattern or a duplicate method+pattern is a bug: std::logic_error.
  void add(std::string method, std::string pattern, Handler handler);
  void add_async(std::string method, std::string pattern, AsyncHandler handler);
  void add_stream(std::string method, std::string pattern, SinkFactory factory,
                  std::size_t max_body_bytes);

  // Finds the route for a method and a raw (still %-encoded) path, filling `params` with the
  // decoded captures. Safe to call from several threads at once.
  Match find(std::string_view method, std::string_view raw_path,
             std::map<std::string, std::string>& params) const;

 private:
  void insert(Route route);
  struct Node;
  std::unique_ptr<Node> root_;
};

class Server {
 public:
  // Binds and starts accepting on `io`. Errors name the address and port, or the TLS file at
  // fault.
  static Result<std::unique_ptr<Server>> start(boost::asio::io_context& io, ServerOptions options,
                                               Router router);
  // Stops the server; destroy it before its io_context.
  virtual ~Server() = default;
  virtual unsigned short port() const = 0;
  // Stop accepting, close every connection (responders see closed()). Idempotent; any thread.
  // Afterwards the io_context runs out of work once the closing handlers ran.
  virtual void stop() = 0;
  virtual std::size_t connections_open() const = 0;
  virtual std::uint64_t connections_accepted() const = 0;
};

// One server-sent event: "event: <name>\ndata: <line>\n...\n\n" (one data line per line of
// `data`; no event line when `name` is empty).
std::string sse_event(std::string_view name, std::string_view data);

}  // namespace baton::http
