#include "tests/docker/fake_engine.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace baton::docker_testing {

using nlohmann::json;

namespace {

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    default:
      return status >= 500 ? "Internal Server Error" : "Bad Request";
  }
}

std::string response(int status, const std::string& body) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  if (status == 204 || status == 304) return head + "\r\n";
  return head + "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string chunked_head(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
         "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string message(const std::string& text) {
  return json{{"message", text}}.dump();
}

std::string url_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

// Reads from `fd` into `buffer` until `buffer` holds `size` bytes; false when the peer is gone.
bool fill(int fd, std::string& buffer, std::size_t size) {
  char chunk_buffer[65536];
  while (buffer.size() < size) {
    ssize_t n = ::recv(fd, chunk_buffer, sizeof chunk_buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk_buffer, static_cast<std::size_t>(n));
  }
  return true;
}

bool fill_until(int fd, std::string& buffer, std::string_view marker, std::size_t from = 0) {
  char chunk_buffer[65536];
  while (buffer.find(marker, from) == std::string::npos) {
    ssize_t n = ::recv(fd, chunk_buffer, sizeof chunk_buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk_buffer, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

FakeEngine::FakeEngine(std::filesystem::path socket) : socket_(std::move(socket)) {
  start();
}

FakeEngine::~FakeEngine() {
  stop();
}

void FakeEngine::start() {
  std::lock_guard lock(mutex_);
  if (listener_ >= 0) return;
  std::error_code error;
  std::filesystem::remove(socket_, error);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_.c_str(), sizeof address.sun_path - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 64) != 0) {
    ::close(fd);
    throw std::runtime_error("fake engine: cannot listen on " + socket_.string());
  }
  listener_ = fd;
  stopping_ = false;
  acceptor_ = std::thread([this, fd] { accept_loop(fd); });
}

void FakeEngine::stop(bool forget_containers) {
  std::vector<std::thread> servers;
  std::thread acceptor;
  {
    std::lock_guard lock(mutex_);
    if (listener_ < 0) return;
    stopping_ = true;
    ++generation_;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    listener_ = -1;
    for (int fd : connections_)
      ::shutdown(fd, SHUT_RDWR);
    if (forget_containers) containers_.clear();
    changed_.notify_all();
    acceptor = std::move(acceptor_);
  }
  acceptor.join();
  {
    std::lock_guard lock(mutex_);
    servers = std::move(servers_);
    servers_.clear();
  }
  for (auto& thread : servers)
    thread.join();
  std::error_code error;
  std::filesystem::remove(socket_, error);
}

void FakeEngine::accept_loop(int listener) {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connections_.insert(fd);
    servers_.emplace_back([this, fd, generation = generation_] { serve(fd, generation); });
  }
}

void FakeEngine::set_default_logs(std::string frames) {
  std::lock_guard lock(mutex_);
  default_logs_ = std::move(frames);
}

void FakeEngine::remove_image(const std::string& reference) {
  std::lock_guard lock(mutex_);
  auto it = images_.find(reference);
  if (it == images_.end()) return;
  std::string id = it->second;
  for (auto at = images_.begin(); at != images_.end();) {
    at = at->second == id && !at->first.starts_with("labels:") ? images_.erase(at) : std::next(at);
  }
}

bool FakeEngine::has_image(const std::string& reference) {
  std::lock_guard lock(mutex_);
  return images_.count(reference) != 0;
}

void FakeEngine::set_hook(Hook hook) {
  std::lock_guard lock(mutex_);
  hook_ = std::move(hook);
}

void FakeEngine::add_image(const std::string& reference, const std::string& id) {
  std::lock_guard lock(mutex_);
  images_[reference] = id;
  images_[id] = id;
}

std::string FakeEngine::add_container(FakeContainer container) {
  std::lock_guard lock(mutex_);
  if (container.id.empty()) container.id = "c" + std::to_string(next_id_++) + std::string(40, '0');
  std::string id = container.id;
  containers_[id] = std::move(container);
  changed_.notify_all();
  return id;
}

