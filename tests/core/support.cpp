#include "support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "bundle/bundle_file.hpp"

namespace baton::core::testing {

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

stdfs::path temp_folder(const std::string& prefix) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), prefix);
  if (!folder) throw std::runtime_error(folder.error().message);
  return folder->release();
}

std::string bundle_conf(const BundleSpec& spec) {
  std::string system = spec.system.empty() ? spec.name : spec.system;
  std::string service = spec.service_name.empty() ? spec.name : spec.service_name;
  auto list = [](const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      out += (i ? ", \"" : "\"") + items[i] + "\"";
    }
    return out + "]";
  };
  std::string start =
      spec.runtime == "docker" ? "" : "    start-command = [\"" + spec.name + "/bin/run\"]\n";
  return "version = \"1\"\n"
         "name = \"" +
         spec.name +
         "\"\n"
         "compatibilityVersion = \"" +
         spec.compatibility_version +
         "\"\n"
         "system = \"" +
         system +
         "\"\n"
         "nrOfCpus = " +
         std::to_string(spec.cpus) +
         "\n"
         "memory = " +
         std::to_string(spec.memory) +
         "\n"
         "diskSpace = " +
         std::to_string(spec.disk) +
         "\n"
         "roles = " +
         list(spec.roles) +
         "\n"
         "tags = " +
         list(spec.tags) +
         "\n"
         "components {\n"
         "  " +
         spec.name +
         " {\n"
         "    description = \"test component\"\n"
         "    file-system-type = \"" +
         spec.runtime + "\"\n" + start +
         "    endpoints {\n"
         "      web {\n"
         "        bind-protocol = \"http\"\n"
         "        bind-port = 0\n"
         "        service-name = \"" +
         service +
         "\"\n"
         "        acls = [{ http { requests = [{ path-beg = \"/" +
         service +
         "\" }] } }]\n"
         "      }\n"
         "    }\n"
         "  }\n"
         "}\n" +
         spec.extra;
}

namespace {

void write_file(const stdfs::path& file, const std::string& content) {
  stdfs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << content;
}

std::atomic<int> made{0};

}  // namespace

MadeFile make_bundle(const stdfs::path& folder, const BundleSpec& spec) {
  stdfs::path source = folder / ("src-" + std::to_string(made++)) / spec.name;
  std::string conf = bundle_conf(spec);
  write_file(source / "bundle.conf", conf);
  write_file(source / spec.name / "bin" / "run",
             "#!/bin/sh\n# " + spec.payload + "\nexec sleep 1000\n");
  stdfs::permissions(source / spec.name / "bin" / "run", stdfs::perms(0755));
  bundle::CreateOptions options;
  options.output_folder = folder;
  options.threads = 1;
  options.parse.any_runtime = true;  // plugin runtimes: the core under test judges them
  auto created = bundle::create_bundle(source, options);
  if (!created) throw std::runtime_error("make_bundle: " + created.error().message);
  return MadeFile{created->path, created->digest, created->path.filename().string(), conf};
}

MadeFile make_configuration(const stdfs::path& folder, const std::string& stem,
                            const std::string& overlay) {
  stdfs::path source = folder / ("src-" + std::to_string(made++)) / stem;
  write_file(source / "bundle.conf", overlay);
  bundle::CreateOptions options;
  options.output_folder = folder;
  options.configuration = true;
  options.threads = 1;
  auto created = bundle::create_bundle(source, options);
  if (!created) throw std::runtime_error("make_configuration: " + created.error().message);
  return MadeFile{created->path, created->digest, created->path.filename().string(), overlay};
}

std::vector<http::FormPart> load_parts(const MadeFile& bundle, const MadeFile* configuration) {
  std::vector<http::FormPart> parts;
  parts.push_back(http::FormPart{.name = "bundleConf", .content = bundle.conf});
  if (configuration) {
    parts.push_back(http::FormPart{.name = "bundleConfOverlay", .content = configuration->conf});
  }
  parts.push_back(
      http::FormPart{.name = "bundle", .file_name = bundle.file_name, .path = bundle.path});
  if (configuration) {
    parts.push_back(http::FormPart{.name = "configuration",
                                   .file_name = configuration->file_name,
                                   .path = configuration->path});
  }
  return parts;
}

// --- TestCore -------------------------------------------------------------------------------

CoreOptions TestCore::test_options() {
  CoreOptions o;
  o.port = 0;
  o.threads = 2;
  o.durable_store = false;
  o.down_after = std::chrono::milliseconds(1500);
  o.heartbeat = std::chrono::milliseconds(200);
  o.restart_backoff = std::chrono::milliseconds(50);
  o.plan_debounce = std::chrono::milliseconds(5);
  o.sse_heartbeat = std::chrono::milliseconds(500);
  return o;
}

