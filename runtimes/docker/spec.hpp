#pragma once
// What Baton asks Docker for, as pure functions of a launch: names, labels, the environment inside
// the container and the body of `POST /containers/create`. No I/O, so all of it is unit-tested.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtimes/runtime.hpp"

namespace baton::runtimes::docker {

// Labels on containers. Images carry none: their tag says which bundle they were made from.
inline constexpr std::string_view kLabelAgent = "baton.agent";
inline constexpr std::string_view kLabelBundleId = "baton.bundle-id";
inline constexpr std::string_view kLabelBundleDigest = "baton.bundle-digest";
inline constexpr std::string_view kLabelInstance = "baton.instance";
inline constexpr std::string_view kLabelLaunch = "baton.launch";
inline constexpr std::string_view kLabelComponent = "baton.component";

// `baton-<agent>-<launch id>`, characters Docker refuses in names replaced by '_'.
std::string container_name(std::string_view agent, std::string_view launch_id);
// `baton/<agent>/<bundle name>-<component>`: lower case, runs of other characters become one
// '-', as Docker's repository grammar wants.
std::string image_repository(std::string_view agent, std::string_view bundle_name,
                             std::string_view component);
// The whole bundle digest (64 hex; tags may have 128 characters): an image made for one bundle
// is never taken for another's, and release() finds every image of a digest by its tag.
std::string image_tag(std::string_view bundle_digest);
// repository:tag
std::string image_reference(std::string_view agent, std::string_view bundle_name,
                            std::string_view component, std::string_view bundle_digest);
// The prefix of every repository of `agent` ("baton/<agent>/").
std::string image_repository_prefix(std::string_view agent);
// A named volume of a bundle on an agent: `baton-<agent>-<bundle name>-<volume>`.
std::string volume_name(std::string_view agent, std::string_view bundle_name,
                        std::string_view volume);

// The launch's environment as the container sees it: every `<EP>_BIND_IP` of the launch's
// endpoints is 0.0.0.0 and `<EP>_BIND_PORT` the container port (the component binds inside its
// own network namespace); `<EP>_HOST_PORT` stays the published host port. NOTIFY_SOCKET is
// dropped when it cannot be reached from inside (an abstract socket).
std::vector<std::pair<std::string, std::string>> container_environment(const Launch& launch);

struct Mount {
  std::string type;    // "volume" or "bind"
  std::string source;  // volume name or host path
  std::string target;  // path inside the container
};

struct CreateOptions {
  std::string image;  // image id (preferred over a tag: a tag can move)
  std::string owner;  // label baton.agent (Options::owner); empty: the launch's agent name
  std::vector<Mount> mounts;
  std::string log_max_size = "10m";  // Docker's own json-file log of the container
  int log_max_files = 3;
};

// The JSON body of `POST /containers/create?name=<container_name>`.
std::string create_body(const Launch& launch, const CreateOptions& options);

// Where ports are published on the host: the launch's BUNDLE_HOST_IP when it is an IP address
// (so the endpoint is reachable where the agent says it is, as for universal launches), else
// every address ("").
std::string publish_address(const Launch& launch);

// A Docker exit code as Baton's ExitStatus: 128+N is taken as "killed by signal N" (Docker
// cannot tell it from exit(128+N)); `oom_killed` comes from the container's state.
ExitStatus exit_status(int code, bool oom_killed, std::int64_t memory_limit);

}  // namespace baton::runtimes::docker
