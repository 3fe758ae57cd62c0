#pragma once
// The images of a bundle's docker components: built from a component folder holding a Dockerfile
// (the folder is the build context) or loaded from an image archive (`docker save` output) in it,
// tagged `baton/<agent>/<bundle>-<component>:<bundle digest>`. One preparation per bundle digest at
// a time (single-flight); an image already there from an earlier run of the agent is reused.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"
#include "runtimes/docker/engine.hpp"
#include "runtimes/runtime.hpp"

namespace baton::runtimes::docker {

namespace stdfs = std::filesystem;

struct PreparedImage {
  std::string component;
  std::string reference;                       // repository:tag
  std::string id;                              // sha256:...
  std::map<std::string, std::string> volumes;  // volume name -> mount point (bundle.conf)
  bool reused = false;  // it was there already (an earlier run of the agent made it)
};

struct PreparedBundle {
  std::string digest;
  std::string name;
  stdfs::path root;
  std::map<std::string, PreparedImage> images;  // by component
};

// What an image archive says about itself (its manifest.json).
struct ArchiveImage {
  std::string id;                      // "sha256:<config digest>"
  std::vector<std::string> repo_tags;  // may be empty
};
Result<std::vector<ArchiveImage>> read_archive_manifest(const stdfs::path& archive);

// The image archive of a component folder: the one `*.tar`, `*.tar.gz`, `*.tgz` or `*.tar.xz` in
// it. Errors name the folder (none, or more than one).
Result<stdfs::path> find_image_archive(const stdfs::path& folder);

class Images {
 public:
  using Log = std::function<void(LogLevel, std::string_view)>;
  Images(Engine& engine, std::string agent, std::string runtime_name, Log log);

  // Builds or loads the image of every component whose file-system-type is the runtime's name.
  // Concurrent calls for one digest wait for the first; a failure is not remembered.
  Status prepare(const BundleContent& bundle);
  // The image of a launch: prepared earlier, else found on the daemon by its reference (an
  // agent restart forgets what was prepared).
  Result<PreparedImage> find(const std::string& digest, const std::string& component,
                             const std::string& bundle_name);
  // Builds or loads one component's image again (it vanished from the daemon).
  Result<PreparedImage> repair(const std::string& digest, const std::string& component);
  std::string bundle_name(const std::string& digest);
  // Removes every image of `digest` this agent made (by reference; untagging deletes the image
  // and its build layers unless something else uses them). 409 (in use) is an error.
  Status release(const std::string& digest);

 private:
  struct Flight;
  Result<PreparedImage> make_image(const PreparedBundle& bundle, const std::string& component,
                                   const std::map<std::string, std::string>& volumes, bool reuse);
  // The id of the image `reference` names; "" when there is none.
  Result<std::string> existing_image(const std::string& reference);
  Result<std::string> build(const stdfs::path& folder, const std::string& reference);
  Result<std::string> load(const stdfs::path& archive, const std::string& reference,
                           const std::string& component);

  Engine& engine_;
  std::string agent_;
  std::string runtime_name_;
  Log log_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;  // by digest
};

}  // namespace baton::runtimes::docker
