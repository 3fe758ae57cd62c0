#include "runtimes/universal/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/files.hpp"
#include "common/text.hpp"

namespace baton::runtimes::universal {

namespace {

constexpr std::int64_t kCpuPeriodUs = 100000;
constexpr const char* kV1Controllers[] = {"memory", "cpu", "cpuacct", "pids"};
constexpr const char* kV2Controllers[] = {"memory", "cpu", "pids"};

Error os_error(const stdfs::path& path, std::string_view what, int err) {
  return make_error(
      Errc::io, "cgroup " + path.string() + ": " + std::string(what) + ": " + std::strerror(err));
}

Status write_file(const stdfs::path& file, std::string_view value) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return os_error(file, "cannot open", errno);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return os_error(file, "cannot write " + std::string(value), n < 0 ? err : EIO);
  }
  return {};
}

bool present(const stdfs::path& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// A name that is one safe folder name.
bool is_segment(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// "key value" lines (memory.stat, cpu.stat, memory.events).
std::int64_t stat_value(std::string_view content, std::string_view key) {
  for (const auto& line : text::split(content, '\n')) {
    auto space = line.find(' ');
    if (space == std::string::npos || std::string_view(line).substr(0, space) != key) continue;
    if (auto value = text::parse_integer(text::trim(std::string_view(line).substr(space + 1)))) {
      return *value;
    }
  }
  return 0;
}

std::vector<pid_t> members(const stdfs::path& leaf) {
  std::vector<pid_t> pids;
  auto content = files::read(leaf / "cgroup.procs");
  if (!content) return pids;
  for (const auto& line : text::split(*content, '\n')) {
    if (auto pid = text::parse_integer(text::trim(line)); pid && *pid > 0) {
      pids.push_back(static_cast<pid_t>(*pid));
    }
  }
  return pids;
}

void pause_briefly() {
  timespec pause{0, 5 * 1000 * 1000};
  ::nanosleep(&pause, nullptr);
}

}  // namespace

std::vector<stdfs::path> LaunchCgroup::procs() const {
  std::vector<stdfs::path> files;
  for (const auto& leaf : leaves)
    files.push_back(leaf / "cgroup.procs");
  return files;
}

CgroupLayout parse_cgroup_layout(std::string_view mountinfo) {
  CgroupLayout layout;
  for (const auto& line : text::split(mountinfo, '\n')) {
    auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    auto left = text::split(line.substr(0, separator), ' ');
    auto right = text::split(line.substr(separator + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string& mount_point = left[4];
    if (right[0] == "cgroup") {
      for (const auto& option : text::split(right[2], ',')) {
        for (const char* controller : kV1Controllers) {
          if (option == controller && !layout.v1.contains(option)) layout.v1[option] = mount_point;
        }
      }
    } else if (right[0] == "cgroup2" && layout.v2.empty()) {
      layout.v2 = mount_point;
    }
  }
  if (layout.v1.contains("memory")) {
    layout.version = 1;
  } else if (!layout.v2.empty()) {
    layout.version = 2;
    layout.v1.clear();
  } else {
    layout.v1.clear();
  }
  return layout;
}

CgroupLayout detect_cgroup_layout() {
  auto mountinfo = files::read("/proc/self/mountinfo");
  if (!mountinfo) return {};
  return parse_cgroup_layout(*mountinfo);
}

Cgroups::Cgroups(CgroupLayout layout, std::string root, std::int64_t pids_max)
    : layout_(std::move(layout)), root_(std::move(root)), pids_max_(pids_max) {
  if (layout_.version == 1) {
    for (const auto& [controller, mount] : layout_.v1) {
      if (std::find(hierarchies_.begin(), hierarchies_.end(), mount) == hierarchies_.end()) {
        hierarchies_.push_back(mount);
      }
    }
    limits_enforced_ = layout_.v1.contains("memory") && layout_.v1.contains("cpu");
  } else if (layout_.version == 2) {
    hierarchies_.push_back(layout_.v2);
    auto controllers = files::read(layout_.v2 / "cgroup.controllers");
    auto offered = controllers ? text::split(std::string(text::trim(*controllers)), ' ')
                               : std::vector<std::string>{};
    limits_enforced_ = std::find(offered.begin(), offered.end(), "memory") != offered.end() &&
                       std::find(offered.begin(), offered.end(), "cpu") != offered.end();
  }
  if (layout_.version == 0) {
    reason_ = "no cgroup hierarchy is mounted";
    return;
  }
  if (::geteuid() != 0) {
    reason_ = "not running as root";
    return;
  }
  if (!is_segment(root_)) {
    reason_ = "cgroup root name '" + root_ + "' is not a folder name";
    return;
  }
  for (const auto& hierarchy : hierarchies_) {
    stdfs::path top = hierarchy / root_;
    if (::mkdir(top.c_str(), 0755) != 0 && errno != EEXIST) {
      reason_ = "cannot create " + top.string() + ": " + std::strerror(errno);
      return;
    }
  }
  usable_ = true;
}

std::string Cgroups::version_name() const {
  if (!usable_) return "none";
  return layout_.version == 1 ? "v1" : "v2";
}

LaunchCgroup Cgroups::paths(const Launch& launch) const {
  LaunchCgroup cgroup;
  cgroup.version = layout_.version;
  for (const auto& hierarchy : hierarchies_) {
    stdfs::path node = hierarchy / root_ / launch.agent_name / launch.instance_id;
    cgroup.nodes.push_back(node);
    cgroup.leaves.push_back(node / launch.component);
  }
  auto leaf_in = [&](const stdfs::path& hierarchy) {
    return hierarchy / root_ / launch.agent_name / launch.instance_id / launch.component;
  };
  if (layout_.version == 1) {
    if (auto it = layout_.v1.find("memory"); it != layout_.v1.end()) {
      cgroup.memory = leaf_in(it->second);
      cgroup.oom_counter = cgroup.memory / "memory.oom_control";
    }
    if (auto it = layout_.v1.find("cpuacct"); it != layout_.v1.end())
      cgroup.cpu = leaf_in(it->second);
  } else if (layout_.version == 2) {
    cgroup.memory = leaf_in(layout_.v2);
    cgroup.cpu = cgroup.memory;
    cgroup.oom_counter = cgroup.memory / "memory.events";
  }
  return cgroup;
}

Result<LaunchCgroup> Cgroups::create(const Launch& launch) {
  if (!usable_) return make_error(Errc::unavailable, "cgroups are not usable: " + reason_);
  for (const auto& [what, name] :
       {std::pair<const char*, const std::string&>{"agent name", launch.agent_name},
        {"instance id", launch.instance_id},
        {"component", launch.component}}) {
    if (!is_segment(name)) {
      return make_error(Errc::invalid, "launch " + launch.id + ": " + what + " '" + name +
                                           "' cannot name a cgroup");
    }
  }
  LaunchCgroup cgroup = paths(launch);
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
    std::error_code error;
    stdfs::create_directories(cgroup.nodes[i], error);
    if (error) {
      remove_locked(cgroup);
      return make_error(
          Errc::io, "cgroup " + cgroup.nodes[i].string() + ": cannot create: " + error.message());
    }
    if (layout_.version == 2) {
      // Controllers reach a child only when every ancestor delegates them.
      stdfs::path level = hierarchies_[i];
      stdfs::path relative = stdfs::relative(cgroup.nodes[i], level);
      for (auto part = relative.begin();; ++part) {
        auto offered = files::read(level / "cgroup.controllers");
        auto enabled = files::read(level / "cgroup.subtree_control");
        if (offered && enabled) {
          auto have = text::split(std::string(text::trim(*enabled)), ' ');
          for (const auto& controller : text::split(std::string(text::trim(*offered)), ' ')) {
            bool wanted = std::find(std::begin(kV2Controllers), std::end(kV2Controllers),
                                    controller) != std::end(kV2Controllers);
            if (wanted && std::find(have.begin(), have.end(), controller) == have.end()) {
              (void)write_file(level / "cgroup.subtree_control", "+" + controller);
            }
          }
        }
        if (part == relative.end()) break;
        level /= *part;
      }
    }
  }
  if (Status limits = write_limits(launch, cgroup); !limits) {
    remove_locked(cgroup);
    return std::move(limits).error();
  }
  for (const auto& leaf : cgroup.leaves) {
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) {
      Error error = os_error(leaf, "cannot create", errno);
      remove_locked(cgroup);
      return error;
    }
  }
  return cgroup;
}

Status Cgroups::write_limits(const Launch& launch, const LaunchCgroup& cgroup) {
  const Limits& limits = launch.limits;
  std::int64_t quota =
      limits.cpus > 0 ? std::max<std::int64_t>(1000, std::llround(limits.cpus * kCpuPeriodUs)) : -1;
  std::string pids = pids_max_ > 0 ? std::to_string(pids_max_) : "max";
  if (layout_.version == 1) {
    auto node_in = [&](const char* controller) -> std::optional<stdfs::path> {
      auto it = layout_.v1.find(controller);
      if (it == layout_.v1.end()) return std::nullopt;
      return it->second / root_ / launch.agent_name / launch.instance_id;
    };
    if (auto node = node_in("memory")) {
      std::string bytes = limits.memory > 0 ? std::to_string(limits.memory) : "-1";
      // memsw (memory+swap) must stay >= the memory limit: set it around the memory limit so
      // both raising and lowering work; without swap accounting it does not exist.
      bool swap = present(*node / "memory.memsw.limit_in_bytes");
      if (swap) (void)write_file(*node / "memory.memsw.limit_in_bytes", bytes);
      BATON_TRY(write_file(*node / "memory.limit_in_bytes", bytes));
      if (swap) (void)write_file(*node / "memory.memsw.limit_in_bytes", bytes);
    }
    if (auto node = node_in("cpu")) {
      BATON_TRY(write_file(*node / "cpu.cfs_period_us", std::to_string(kCpuPeriodUs)));
      BATON_TRY(write_file(*node / "cpu.cfs_quota_us", std::to_string(quota)));
    }
    if (auto node = node_in("pids")) BATON_TRY(write_file(*node / "pids.max", pids));
    return {};
  }
  const stdfs::path& node = cgroup.nodes.front();
  if (present(node / "memory.max")) {
    BATON_TRY(
        write_file(node / "memory.max", limits.memory > 0 ? std::to_string(limits.memory) : "max"));
    if (present(node / "memory.swap.max")) {
      (void)write_file(node / "memory.swap.max", limits.memory > 0 ? "0" : "max");
    }
  } else if (limits.memory > 0 && limits_enforced_) {
    return make_error(Errc::unavailable,
                      "cgroup " + node.string() + ": the memory controller is not delegated");
  }
  if (present(node / "cpu.max")) {
    BATON_TRY(write_file(node / "cpu.max", (quota > 0 ? std::to_string(quota) : "max") + " " +
                                               std::to_string(kCpuPeriodUs)));
  }
  if (present(node / "pids.max")) BATON_TRY(write_file(node / "pids.max", pids));
  return {};
}

void Cgroups::kill_members(const LaunchCgroup& cgroup) {
  for (const auto& leaf : cgroup.leaves) {
    if (cgroup.version == 2 && present(leaf / "cgroup.kill")) {
      (void)write_file(leaf / "cgroup.kill", "1");
      continue;
    }
    for (pid_t pid : members(leaf))
      ::kill(pid, SIGKILL);
  }
}

void Cgroups::remove(const LaunchCgroup& cgroup) {
  std::lock_guard lock(mutex_);
  remove_locked(cgroup);
}

void Cgroups::remove_locked(const LaunchCgroup& cgroup) {
  for (std::size_t i = 0; i < cgroup.leaves.size(); ++i) {
    const stdfs::path& leaf = cgroup.leaves[i];
    // Killed members leave once their parent reaps them: retry for a short while.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (::rmdir(leaf.c_str()) != 0 && errno == EBUSY &&
           std::chrono::steady_clock::now() < deadline) {
      kill_members(LaunchCgroup{{leaf}, {}, {}, {}, {}, cgroup.version});
      pause_briefly();
    }
    // The instance node goes with its last launch (EBUSY/ENOTEMPTY: others still use it).
    if (i < cgroup.nodes.size()) ::rmdir(cgroup.nodes[i].c_str());
  }
}

