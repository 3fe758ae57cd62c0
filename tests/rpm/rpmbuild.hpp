#pragma once
// Real rpm packages for tests, made by rpmbuild (Debian's `rpm` package): a spec written under a
// top folder and the shell command that builds it. Callers run the command with their own runner
// (tests/plugins/support.hpp, tests/cli/support) and take the package from built_rpm(). Shared by
// tests/rpm, tests/plugins and integration/.

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace baton::testing::rpm {

namespace stdfs = std::filesystem;

struct Package {
  std::string name;
  std::string install;  // the %install script
  std::string files;    // the %files list
  bool noarch = true;   // false for native programs (rpmbuild refuses them in noarch packages)
  std::string payload;  // _binary_payload, e.g. "w6.xzdio"; empty: rpmbuild's default
};

// A package holding the executable `program` as `/usr/bin/<installed>`.
inline Package program_package(const std::string& name, const stdfs::path& program,
                               const std::string& installed) {
  return Package{.name = name,
                 .install = "mkdir -p %{buildroot}/usr/bin\ncp '" + program.string() +
                            "' %{buildroot}/usr/bin/" + installed,
                 .files = "/usr/bin/" + installed,
                 .noarch = false};
}

// Writes <top>/<name>.spec and returns the command that builds <top>/RPMS/<arch>/<name>-1.0-1.*.rpm
// (no debug package, no build-id links, nothing stripped: sanitizer builds stay intact).
inline std::string prepare_rpm(const stdfs::path& top, const Package& package) {
  stdfs::create_directories(top);
  const stdfs::path spec = top / (package.name + ".spec");
  std::ofstream(spec, std::ios::trunc)
      << "Name: " << package.name << "\nVersion: 1.0\nRelease: 1\nSummary: Baton test package\n"
      << "License: MIT\n"
      << (package.noarch ? "BuildArch: noarch\n" : "") << "%description\nBaton test package.\n"
      << "%install\n"
      << package.install << "\n%files\n"
      << package.files << "\n";
  std::string command = "rpmbuild -bb --nodeps --define '_topdir " + top.string() +
                        "' --define 'debug_package %{nil}' --define '_build_id_links none'"
                        " --define '__strip /bin/true'";
  if (!package.payload.empty()) command += " --define '_binary_payload " + package.payload + "'";
  return command + " '" + spec.string() + "'";
}

// The package rpmbuild made under `top`; empty when there is none.
inline stdfs::path built_rpm(const stdfs::path& top, const std::string& name) {
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(top / "RPMS", ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string file = it->path().filename().string();
    if (file.starts_with(name + "-1.0-1.") && it->path().extension() == ".rpm") return it->path();
  }
  return {};
}

}  // namespace baton::testing::rpm
