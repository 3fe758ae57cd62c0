#pragma once
// Which process sent a request over loopback TCP, and whose it is: for the token-less readiness
// route (docs/security.md, "Readiness signals"), where the URL does not say which instance calls.
// Reads /proc: the connection's socket inode in /proc/net/tcp{,6}, then the processes holding
// it (/proc/<pid>/fd), then their parents. Blocking: call it off the io thread.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::agent {

// The processes holding the client end of the TCP connection from `peer_ip:peer_port` to this
// machine's `server_port`. Empty when it cannot be told: the client is in another network
// namespace (a container), or its processes cannot be read (another user's, when the agent is
// not root).
std::vector<pid_t> tcp_client_processes(std::string_view peer_ip, unsigned short peer_port,
                                        unsigned short server_port);

// `pid`, its parent, its parent's parent, ... (at most 256, ending before pid 0).
std::vector<pid_t> ancestry(pid_t pid);
std::optional<pid_t> parent_of(pid_t pid);
// /proc/<pid>/comm ("" when gone).
std::string process_name(pid_t pid);

}  // namespace baton::agent
