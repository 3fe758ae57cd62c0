#pragma once
// An example plugin built the way docs/plugins.md tells an author: Baton's plugin SDK installed
// with `cmake --install --component PluginSDK`, then plugins/examples/<name> configured and built
// out of tree against that prefix alone. Returns the shell commands (callers run them with their
// own runner) and where the plugin lands. Shared by tests/plugins and integration/.

#include <filesystem>
#include <string>
#include <vector>

namespace baton::testing::sdk {

namespace stdfs = std::filesystem;

// How Baton itself was built (the test targets get these from CMake).
struct Toolchain {
  stdfs::path source_dir;      // Baton's sources
  stdfs::path build_dir;       // Baton's build folder (what `cmake --install` installs from)
  std::string cmake;           // the cmake program
  std::string cxx;             // the C++ compiler
  std::string sanitize_flags;  // -fsanitize=... of a sanitizer build, else empty
};

struct ExampleBuild {
  std::string install;    // cmake --install of the SDK into `prefix`
  std::string configure;  // cmake -S plugins/examples/<name>; prints "Baton runtime plugin ABI ..."
  std::string build;      // cmake --build
  stdfs::path prefix;
  stdfs::path library;  // <work>/build-<name>/<name>.so
};

inline std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Warnings are errors, and a sanitizer build's plugin carries the same sanitizers (an agent built
// with them cannot load a plugin without).
inline ExampleBuild example_build(const Toolchain& toolchain, const stdfs::path& work,
                                  const std::string& name) {
  ExampleBuild out;
  out.prefix = work / "sdk";
  const stdfs::path source = toolchain.source_dir / "plugins" / "examples" / name;
  const stdfs::path build = work / ("build-" + name);
  out.library = build / (name + ".so");
  out.install = shell_quote(toolchain.cmake) + " --install " +
                shell_quote(toolchain.build_dir.string()) + " --component PluginSDK --prefix " +
                shell_quote(out.prefix.string());
  out.configure = shell_quote(toolchain.cmake) + " -S " + shell_quote(source.string()) + " -B " +
                  shell_quote(build.string()) + " -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo" +
                  " -DCMAKE_PREFIX_PATH=" + shell_quote(out.prefix.string()) +
                  " -DCMAKE_CXX_COMPILER=" + shell_quote(toolchain.cxx) + " -DCMAKE_CXX_FLAGS=" +
                  shell_quote("-Wall -Wextra -Werror " + toolchain.sanitize_flags) +
                  " -DCMAKE_MODULE_LINKER_FLAGS=" + shell_quote(toolchain.sanitize_flags);
  out.build = shell_quote(toolchain.cmake) + " --build " + shell_quote(build.string());
  return out;
}

// The hello application of plugins/examples/jvm compiled into `jar`.
inline std::string jvm_hello_jar(const Toolchain& toolchain, const stdfs::path& classes,
                                 const stdfs::path& jar) {
  const stdfs::path app = toolchain.source_dir / "plugins" / "examples" / "jvm" / "hello";
  return "mkdir -p " + shell_quote(jar.parent_path().string()) + " && javac -d " +
         shell_quote(classes.string()) + " " + shell_quote((app / "Hello.java").string()) +
         " && jar cfe " + shell_quote(jar.string()) + " Hello -C " + shell_quote(classes.string()) +
         " .";
}

}  // namespace baton::testing::sdk
