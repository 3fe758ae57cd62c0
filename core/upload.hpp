#pragma once
// POST /v2/bundles: the multipart body is parsed as it arrives; each file part is written to a
// temporary file under <data>/tmp/ while it is hashed, so a bundle of any size is never held in
// memory. At the end of each part its digest is compared with the one in its file name; once
// the body is complete, bundle.conf is read from inside the zip (and the configuration's), the
// descriptor is validated with the overlay merged, and the sent bundleConf/bundleConfOverlay
// texts are checked against them. Only then is the load handed to the core. Anything refused
// leaves no file behind (the temporary folder goes with the sink).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"
#include "http/server.hpp"

namespace baton::core {

namespace stdfs = std::filesystem;

// A verified bundle (and configuration) ready to be loaded.
struct LoadInput {
  std::string bundle_digest;
  std::string bundle_file_name;
  stdfs::path bundle_path;  // a temporary file to adopt, or the stored file (history reload)
  std::uint64_t bundle_bytes = 0;
  std::string configuration_digest;  // empty without a configuration
  std::string configuration_file_name;
  stdfs::path configuration_path;
  std::uint64_t configuration_bytes = 0;
  std::string bundle_conf;        // from inside the bundle
  std::string overlay_conf;       // from inside the configuration; empty when none
  bundle::Descriptor descriptor;  // effective
  std::string loaded_by;
};

// Reads bundle.conf from inside the bundle zip (and the configuration zip, when
// `configuration_path` is not empty) and validates the merged descriptor. The files must already
// be known to match their digests; errors name the file and the member. Any well-formed runtime
// name passes here: Core::load checks them against the runtimes its agents offer.
Result<LoadInput> inspect_files(const stdfs::path& bundle_path, const std::string& bundle_file_name,
                                const stdfs::path& configuration_path,
                                const std::string& configuration_file_name);

// Loads a verified bundle; answers the JSON of the reply.
using LoadFunction = std::function<Result<std::string>(LoadInput)>;

// The body sink factory of POST /v2/bundles. Temporary files go into `tmp_folder`.
http::SinkFactory upload_sink_factory(stdfs::path tmp_folder, LoadFunction load);

// Who loads: the X-Baton-User header when sent, else the peer address.
std::string requester(const http::Request& request);

}  // namespace baton::core