FakeContainer* FakeEngine::find_locked(const std::string& id_or_name) {
  auto it = containers_.find(id_or_name);
  if (it != containers_.end()) return &it->second;
  for (auto& [id, container] : containers_) {
    if (container.name == id_or_name) return &container;
  }
  return nullptr;
}

void FakeEngine::exit_container(const std::string& id_or_name, int code) {
  std::lock_guard lock(mutex_);
  if (FakeContainer* container = find_locked(id_or_name)) {
    container->state = "exited";
    container->exit_code = code;
    changed_.notify_all();
  }
}

void FakeEngine::remove_container(const std::string& id_or_name) {
  std::lock_guard lock(mutex_);
  if (FakeContainer* container = find_locked(id_or_name)) {
    containers_.erase(container->id);
    changed_.notify_all();
  }
}

std::optional<FakeContainer> FakeEngine::container(const std::string& id_or_name) {
  std::lock_guard lock(mutex_);
  if (FakeContainer* container = find_locked(id_or_name)) return *container;
  return std::nullopt;
}

std::size_t FakeEngine::container_count() {
  std::lock_guard lock(mutex_);
  return containers_.size();
}

std::vector<std::string> FakeEngine::requests() {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t FakeEngine::count(const std::string& method_and_path) {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& request : requests_)
    n += request == method_and_path ? 1 : 0;
  return n;
}

void FakeEngine::serve(int fd, int generation) {
  std::string buffer;
  for (;;) {
    if (!fill_until(fd, buffer, "\r\n\r\n")) break;
    std::size_t head_end = buffer.find("\r\n\r\n");
    std::string head = buffer.substr(0, head_end);
    buffer.erase(0, head_end + 4);
    FakeRequest request;
    std::size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    std::size_t space = line.find(' ');
    request.method = line.substr(0, space);
    std::string target = line.substr(space + 1, line.rfind(' ') - space - 1);
    std::string query;
    if (auto mark = target.find('?'); mark != std::string::npos) {
      query = target.substr(mark + 1);
      target.resize(mark);
    }
    if (target.starts_with("/v1.41")) target.erase(0, 6);
    request.path = url_decode(target);
    for (std::size_t at = 0; at < query.size();) {
      std::size_t amp = query.find('&', at);
      std::string pair = query.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
      std::size_t eq = pair.find('=');
      request.query[url_decode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
      if (amp == std::string::npos) break;
      at = amp + 1;
    }
    std::string lower;
    for (char c : head)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = true;
    if (auto at = lower.find("content-length:"); at != std::string::npos) {
      std::size_t length = std::stoul(lower.substr(at + 15));
      ok = fill(fd, buffer, length);
      if (ok) {
        request.body = buffer.substr(0, length);
        buffer.erase(0, length);
      }
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        if (!(ok = fill_until(fd, buffer, "\r\n"))) break;
        std::size_t size_end = buffer.find("\r\n");
        std::size_t size = std::stoul(buffer.substr(0, size_end), nullptr, 16);
        buffer.erase(0, size_end + 2);
        if (!(ok = fill(fd, buffer, size + 2))) break;
        request.body.append(buffer, 0, size);
        buffer.erase(0, size + 2);
        if (size == 0) break;
      }
    }
    if (!ok) break;
    bool keep_open = true;
    answer(fd, request, keep_open, generation);
    if (!keep_open) break;
  }
  std::lock_guard lock(mutex_);
  connections_.erase(fd);
  ::close(fd);
}

