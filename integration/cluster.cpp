#include "integration/cluster.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "http/client.hpp"
#include "tests/cli/support/port_slot.hpp"

namespace baton::integration {

namespace stdfs = std::filesystem;

namespace {

std::string read_all(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool within(const stdfs::path& path, const stdfs::path& folder) {
  if (path.empty()) return false;
  auto relative = path.lexically_normal().lexically_relative(folder.lexically_normal());
  return !relative.empty() && *relative.begin() != "..";
}

// Extracted bundles are read-only: give the owner write permission back before removing.
void remove_home(const stdfs::path& home) {
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(home, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      stdfs::permissions(it->path(), stdfs::perms::owner_all, stdfs::perm_options::add, ec);
    }
  }
  stdfs::remove_all(home, ec);
}

}  // namespace

Cluster::Cluster(int agents, std::vector<std::string> run_options) {
  std::string pattern = (stdfs::temp_directory_path() / "baton-it-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    startup_.err = "mkdtemp failed";
    return;
  }
  home_ = pattern;
  core_port_ = baton::testing::unused_port();
  std::vector<std::string> args{
      "sandbox",      "run",
      "--agents",     std::to_string(agents),
      "--core-port",  std::to_string(core_port_),
      "--ports-from", std::to_string(baton::testing::reserved_port_slot())};
  args.insert(args.end(), run_options.begin(), run_options.end());
  startup_ = baton(args);
}

Cluster::~Cluster() {
  if (home_.empty()) return;
  auto stop = baton({"sandbox", "stop"});
  EXPECT_EQ(stop.exit_code, 0) << stop.describe();
  auto left = leftovers();
  EXPECT_TRUE(left.empty()) << "processes the sandbox left behind:\n"
                            << [&] {
                                 std::string list;
                                 for (const auto& line : left)
                                   list += line + "\n";
                                 return list;
                               }();
  // Never leave them on the machine, whatever the test said.
  for (const auto& line : left)
    ::kill(std::stoi(line), SIGKILL);
  if (::testing::Test::HasFailure()) {
    std::cerr << "core log:\n" << read_all(sandbox() / "core" / "core.log") << "\n";
    for (int i = 1; i <= 3; ++i) {
      auto log = sandbox() / ("agent-" + std::to_string(i)) / "agent.log";
      if (stdfs::exists(log)) std::cerr << "agent-" << i << " log:\n" << read_all(log) << "\n";
    }
  }
  remove_home(home_);
}

CommandResult Cluster::baton(std::vector<std::string> args, const std::string& input) const {
  args.insert(args.begin(), baton::testing::program("baton").string());
  return run(std::move(args), input);
}

CommandResult Cluster::run(std::vector<std::string> argv, const std::string& input) const {
  baton::testing::CommandOptions options;
  options.environment = {{"BATON_HOME", home_.string()},
                         {"BATON_PORT", std::to_string(core_port_)},
                         {"BATON_HOST", std::nullopt},
                         {"CONDUCTR_HOST", std::nullopt},
                         {"CONDUCTR_PORT", std::nullopt}};
  options.input = input;
  options.timeout = std::chrono::seconds(300);
  return baton::testing::run_command(argv, options);
}

stdfs::path Cluster::make_bundle(const std::string& name,
                                 const std::vector<std::string>& arguments) const {
  stdfs::path folder = home_ / "bundles" / name;
  stdfs::create_directories(folder / name / "bin");
  stdfs::copy_file(baton::testing::program("baton-testcomponent"),
                   folder / name / "bin" / "baton-testcomponent",
                   stdfs::copy_options::overwrite_existing);
  std::string command = "\"" + name + "/bin/baton-testcomponent\"";
  for (const auto& argument : arguments)
    command += ", \"" + argument + "\"";
  std::ofstream(folder / "bundle.conf") << "version = \"1\"\n"
                                        << "name = \"" << name << "\"\n"
                                        << "compatibilityVersion = \"1\"\n"
                                        << "system = \"" << name << "\"\n"
                                        << "nrOfCpus = 0.01\n"
                                        << "memory = 16M\n"
                                        << "diskSpace = 1M\n"
                                        << "roles = [\"web\"]\n"
                                        << "components {\n"
                                        << "  " << name << " {\n"
                                        << "    description = \"baton-testcomponent\"\n"
                                        << "    file-system-type = \"universal\"\n"
                                        << "    start-command = [" << command << "]\n"
                                        << "    endpoints {\n"
                                        << "      web {\n"
                                        << "        bind-protocol = \"http\"\n"
                                        << "        bind-port = 0\n"
                                        << "        service-name = \"" << name << "\"\n"
                                        << "      }\n"
                                        << "    }\n"
                                        << "  }\n"
                                        << "}\n";
  return folder;
}

json Cluster::info(const std::string& id) const {
  std::vector<std::string> args{"info", "--json"};
  if (!id.empty()) args.push_back(id);
  auto result = baton(args);
  if (result.exit_code != 0) return nullptr;
  json parsed = json::parse(result.out, nullptr, false);
  return parsed.is_discarded() ? json(nullptr) : parsed;
}

std::vector<json> Cluster::started(const std::string& id) const {
  std::vector<json> out;
  json bundle = info(id);
  if (!bundle.is_object()) return out;
  for (const auto& execution : bundle.value("bundleExecutions", json::array())) {
    if (execution.value("isStarted", false)) out.push_back(execution);
  }
  return out;
}

pid_t Cluster::daemon_pid(const std::string& name) const {
  auto result = baton({"sandbox", "ps", "--json"});
  json ps = json::parse(result.out, nullptr, false);
  if (!ps.is_object()) return 0;
  for (const auto& row : ps.value("daemons", json::array())) {
    if (row.value("name", "") == name && row["pid"].is_number()) return row["pid"].get<pid_t>();
  }
  return 0;
}

std::vector<std::string> Cluster::leftovers() const {
  std::vector<std::string> found;
  std::string marker = "BATON_SANDBOX=" + sandbox().string();
  for (const auto& entry : stdfs::directory_iterator("/proc")) {
    std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoi(pid) == ::getpid()) continue;
    struct stat info {};
    if (::stat(entry.path().c_str(), &info) != 0 || info.st_uid != ::getuid()) continue;
    std::string status = read_all(entry.path() / "stat");
    if (status.find(") Z") != std::string::npos) continue;  // a zombie is already dead
    std::string environ = read_all(entry.path() / "environ");
    std::string cmdline = read_all(entry.path() / "cmdline");
    std::error_code ec;
    stdfs::path cwd = stdfs::read_symlink(entry.path() / "cwd", ec);
    stdfs::path exe = stdfs::read_symlink(entry.path() / "exe", ec);
    bool marked = environ.find(marker + '\0') != std::string::npos ||
                  (environ.size() >= marker.size() &&
                   environ.compare(environ.size() - marker.size(), marker.size(), marker) == 0);
    if (marked || cmdline.find(sandbox().string()) != std::string::npos || within(cwd, sandbox()) ||
        within(exe, sandbox())) {
      for (char& c : cmdline) {
        if (c == '\0') c = ' ';
      }
      found.push_back(pid + " " + cmdline);
    }
  }
  return found;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  return baton::testing::wait_until(condition, timeout, std::chrono::milliseconds(250));
}

HttpAnswer http_get(const std::string& url) {
  http::Client client(http::ClientOptions{.connect_timeout = std::chrono::seconds(5),
                                          .timeout = std::chrono::seconds(10)});
  auto response = client.get(url);
  if (!response) return {};
  HttpAnswer answer{response->status, response->body, {}};
  if (auto it = response->headers.find(std::string_view("Location"));
      it != response->headers.end()) {
    answer.location = it->second;
  }
  return answer;
}

}  // namespace baton::integration