TestCore::TestCore(CoreOptions o) : options(std::move(o)) {
  data_ = options.data.empty() ? temp_folder("baton-core-test-") : options.data;
  options.data = data_;
  auto started = CoreService::start(options);
  if (!started) throw std::runtime_error("core: " + started.error().message);
  service_ = std::move(*started);
}

TestCore::~TestCore() {
  service_.reset();
  files::remove_tree(data_);
}

void TestCore::stop() {
  if (service_) service_->stop();
}

void TestCore::restart() {
  service_.reset();
  auto started = CoreService::start(options);
  if (!started) throw std::runtime_error("core restart: " + started.error().message);
  service_ = std::move(*started);
}

std::string TestCore::url(const std::string& path) const {
  return service_->url() + path;
}

http::Response TestCore::get(const std::string& path) {
  return request("GET", path);
}

http::Response TestCore::request(const std::string& method, const std::string& path,
                                 const std::string& body) {
  auto response = client_.request(method, url(path), body);
  if (!response) throw std::runtime_error(method + " " + path + ": " + response.error().message);
  return *response;
}

std::string TestCore::load(const MadeFile& bundle, const MadeFile* configuration) {
  auto response = client_.post_form(url("/v2/bundles"), load_parts(bundle, configuration));
  if (!response) throw std::runtime_error("load: " + response.error().message);
  if (response->status != 200) {
    throw std::runtime_error("load: HTTP " + std::to_string(response->status) + " " +
                             response->body);
  }
  return json::parse(response->body).at("bundleId").get<std::string>();
}

json TestCore::bundles() {
  return json::parse(get("/v2/bundles").body);
}

std::optional<json> TestCore::bundle(const std::string& id) {
  for (auto& b : bundles()) {
    if (b.at("bundleId") == id) return b;
  }
  return std::nullopt;
}

// --- FakeAgent ------------------------------------------------------------------------------

FakeAgent::FakeAgent(std::string core_url, std::string name) : core_url_(std::move(core_url)) {
  registration.name = std::move(name);
  registration.address = "127.0.0.1";
  registration.api_url = "http://127.0.0.1:1";
  registration.roles = {"web"};
  registration.resources = protocol::Resources{.cpus = 2, .memory = 4LL << 30, .disk = 10LL << 30};
  registration.runtimes["universal"] = protocol::RuntimeInfo{.available = true};
}

http::Response FakeAgent::register_agent() {
  protocol::Registration r = registration;
  r.bundles = bundles;
  for (const auto& [id, status] : instances)
    r.instances.push_back(status);
  auto response = client_.request("POST", core_url_ + "/v2/agents", json(r).dump());
  if (!response) throw std::runtime_error("register: " + response.error().message);
  return *response;
}

http::Response FakeAgent::report() {
  protocol::StatusReport report;
  report.bundles = bundles;
  report.resources_available = registration.resources;
  for (const auto& [id, status] : instances)
    report.instances.push_back(status);
  auto response = client_.request("PUT", core_url_ + "/v2/agents/" + registration.name + "/status",
                                  json(report).dump());
  if (!response) throw std::runtime_error("status: " + response.error().message);
  return *response;
}

http::Response FakeAgent::poll(std::uint64_t index, int wait_ms) {
  auto response = client_.get(core_url_ + "/v2/agents/" + registration.name + "/assignment?index=" +
                              std::to_string(index) + "&waitMs=" + std::to_string(wait_ms));
  if (!response) throw std::runtime_error("assignment: " + response.error().message);
  return *response;
}

protocol::Assignment FakeAgent::assignment() {
  auto response = poll(0, 0);
  if (response.status != 200) {
    throw std::runtime_error("assignment: HTTP " + std::to_string(response.status) + " " +
                             response.body);
  }
  return json::parse(response.body).get<protocol::Assignment>();
}

std::vector<std::string> FakeAgent::assigned() {
  std::vector<std::string> out;
  for (const auto& i : assignment().instances)
    out.push_back(i.instance_id);
  return out;
}

void FakeAgent::set_state(const std::string& instance_id, protocol::InstanceState state,
                          const std::string& error) {
  auto& status = instances[instance_id];
  status.instance_id = instance_id;
  status.state = state;
  status.error = error;
  if (status.endpoints.empty()) {
    int port = next_port_++;
    status.endpoints["web"] =
        protocol::EndpointBinding{.protocol = "http", .bind_port = port, .host_port = port};
    status.pid = 1000 + port;
  }
  if (state == protocol::InstanceState::started && status.started_at == 0) status.started_at = 1;
}

void FakeAgent::run_assigned(protocol::InstanceState state) {
  for (const auto& i : assignment().instances) {
    instances[i.instance_id].bundle_id = i.bundle_id;
    set_state(i.instance_id, state);
  }
  report();
}

}  // namespace baton::core::testing