void FakeEngine::answer(int fd, const FakeRequest& request, bool& keep_open, int generation) {
  auto send = [&](const std::string& data) { return write_all(fd, data); };
  Hook hook;
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(request.method + " " + request.path);
    hook = hook_;
  }
  if (hook) {
    Exchange exchange{request, send, false};
    if (hook(exchange)) {
      if (exchange.drop) keep_open = false;
      return;
    }
  }
  const std::string& path = request.path;
  const std::string& method = request.method;
  std::unique_lock lock(mutex_);
  if (generation != generation_) {  // accepted before the daemon "died"
    keep_open = false;
    return;
  }
  auto segments = [&] {
    std::vector<std::string> out;
    std::size_t at = 1;
    while (at <= path.size()) {
      std::size_t slash = path.find('/', at);
      out.push_back(path.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
      if (slash == std::string::npos) break;
      at = slash + 1;
    }
    return out;
  }();

  if (path == "/_ping") {
    send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
    return;
  }
  if (path == "/version") {
    send(response(200, R"({"Version":"20.10.99-fake","ApiVersion":"1.41"})"));
    return;
  }
  if (path == "/networks/bridge") {
    send(response(
        200,
        R"({"Name":"bridge","IPAM":{"Config":[{"Subnet":"172.30.0.0/16","Gateway":"172.30.0.1"}]}})"));
    return;
  }
  if (path == "/events") {
    send(chunked_head(200));
    changed_.wait(lock, [&] { return generation_ != generation; });
    keep_open = false;
    return;
  }
  if (path == "/build" && method == "POST") {
    const std::string id = "sha256:" + std::string(60, 'b') + std::to_string(next_id_++);
    images_[request.query.at("t")] = id;
    images_[id] = id;
    images_["labels:" + id] = request.query.count("labels") ? request.query.at("labels") : "{}";
    std::string body = chunk(R"({"stream":"Step 1/1 : FROM scratch\n"})"
                             "\n") +
                       chunk(json{{"aux", {{"ID", id}}}}.dump() + "\n") +
                       chunk(R"({"stream":"Successfully built\n"})"
                             "\n") +
                       "0\r\n\r\n";
    send(chunked_head(200) + body);
    return;
  }
  if (segments.size() >= 2 && segments[0] == "images" && path.ends_with("/json") &&
      method == "GET") {
    std::string reference = path.substr(8, path.size() - 8 - 5);
    auto it = images_.find(reference);
    if (it == images_.end()) {
      send(response(404, message("No such image: " + reference)));
      return;
    }
    json labels = json::parse(images_["labels:" + it->second], nullptr, false);
    if (!labels.is_object()) labels = json::object();
    send(response(200, json{{"Id", it->second}, {"Config", {{"Labels", labels}}}}.dump()));
    return;
  }
  if (path == "/images/json") {
    json list = json::array();
    std::map<std::string, std::vector<std::string>> tags;
    for (const auto& [reference, id] : images_) {
      if (reference != id && !reference.starts_with("labels:")) tags[id].push_back(reference);
    }
    for (const auto& [id, references] : tags)
      list.push_back({{"Id", id}, {"RepoTags", references}});
    send(response(200, list.dump()));
    return;
  }
  if (segments.size() >= 2 && segments[0] == "images" && method == "DELETE") {
    std::string reference = path.substr(8);
    if (images_.erase(reference) == 0) {
      send(response(404, message("No such image: " + reference)));
      return;
    }
    send(response(200, json::array({{{"Untagged", reference}}}).dump()));
    return;
  }
  if (path == "/containers/create" && method == "POST") {
    json body = json::parse(request.body, nullptr, false);
    const std::string name = request.query.count("name") ? request.query.at("name") : "";
    if (!name.empty() && find_locked(name) != nullptr) {
      send(response(
          409, message("Conflict. The container name \"/" + name +
                       "\" is already in use by container \"" + find_locked(name)->id + "\".")));
      return;
    }
    const std::string image = body.value("Image", "");
    if (images_.count(image) == 0) {
      send(response(404, message("No such image: " + image)));
      return;
    }
    FakeContainer container;
    container.id = "c" + std::to_string(next_id_++) + std::string(40, 'a');
    container.name = name;
    container.image = image;
    container.logs = default_logs_;
    if (body.contains("Labels")) {
      for (const auto& [key, value] : body["Labels"].items())
        container.labels[key] = value;
    }
    const std::string id = container.id;
    containers_[id] = std::move(container);
    send(response(201, json{{"Id", id}, {"Warnings", json::array()}}.dump()));
    return;
  }
  if (path == "/containers/json") {
    std::string wanted;
    json filters = json::parse(request.query.count("filters") ? request.query.at("filters") : "{}",
                               nullptr, false);
    if (filters.is_object() && filters.contains("label") && !filters["label"].empty()) {
      wanted = filters["label"][0];
    }
    json list = json::array();
    for (const auto& [id, container] : containers_) {
      bool match = wanted.empty();
      for (const auto& [key, value] : container.labels)
        match |= key + "=" + value == wanted;
      if (!match) continue;
      list.push_back({{"Id", id},
                      {"Names", {"/" + container.name}},
                      {"State", container.state},
                      {"Labels", container.labels}});
    }
    send(response(200, list.dump()));
    return;
  }
  if (segments.size() >= 2 && segments[0] == "containers") {
    FakeContainer* container = find_locked(segments[1]);
    if (container == nullptr) {
      send(response(404, message("No such container: " + segments[1])));
      return;
    }
    const std::string id = container->id;
    const std::string action = segments.size() >= 3 ? segments[2] : "";
    if (action.empty() && method == "DELETE") {
      containers_.erase(id);
      changed_.notify_all();
      send(response(204, ""));
      return;
    }
    if (action == "json") {
      json state = {{"Running", container->state == "running"},
                    {"Status", container->state},
                    {"ExitCode", container->exit_code},
                    {"OOMKilled", false},
                    {"Pid", container->state == "running" ? 4242 : 0}};
      send(response(200, json{{"Id", id},
                              {"Name", "/" + container->name},
                              {"State", state},
                              {"Config", {{"Labels", container->labels}}}}
                             .dump()));
      return;
    }
    if (action == "start") {
      container->state = "running";
      changed_.notify_all();
      send(response(204, ""));
      return;
    }
    if (action == "stop" || action == "kill") {
      if (container->state != "running") {
        send(response(action == "kill" ? 409 : 304, message("not running")));
        return;
      }
      int signal = action == "kill" && request.query.count("signal")
                       ? std::stoi(request.query.at("signal"))
                       : 15;
      container->state = "exited";
      container->exit_code = 128 + signal;
      changed_.notify_all();
      send(response(204, ""));
      return;
    }
    if (action == "wait") {
      const bool next_exit =
          request.query.count("condition") && request.query.at("condition") == "next-exit";
      send(chunked_head(200));
      changed_.wait(lock, [&] {
        FakeContainer* now = find_locked(id);
        if (generation_ != generation || now == nullptr) return true;
        return next_exit ? now->state == "exited" : now->state != "running";
      });
      if (generation_ != generation) {
        keep_open = false;  // the daemon "died": drop the connection mid-answer
        return;
      }
      FakeContainer* now = find_locked(id);
      int code = now == nullptr ? 137 : now->exit_code;
      send(chunk(json{{"StatusCode", code}}.dump() + "\n") + "0\r\n\r\n");
      return;
    }
    if (action == "logs") {
      send(chunked_head(200));
      if (!container->logs.empty()) send(chunk(container->logs));
      if (request.query.count("follow") && request.query.at("follow") == "1") {
        changed_.wait(lock, [&] {
          FakeContainer* now = find_locked(id);
          return generation_ != generation || now == nullptr || now->state != "running";
        });
        if (generation_ != generation) {
          keep_open = false;
          return;
        }
      }
      send("0\r\n\r\n");
      return;
    }
    if (action == "stats") {
      send(response(200, R"({"cpu_stats":{"cpu_usage":{"total_usage":2500000000}},)"
                         R"("memory_stats":{"usage":1000000,"stats":{"inactive_file":200000}}})"));
      return;
    }
  }
  send(response(404, message("page not found: " + method + " " + path)));
}

}  // namespace baton::docker_testing
