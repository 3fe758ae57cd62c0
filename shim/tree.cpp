#include "shim/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace baton::shim {

namespace {

constexpr std::size_t kMaxPids = 8192;

struct PidSet {
  pid_t pids[kMaxPids];
  std::size_t count = 0;

  bool contains(pid_t pid) const {
    for (std::size_t i = 0; i < count; ++i)
      if (pids[i] == pid) return true;
    return false;
  }
  void add(pid_t pid) {
    if (pid > 0 && count < kMaxPids && !contains(pid)) pids[count++] = pid;
  }
};

// Calls `on_number` for every decimal number in the file (pid lists: "12 34 " or "12\n34\n").
template <class F>
bool for_each_number(const char* path, F&& on_number) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[4096];
  long value = -1;
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      char c = buffer[i];
      if (c >= '0' && c <= '9') {
        value = (value < 0 ? 0 : value * 10) + (c - '0');
      } else if (value >= 0) {
        on_number(static_cast<pid_t>(value));
        value = -1;
      }
    }
  }
  if (value >= 0) on_number(static_cast<pid_t>(value));
  ::close(fd);
  return true;
}

// Numeric entries of a /proc folder, without opendir's heap buffer.
template <class F>
void for_each_numeric_entry(const char* folder, F&& on_number) {
  int fd = ::open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buffer[4096];
  for (;;) {
    ssize_t n = ::getdents64(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      auto* entry = reinterpret_cast<dirent64*>(buffer + at);
      at += entry->d_reclen;
      const char* name = entry->d_name;
      if (*name < '0' || *name > '9') continue;
      long value = 0;
      for (; *name >= '0' && *name <= '9'; ++name)
        value = value * 10 + (*name - '0');
      if (*name == '\0') on_number(static_cast<pid_t>(value));
    }
  }
  ::close(fd);
}

bool children_files_exist() {
  static const int exist = [] {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/task/%d/children", ::getpid(), ::getpid());
    return ::access(path, R_OK) == 0 ? 1 : 0;
  }();
  return exist == 1;
}

// Descendants through /proc/<pid>/task/<tid>/children (children a thread created are listed under
// that thread, so every thread is read).
void add_descendants_from_children(pid_t root, PidSet& set) {
  std::size_t first = set.count;
  set.add(root);
  for (std::size_t i = first; i < set.count; ++i) {
    char folder[48];
    std::snprintf(folder, sizeof folder, "/proc/%d/task", set.pids[i]);
    for_each_numeric_entry(folder, [&](pid_t tid) {
      char path[80];
      std::snprintf(path, sizeof path, "/proc/%d/task/%d/children", set.pids[i], tid);
      for_each_number(path, [&](pid_t child) { set.add(child); });
    });
  }
}

// The parent of `pid` from /proc/<pid>/stat ("pid (comm) S ppid ..."; comm may hold spaces and
// parentheses, so parse after the last ')').
pid_t parent_of(pid_t pid) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buffer[512];
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buffer[n] = '\0';
  const char* close = std::strrchr(buffer, ')');
  if (close == nullptr) return 0;
  int parent = 0;
  char state = 0;
  if (std::sscanf(close + 1, " %c %d", &state, &parent) != 2) return 0;
  return parent;
}

// Without CONFIG_PROC_CHILDREN: scan every /proc/<pid>/stat until no new descendant appears.
void add_descendants_by_scan(pid_t root, PidSet& set) {
  std::size_t first = set.count;
  set.add(root);
  for (bool grew = true; grew;) {
    std::size_t before = set.count;
    for_each_numeric_entry("/proc", [&](pid_t pid) {
      if (set.contains(pid)) return;
      pid_t parent = parent_of(pid);
      for (std::size_t i = first; i < set.count; ++i) {
        if (set.pids[i] == parent) {
          set.add(pid);
          break;
        }
      }
    });
    grew = set.count > before;
  }
}

}  // namespace

std::size_t signal_all(Targets& targets, int signal) {
  if (targets.group > 0 && ::kill(-targets.group, signal) != 0 && errno == ESRCH) {
    targets.group = 0;
  }
  static PidSet set;  // large: kept off the stack, touched only on stop
  set.count = 0;
  for (std::size_t i = 0; i < targets.cgroup_count; ++i) {
    for_each_number(targets.cgroup_procs[i], [&](pid_t pid) { set.add(pid); });
  }
  if (children_files_exist()) {
    add_descendants_from_children(targets.shim, set);
  } else {
    add_descendants_by_scan(targets.shim, set);
  }
  std::size_t signalled = 0;
  for (std::size_t i = 0; i < set.count; ++i) {
    pid_t pid = set.pids[i];
    if (pid == targets.shim) continue;
    if (targets.group > 0 && ::getpgid(pid) == targets.group) continue;  // had it via the group
    if (::kill(pid, signal) == 0) ++signalled;
  }
  return signalled;
}

}  // namespace baton::shim
