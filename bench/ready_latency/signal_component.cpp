// ready_latency_component: the component of bench/ready_latency. It signals readiness the way
// ConductR's bundle library does (PUT $CONDUCTR_STATUS/bundles/$BUNDLE_ID?isStarted=true over a
// fresh loopback connection) and writes "<before connect> <answer read>" (CLOCK_MONOTONIC, ns) to
// ./ready-sent, then sleeps until killed. Pointed at any HTTP server, it is also the baseline's
// client, so both sides of the comparison send the same bytes the same way. libc only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

long long now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

[[noreturn]] void fail(const char* what) {
  std::perror(what);
  std::exit(70);
}

}  // namespace

int main() {
  const char* status = std::getenv("CONDUCTR_STATUS");
  const char* bundle_id = std::getenv("BUNDLE_ID");
  if (status == nullptr || bundle_id == nullptr) fail("CONDUCTR_STATUS and BUNDLE_ID");
  // http://127.0.0.1:PORT[/prefix]
  std::string url = status;
  if (url.rfind("http://", 0) != 0) fail("CONDUCTR_STATUS is not http://");
  std::string rest = url.substr(7);
  std::string authority = rest.substr(0, rest.find('/'));
  std::string prefix = rest.substr(authority.size());
  std::string host = authority.substr(0, authority.rfind(':'));
  int port = std::atoi(authority.c_str() + authority.rfind(':') + 1);
  std::string request = "PUT " + prefix + "/bundles/" + bundle_id +
                        "?isStarted=true HTTP/1.1\r\nHost: " + authority +
                        "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<unsigned short>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) fail("host");

  long long sent = now_ns();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("connect");
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
    fail("write");
  std::string answer;
  char buffer[1024];
  while (answer.find("\r\n") == std::string::npos) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  long long answered = now_ns();
  ::close(fd);
  if (answer.rfind("HTTP/1.1 2", 0) != 0) fail("answer");

  std::FILE* out = std::fopen("ready-sent.tmp", "w");
  if (out == nullptr) fail("ready-sent.tmp");
  std::fprintf(out, "%lld %lld\n", sent, answered);
  std::fclose(out);
  std::rename("ready-sent.tmp", "ready-sent");
  for (;;)
    ::pause();
}
