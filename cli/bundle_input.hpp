#pragma once
// What `baton load` sends: a bundle (and a configuration) given as a zip file, a folder (zipped on
// the fly with bundle::create_bundle) or "-" (standard input, spooled to a file). The upload name
// must carry the zip's digest, so a file named otherwise is hashed and sent under
// "<stem>-<digest>.zip"; every zip is opened and checked locally before a byte is uploaded.

#include <cstdint>
#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "bundle/descriptor_parse.hpp"
#include "common/files.hpp"
#include "common/result.hpp"

namespace baton::cli {

namespace stdfs = std::filesystem;

struct UploadFile {
  stdfs::path path;         // read from here (the user's file, or one in the work folder)
  std::string upload_name;  // "<stem>-<digest>.zip", the multipart file name
  std::string digest;       // 64 hex
  std::uint64_t bytes = 0;
  std::string conf;  // bundle.conf inside (a configuration's may be absent)
  bool has_conf = false;
};

enum class UploadKind { bundle, configuration };

// Turns one command-line argument into an UploadFile. `work_folder` holds what is made on the
// way (spooled input, zips made from folders); `input` is read for "-". Errors name the
// argument and what is wrong with it.
Result<UploadFile> prepare_upload(std::string_view argument, UploadKind kind,
                                  const stdfs::path& work_folder, std::istream& input,
                                  const bundle::ParseOptions& parse_options);

// Copy `input` into `file`, hashing it on the way: the hex SHA-256. Errors name the file.
Result<std::string> spool(std::istream& input, const stdfs::path& file);

}  // namespace baton::cli
