#pragma once
// Shared by the core tests: a core on 127.0.0.1:0 with a temporary data folder, bundles made on
// disk, uploads through http::Client::post_form, and a fake agent that speaks the agent-core
// protocol over real HTTP.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "core/options.hpp"
#include "core/service.hpp"
#include "http/client.hpp"
#include "protocol/agent_messages.hpp"

namespace baton::core::testing {

namespace stdfs = std::filesystem;
using nlohmann::json;

// Polls `condition` until it holds or `timeout` passes; true when it held.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A temporary folder under the system's temp folder, removed at the end.
stdfs::path temp_folder(const std::string& prefix);

struct BundleSpec {
  std::string name = "web";
  std::string compatibility_version = "1";
  std::string system;  // empty: the name
  std::vector<std::string> tags;
  std::vector<std::string> roles{"web"};
  double cpus = 0.1;
  std::int64_t memory = 32 << 20;
  std::int64_t disk = 1 << 20;
  std::string runtime = "universal";
  std::string service_name;  // empty: the name
  std::string extra;         // more bundle.conf text
  std::string payload;       // content of <component>/bin/run (makes the digest unique)
};

std::string bundle_conf(const BundleSpec& spec);

struct MadeFile {
  stdfs::path path;
  std::string digest;
  std::string file_name;
  std::string conf;  // bundle.conf as written into it
};

// A bundle (or a configuration holding `overlay` as its bundle.conf) zipped in `folder`.
MadeFile make_bundle(const stdfs::path& folder, const BundleSpec& spec);
MadeFile make_configuration(const stdfs::path& folder, const std::string& stem,
                            const std::string& overlay);

// The form parts of a load: bundleConf, [bundleConfOverlay], bundle, [configuration].
std::vector<http::FormPart> load_parts(const MadeFile& bundle,
                                       const MadeFile* configuration = nullptr);

class TestCore {
 public:
  explicit TestCore(CoreOptions options = test_options());
  ~TestCore();

  static CoreOptions test_options();

  std::string url(const std::string& path) const;
  CoreService& service() { return *service_; }
  Core& core() { return service_->core(); }
  const stdfs::path& data() const { return data_; }
  // Stops this core and starts a new one on the same data folder (and the same options).
  void restart();
  void stop();

  http::Response get(const std::string& path);
  http::Response request(const std::string& method, const std::string& path,
                         const std::string& body = {});
  // Loads a bundle: the bundle id on success, else fails the test.
  std::string load(const MadeFile& bundle, const MadeFile* configuration = nullptr);
  json bundles();
  std::optional<json> bundle(const std::string& id);

  CoreOptions options;

 private:
  stdfs::path data_;
  std::unique_ptr<CoreService> service_;
  http::Client client_;
};

// An agent that is only its messages, sent over HTTP to a core.
class FakeAgent {
 public:
  FakeAgent(std::string core_url, std::string name);

  protocol::Registration registration;
  // What it reports: instance id -> status (the test edits these).
  std::map<std::string, protocol::InstanceStatus> instances;
  std::vector<std::string> bundles;

  http::Response register_agent();
  http::Response report();
  // The current assignment (index 0: at once).
  protocol::Assignment assignment();
  // Long poll with `index`.
  http::Response poll(std::uint64_t index, int wait_ms);
  // Instance ids in the current assignment.
  std::vector<std::string> assigned();
  // Marks every assigned instance `state` (with an endpoint binding) and reports.
  void run_assigned(protocol::InstanceState state = protocol::InstanceState::started);
  void set_state(const std::string& instance_id, protocol::InstanceState state,
                 const std::string& error = {});

 private:
  std::string core_url_;
  http::Client client_;
  int next_port_ = 10000;
};

}  // namespace baton::core::testing
