// Bundle zips: list_entries, read_member and extract on any bytes, with small limits.
// Invariants: errors name the zip; extract and list_entries agree on whether a zip is acceptable;
// a successful extract leaves exactly the listed entries (and their folders) under the
// destination, each of the listed type and size, read-only, symlinks resolving inside it, within
// the limits, and nothing else in the folder it was extracted in; a refused one leaves nothing.

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>

#include "bundle/archive.hpp"
#include "fuzz/fuzz.hpp"

namespace {

using namespace baton;
namespace stdfs = std::filesystem;
using fuzz::stays_inside;

std::string read_all(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void check_names_zip(const Error& error, const stdfs::path& zip) {
  FUZZ_CHECK(error.message.find(zip.string()) != std::string::npos,
             "the error does not name the zip: " + error.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const stdfs::path zip = fuzz::scratch() / "bundle.zip";
  const stdfs::path work = fuzz::scratch() / "zip-work";
  const stdfs::path destination = work / "bundle";
  fuzz::write_file(zip, std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::remove_tree(work);
  stdfs::create_directories(work);

  bundle::ArchiveLimits limits;
  limits.max_entries = 500;
  limits.max_total_bytes = std::uint64_t{4} << 20;
  limits.ratio_min_bytes = std::uint64_t{64} << 10;
  limits.max_conf_bytes = std::size_t{64} << 10;

  auto listed = bundle::list_entries(zip, limits);
  if (!listed) check_names_zip(listed.error(), zip);

  std::string conf;
  bool has_conf = false;
  if (listed) {
    auto member = bundle::read_member(zip, "bundle.conf", limits);
    if (member) {
      has_conf = true;
      conf = std::move(*member);
    } else {
      check_names_zip(member.error(), zip);
    }
  }

  auto extracted = bundle::extract(zip, destination, limits);
  std::vector<std::string> left = fuzz::list_tree(work);
  if (!extracted) {
    check_names_zip(extracted.error(), zip);
    FUZZ_CHECK(left.empty(), "a refused extract left " + left.front() + " behind (" +
                                 extracted.error().message + ")");
    return 0;
  }
  FUZZ_CHECK(listed.ok(), "extract accepts a zip list_entries refuses: " + listed.error().message);

  // What the listing says must be there, folders implied by deeper paths included.
  std::set<std::string> expected;
  std::uint64_t total = 0;
  for (const auto& entry : *listed) {
    expected.insert("bundle/" + entry.path);
    for (std::size_t slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1)) {
      expected.insert("bundle/" + entry.path.substr(0, slash));
    }
    total += entry.size;
  }
  expected.insert("bundle");
  FUZZ_CHECK(listed->size() <= limits.max_entries, "more entries than the limit");
  FUZZ_CHECK(total <= limits.max_total_bytes, "more bytes than the limit");
  std::set<std::string> found(left.begin(), left.end());
  if (found != expected) {
    std::string diff;
    for (const auto& path : found)
      if (!expected.count(path)) diff += " +" + path;
    for (const auto& path : expected)
      if (!found.count(path)) diff += " -" + path;
    fuzz::fail(__FILE__, __LINE__, "found == expected", "the extracted tree differs:" + diff);
  }

  for (const auto& entry : *listed) {
    const stdfs::path path = destination / entry.path;
    struct stat info {};
    FUZZ_CHECK(::lstat(path.c_str(), &info) == 0, "cannot stat " + entry.path);
    switch (entry.type) {
      case bundle::EntryType::file: {
        FUZZ_CHECK(S_ISREG(info.st_mode), entry.path + " is not a file");
        FUZZ_CHECK(static_cast<std::uint64_t>(info.st_size) == entry.size,
                   entry.path + ": " + std::to_string(info.st_size) + " bytes, listed as " +
                       std::to_string(entry.size));
        if (has_conf && entry.path == "bundle.conf") {
          FUZZ_CHECK(read_all(path) == conf, "read_member and extract disagree on bundle.conf");
        }
        break;
      }
      case bundle::EntryType::folder:
        FUZZ_CHECK(S_ISDIR(info.st_mode), entry.path + " is not a folder");
        break;
      case bundle::EntryType::symlink: {
        FUZZ_CHECK(S_ISLNK(info.st_mode), entry.path + " is not a symlink");
        std::error_code error;
        std::string target = stdfs::read_symlink(path, error).string();
        FUZZ_CHECK(target == entry.target,
                   entry.path + ": symlink to " + target + ", listed as " + entry.target);
        FUZZ_CHECK(stays_inside(entry.path, target), entry.path + " points outside: " + target);
        break;
      }
    }
    if (!S_ISLNK(info.st_mode)) {
      FUZZ_CHECK((info.st_mode & 0222) == 0, entry.path + " is writable after extract");
    }
  }
  bundle::remove_extracted(destination);
  return 0;
}
