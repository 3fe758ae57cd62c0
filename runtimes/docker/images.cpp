#include "runtimes/docker/images.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/text.hpp"
#include "runtimes/docker/context.hpp"
#include "runtimes/docker/spec.hpp"
#include "runtimes/docker/streams.hpp"

namespace baton::runtimes::docker {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxManifest = 16u << 20;

bool ends_with_any(const std::string& name, std::initializer_list<std::string_view> suffixes) {
  for (auto suffix : suffixes) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  }
  return false;
}

std::string short_id(const std::string& id) {
  std::string_view text = id;
  if (text.starts_with("sha256:")) text.remove_prefix(7);
  return std::string(text.substr(0, 12));
}

// Reads a file for a streamed upload.
class FileSource {
 public:
  explicit FileSource(const stdfs::path& path) : path_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~FileSource() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  bool ok() const { return fd_ >= 0; }
  Result<std::size_t> read(char* out, std::size_t size) {
    for (;;) {
      ssize_t got = ::read(fd_, out, size);
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) return make_error(Errc::io, path_ + ": " + std::strerror(errno));
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

Result<std::vector<ArchiveImage>> read_archive_manifest(const stdfs::path& path) {
  std::unique_ptr<archive, int (*)(archive*)> reader(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(reader.get());
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_filename(reader.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return make_error(Errc::invalid,
                      "image archive " + path.string() + ": " + archive_error_string(reader.get()));
  }
  archive_entry* entry = nullptr;
  std::string manifest;
  bool found = false;
  int status = ARCHIVE_OK;
  while ((status = archive_read_next_header(reader.get(), &entry)) == ARCHIVE_OK) {
    std::string_view name = archive_entry_pathname(entry);
    if (name.starts_with("./")) name.remove_prefix(2);
    if (name != "manifest.json") continue;
    found = true;
    char buffer[64 * 1024];
    la_ssize_t got = 0;
    while ((got = archive_read_data(reader.get(), buffer, sizeof buffer)) > 0) {
      manifest.append(buffer, static_cast<std::size_t>(got));
      if (manifest.size() > kMaxManifest) {
        return make_error(Errc::limit, "image archive " + path.string() +
                                           ": manifest.json is larger than 16 MiB");
      }
    }
    if (got < 0) {
      return make_error(Errc::invalid, "image archive " + path.string() + ": " +
                                           archive_error_string(reader.get()));
    }
    break;
  }
  if (status != ARCHIVE_OK && status != ARCHIVE_EOF) {
    return make_error(Errc::invalid,
                      "image archive " + path.string() + ": " + archive_error_string(reader.get()));
  }
  if (!found) {
    return make_error(Errc::invalid, "image archive " + path.string() +
                                         ": no manifest.json (not `docker save` output)");
  }
  json parsed = json::parse(manifest, nullptr, false);
  if (!parsed.is_array()) {
    return make_error(Errc::invalid,
                      "image archive " + path.string() + ": manifest.json is not a JSON array");
  }
  std::vector<ArchiveImage> images;
  for (const auto& item : parsed) {
    if (!item.is_object() || !item.contains("Config") || !item["Config"].is_string()) {
      return make_error(Errc::invalid,
                        "image archive " + path.string() + ": manifest.json entry without Config");
    }
    // "<hex>.json" (docker save) or "blobs/sha256/<hex>" (OCI layout).
    std::string config = stdfs::path(item["Config"].get<std::string>()).filename().string();
    if (config.ends_with(".json")) config.resize(config.size() - 5);
    ArchiveImage image;
    image.id = "sha256:" + config;
    if (auto tags = item.find("RepoTags"); tags != item.end() && tags->is_array()) {
      for (const auto& tag : *tags) {
        if (tag.is_string()) image.repo_tags.push_back(tag.get<std::string>());
      }
    }
    images.push_back(std::move(image));
  }
  return images;
}

Result<stdfs::path> find_image_archive(const stdfs::path& folder) {
  std::vector<stdfs::path> found;
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(folder, error)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file(error) &&
        ends_with_any(name, {".tar", ".tar.gz", ".tgz", ".tar.xz"})) {
      found.push_back(entry.path());
    }
  }
  if (error)
    return make_error(Errc::io, "component folder " + folder.string() + ": " + error.message());
  if (found.empty()) {
    return make_error(Errc::invalid,
                      "component folder " + folder.string() +
                          " holds neither a Dockerfile nor an image archive (*.tar)");
  }
  if (found.size() > 1) {
    return make_error(Errc::invalid, "component folder " + folder.string() + " holds " +
                                         std::to_string(found.size()) +
                                         " image archives; expected one (or a Dockerfile)");
  }
  return found.front();
}

struct Images::Flight {
  bool done = false;
  Status status;
  PreparedBundle bundle;
  std::map<std::string, std::map<std::string, std::string>> volumes;  // component -> volumes
  std::condition_variable changed;
};

Images::Images(Engine& engine, std::string agent, std::string runtime_name, Log log)
    : engine_(engine),
      agent_(std::move(agent)),
      runtime_name_(std::move(runtime_name)),
      log_(std::move(log)) {}

Status Images::prepare(const BundleContent& content) {
  if (content.descriptor == nullptr) {
    return make_error(Errc::internal, "prepare " + content.digest + ": no descriptor");
  }
  std::shared_ptr<Flight> flight;
  {
    std::unique_lock lock(mutex_);
    auto it = flights_.find(content.digest);
    if (it != flights_.end()) {
      flight = it->second;
      flight->changed.wait(lock, [&] { return flight->done; });
      return flight->status;
    }
    flight = std::make_shared<Flight>();
    flights_[content.digest] = flight;
  }
  PreparedBundle bundle{content.digest, content.descriptor->name, content.root, {}};
  std::map<std::string, std::map<std::string, std::string>> volumes;
  std::vector<std::string> made;  // references made by this call, removed again on failure
  Status status;
  for (const auto& component : content.descriptor->components) {
    if (component.file_system_type != runtime_name_) continue;
    volumes[component.name] = component.volumes;
    auto image = make_image(bundle, component.name, component.volumes, true);
    if (!image) {
      status = std::move(image).error().within("component " + component.name);
      break;
    }
    if (!image->reused) made.push_back(image->reference);
    bundle.images[component.name] = std::move(image).value();
  }
  if (!status) {
    for (const auto& reference : made) {
      (void)engine_.call("DELETE", "/images/" + url_encode(reference));
    }
  }
  std::lock_guard lock(mutex_);
  flight->done = true;
  flight->status = status;
  flight->bundle = std::move(bundle);
  flight->volumes = std::move(volumes);
  if (!status) flights_.erase(content.digest);
  flight->changed.notify_all();
  return status;
}

Result<std::string> Images::existing_image(const std::string& reference) {
  BATON_ASSIGN_OR_RETURN(Reply reply,
                         engine_.call("GET", "/images/" + url_encode(reference) + "/json"));
  if (reply.status == 404) return std::string();
  if (!reply.ok()) return reply_error(reply, "image " + reference);
  json parsed = json::parse(reply.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("Id") || !parsed["Id"].is_string()) {
    return make_error(Errc::io, "image " + reference + ": dockerd answered without an Id");
  }
  return parsed["Id"].get<std::string>();
}

Result<PreparedImage> Images::make_image(const PreparedBundle& bundle, const std::string& component,
                                         const std::map<std::string, std::string>& volumes,
                                         bool reuse) {
  const stdfs::path folder = bundle.root / component;
  const std::string reference = image_reference(agent_, bundle.name, component, bundle.digest);
  std::error_code error;
  if (!stdfs::is_directory(folder, error)) {
    return make_error(Errc::invalid,
                      "no folder " + component + "/ in the bundle (" + folder.string() + ")");
  }
  const bool dockerfile = stdfs::is_regular_file(folder / "Dockerfile", error);
  PreparedImage image{component, reference, {}, volumes, false};
  if (reuse) {
    BATON_ASSIGN_OR_RETURN(image.id, existing_image(reference));
    if (!image.id.empty()) {
      image.reused = true;
      log_(LogLevel::info, "image " + reference + " (" + short_id(image.id) + ") is already there");
      return image;
    }
  }
  auto started = std::chrono::steady_clock::now();
  if (dockerfile) {
    BATON_ASSIGN_OR_RETURN(image.id, build(folder, reference));
  } else {
    BATON_ASSIGN_OR_RETURN(stdfs::path archive, find_image_archive(folder));
    BATON_ASSIGN_OR_RETURN(image.id, load(archive, reference, component));
  }
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
  log_(LogLevel::info, std::string(dockerfile ? "built" : "loaded") + " image " + reference + " (" +
                           short_id(image.id) + ") in " + std::to_string(millis) + " ms");
  return image;
}

Result<std::string> Images::build(const stdfs::path& folder, const std::string& reference) {
  BATON_ASSIGN_OR_RETURN(auto tar, ContextTar::open(folder));
  // No `labels=`: the classic builder adds them as one more step (a container created and
  // committed), which made builds half again slower than `docker build` (bench/docker). The tag,
  // which holds the whole bundle digest, says what the image is.
  const std::string path = "/build?t=" + url_encode(reference) + "&rm=1&forcerm=1";
  Progress progress;
  LineSplitter lines;
  bool malformed = false;
  Engine::Source source = [&](char* out, std::size_t size) { return tar->read(out, size); };
  Engine::Sink sink = [&](std::string_view data) {
    if (!lines.feed(data, [&](std::string_view line) { progress.feed_line(line); })) {
      malformed = true;
      return false;
    }
    return true;
  };
  auto reply = engine_.stream("POST", path, "application/x-tar", source, -1, sink);
  if (!lines.rest().empty()) progress.feed_line(lines.rest());
  progress.finish();
  const std::string what = "docker build of " + folder.string() + " (" + reference + ")";
  auto with_tail = [&](std::string message) {
    std::string tail = progress.tail();
    return tail.empty() ? message : message + "; last lines of the build:\n" + tail;
  };
  if (!reply) return make_error(reply.error().code, with_tail(what + ": " + reply.error().message));
  if (!reply->ok()) return reply_error(*reply, what);
  if (malformed) return make_error(Errc::io, with_tail(what + ": a progress line is too long"));
  if (progress.failed()) {
    return make_error(Errc::invalid, with_tail(what + " failed: " + progress.error()));
  }
  if (progress.image_id().empty()) {
    return make_error(Errc::io, with_tail(what + ": the build stream ended without an image id"));
  }
  // The tag is what start() and release() use: make sure it points at the image just built.
  BATON_ASSIGN_OR_RETURN(std::string id, existing_image(reference));
  if (id.empty()) {
    return make_error(Errc::io, what + ": image " + progress.image_id() + " built but " +
                                    reference + " does not name it");
  }
  return id;
}

Result<std::string> Images::load(const stdfs::path& archive, const std::string& reference,
                                 const std::string& component) {
  (void)component;
  const std::string what = "docker load of " + archive.string();
  BATON_ASSIGN_OR_RETURN(auto manifest, read_archive_manifest(archive));
  if (manifest.size() != 1) {
    return make_error(Errc::invalid, "image archive " + archive.string() + " holds " +
                                         std::to_string(manifest.size()) +
                                         " images; a docker component needs exactly one");
  }
  const ArchiveImage& wanted = manifest.front();
  // References the load adds are Baton's: they go again after tagging, so that release() (which
  // removes the Baton tag) leaves nothing behind. Those that were there before stay.
  std::vector<std::string> added;
  for (const auto& tag : wanted.repo_tags) {
    BATON_ASSIGN_OR_RETURN(Reply reply,
                           engine_.call("GET", "/images/" + url_encode(tag) + "/json"));
    if (reply.status == 404) added.push_back(tag);
  }
  std::error_code error;
  auto size = stdfs::file_size(archive, error);
  if (error) return make_error(Errc::io, archive.string() + ": " + error.message());
  FileSource file(archive);
  if (!file.ok()) return make_error(Errc::io, archive.string() + ": " + std::strerror(errno));
  Progress progress;
  LineSplitter lines;
  Engine::Source source = [&](char* out, std::size_t n) { return file.read(out, n); };
  Engine::Sink sink = [&](std::string_view data) {
    return lines.feed(data, [&](std::string_view line) { progress.feed_line(line); });
  };
  auto reply = engine_.stream("POST", "/images/load?quiet=1", "application/x-tar", source,
                              static_cast<std::int64_t>(size), sink);
  if (!lines.rest().empty()) progress.feed_line(lines.rest());
  progress.finish();
  auto with_tail = [&](std::string message) {
    std::string tail = progress.tail();
    return tail.empty() ? message : message + "; last lines:\n" + tail;
  };
  if (!reply) return make_error(reply.error().code, with_tail(what + ": " + reply.error().message));
  if (!reply->ok()) return reply_error(*reply, what);
  if (progress.failed()) {
    return make_error(Errc::invalid, with_tail(what + " failed: " + progress.error()));
  }
  BATON_ASSIGN_OR_RETURN(Reply inspected,
                         engine_.call("GET", "/images/" + url_encode(wanted.id) + "/json"));
  if (!inspected.ok()) {
    return make_error(Errc::io,
                      with_tail(what + ": image " + wanted.id +
                                " is not there after the load: " + daemon_message(inspected)));
  }
  auto colon = reference.rfind(':');
  BATON_ASSIGN_OR_RETURN(
      Reply tagged, engine_.call("POST", "/images/" + url_encode(wanted.id) +
                                             "/tag?repo=" + url_encode(reference.substr(0, colon)) +
                                             "&tag=" + url_encode(reference.substr(colon + 1))));
  if (!tagged.ok()) return reply_error(tagged, "tagging " + wanted.id + " as " + reference);
  for (const auto& tag : added) {
    (void)engine_.call("DELETE", "/images/" + url_encode(tag) + "?noprune=1");
  }
  return wanted.id;
}

Result<PreparedImage> Images::find(const std::string& digest, const std::string& component,
                                   const std::string& bundle_name) {
  {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(digest);
    if (it != flights_.end() && it->second->done && it->second->status) {
      auto image = it->second->bundle.images.find(component);
      if (image != it->second->bundle.images.end()) return image->second;
    }
  }
  if (bundle_name.empty()) {
    return make_error(Errc::not_found, "no image prepared for component " + component +
                                           " of bundle " + digest.substr(0, 12));
  }
  const std::string reference = image_reference(agent_, bundle_name, component, digest);
  BATON_ASSIGN_OR_RETURN(std::string id, existing_image(reference));
  if (id.empty()) {
    return make_error(Errc::not_found, "no image " + reference + " for component " + component +
                                           " (the bundle was not prepared)");
  }
  return PreparedImage{component, reference, id, {}, true};
}

std::string Images::bundle_name(const std::string& digest) {
  std::lock_guard lock(mutex_);
  auto it = flights_.find(digest);
  return it != flights_.end() && it->second->done ? it->second->bundle.name : std::string();
}

Result<PreparedImage> Images::repair(const std::string& digest, const std::string& component) {
  PreparedBundle bundle;
  std::map<std::string, std::string> volumes;
  {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(digest);
    if (it == flights_.end() || !it->second->done || !it->second->status) {
      return make_error(Errc::not_found, "bundle " + digest.substr(0, 12) + " is not prepared");
    }
    bundle = it->second->bundle;
    volumes = it->second->volumes[component];
  }
  BATON_ASSIGN_OR_RETURN(PreparedImage image, make_image(bundle, component, volumes, false));
  std::lock_guard lock(mutex_);
  if (auto it = flights_.find(digest); it != flights_.end()) {
    it->second->bundle.images[component] = image;
  }
  return image;
}

Status Images::release(const std::string& digest) {
  {
    std::unique_lock lock(mutex_);
    auto it = flights_.find(digest);
    if (it != flights_.end()) {
      auto flight = it->second;
      flight->changed.wait(lock, [&] { return flight->done; });
      flights_.erase(digest);
    }
  }
  BATON_ASSIGN_OR_RETURN(Reply listed, engine_.call("GET", "/images/json"));
  if (!listed.ok()) return reply_error(listed, "listing images");
  json parsed = json::parse(listed.body, nullptr, false);
  if (!parsed.is_array()) return make_error(Errc::io, "listing images: not a JSON array");
  const std::string prefix = image_repository_prefix(agent_);
  const std::string suffix = ":" + image_tag(digest);
  Status status;
  for (const auto& image : parsed) {
    auto tags = image.find("RepoTags");
    if (tags == image.end() || !tags->is_array()) continue;
    for (const auto& tag : *tags) {
      if (!tag.is_string()) continue;
      const std::string reference = tag.get<std::string>();
      if (!reference.starts_with(prefix) || !reference.ends_with(suffix)) continue;
      auto removed = engine_.call("DELETE", "/images/" + url_encode(reference));
      if (!removed) {
        if (status) status = std::move(removed).error();
      } else if (!removed->ok() && removed->status != 404) {
        if (status) status = reply_error(*removed, "removing image " + reference);
      } else {
        log_(LogLevel::info, "removed image " + reference);
      }
    }
  }
  return status;
}

}  // namespace baton::runtimes::docker
