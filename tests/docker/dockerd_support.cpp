#include "tests/docker/dockerd_support.hpp"

#include "runtimes/docker/spec.hpp"
#include "tests/agent/support/fixtures.hpp"
#include "tests/docker/support.hpp"

namespace baton::docker_testing {

using nlohmann::json;

std::string dockerd_missing() {
  auto reply = dockerd().call("GET", "/_ping", {}, std::chrono::seconds(5));
  if (reply && reply->ok()) return {};
  return std::string("\n*** dockerd does not answer on ") + kDockerSocket + " (" +
         (reply ? "HTTP " + std::to_string(reply->status) : reply.error().message) +
         "): start it as root (nohup dockerd >/var/log/baton-dockerd.log 2>&1 &) to run the "
         "Docker integration tests ***\n";
}

runtimes::docker::Engine& dockerd() {
  static runtimes::docker::Engine engine(runtimes::docker::EngineOptions{.socket = kDockerSocket});
  return engine;
}

json get_json(const std::string& path) {
  auto reply = dockerd().call("GET", path);
  if (!reply || !reply->ok()) return nullptr;
  return json::parse(reply->body, nullptr, false);
}

json containers_labelled(const std::string& key, const std::string& value) {
  json filters = {{"label", {key + "=" + value}}};
  json listed =
      get_json("/containers/json?all=1&filters=" + runtimes::docker::url_encode(filters.dump()));
  return listed.is_array() ? listed : json::array();
}

std::vector<std::string> images_of(const std::string& agent) {
  const std::string prefix = runtimes::docker::image_repository_prefix(agent);
  std::vector<std::string> out;
  json listed = get_json("/images/json");
  if (!listed.is_array()) return out;
  for (const auto& image : listed) {
    if (!image.contains("RepoTags") || !image["RepoTags"].is_array()) continue;
    for (const auto& tag : image["RepoTags"]) {
      if (tag.is_string() && tag.get<std::string>().starts_with(prefix)) out.push_back(tag);
    }
  }
  return out;
}

void remove_everything_of(const std::string& agent) {
  for (const auto& container : containers_labelled("baton.agent", agent)) {
    (void)dockerd().call("DELETE",
                         "/containers/" + container["Id"].get<std::string>() + "?force=1&v=1");
  }
  for (const auto& reference : images_of(agent)) {
    (void)dockerd().call("DELETE", "/images/" + runtimes::docker::url_encode(reference));
  }
}

std::filesystem::path static_testcomponent() {
  return agent::testing::bin_folder() / "baton-testcomponent-static";
}

std::map<std::string, std::string> image_folder(const std::string& component) {
  return {{component + "/Dockerfile", "FROM scratch\nCOPY testcomponent /testcomponent\n"},
          {component + "/testcomponent@exec", read_text(static_testcomponent())}};
}

}  // namespace baton::docker_testing
