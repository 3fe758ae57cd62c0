#pragma once
// What the agent detects about its machine for its defaults and its registration.

#include <cstdint>
#include <filesystem>
#include <string>

namespace baton::agent {

std::string host_name();
// The first non-loopback IPv4 address of an interface that is up, else "127.0.0.1".
std::string first_ipv4_address();
double cpu_count();  // CPUs this process may run on
std::int64_t memory_bytes();
// Bytes available to unprivileged users on the file system holding `folder` (0 if unknown).
std::int64_t disk_bytes(const std::filesystem::path& folder);

}  // namespace baton::agent
