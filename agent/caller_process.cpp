#include "agent/caller_process.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace baton::agent {

namespace {

// The peer as /proc/net/tcp6 prints addresses: 16 bytes (an IPv4 peer as ::ffff:a.b.c.d).
struct Address {
  bool v4 = false;
  in_addr ipv4{};
  in6_addr ipv6{};
};

std::optional<Address> parse_address(std::string_view text) {
  Address out;
  std::string ip(text);
  if (::inet_pton(AF_INET, ip.c_str(), &out.ipv4) == 1) {
    out.v4 = true;
    std::memset(&out.ipv6, 0, sizeof out.ipv6);
    out.ipv6.s6_addr[10] = 0xff;
    out.ipv6.s6_addr[11] = 0xff;
    std::memcpy(&out.ipv6.s6_addr[12], &out.ipv4, 4);
    return out;
  }
  if (::inet_pton(AF_INET6, ip.c_str(), &out.ipv6) == 1) return out;
  return std::nullopt;
}

// "0100007F" (the 32-bit word as the kernel holds it, printed as a number) or 32 such digits.
bool same_address(std::string_view hex, const Address& address, bool v6) {
  auto word = [](std::string_view digits) {
    return static_cast<std::uint32_t>(std::strtoul(std::string(digits).c_str(), nullptr, 16));
  };
  if (!v6) {
    if (!address.v4 || hex.size() != 8) return false;
    return word(hex) == address.ipv4.s_addr;
  }
  if (hex.size() != 32) return false;
  for (int i = 0; i < 4; ++i) {
    std::uint32_t expected = 0;
    std::memcpy(&expected, &address.ipv6.s6_addr[4 * i], 4);
    if (word(hex.substr(static_cast<std::size_t>(8 * i), 8)) != expected) return false;
  }
  return true;
}

// The socket inodes of matching connections in one /proc/net file.
void find_inodes(const char* file, bool v6, const Address& peer, unsigned short peer_port,
                 unsigned short server_port, std::set<unsigned long>& inodes) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode)) {
      continue;
    }
    auto local_colon = local.rfind(':');
    auto remote_colon = remote.rfind(':');
    if (local_colon == std::string::npos || remote_colon == std::string::npos || inode == 0) {
      continue;
    }
    auto port = [](const std::string& text, std::size_t colon) {
      return static_cast<unsigned short>(std::strtoul(text.c_str() + colon + 1, nullptr, 16));
    };
    if (port(local, local_colon) != peer_port || port(remote, remote_colon) != server_port) {
      continue;
    }
    if (!same_address(std::string_view(local).substr(0, local_colon), peer, v6)) continue;
    inodes.insert(inode);
  }
}

bool all_digits(const char* name) {
  if (*name == '\0') return false;
  for (; *name != '\0'; ++name) {
    if (*name < '0' || *name > '9') return false;
  }
  return true;
}

}  // namespace

std::vector<pid_t> tcp_client_processes(std::string_view peer_ip, unsigned short peer_port,
                                        unsigned short server_port) {
  std::vector<pid_t> out;
  auto peer = parse_address(peer_ip);
  if (!peer || peer_port == 0) return out;
  std::set<unsigned long> inodes;
  find_inodes("/proc/net/tcp", false, *peer, peer_port, server_port, inodes);
  find_inodes("/proc/net/tcp6", true, *peer, peer_port, server_port, inodes);
  if (inodes.empty()) return out;
  std::set<std::string> wanted;
  for (unsigned long inode : inodes)
    wanted.insert("socket:[" + std::to_string(inode) + "]");

  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* process = ::readdir(proc)) {
    if (!all_digits(process->d_name)) continue;
    std::string fd_folder = std::string("/proc/") + process->d_name + "/fd";
    DIR* fds = ::opendir(fd_folder.c_str());
    if (fds == nullptr) continue;  // gone, or another user's
    while (dirent* fd = ::readdir(fds)) {
      if (!all_digits(fd->d_name)) continue;
      char target[64];
      std::string link = fd_folder + "/" + fd->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      if (wanted.count(std::string(target, static_cast<std::size_t>(n))) != 0) {
        out.push_back(static_cast<pid_t>(std::strtol(process->d_name, nullptr, 10)));
        break;
      }
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return out;
}

std::optional<pid_t> parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ...": comm may hold anything, so read after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  long parent = -1;
  if (!(rest >> state >> parent) || parent < 0) return std::nullopt;
  return static_cast<pid_t>(parent);
}

std::vector<pid_t> ancestry(pid_t pid) {
  std::vector<pid_t> chain;
  while (pid > 0 && chain.size() < 256) {
    chain.push_back(pid);
    auto parent = parent_of(pid);
    if (!parent) break;
    pid = *parent;
  }
  return chain;
}

std::string process_name(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

}  // namespace baton::agent
