// hello-native: a small HTTP service as a native program would be written for Baton (or
// ConductR). Linked statically, so the same binary runs in a Docker image built FROM scratch
// (examples/hello-docker) and from an rpm payload (examples/hello-rpm).
//
// It listens on $WEB_BIND_IP:$WEB_BIND_PORT, tells the agent it is ready with
// `PUT $CONDUCTR_STATUS/bundles/$BUNDLE_ID?isStarted=true`, and answers every GET with a line
// naming itself, the bundle, and the host port it is reached through. SIGTERM ends it cleanly.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t stopping = 0;

std::string env(const char* name, const char* fallback = "") {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : value;
}

void log_line(const std::string& text) {
  std::fprintf(stdout, "%s\n", text.c_str());
  std::fflush(stdout);
}

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// A numeric IPv4 or IPv6 address and port, as the agent hands them out. (No getaddrinfo: it
// drags the NSS loader into a static binary.)
bool make_address(const std::string& ip, const std::string& port, sockaddr_storage& out,
                  socklen_t& length) {
  int number = std::atoi(port.c_str());
  if (number <= 0 || number > 65535) return false;
  out = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(number));
    length = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(number));
    length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

int connect_to(const std::string& host, const std::string& port) {
  sockaddr_storage address;
  socklen_t length = 0;
  if (!make_address(host, port, address, length)) return -1;
  int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

// ConductR's readiness signal. Without $CONDUCTR_STATUS (run by hand) there is nobody to tell.
// Exits 70 when the agent refuses it, as ConductR's client libraries do.
void signal_started() {
  std::string host = env("CONDUCTR_STATUS_IP");
  std::string port = env("CONDUCTR_STATUS_PORT");
  std::string status = env("CONDUCTR_STATUS");
  if (host.empty() || port.empty() || status.empty()) return;
  // The path part of $CONDUCTR_STATUS: it may carry a prefix naming this instance.
  std::size_t scheme = status.find("://");
  std::size_t slash = status.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::string prefix = slash == std::string::npos ? "" : status.substr(slash);
  std::string request = "PUT " + prefix + "/bundles/" + env("BUNDLE_ID") +
                        "?isStarted=true HTTP/1.1\r\nHost: " + host + ":" + port +
                        "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  int fd = connect_to(host, port);
  char reply[64] = {};
  bool ok = fd >= 0 && send_all(fd, request) && ::recv(fd, reply, sizeof reply - 1, 0) > 12 &&
            std::strncmp(reply + 9, "2", 1) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) {
    log_line("could not signal readiness to " + status + ": " + std::string(reply));
    std::exit(70);
  }
  log_line("told the agent at " + status + " that this instance is started");
}

int listen_on(const std::string& ip, const std::string& port) {
  sockaddr_storage address;
  socklen_t length = 0;
  if (!make_address(ip, port, address, length)) {
    errno = EINVAL;
    return -1;
  }
  int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd >= 0 &&
      (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd, 128) != 0)) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

std::string reply_body(const std::string& name) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return "Hello from " + name + " (bundle " + env("BUNDLE_NAME", "none") + ", pid " +
         std::to_string(::getpid()) + ", host " + host + ", reached on port " +
         env("WEB_HOST_PORT", "?") + ")\n";
}

void serve(int client, const std::string& name) {
  char request[4096];
  ssize_t n = ::recv(client, request, sizeof request, 0);
  if (n <= 0) return;
  std::string body = reply_body(name);
  send_all(client, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = argc > 1 ? argv[1] : "hello-native";
  struct sigaction on_term {};
  on_term.sa_handler = [](int) { stopping = 1; };
  ::sigaction(SIGTERM, &on_term, nullptr);
  ::sigaction(SIGINT, &on_term, nullptr);

  std::string ip = env("WEB_BIND_IP", "0.0.0.0");
  std::string port = env("WEB_BIND_PORT", "8080");
  int server = listen_on(ip, port);
  if (server < 0) {
    log_line("cannot listen on " + ip + ":" + port + ": " + std::strerror(errno));
    return 1;
  }
  log_line(name + " listening on " + ip + ":" + port);
  signal_started();
  while (stopping == 0) {
    int client = ::accept4(server, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;  // EINTR on SIGTERM ends the loop
    serve(client, name);
    ::close(client);
  }
  log_line(name + " stopping");
  ::close(server);
  return 0;
}
