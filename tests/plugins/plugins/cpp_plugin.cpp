// A plugin written with the C++ wrapper (baton/runtime_plugin.hpp, built as C++17 with nothing of
// Baton but the SDK headers), offering two runtimes:
// - "echo-cpp": exercises the translation. start() command[0] picks the behaviour: "error" returns
//   Errc::conflict with a message, "throw" throws std::runtime_error, "throw-error" throws a
//   plugin::Error, anything else succeeds with state {"args": <count>} and pid 4242. probe() is
//   available with attributes from the config; the config {"refuse": true} makes the constructor
//   throw.
// - "proc-cpp": a ProcessRuntime; start() runs the command through the host's process service.
//   command[0] "@destroy-other" <id> tries to destroy and read another runtime's launch;
//   "@start-as" <id> tries to start a process under a foreign id.
#include <stdexcept>
#include <string>

#include "baton/runtime_plugin.hpp"

namespace {

using namespace baton::plugin;

class EchoRuntime final : public Runtime {
 public:
  static constexpr const char* kName = "echo-cpp";

  EchoRuntime(const Host& host, const std::string& config) : host_(host), config_(config) {
    if (config.find("\"refuse\"") != std::string::npos) {
      throw std::runtime_error("echo-cpp refuses: " + config);
    }
    host_.log(LogLevel::warn, "echo-cpp created with " + config);
  }

  ProbeResult probe() override {
    ProbeResult result;
    result.available = true;
    result.attributes["config"] = config_;
    result.attributes["dataDir"] = host_.data_dir().string();
    return result;
  }

  Status prepare(const BundleContent& bundle) override {
    if (bundle.digest.empty()) return make_error(Errc::invalid, "prepare without a digest");
    last_root_ = bundle.root.string();
    return {};
  }

  Result<Handle> start(const Launch& launch) override {
    std::string what = launch.command.empty() ? "" : launch.command.front();
    if (what == "error") {
      return make_error(Errc::conflict, "launch " + launch.id + " clashes with itself");
    }
    if (what == "throw") throw std::runtime_error("echo-cpp blew up in start");
    if (what == "throw-error") throw Error{Errc::unavailable, "the frobnicator is down"};
    if (what == "log") {
      if (auto appended = host_.append_log(launch.id, Stream::out, "first\nsecond\n"); !appended) {
        return std::move(appended).error();
      }
    }
    std::string env;
    for (const auto& [name, value] : launch.environment)
      env += name + "=" + value + ";";
    std::string ports;
    for (const auto& port : launch.ports) {
      ports += port.endpoint + ":" + std::to_string(static_cast<int>(port.protocol)) + ":" +
               std::to_string(port.bind_port) + ":" + std::to_string(port.host_port) + ";";
    }
    return Handle{4242, "{\"args\":" + std::to_string(launch.command.size()) + ",\"env\":\"" + env +
                            "\",\"ports\":\"" + ports +
                            "\",\"memory\":" + std::to_string(launch.limits.memory) +
                            ",\"stopTimeout\":" + std::to_string(launch.stop_timeout.count()) +
                            ",\"root\":\"" + last_root_ + "\"}"};
  }

  Status stop(const std::string&, int signal, std::chrono::milliseconds) override {
    if (signal == 0) return make_error(Errc::invalid, "signal 0");
    return {};
  }
  Status destroy(const std::string&) override { return {}; }
  Result<Handle> recover(const Launch&, const Handle& saved) override {
    return Handle{saved.pid + 1, saved.state + "+recovered"};
  }
  Result<Stats> stats(const std::string& launch_id) override {
    if (launch_id == "missing") return make_error(Errc::not_found, "no launch missing");
    return Stats{2.5, 1 << 20};
  }
  Status release(const std::string& digest) override {
    if (digest == "throw") throw 7;  // not even an exception class
    return {};
  }

 private:
  Host host_;
  std::string config_;
  std::string last_root_;
};

class ProcRuntime final : public ProcessRuntime {
 public:
  static constexpr const char* kName = "proc-cpp";

  ProcRuntime(const Host& host, const std::string&) : ProcessRuntime(host) {}

  ProbeResult probe() override { return ProbeResult{false, "only for tests", {}}; }

  Result<Handle> start(const Launch& launch) override {
    if (launch.command.size() == 2 && launch.command[0] == "@destroy-other") {
      (void)host().process_destroy(launch.command[1]);
      auto stats = host().process_stats(launch.command[1]);
      return make_error(Errc::invalid,
                        "stats: " + (stats ? std::string("ok") : stats.error().message));
    }
    if (launch.command.size() == 2 && launch.command[0] == "@start-as") {
      Launch other = launch;
      other.id = launch.command[1];
      other.command = {"/bin/true"};
      auto started = host().process_start(other);
      return make_error(Errc::invalid,
                        "start: " + (started ? std::string("ok") : started.error().message));
    }
    return host().process_start(launch);
  }
};

}  // namespace

BATON_PLUGIN("cpp-test", "2.0", EchoRuntime, ProcRuntime)
