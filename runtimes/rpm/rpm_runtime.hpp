#pragma once
// The "rpm" runtime, a plugin (baton-runtime-rpm.so) built on the public SDK only. A component's
// folder in the bundle holds one or more `.rpm` files; prepare() unpacks them once per bundle
// digest into `<data>/<digest>/<component>/` (payload.hpp's rules), and start() runs the
// start-command inside that root through the host's process service, so ports, environment,
// readiness, logs, stop and recovery are exactly those of the universal runtime:
// - an absolute program (/usr/bin/hello) is the root's file (<root>/usr/bin/hello); a relative
//   one is relative to the bundle's top folder (as for universal); a bare name is looked up in
//   PATH, which starts with the root's bin folders;
// - PATH and LD_LIBRARY_PATH start with the root's folders; BATON_RPM_ROOT names the root.
// release() removes the digest's roots.
//
// Configuration (`<plugin folder>/rpm.json`, all optional): {"dataDir": "/var/lib/x",
// "maxEntries": 200000, "maxBytes": 8589934592, "maxRatio": 100}.

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "baton/runtime_plugin.hpp"
#include "runtimes/rpm/payload.hpp"

namespace baton::runtimes::rpm {

class RpmRuntime final : public plugin::ProcessRuntime {
 public:
  static constexpr const char* kName = "rpm";

  // Throws plugin::Error on a bad configuration or an unusable data folder (refusing the plugin).
  RpmRuntime(const plugin::Host& host, const std::string& config_json);

  plugin::ProbeResult probe() override;
  plugin::Status prepare(const plugin::BundleContent& bundle) override;
  plugin::Result<plugin::Handle> start(const plugin::Launch& launch) override;
  plugin::Status release(const std::string& bundle_digest) override;

  // `<data>/<digest>/<component>`, unpacked from `<bundle_root>/<component>/*.rpm` when missing.
  plugin::Result<stdfs::path> root(const std::string& digest, const stdfs::path& bundle_root,
                                   const std::string& component);

 private:
  std::shared_ptr<std::mutex> lock_for(const std::string& key);

  stdfs::path data_dir_;
  PayloadLimits limits_;
  std::mutex mutex_;                                          // guards locks_
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;  // one per root being unpacked
};

}  // namespace baton::runtimes::rpm
