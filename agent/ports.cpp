#include "agent/ports.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "common/text.hpp"

namespace baton::agent {

std::string PortRange::to_string() const {
  return std::to_string(first) + "-" + std::to_string(last);
}

Result<PortRange> parse_port_range(std::string_view text) {
  auto bad = [&] {
    return make_error(Errc::invalid, "port range '" + std::string(text) +
                                         "': expected FIRST-LAST within 1-65535, e.g. 10000-10999");
  };
  auto dash = text.find('-');
  auto first = text::parse_integer(text::trim(text.substr(0, dash)));
  auto last = dash == std::string_view::npos
                  ? first
                  : text::parse_integer(text::trim(text.substr(dash + 1)));
  if (!first || !last || *first < 1 || *last > 65535 || *first > *last) return bad();
  return PortRange{static_cast<int>(*first), static_cast<int>(*last)};
}

namespace {

bool bind_free(int type, int port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell: let the component find out
  int one = 1;
  // A server sets SO_REUSEADDR, so connections in TIME_WAIT do not make a port busy for it.
  if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// Socket inodes bound to `port` in one /proc/net table.
void socket_inodes(const char* table, int port, bool listening_only, std::set<std::string>& out) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    auto colon = local.rfind(':');
    if (colon == std::string::npos || inode.empty() || inode == "0") continue;
    unsigned long local_port = std::strtoul(local.c_str() + colon + 1, nullptr, 16);
    if (static_cast<int>(local_port) != port) continue;
    if (listening_only && state != "0A") continue;
    out.insert(inode);
  }
}

}  // namespace

bool port_free_on_host(int port) {
  return bind_free(SOCK_STREAM, port) && bind_free(SOCK_DGRAM, port);
}

std::string host_port_owner(int port) {
  std::set<std::string> inodes;
  socket_inodes("/proc/net/tcp", port, true, inodes);
  socket_inodes("/proc/net/tcp6", port, true, inodes);
  socket_inodes("/proc/net/udp", port, false, inodes);
  socket_inodes("/proc/net/udp6", port, false, inodes);
  if (inodes.empty()) return {};
  std::set<std::string> wanted;
  for (const auto& inode : inodes)
    wanted.insert("socket:[" + inode + "]");
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {};
  std::string found;
  while (dirent* entry = ::readdir(proc)) {
    std::string pid = entry->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (dirent* fd = ::readdir(fds)) {
      if (fd->d_name[0] == '.') continue;
      char target[64];
      std::string link = fd_dir + "/" + fd->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      if (wanted.count(std::string(target, static_cast<std::size_t>(n))) == 0) continue;
      std::ifstream comm_file("/proc/" + pid + "/comm");
      std::string comm;
      std::getline(comm_file, comm);
      found = "pid " + pid + (comm.empty() ? "" : " (" + comm + ")");
      break;
    }
    ::closedir(fds);
    if (!found.empty()) break;
  }
  ::closedir(proc);
  return found;
}

PortAllocator::PortAllocator(PortRange range, HostCheck host_check)
    : range_(range), host_check_(std::move(host_check)), cursor_(range.first) {}

std::string PortAllocator::describe_holder(const PortHolder& holder) const {
  return "instance " + holder.instance_id + " (bundle " + holder.bundle_name + ", endpoint " +
         holder.endpoint + ")";
}

Result<std::map<std::string, int>> PortAllocator::allocate(
    const std::string& instance_id, const std::string& bundle_name,
    const std::vector<PortRequest>& requests) {
  std::lock_guard lock(mutex_);
  std::map<std::string, int> taken;
  auto undo = [&] {
    for (const auto& [endpoint, port] : taken)
      held_.erase(port);
  };
  // Fixed ports first, so a dynamic one never takes a port another endpoint asks for by number.
  for (const auto& request : requests) {
    if (request.fixed_port == 0) continue;
    int port = request.fixed_port;
    if (auto it = held_.find(port); it != held_.end()) {
      std::string holder = describe_holder(it->second);
      undo();
      return make_error(Errc::conflict, "port " + std::to_string(port) + " for endpoint " +
                                            request.endpoint + " is held by " + holder);
    }
    if (!host_check_(port)) {
      std::string owner = host_port_owner(port);
      undo();
      return make_error(Errc::conflict, "port " + std::to_string(port) + " for endpoint " +
                                            request.endpoint + " is in use on this host" +
                                            (owner.empty() ? "" : " by " + owner));
    }
    held_[port] = PortHolder{instance_id, bundle_name, request.endpoint};
    taken[request.endpoint] = port;
  }
  const int size = range_.last - range_.first + 1;
  for (const auto& request : requests) {
    if (request.fixed_port != 0) continue;
    bool found = false;
    for (int step = 0; step < size; ++step) {
      int port = range_.first + (cursor_ - range_.first + step) % size;
      if (held_.count(port) != 0 || !host_check_(port)) continue;
      held_[port] = PortHolder{instance_id, bundle_name, request.endpoint};
      taken[request.endpoint] = port;
      cursor_ = port == range_.last ? range_.first : port + 1;
      found = true;
      break;
    }
    if (!found) {
      undo();
      return make_error(Errc::unavailable, "no free port in " + range_.to_string() +
                                               " for endpoint " + request.endpoint);
    }
  }
  return taken;
}

Status PortAllocator::restore(const std::string& instance_id, const std::string& bundle_name,
                              const std::map<std::string, int>& ports) {
  std::lock_guard lock(mutex_);
  for (const auto& [endpoint, port] : ports) {
    auto it = held_.find(port);
    if (it != held_.end() && it->second.instance_id != instance_id) {
      std::string holder = describe_holder(it->second);
      for (const auto& [e, p] : ports) {
        auto mine = held_.find(p);
        if (mine != held_.end() && mine->second.instance_id == instance_id) held_.erase(mine);
      }
      return make_error(Errc::conflict, "port " + std::to_string(port) + " for endpoint " +
                                            endpoint + " is held by " + holder);
    }
    held_[port] = PortHolder{instance_id, bundle_name, endpoint};
  }
  return {};
}

void PortAllocator::release(const std::string& instance_id) {
  std::lock_guard lock(mutex_);
  std::erase_if(held_, [&](const auto& entry) { return entry.second.instance_id == instance_id; });
}

std::optional<PortHolder> PortAllocator::holder(int port) const {
  std::lock_guard lock(mutex_);
  auto it = held_.find(port);
  if (it == held_.end()) return std::nullopt;
  return it->second;
}

std::size_t PortAllocator::held_count() const {
  std::lock_guard lock(mutex_);
  return held_.size();
}

}  // namespace baton::agent
