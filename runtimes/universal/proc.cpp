#include "runtimes/universal/proc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

namespace baton::runtimes::universal {

namespace {

// A small /proc file into `buffer`; returns its length or -1.
ssize_t read_small(const char* path, char* buffer, std::size_t size) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buffer, size - 1);
  ::close(fd);
  if (n >= 0) buffer[n] = '\0';
  return n;
}

}  // namespace

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  char buffer[1024];
  if (read_small(path, buffer, sizeof buffer) <= 0) return std::nullopt;
  // "pid (comm) state ppid pgrp ...": comm may contain anything, so parse after the last ')'.
  const char* rest = std::strrchr(buffer, ')');
  if (rest == nullptr) return std::nullopt;
  ProcStat stat;
  stat.pid = pid;
  char state = 0;
  unsigned long long utime = 0, stime = 0, start = 0;
  long long cutime = 0, cstime = 0;
  int parent = 0, group = 0;
  // Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime
  int parsed = std::sscanf(rest + 1,
                           " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d "
                           "%*d %*d %llu",
                           &state, &parent, &group, &utime, &stime, &cutime, &cstime, &start);
  if (parsed != 8) return std::nullopt;
  stat.parent = parent;
  stat.group = group;
  stat.cpu_ticks = utime + stime + static_cast<std::uint64_t>(cutime > 0 ? cutime : 0) +
                   static_cast<std::uint64_t>(cstime > 0 ? cstime : 0);
  stat.start_time = start;
  return stat;
}

std::int64_t resident_bytes(pid_t pid) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/statm", pid);
  char buffer[256];
  if (read_small(path, buffer, sizeof buffer) <= 0) return 0;
  long long size = 0, resident = 0;
  if (std::sscanf(buffer, "%lld %lld", &size, &resident) != 2) return 0;
  return resident * ::sysconf(_SC_PAGESIZE);
}

std::vector<ProcStat> descendants(pid_t root) {
  std::multimap<pid_t, ProcStat> by_parent;
  if (DIR* dir = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(dir)) {
      char* end = nullptr;
      long pid = std::strtol(entry->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      if (auto stat = read_proc_stat(static_cast<pid_t>(pid)))
        by_parent.emplace(stat->parent, *stat);
    }
    ::closedir(dir);
  }
  std::vector<ProcStat> found;
  std::vector<pid_t> queue{root};
  while (!queue.empty()) {
    pid_t parent = queue.back();
    queue.pop_back();
    auto [first, last] = by_parent.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      found.push_back(it->second);
      queue.push_back(it->second.pid);
    }
  }
  return found;
}

}  // namespace baton::runtimes::universal
