// rpm payloads: extract_rpms on any bytes (one rpm, then the same rpm twice), with small limits.
// Invariants: errors name the rpm; a refused extraction leaves nothing in the folder it was
// unpacking in; a successful one leaves only the destination, read-only, with symlinks that
// resolve inside it, within the limits; two rpms that ship the same file are refused.

#include <sys/stat.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz/fuzz.hpp"
#include "runtimes/rpm/payload.hpp"

namespace {

using namespace baton;
namespace stdfs = std::filesystem;
namespace rpm = baton::runtimes::rpm;

void check_names_rpm(const rpm::Error& error, const stdfs::path& file) {
  FUZZ_CHECK(error.message.find(file.string()) != std::string::npos,
             "the error does not name the rpm: " + error.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const stdfs::path file = fuzz::scratch() / "package.rpm";
  const stdfs::path work = fuzz::scratch() / "rpm-work";
  const stdfs::path destination = work / "root";
  fuzz::write_file(file, std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::remove_tree(work);
  stdfs::create_directories(work);

  rpm::PayloadLimits limits;
  limits.max_entries = 500;
  limits.max_total_bytes = std::uint64_t{4} << 20;
  limits.ratio_min_bytes = std::uint64_t{64} << 10;

  auto unpacked = rpm::extract_rpms({file}, destination, limits);
  std::vector<std::string> left = fuzz::list_tree(work);
  if (!unpacked) {
    check_names_rpm(unpacked.error(), file);
    FUZZ_CHECK(left.empty(), "a refused extraction left " + left.front() + " behind (" +
                                 unpacked.error().message + ")");
    return 0;
  }
  FUZZ_CHECK(!left.empty() && left.front() == "root", "the destination is missing");
  std::uint64_t total = 0;
  std::set<ino_t> counted;  // hard links share their bytes
  bool ships_non_folder = false;
  for (const auto& relative : left) {
    FUZZ_CHECK(relative == "root" || relative.starts_with("root/"),
               "extraction left " + relative + " beside the destination");
    if (relative == "root") continue;
    std::string inside = relative.substr(5);
    const stdfs::path path = work / relative;
    struct stat info {};
    FUZZ_CHECK(::lstat(path.c_str(), &info) == 0, "cannot stat " + relative);
    FUZZ_CHECK(S_ISREG(info.st_mode) || S_ISDIR(info.st_mode) || S_ISLNK(info.st_mode),
               relative + " is not a file, folder or symlink");
    if (S_ISLNK(info.st_mode)) {
      std::error_code error;
      std::string target = stdfs::read_symlink(path, error).string();
      FUZZ_CHECK(fuzz::stays_inside(inside, target), relative + " points outside: " + target);
    } else {
      FUZZ_CHECK((info.st_mode & 0222) == 0, relative + " is writable after extraction");
    }
    if (S_ISREG(info.st_mode) && counted.insert(info.st_ino).second)
      total += static_cast<std::uint64_t>(info.st_size);
    if (!S_ISDIR(info.st_mode)) ships_non_folder = true;
  }
  FUZZ_CHECK(left.size() - 1 <= limits.max_entries, "more entries than the limit");
  FUZZ_CHECK(total <= limits.max_total_bytes, "more bytes than the limit");
  fuzz::remove_tree(destination);

  // The same rpm twice: every file is shipped twice, so only an rpm of folders unpacks.
  auto twice = rpm::extract_rpms({file, file}, destination, limits);
  if (ships_non_folder) {
    FUZZ_CHECK(!twice.ok(), "two rpms shipping the same files were both unpacked");
    FUZZ_CHECK(fuzz::list_tree(work).empty(), "a refused extraction left files behind");
  }
  fuzz::remove_tree(destination);
  return 0;
}
