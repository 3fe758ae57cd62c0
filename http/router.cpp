// The router and the small server helpers that need no Beast (kept out of server.cpp so that
// changing a route rule does not recompile the Beast translation unit).

#include <set>
#include <stdexcept>

#include "http/server.hpp"

namespace baton::http {

// A trie of pattern segments, built once; a lookup walks it without allocating per route.
struct Router::Node {
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
  std::unique_ptr<Node> capture;
  std::vector<std::unique_ptr<Route>> routes;       // patterns that end here
  std::vector<std::unique_ptr<Route>> rest_routes;  // patterns whose `{name...}` starts here
};

namespace {

using Route = Router::Route;

struct Lookup {
  std::string_view method;
  const std::vector<std::string>& segments;
  std::vector<std::string> captures;
  std::set<std::string, std::less<>> allowed;
};

template <class NodeT>
const Route* walk(const NodeT& node, std::size_t index, Lookup& lookup) {
  if (index == lookup.segments.size()) {
    for (const auto& route : node.routes) {
      if (route->method == lookup.method) return route.get();
      lookup.allowed.insert(route->method);
    }
  } else {
    const std::string& segment = lookup.segments[index];
    for (const auto& [literal, child] : node.literals) {
      if (literal != segment) continue;
      if (const Route* found = walk(*child, index + 1, lookup)) return found;
      break;
    }
    if (node.capture && !segment.empty()) {
      lookup.captures.push_back(segment);
      if (const Route* found = walk(*node.capture, index + 1, lookup)) return found;
      lookup.captures.pop_back();
    }
  }
  for (const auto& route : node.rest_routes) {
    if (route->method != lookup.method) {
      lookup.allowed.insert(route->method);
      continue;
    }
    std::string rest;
    for (std::size_t i = index; i < lookup.segments.size(); ++i) {
      if (i > index) rest += '/';
      rest += lookup.segments[i];
    }
    lookup.captures.push_back(std::move(rest));
    return route.get();
  }
  return nullptr;
}

[[noreturn]] void bad_pattern(const std::string& pattern, const std::string& why) {
  throw std::logic_error("route pattern '" + pattern + "': " + why);
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.kind = Kind::plain;
  route.handler = std::move(handler);
  insert(std::move(route));
}

void Router::add_async(std::string method, std::string pattern, AsyncHandler handler) {
  Route route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.kind = Kind::async;
  route.async_handler = std::move(handler);
  insert(std::move(route));
}

void Router::add_stream(std::string method, std::string pattern, SinkFactory factory,
                        std::size_t max_body_bytes) {
  Route route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.kind = Kind::stream;
  route.sink_factory = std::move(factory);
  route.max_body_bytes = max_body_bytes;
  insert(std::move(route));
}

void Router::insert(Route route) {
  const std::string& pattern = route.pattern;
  if (route.method.empty()) bad_pattern(pattern, "no method");
  if (pattern.empty() || pattern[0] != '/') bad_pattern(pattern, "must start with '/'");
  Node* node = root_.get();
  bool rest = false;
  if (pattern != "/") {
    std::string_view remaining = std::string_view(pattern).substr(1);
    for (;;) {
      std::size_t slash = remaining.find('/');
      std::string_view segment = remaining.substr(0, slash);
      if (segment.empty()) bad_pattern(pattern, "empty segment");
      if (rest) bad_pattern(pattern, "a rest capture must be the last segment");
      if (segment.front() == '{') {
        if (segment.back() != '}' || segment.size() < 3) bad_pattern(pattern, "unclosed capture");
        std::string_view name = segment.substr(1, segment.size() - 2);
        if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
          rest = true;
          route.capture_names.emplace_back(name.substr(0, name.size() - 3));
        } else {
          route.capture_names.emplace_back(name);
          if (!node->capture) node->capture = std::make_unique<Node>();
          node = node->capture.get();
        }
      } else {
        if (segment.find_first_of("{}") != std::string_view::npos) {
          bad_pattern(pattern, "braces inside a segment");
        }
        Node* child = nullptr;
        for (auto& [literal, next] : node->literals) {
          if (literal == segment) child = next.get();
        }
        if (child == nullptr) {
          node->literals.emplace_back(std::string(segment), std::make_unique<Node>());
          child = node->literals.back().second.get();
        }
        node = child;
      }
      if (slash == std::string_view::npos) break;
      remaining = remaining.substr(slash + 1);
    }
  }
  auto& list = rest ? node->rest_routes : node->routes;
  for (const auto& existing : list) {
    if (existing->method == route.method) {
      bad_pattern(pattern,
                  "duplicate route for " + route.method + " (same as '" + existing->pattern + "')");
    }
  }
  list.push_back(std::make_unique<Route>(std::move(route)));
}

Router::Match Router::find(std::string_view method, std::string_view raw_path,
                           std::map<std::string, std::string>& params) const {
  Match match;
  if (raw_path.empty() || raw_path[0] != '/') return match;
  std::vector<std::string> segments;
  if (raw_path.size() > 1) {
    std::string_view remaining = raw_path.substr(1);
    for (;;) {
      std::size_t slash = remaining.find('/');
      std::string_view segment = remaining.substr(0, slash);
      segments.push_back(segment.find('%') == std::string_view::npos ? std::string(segment)
                                                                     : url_decode(segment));
      if (slash == std::string_view::npos) break;
      remaining = remaining.substr(slash + 1);
    }
  }
  Lookup lookup{method, segments, {}, {}};
  const Route* route = walk(*root_, 0, lookup);
  if (route == nullptr && method == "HEAD") {
    Lookup get{"GET", segments, {}, {}};
    const Route* get_route = walk(*root_, 0, get);
    if (get_route != nullptr && get_route->kind == Kind::plain) {
      route = get_route;
      lookup.captures = std::move(get.captures);
    }
  }
  if (route == nullptr) {
    for (const auto& allowed : lookup.allowed) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += allowed;
    }
    return match;
  }
  match.route = route;
  for (std::size_t i = 0; i < route->capture_names.size() && i < lookup.captures.size(); ++i) {
    params[route->capture_names[i]] = std::move(lookup.captures[i]);
  }
  return match;
}

std::string sse_event(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(name.size() + data.size() + 16);
  if (!name.empty()) {
    out += "event: ";
    for (char c : name) {
      if (c != '\r' && c != '\n') out += c;
    }
    out += '\n';
  }
  for (;;) {
    std::size_t newline = data.find('\n');
    std::string_view line = data.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += "data: ";
    out += line;
    out += '\n';
    if (newline == std::string_view::npos) break;
    data = data.substr(newline + 1);
  }
  out += '\n';
  return out;
}

}  // namespace baton::http
