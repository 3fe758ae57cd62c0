#include "tests/agent/support/fixtures.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "bundle/bundle_name.hpp"
#include "bundle/zip_writer.hpp"
#include "http/client.hpp"
#include "runtimes/universal/universal.hpp"
#include "tests/cli/support/leftovers.hpp"

extern char** environ;

namespace baton::agent::testing {

stdfs::path bin_folder() {
  if (const char* build = std::getenv("BATON_BUILD_DIR")) return stdfs::path(build) / "bin";
  std::error_code error;
  return stdfs::read_symlink("/proc/self/exe", error).parent_path().parent_path() / "bin";
}

stdfs::path testcomponent() {
  return bin_folder() / "baton-testcomponent";
}

TestBundle write_zip(const stdfs::path& folder, const std::string& stem,
                     const std::map<std::string, std::string>& files) {
  std::vector<bundle::ZipEntry> entries;
  for (const auto& [path, content] : files) {
    bundle::ZipEntry entry;
    entry.path = path;
    entry.content = content;
    if (path.size() > 5 && path.substr(path.size() - 5) == "@exec") {
      entry.path = path.substr(0, path.size() - 5);
      entry.mode = 0755;
    }
    entries.push_back(std::move(entry));
  }
  auto zip = bundle::write_zip(std::move(entries), folder, stem);
  if (!zip) throw std::runtime_error(zip.error().message);
  return TestBundle{stem, zip->digest, zip->path};
}

std::string testcomponent_conf(const std::string& name, const std::vector<std::string>& arguments,
                               const std::string& endpoints, const std::string& extra) {
  std::string command = "[\"" + testcomponent().string() + "\"";
  for (const auto& argument : arguments)
    command += ", \"" + argument + "\"";
  command += "]";
  return "version = \"1\"\n"
         "name = \"" +
         name +
         "\"\n"
         "compatibilityVersion = \"1\"\n"
         "system = \"" +
         name +
         "\"\n"
         "nrOfCpus = 0.1\n"
         "memory = 67108864\n"
         "diskSpace = 1000000\n"
         "roles = [\"web\"]\n" +
         extra + "\n" +
         "components {\n"
         "  main {\n"
         "    description = \"test component\"\n"
         "    file-system-type = \"universal\"\n"
         "    start-command = " +
         command +
         "\n"
         "    stop-timeout = \"2s\"\n"
         "    endpoints {\n" +
         endpoints +
         "\n    }\n"
         "  }\n"
         "}\n";
}

TestBundle make_bundle(const stdfs::path& folder, const std::string& name, const std::string& conf,
                       std::map<std::string, std::string> more_files) {
  std::map<std::string, std::string> files;
  files[name + "-v1/bundle.conf"] = conf;
  for (auto& [path, content] : more_files)
    files[name + "-v1/" + path] = std::move(content);
  TestBundle bundle = write_zip(folder, name + "-v1", files);
  bundle.name = name;
  return bundle;
}

protocol::AssignedInstance assigned(const std::string& instance_id, const TestBundle& bundle,
                                    const TestBundle* configuration) {
  protocol::AssignedInstance a;
  a.instance_id = instance_id;
  a.bundle_id = bundle::bundle_id(bundle.digest, configuration ? configuration->digest : "");
  a.bundle_name = bundle.name;
  a.bundle_digest = bundle.digest;
  a.bundle_file = "/v2/bundles/files/" + bundle.digest;
  if (configuration) {
    a.configuration_digest = configuration->digest;
    a.configuration_file = "/v2/configurations/files/" + configuration->digest;
  }
  return a;
}

Scratch::Scratch() {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "agent-test-");
  if (!folder) throw std::runtime_error(folder.error().message);
  folder_ = std::make_unique<files::TempFolder>(std::move(folder).value());
}

Scratch::~Scratch() {
  if (folder_) baton::testing::kill_processes_within(folder_->path());
}

std::string unique_agent_name(const std::string& base) {
  static std::atomic<int> counter{0};
  return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

InProcessAgent::InProcessAgent(
    const TestCore& core, stdfs::path data, std::string name,
    const std::function<void(AgentOptions&)>& tweak,
    const std::function<void(runtimes::universal::Options&)>& tweak_universal)
    : name_(std::move(name)) {
  host_ = std::make_unique<RuntimeHostFor>(events_, "universal");
  runtimes::universal::Options universal;
  universal.shim = bin_folder() / "baton-shim";
  if (tweak_universal) tweak_universal(universal);
  (void)registry_.add(runtimes::universal::make_runtime(*host_, universal));
  AgentOptions options;
  options.name = name_;
  options.cores = {core.url()};
  options.data = std::move(data);
  options.address = "127.0.0.1";
  options.api_bind = "127.0.0.1";
  options.api_port = 0;
  options.status_port = 0;
  options.locator_port = 0;
  options.roles = {"web"};
  int first = baton::testing::reserved_port_slot();
  options.ports = PortRange{first, first + baton::testing::kPortSlotSize - 1};
  options.resources = protocol::Resources{4, std::int64_t{8} << 30, std::int64_t{100} << 30};
  options.poll_wait = std::chrono::milliseconds(5000);
  if (tweak) tweak(options);
  agent_ = std::make_unique<Agent>(std::move(options), registry_, events_);
}

InProcessAgent::~InProcessAgent() {
  stop();
}

Status InProcessAgent::start() {
  return agent_->start();
}
void InProcessAgent::stop() {
  agent_->stop();
}

AgentProcess::AgentProcess(std::vector<std::string> arguments, stdfs::path log)
    : log_(std::move(log)) {
  std::vector<std::string> argv_text = {(bin_folder() / "baton-agent").string()};
  argv_text.insert(argv_text.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

AgentProcess::~AgentProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

void AgentProcess::kill(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

int AgentProcess::wait() {
  int status = 0;
  if (pid_ > 0) ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string AgentProcess::log() const {
  std::ifstream in(log_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // A zombie still answers kill(0): look at its state.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

HttpAnswer http_call(const std::string& method, const std::string& url) {
  http::Client client(http::ClientOptions{.connect_timeout = std::chrono::seconds(5),
                                          .timeout = std::chrono::seconds(20)});
  auto response = client.request(method, url);
  HttpAnswer answer;
  if (!response) return answer;
  answer.status = response->status;
  answer.body = response->body;
  if (auto it = response->headers.find(std::string_view("Location"));
      it != response->headers.end()) {
    answer.location = it->second;
  }
  return answer;
}

}  // namespace baton::agent::testing