Result<Stats> Cgroups::stats(const LaunchCgroup& cgroup) const {
  Stats stats;
  if (cgroup.cpu.empty() || cgroup.memory.empty()) {
    return make_error(Errc::unavailable, "cgroup accounting is not available");
  }
  if (cgroup.version == 1) {
    BATON_ASSIGN_OR_RETURN(auto usage, files::read(cgroup.cpu / "cpuacct.usage"));
    auto ns = text::parse_integer(text::trim(usage));
    if (!ns) return make_error(Errc::io, "cgroup " + cgroup.cpu.string() + ": bad cpuacct.usage");
    stats.cpu_seconds = static_cast<double>(*ns) / 1e9;
    BATON_ASSIGN_OR_RETURN(auto memory, files::read(cgroup.memory / "memory.stat"));
    stats.memory_bytes = stat_value(memory, "rss") + stat_value(memory, "mapped_file");
  } else {
    BATON_ASSIGN_OR_RETURN(auto cpu, files::read(cgroup.cpu / "cpu.stat"));
    stats.cpu_seconds = static_cast<double>(stat_value(cpu, "usage_usec")) / 1e6;
    BATON_ASSIGN_OR_RETURN(auto memory, files::read(cgroup.memory / "memory.stat"));
    stats.memory_bytes = stat_value(memory, "anon") + stat_value(memory, "file_mapped");
  }
  return stats;
}

}  // namespace baton::runtimes::universal
