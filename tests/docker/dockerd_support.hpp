#pragma once
// The real dockerd for the integration tests: whether it answers (the tests skip, loudly, only
// when it does not), the Engine API to look at what Baton made, component folders whose image is
// built FROM scratch around the static test component, and removing what a failed test left.

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtimes/docker/engine.hpp"

namespace baton::docker_testing {

inline constexpr const char* kDockerSocket = "/var/run/docker.sock";

// Empty when dockerd answers on kDockerSocket; else why not, in words for GTEST_SKIP.
std::string dockerd_missing();
runtimes::docker::Engine& dockerd();

// GET on the real dockerd, parsed; null JSON when it fails.
nlohmann::json get_json(const std::string& path);
// Containers (all states) carrying label `key=value`.
nlohmann::json containers_labelled(const std::string& key, const std::string& value);
// References (repository:tag) of the images of `agent` (baton/<agent>/...).
std::vector<std::string> images_of(const std::string& agent);
// Removes the containers and images of `agent`.
void remove_everything_of(const std::string& agent);

std::filesystem::path static_testcomponent();
// The files of a component folder: a Dockerfile copying the static test component to
// /testcomponent, and that program (keys as make_bundle takes them: "<component>/...").
std::map<std::string, std::string> image_folder(const std::string& component);

}  // namespace baton::docker_testing
