#include "bundle/descriptor_parse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace baton::bundle {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// ConductR's visualizer example, as sbt-conductr wrote it.
constexpr std::string_view kVisualizer = R"(version = "1"
name = "visualizer"
compatibilityVersion = "1"
system = "visualizer"
nrOfCpus = 0.1
memory = 67108864
diskSpace = 10000000
roles = ["web"]
components {
  visualizer {
    description = "visualizer"
    file-system-type = "universal"
    start-command = ["visualizer/bin/visualizer", "-Dhttp.port=$VISUALIZER_BIND_PORT"]
    endpoints {
      "visualizer" {
        bind-protocol = "http"
        bind-port = 0
        services = ["http://:10001/visualizer"]
        acls = [
          {
            http = {
              requests = [
                { path-beg = "/visualizer", rewrite = "/" }
                { path = "/status", method = "GET" }
                { path-regex = "^/api/.*$" }
              ]
            }
          }
        ]
      }
    }
  }
}
)";

// Nine lines: a line appended by with() is line 10, and later keys override earlier ones.
constexpr std::string_view kMinimal = R"(name = "app"
compatibilityVersion = "1"
nrOfCpus = 1
memory = 1024
diskSpace = 2048
components.web {
  file-system-type = "universal"
  start-command = ["web/bin/web"]
}
)";

std::string with(std::string_view lines) {
  return std::string(kMinimal) + std::string(lines);
}

Result<Descriptor> parse(std::string_view text, const ParseOptions& options = {}) {
  return parse_descriptor(text, "bundle.conf", options);
}

// The message of the error `text` must give (and a marker when it parses).
std::string error_of(std::string_view text, const ParseOptions& options = {}) {
  auto result = parse(text, options);
  if (result) return "<parsed without error>";
  EXPECT_EQ(result.error().code, Errc::invalid) << result.error().message;
  return result.error().message;
}

Result<Descriptor> overlay(std::string_view base, std::string_view over) {
  return parse_descriptor_with_overlay(base, "bundle.conf", over, "overlay.conf");
}

// ---------------------------------------------------------------------------------------------
// A valid descriptor, defaults and accepted forms

TEST(DescriptorParse, VisualizerExampleParsesEveryField) {
  auto parsed = parse(kVisualizer);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const Descriptor& d = *parsed;
  EXPECT_EQ(d.version, "1");
  EXPECT_EQ(d.name, "visualizer");
  EXPECT_EQ(d.compatibility_version, "1");
  EXPECT_TRUE(d.tags.empty());
  EXPECT_EQ(d.system, "visualizer");
  EXPECT_EQ(d.system_version, "1");
  EXPECT_DOUBLE_EQ(d.nr_of_cpus, 0.1);
  EXPECT_EQ(d.memory, 67108864);
  EXPECT_EQ(d.disk_space, 10000000);
  EXPECT_EQ(d.roles, std::vector<std::string>{"web"});
  EXPECT_EQ(d.annotations, nlohmann::json::object());
  ASSERT_EQ(d.components.size(), 1u);
  const Component& c = d.components[0];
  EXPECT_EQ(c.name, "visualizer");
  EXPECT_EQ(c.description, "visualizer");
  EXPECT_EQ(c.file_system_type, "universal");
  EXPECT_EQ(c.start_command, (std::vector<std::string>{"visualizer/bin/visualizer",
                                                       "-Dhttp.port=$VISUALIZER_BIND_PORT"}));
  EXPECT_TRUE(c.volumes.empty());
  EXPECT_EQ(c.stop_signal, "SIGTERM");
  EXPECT_EQ(c.stop_timeout, 5s);
  ASSERT_EQ(c.endpoints.size(), 1u);
  const Endpoint& e = c.endpoints[0];
  EXPECT_EQ(e.name, "visualizer");
  EXPECT_EQ(e.protocol, Protocol::http);
  EXPECT_EQ(e.bind_port, 0);
  EXPECT_EQ(e.service_name, "");
  EXPECT_EQ(e.services, std::vector<std::string>{"http://:10001/visualizer"});
  ASSERT_EQ(e.acls.size(), 1u);
  EXPECT_EQ(e.acls[0].protocol, Protocol::http);
  ASSERT_EQ(e.acls[0].http_requests.size(), 3u);
  EXPECT_EQ(e.acls[0].http_requests[0],
            (HttpRequestRule{.match = "path-beg", .value = "/visualizer", .rewrite = "/"}));
  EXPECT_EQ(e.acls[0].http_requests[1],
            (HttpRequestRule{.match = "path", .value = "/status", .method = "GET"}));
  EXPECT_EQ(e.acls[0].http_requests[2],
            (HttpRequestRule{.match = "path-regex", .value = "^/api/.*$"}));
  EXPECT_TRUE(e.acls[0].ports.empty());
  EXPECT_EQ(d.readiness, Readiness{});
  EXPECT_EQ(d.start_timeout, 60s);
}

TEST(DescriptorParse, DefaultsFollowConductR) {
  auto parsed = parse(kMinimal);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->version, "1");
  EXPECT_EQ(parsed->system, "app");
  EXPECT_EQ(parsed->system_version, "1");
  EXPECT_EQ(parsed->roles, std::vector<std::string>{"web"});
  EXPECT_TRUE(parsed->tags.empty());
  EXPECT_EQ(parsed->annotations, nlohmann::json::object());
  EXPECT_EQ(parsed->readiness.mode, Readiness::Mode::automatic);
  EXPECT_EQ(parsed->readiness.path, "/");
  EXPECT_EQ(parsed->start_timeout, 60s);
  EXPECT_EQ(parsed->components[0].description, "");
  EXPECT_TRUE(parsed->components[0].endpoints.empty());

  auto endpoint = parse(with("components.web.endpoints.http {}\n"));
  ASSERT_TRUE(endpoint) << endpoint.error().message;
  EXPECT_EQ(endpoint->components[0].endpoints[0].protocol, Protocol::http);
  EXPECT_EQ(endpoint->components[0].endpoints[0].bind_port, 0);
}

TEST(DescriptorParse, OptionalKeysAreRead) {
  auto parsed = parse(with(R"(version = 1
tags = ["1.2.3", "stable"]
system = "shop"
systemVersion = "2"
roles = ["web", "backend"]
annotations { team = "checkout", "com.example.tier" = 1, nested { list = [1, true] } }
start-timeout = "2m"
)"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->tags, (std::vector<std::string>{"1.2.3", "stable"}));
  EXPECT_EQ(parsed->system, "shop");
  EXPECT_EQ(parsed->system_version, "2");
  EXPECT_EQ(parsed->roles, (std::vector<std::string>{"web", "backend"}));
  EXPECT_EQ(parsed->annotations,
            nlohmann::json::parse(
                R"({"team": "checkout", "com.example.tier": 1, "nested": {"list": [1, true]}})"));
  EXPECT_EQ(parsed->start_timeout, 120s);
}

TEST(DescriptorParse, KebabCaseAliasesAreAccepted) {
  auto parsed = parse(R"(name = "app"
compatibility-version = 2
system-version = "2.1"
nr-of-cpus = 0.5
memory = 1024
disk-space = "1G"
components.web { file-system-type = "universal", start-command = ["web/bin/web"] }
)");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->compatibility_version, "2");
  EXPECT_EQ(parsed->system_version, "2.1");
  EXPECT_DOUBLE_EQ(parsed->nr_of_cpus, 0.5);
  EXPECT_EQ(parsed->disk_space, 1024 * 1024 * 1024);
}

TEST(DescriptorParse, BothSpellingsOfAKeyAreRefused) {
  EXPECT_EQ(error_of(with("compatibility-version = \"2\"\n")),
            "bundle.conf:10: compatibilityVersion: given twice as compatibilityVersion and "
            "compatibility-version");
  EXPECT_EQ(error_of(with("disk-space = 1\n")),
            "bundle.conf:10: diskSpace: given twice as diskSpace and disk-space");
  EXPECT_EQ(error_of(with("nr-of-cpus = 1\n")),
            "bundle.conf:10: nrOfCpus: given twice as nrOfCpus and nr-of-cpus");
  EXPECT_EQ(error_of(with("systemVersion = 1\nsystem-version = 1\n")),
            "bundle.conf:11: systemVersion: given twice as systemVersion and system-version");
}

TEST(DescriptorParse, NumbersAsVersionsKeepTheirWrittenForm) {
  auto one = parse(with("compatibilityVersion = 1\n"));
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->compatibility_version, "1");
  EXPECT_EQ(one->system_version, "1");
  auto dotted = parse(with("compatibilityVersion = 1.10\nsystemVersion = 2.0\n"));
  ASSERT_TRUE(dotted) << dotted.error().message;
  EXPECT_EQ(dotted->compatibility_version, "1.10");
  EXPECT_EQ(dotted->system_version, "2.0");
}

TEST(DescriptorParse, SizesInBytesOrHoconUnits) {
  auto memory = [](std::string_view value) -> std::int64_t {
    auto parsed = parse(with("memory = " + std::string(value) + "\n"));
    EXPECT_TRUE(parsed) << value << ": " << parsed.error().message;
    return parsed ? parsed->memory : -1;
  };
  EXPECT_EQ(memory("67108864"), 67108864);
  EXPECT_EQ(memory("0"), 0);
  EXPECT_EQ(memory("\"64M\""), 64 << 20);
  EXPECT_EQ(memory("64M"), 64 << 20);
  EXPECT_EQ(memory("\"64 MiB\""), 64 << 20);
  EXPECT_EQ(memory("64 MiB"), 64 << 20);
  EXPECT_EQ(memory("1G"), 1 << 30);
  EXPECT_EQ(memory("512k"), 512 << 10);
  EXPECT_EQ(memory("\"1.5K\""), 1536);
  EXPECT_EQ(memory("\"2 gibibytes\""), 2LL << 30);
  EXPECT_EQ(memory("\"100 bytes\""), 100);
  // HOCON's decimal units are powers of ten.
  EXPECT_EQ(memory("10kB"), 10000);
  EXPECT_EQ(memory("64MB"), 64000000);
  EXPECT_EQ(memory("1e3"), 1000);
}

TEST(DescriptorParse, BadSizesAreRefused) {
  const std::string what = "expected a whole number of bytes or a size such as \"64M\", got ";
  EXPECT_EQ(error_of(with("memory = -1\n")), "bundle.conf:10: memory: " + what + "-1");
  EXPECT_EQ(error_of(with("memory = 1.5\n")), "bundle.conf:10: memory: " + what + "1.5");
  EXPECT_EQ(error_of(with("memory = \"lots\"\n")), "bundle.conf:10: memory: " + what + "\"lots\"");
  EXPECT_EQ(error_of(with("memory = 64X\n")), "bundle.conf:10: memory: " + what + "\"64X\"");
  EXPECT_EQ(error_of(with("diskSpace = [1]\n")), "bundle.conf:10: diskSpace: " + what + "a list");
  EXPECT_EQ(error_of(with("memory = \"99999999999T\"\n")),
            "bundle.conf:10: memory: " + what + "\"99999999999T\"");
}

TEST(DescriptorParse, DurationsInHoconUnitsOrSeconds) {
  auto timeout = [](std::string_view value) -> milliseconds {
    auto parsed = parse(with("start-timeout = " + std::string(value) + "\n"));
    EXPECT_TRUE(parsed) << value << ": " << parsed.error().message;
    return parsed ? parsed->start_timeout : milliseconds(-1);
  };
  EXPECT_EQ(timeout("10s"), 10s);
  EXPECT_EQ(timeout("\"500ms\""), 500ms);
  EXPECT_EQ(timeout("1m"), 1min);
  EXPECT_EQ(timeout("\"2 seconds\""), 2s);
  EXPECT_EQ(timeout("1h"), 1h);
  EXPECT_EQ(timeout("\"1.5s\""), 1500ms);
  EXPECT_EQ(timeout("3"), 3s);  // a bare number is seconds
  EXPECT_EQ(timeout("0.25"), 250ms);
  EXPECT_EQ(timeout("100us"), 1ms);  // rounded up: never zero by rounding

  const std::string positive = "expected a duration greater than 0 such as \"10s\" or \"500ms\"";
  EXPECT_EQ(error_of(with("start-timeout = 0\n")),
            "bundle.conf:10: start-timeout: " + positive + ", got 0");
  EXPECT_EQ(error_of(with("start-timeout = 10 fortnights\n")),
            "bundle.conf:10: start-timeout: " + positive + ", got \"10 fortnights\"");
  EXPECT_EQ(error_of(with("start-timeout = -5\n")),
            "bundle.conf:10: start-timeout: " + positive + ", got -5");
  EXPECT_EQ(error_of(with("components.web.stop-timeout = \"soon\"\n")),
            "bundle.conf:10: components.web.stop-timeout: expected a duration such as \"10s\" or "
            "\"500ms\", got \"soon\"");
}

TEST(DescriptorParse, UnknownKeysAreIgnored) {
  auto parsed = parse(with("someFutureKey = 1\ncomponents.web.extra { a = b }\n"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->name, "app");
}

TEST(DescriptorParse, NullUnsetsAnOptionalKey) {
  auto parsed = parse(with("roles = null\n"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->roles, std::vector<std::string>{"web"});
}

TEST(DescriptorParse, ComponentsAndEndpointsAreSortedByName) {
  auto parsed =
      parse(with(R"(components.zeta { file-system-type = "universal", start-command = ["z"] }
components.alpha { file-system-type = "universal", start-command = ["a"] }
components.web.endpoints { b {}, a {} }
)"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->components.size(), 3u);
  EXPECT_EQ(parsed->components[0].name, "alpha");
  EXPECT_EQ(parsed->components[1].name, "web");
  EXPECT_EQ(parsed->components[2].name, "zeta");
  EXPECT_EQ(parsed->components[1].endpoints[0].name, "a");
  EXPECT_EQ(parsed->components[1].endpoints[1].name, "b");
}

// ---------------------------------------------------------------------------------------------
// Validation errors, each with its exact message

TEST(DescriptorParse, MissingRequiredKeys) {
  EXPECT_EQ(error_of("compatibilityVersion = 1\n"), "bundle.conf: missing required key name");
  EXPECT_EQ(error_of("name = a\n"), "bundle.conf: missing required key compatibilityVersion");
  EXPECT_EQ(error_of("name = a\ncompatibilityVersion = 1\n"),
            "bundle.conf: missing required key nrOfCpus");
  EXPECT_EQ(error_of("name = a\ncompatibilityVersion = 1\nnrOfCpus = 1\n"),
            "bundle.conf: missing required key memory");
  EXPECT_EQ(error_of("name = a\ncompatibilityVersion = 1\nnrOfCpus = 1\nmemory = 1\n"),
            "bundle.conf: missing required key diskSpace");
  EXPECT_EQ(error_of("name = a\ncompatibilityVersion = 1\nnrOfCpus = 1\nmemory = 1\ndiskSpace = "
                     "1\n"),
            "bundle.conf: missing required key components");
  EXPECT_EQ(error_of(with("components.web.start-command = null\n")),
            "bundle.conf: components.web: missing required key start-command");
  EXPECT_EQ(error_of(with("components.web.file-system-type = null\n")),
            "bundle.conf: components.web: missing required key file-system-type");
}

TEST(DescriptorParse, VersionMustBeOne) {
  EXPECT_EQ(error_of(with("version = \"2\"\n")),
            "bundle.conf:10: version: expected \"1\", got \"2\"");
  EXPECT_EQ(error_of(with("version = 1.0\n")), "bundle.conf:10: version: expected \"1\", got 1.0");
  EXPECT_EQ(error_of(with("version = [1]\n")),
            "bundle.conf:10: version: expected a string or a number, got a list");
}

TEST(DescriptorParse, NamesMustBeUsableInFileNames) {
  const std::string rule =
      "expected letters, digits, '.', '_' or '-', not starting with '.' or '-', got ";
  EXPECT_EQ(error_of(with("name = \"my app\"\n")), "bundle.conf:10: name: " + rule + "\"my app\"");
  EXPECT_EQ(error_of(with("name = \"../x\"\n")), "bundle.conf:10: name: " + rule + "\"../x\"");
  EXPECT_EQ(error_of(with("name = \".hidden\"\n")),
            "bundle.conf:10: name: " + rule + "\".hidden\"");
  EXPECT_EQ(error_of(with("name = \"\"\n")), "bundle.conf:10: name: " + rule + "\"\"");
  EXPECT_EQ(error_of(with("name = 5\n")), "<parsed without error>");  // a number is its text
  EXPECT_EQ(error_of(with("name = [a]\n")),
            "bundle.conf:10: name: expected a string or a number, got a list");
  EXPECT_EQ(error_of(with("name = \"" + std::string(129, 'a') + "\"\n")),
            "bundle.conf:10: name: expected at most 128 characters, got \"" + std::string(80, 'a') +
                "...\"");
  EXPECT_EQ(error_of(with("compatibilityVersion = \"1/2\"\n")),
            "bundle.conf:10: compatibilityVersion: " + rule + "\"1/2\"");
  EXPECT_EQ(error_of(with("compatibilityVersion = -1\n")),
            "bundle.conf:10: compatibilityVersion: " + rule + "-1");
  EXPECT_EQ(error_of(with("components.\"my web\" { file-system-type = universal }\n")),
            "bundle.conf:10: components.my web: expected a component name of letters, digits, "
            "'.', '_' or '-', not starting with '.' or '-', got \"my web\"");
}

TEST(DescriptorParse, TopLevelTypes) {
  EXPECT_EQ(error_of(with("nrOfCpus = 0\n")),
            "bundle.conf:10: nrOfCpus: expected a number of CPUs greater than 0, got 0");
  EXPECT_EQ(error_of(with("nrOfCpus = \"one\"\n")),
            "bundle.conf:10: nrOfCpus: expected a number of CPUs greater than 0, got \"one\"");
  EXPECT_EQ(error_of(with("tags = \"a\"\n")),
            "bundle.conf:10: tags: expected a list of strings, got \"a\"");
  EXPECT_EQ(error_of(with("roles = [\"web\", 5]\n")),
            "bundle.conf:10: roles[1]: expected a string, got 5");
  EXPECT_EQ(error_of(with("system = \"\"\n")),
            "bundle.conf:10: system: expected a non-empty string, got \"\"");
  EXPECT_EQ(error_of(with("annotations = [1]\n")),
            "bundle.conf:10: annotations: expected an object, got a list");
  EXPECT_EQ(error_of(with("components = [1]\n")),
            "bundle.conf:10: components: expected an object of components, got a list");
  // (HOCON merges a later object into an earlier one: null first.)
  EXPECT_EQ(error_of(with("components = null\ncomponents = {}\n")),
            "bundle.conf:11: components: expected at least one component, got an empty object");
  EXPECT_EQ(error_of(with("components.web = 5\n")),
            "bundle.conf:10: components.web: expected an object, got 5");
}

TEST(DescriptorParse, FileSystemTypes) {
  EXPECT_EQ(error_of(with("components.web.file-system-type = \"oci-image\"\n")),
            "bundle.conf:10: components.web.file-system-type: \"oci-image\" is a ConductR type "
            "that Baton does not run; expected one of docker, rpm, universal");
  EXPECT_EQ(error_of(with("components.web.file-system-type = \"oci-bundle\"\n")),
            "bundle.conf:10: components.web.file-system-type: \"oci-bundle\" is a ConductR type "
            "that Baton does not run; expected one of docker, rpm, universal");
  EXPECT_EQ(error_of(with("components.web.file-system-type = \"jar\"\n")),
            "bundle.conf:10: components.web.file-system-type: expected one of docker, rpm, "
            "universal, got \"jar\"");
  ParseOptions options;
  options.extra_runtimes = {"jar", "firecracker"};
  auto parsed = parse(with("components.web.file-system-type = \"jar\"\n"), options);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->components[0].file_system_type, "jar");
  EXPECT_EQ(error_of(with("components.web.file-system-type = \"wasm\"\n"), options),
            "bundle.conf:10: components.web.file-system-type: expected one of docker, "
            "firecracker, jar, rpm, universal, got \"wasm\"");
  auto rpm = parse(with("components.web.file-system-type = rpm\n"));
  ASSERT_TRUE(rpm) << rpm.error().message;
  EXPECT_EQ(rpm->components[0].file_system_type, "rpm");
}

// The core's mode: any well-formed name passes; it checks the names against its agents itself.
TEST(DescriptorParse, AnyRuntimeAcceptsEveryWellFormedName) {
  ParseOptions options;
  options.any_runtime = true;
  for (const char* name : {"jvm", "wasm-3", "0x", "oci-image"}) {
    auto parsed =
        parse(with("components.web.file-system-type = \"" + std::string(name) + "\"\n"), options);
    ASSERT_TRUE(parsed) << name << ": " << parsed.error().message;
    EXPECT_EQ(parsed->components[0].file_system_type, name);
  }
  for (const auto& name :
       std::vector<std::string>{"Jvm", "-x", "a b", "j_vm", "", std::string(65, 'a')}) {
    EXPECT_EQ(error_of(with("components.web.file-system-type = \"" + name + "\"\n"), options),
              "bundle.conf:10: components.web.file-system-type: expected a runtime name of "
              "[a-z0-9][a-z0-9-]*, at most 64 characters, got \"" +
                  name + "\"");
  }
  EXPECT_TRUE(is_runtime_name(std::string(64, 'a')));
  EXPECT_FALSE(is_runtime_name(std::string(65, 'a')));
  EXPECT_EQ(builtin_runtimes(), (std::vector<std::string>{"docker", "rpm", "universal"}));
}

TEST(DescriptorParse, StartCommand) {
  EXPECT_EQ(error_of(with("components.web.start-command = []\n")),
            "bundle.conf:10: components.web.start-command: expected the program and its "
            "arguments, got an empty start-command");
  EXPECT_EQ(error_of(with("components.web.start-command = [\"bin/web\", 8080]\n")),
            "bundle.conf:10: components.web.start-command[1]: expected a string, got 8080");
  EXPECT_EQ(error_of(with("components.web.start-command = \"bin/web\"\n")),
            "bundle.conf:10: components.web.start-command: expected a list of strings, got "
            "\"bin/web\"");
  EXPECT_EQ(error_of(with("components.web.start-command = [\"\"]\n")),
            "bundle.conf:10: components.web.start-command[0]: expected a program, got \"\"");
  EXPECT_EQ(error_of(with("components.db { file-system-type = universal }\n")),
            "bundle.conf: components.db: missing required key start-command");

  // docker: no command, or an empty one, means the image's own command
  auto docker =
      parse(with("components.db { file-system-type = docker }\n"
                 "components.cache { file-system-type = docker, start-command = [] }\n"));
  ASSERT_TRUE(docker) << docker.error().message;
  EXPECT_TRUE(docker->component("db")->start_command.empty());
  EXPECT_TRUE(docker->component("cache")->start_command.empty());
}

TEST(DescriptorParse, EndpointFields) {
  auto parsed = parse(with(R"(components.web.endpoints {
  akka-remote { bind-protocol = "tcp", bind-port = 2552, service-name = "remote" }
  metrics { bind-protocol = udp, bind-port = 65535 }
}
)"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& endpoints = parsed->components[0].endpoints;
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[0].name, "akka-remote");
  EXPECT_EQ(endpoints[0].protocol, Protocol::tcp);
  EXPECT_EQ(endpoints[0].bind_port, 2552);
  EXPECT_EQ(endpoints[0].service_name, "remote");
  EXPECT_EQ(endpoints[1].protocol, Protocol::udp);
  EXPECT_EQ(endpoints[1].bind_port, 65535);

  EXPECT_EQ(error_of(with("components.web.endpoints.e.bind-protocol = \"https\"\n")),
            "bundle.conf:10: components.web.endpoints.e.bind-protocol: expected one of http, tcp, "
            "udp, got \"https\"");
  EXPECT_EQ(error_of(with("components.web.endpoints.e.bind-port = 70000\n")),
            "bundle.conf:10: components.web.endpoints.e.bind-port: expected a port 0-65535, got "
            "70000");
  EXPECT_EQ(error_of(with("components.web.endpoints.e.bind-port = -1\n")),
            "bundle.conf:10: components.web.endpoints.e.bind-port: expected a port 0-65535, got "
            "-1");
  EXPECT_EQ(error_of(with("components.web.endpoints.e.bind-port = \"80\"\n")),
            "bundle.conf:10: components.web.endpoints.e.bind-port: expected a port 0-65535, got "
            "\"80\"");
  EXPECT_EQ(error_of(with("components.web.endpoints.e.service-name = [x]\n")),
            "bundle.conf:10: components.web.endpoints.e.service-name: expected a string, got a "
            "list");
  EXPECT_EQ(error_of(with("components.web.endpoints.e.services = [1]\n")),
            "bundle.conf:10: components.web.endpoints.e.services[0]: expected a string, got 1");
  EXPECT_EQ(error_of(with("components.web.endpoints = [1]\n")),
            "bundle.conf:10: components.web.endpoints: expected an object, got a list");
  EXPECT_EQ(error_of(with("components.web.endpoints.e = 1\n")),
            "bundle.conf:10: components.web.endpoints.e: expected an object, got 1");
}

TEST(DescriptorParse, TcpAndUdpAcls) {
  auto parsed = parse(with(R"(components.web.endpoints.db {
  bind-protocol = tcp
  acls = [ { tcp { requests = [ 9000, 9001 ] } }, { udp = { requests = [53] } } ]
}
)"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& acls = parsed->components[0].endpoints[0].acls;
  ASSERT_EQ(acls.size(), 2u);
  EXPECT_EQ(acls[0].protocol, Protocol::tcp);
  EXPECT_EQ(acls[0].ports, (std::vector<int>{9000, 9001}));
  EXPECT_TRUE(acls[0].http_requests.empty());
  EXPECT_EQ(acls[1].protocol, Protocol::udp);
  EXPECT_EQ(acls[1].ports, std::vector<int>{53});
}

TEST(DescriptorParse, AclShapes) {
  const std::string at = "bundle.conf:10: components.web.endpoints.e.acls";
  auto acl = [](std::string_view acls) {
    return error_of(with("components.web.endpoints.e.acls = " + std::string(acls) + "\n"));
  };
  EXPECT_EQ(acl("{}"), at + ": expected a list of acls, got an empty object");
  EXPECT_EQ(acl("[1]"), at + "[0]: expected an object with one of http, tcp, udp, got 1");
  EXPECT_EQ(acl("[{ htp { requests = [] } }]"),
            at + "[0]: expected an object with one of http, tcp, udp, got an object with keys htp");
  EXPECT_EQ(acl("[{ http { requests = [] }, tcp { requests = [] } }]"),
            at + "[0]: expected an object with one of http, tcp, udp, got an object with keys "
                 "http, tcp");
  EXPECT_EQ(acl("[{ http = [] }]"), at + "[0].http: expected an object with requests, got an "
                                         "empty list");
  EXPECT_EQ(acl("[{ http {} }]"),
            "bundle.conf: components.web.endpoints.e.acls[0].http: missing required key requests");
  EXPECT_EQ(acl("[{ http { requests = { path = \"/\" } } }]"),
            at + "[0].http.requests: expected a list of requests, got an object with keys path");
  EXPECT_EQ(acl("[{ http { requests = [ \"/x\" ] } }]"),
            at + "[0].http.requests[0]: expected an object with one of path, path-beg, "
                 "path-regex, got \"/x\"");
  EXPECT_EQ(acl("[{ http { requests = [ { method = GET } ] } }]"),
            at + "[0].http.requests[0]: expected an object with one of path, path-beg, "
                 "path-regex, got an object with keys method");
  EXPECT_EQ(acl("[{ http { requests = [ { path = \"/a\", path-beg = \"/b\" } ] } }]"),
            at + "[0].http.requests[0]: expected an object with one of path, path-beg, "
                 "path-regex, got an object with keys path, path-beg");
  EXPECT_EQ(acl("[{ http { requests = [ { path-beg = \"x\" } ] } }]"),
            at + "[0].http.requests[0].path-beg: expected a path starting with '/', got \"x\"");
  EXPECT_EQ(acl("[{ http { requests = [ { path-regex = \"\" } ] } }]"),
            at + "[0].http.requests[0].path-regex: expected a non-empty string, got \"\"");
  EXPECT_EQ(acl("[{ http { requests = [ { path = \"/\", method = 1 } ] } }]"),
            at + "[0].http.requests[0].method: expected a non-empty string, got 1");
  EXPECT_EQ(acl("[{ http { requests = [ { path = \"/\", rewrite = [] } ] } }]"),
            at + "[0].http.requests[0].rewrite: expected a string, got an empty list");
  EXPECT_EQ(acl("[{ tcp { requests = [ \"9000\" ] } }]"),
            at + "[0].tcp.requests[0]: expected a port 1-65535, got \"9000\"");
  EXPECT_EQ(acl("[{ udp { requests = [ 0 ] } }]"),
            at + "[0].udp.requests[0]: expected a port 1-65535, got 0");
}

TEST(DescriptorParse, EndpointNamesAreUniqueAcrossComponents) {
  EXPECT_EQ(error_of(with("components.web.endpoints.http {}\n"
                          "components.admin { file-system-type = universal, start-command = [a]\n"
                          "  endpoints.http {} }\n")),
            "bundle.conf:10: components.web.endpoints.http: endpoint http is declared by both "
            "components admin and web");
  // Their variables would collide: AKKA_REMOTE_HOST for both.
  EXPECT_EQ(error_of(with("components.web.endpoints { akka-remote {}, akka_remote {} }\n")),
            "bundle.conf:10: components.web.endpoints.akka_remote: endpoints akka-remote and "
            "akka_remote would both set the variables AKKA_REMOTE_*");
}

TEST(DescriptorParse, VolumesAndNativeStopKeys) {
  auto parsed = parse(with(R"(components.web {
  volumes { data = "/var/lib/web", logs = "/logs" }
  stop-signal = "INT"
  stop-timeout = 30s
}
components.db { file-system-type = universal, start-command = [db], stop-signal = sigquit }
)"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const Component& web = *parsed->component("web");
  EXPECT_EQ(web.volumes,
            (std::map<std::string, std::string>{{"data", "/var/lib/web"}, {"logs", "/logs"}}));
  EXPECT_EQ(web.stop_signal, "SIGINT");
  EXPECT_EQ(web.stop_timeout, 30s);
  EXPECT_EQ(parsed->component("db")->stop_signal, "SIGQUIT");

  EXPECT_EQ(error_of(with("components.web.stop-signal = \"SIGFOO\"\n")),
            "bundle.conf:10: components.web.stop-signal: expected a signal name such as "
            "\"SIGTERM\" (SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGKILL, SIGUSR1, SIGUSR2, SIGALRM, "
            "SIGTERM, SIGWINCH), got \"SIGFOO\"");
  EXPECT_EQ(error_of(with("components.web.volumes.data = \"relative\"\n")),
            "bundle.conf:10: components.web.volumes.data: expected an absolute mount point such as "
            "\"/data\", got \"relative\"");
  EXPECT_EQ(error_of(with("components.web.volumes = [\"/data\"]\n")),
            "bundle.conf:10: components.web.volumes: expected an object, got a list");
  EXPECT_EQ(error_of(with("components.web.description = 5\n")),
            "bundle.conf:10: components.web.description: expected a string, got 5");
}

// ---------------------------------------------------------------------------------------------
// Readiness

constexpr std::string_view kEndpoints = R"(components.web.endpoints {
  web { bind-protocol = http }
  api { bind-protocol = http }
  db { bind-protocol = tcp }
  stats { bind-protocol = udp }
}
)";  // lines 10-15

std::string with_endpoints(std::string_view more) {
  return with(std::string(kEndpoints) + std::string(more));
}

TEST(DescriptorParse, ReadinessObject) {
  auto parsed = parse(with_endpoints(R"(readiness {
  check = http
  endpoint = web
  path = "/health"
  initial-delay = 2s
  interval = 500ms
  timeout = "3 seconds"
}
)"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->readiness, (Readiness{.mode = Readiness::Mode::http,
                                          .endpoint = "web",
                                          .path = "/health",
                                          .initial_delay = 2s,
                                          .interval = 500ms,
                                          .timeout = 3s}));
  for (auto [text, mode] :
       {std::pair{"auto", Readiness::Mode::automatic}, std::pair{"signal", Readiness::Mode::signal},
        std::pair{"none", Readiness::Mode::none}}) {
    auto other = parse(with_endpoints("readiness.check = " + std::string(text) + "\n"));
    ASSERT_TRUE(other) << other.error().message;
    EXPECT_EQ(other->readiness.mode, mode);
    EXPECT_EQ(other->readiness.endpoint, "");
  }
}

TEST(DescriptorParse, ReadinessPicksTheFirstFittingEndpoint) {
  // Endpoints are in name order: api, db, stats, web.
  auto http = parse(with_endpoints("readiness.check = http\n"));
  ASSERT_TRUE(http) << http.error().message;
  EXPECT_EQ(http->readiness.endpoint, "api");
  auto tcp =
      parse(with("components.web.endpoints { s { bind-protocol = udp }, t {} }\n"
                 "readiness.check = tcp\n"));
  ASSERT_TRUE(tcp) << tcp.error().message;
  EXPECT_EQ(tcp->readiness.endpoint, "t");
  auto named_tcp = parse(with_endpoints("readiness { check = tcp, endpoint = web }\n"));
  ASSERT_TRUE(named_tcp) << named_tcp.error().message;
  EXPECT_EQ(named_tcp->readiness.endpoint, "web");
}

TEST(DescriptorParse, ReadinessErrors) {
  EXPECT_EQ(error_of(with_endpoints("readiness.check = ready\n")),
            "bundle.conf:16: readiness.check: expected one of auto, signal, http, tcp, none, got "
            "\"ready\"");
  EXPECT_EQ(error_of(with_endpoints("readiness.endpoint = nope\n")),
            "bundle.conf:16: readiness.endpoint: expected one of the bundle's endpoints (api, db, "
            "stats, web), got \"nope\"");
  EXPECT_EQ(error_of(with("readiness.endpoint = nope\n")),
            "bundle.conf:10: readiness.endpoint: expected one of the bundle's endpoints (none "
            "declared), got \"nope\"");
  EXPECT_EQ(error_of(with_endpoints("readiness { check = http, endpoint = db }\n")),
            "bundle.conf:16: readiness.endpoint: expected an http endpoint for check = http, got "
            "\"db\" (bind-protocol tcp)");
  EXPECT_EQ(error_of(with_endpoints("readiness { check = tcp, endpoint = stats }\n")),
            "bundle.conf:16: readiness.endpoint: expected a tcp or http endpoint for check = tcp, "
            "got \"stats\" (bind-protocol udp)");
  EXPECT_EQ(error_of(with("readiness.check = http\n")),
            "bundle.conf:10: readiness.check: expected an http endpoint to check, got a bundle "
            "without one");
  EXPECT_EQ(error_of(with("components.web.endpoints.db.bind-protocol = tcp\n"
                          "readiness.check = http\n")),
            "bundle.conf:11: readiness.check: expected an http endpoint to check, got a bundle "
            "without one");
  EXPECT_EQ(error_of(with("readiness.check = tcp\n")),
            "bundle.conf:10: readiness.check: expected a tcp or http endpoint to check, got a "
            "bundle without one");
  EXPECT_EQ(error_of(with_endpoints("readiness.path = health\n")),
            "bundle.conf:16: readiness.path: expected a path starting with '/', got \"health\"");
  EXPECT_EQ(error_of(with_endpoints("readiness.interval = 0\n")),
            "bundle.conf:16: readiness.interval: expected a duration greater than 0 such as "
            "\"10s\" or \"500ms\", got 0");
  EXPECT_EQ(error_of(with_endpoints("readiness = on\n")),
            "bundle.conf:16: readiness: expected an object, got \"on\"");
}

// A ConductR bundle-status component running `check`, in line 16.
std::string with_check(std::string_view arguments) {
  return with_endpoints(
      "components.bundle-status { file-system-type = universal, start-command = [" +
      std::string(arguments) + "] }\n");
}

TEST(DescriptorParse, BundleStatusCheckBecomesReadiness) {
  auto parsed = parse(with_check(
      R"("check", "--initial-delay", "5", "--connection-timeout", "2", "$WEB_HOST?retry-count=6&retry-delay=10")"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->component("bundle-status"), nullptr);
  EXPECT_EQ(parsed->components.size(), 1u);
  EXPECT_EQ(parsed->readiness, (Readiness{.mode = Readiness::Mode::http,
                                          .endpoint = "web",
                                          .path = "/",
                                          .initial_delay = 5s,
                                          .interval = 10s,
                                          .timeout = 2s}));
  // check gave up after 5 s + 6 tries of (10 s delay + 2 s timeout): wait at least as long
  EXPECT_EQ(parsed->start_timeout, 77s);
}

TEST(DescriptorParse, BundleStatusAddressForms) {
  auto readiness = [](std::string_view arguments) {
    auto parsed = parse(with_check(arguments));
    EXPECT_TRUE(parsed) << arguments << ": " << parsed.error().message;
    return parsed ? parsed->readiness : Readiness{};
  };
  Readiness tcp = readiness(R"("bin/check", "${DB_HOST}")");
  EXPECT_EQ(tcp.mode, Readiness::Mode::tcp);
  EXPECT_EQ(tcp.endpoint, "db");
  Readiness docker = readiness(R"("/opt/conductr/check", "docker+$API_HOST/health")");
  EXPECT_EQ(docker.mode, Readiness::Mode::http);
  EXPECT_EQ(docker.endpoint, "api");
  EXPECT_EQ(docker.path, "/health");
  Readiness parts = readiness(R"("check", "tcp://$WEB_HOST_IP:$WEB_HOST_PORT")");
  EXPECT_EQ(parts.mode, Readiness::Mode::tcp);
  EXPECT_EQ(parts.endpoint, "web");
  Readiness with_equals = readiness(R"("check", "--initial-delay=3", "${API_HOST}")");
  EXPECT_EQ(with_equals.initial_delay, 3s);
  EXPECT_EQ(with_equals.endpoint, "api");
  // The first address decides; the others must still be the bundle's.
  Readiness many = readiness(R"("check", "$DB_HOST", "$WEB_HOST")");
  EXPECT_EQ(many.endpoint, "db");

  auto literal =
      parse(with("components.web.endpoints.web.bind-port = 9000\n"
                 "components.bundle-status { file-system-type = universal\n"
                 "  start-command = [check, \"http://127.0.0.1:9000/ping\"] }\n"));
  ASSERT_TRUE(literal) << literal.error().message;
  EXPECT_EQ(literal->readiness,
            (Readiness{.mode = Readiness::Mode::http, .endpoint = "web", .path = "/ping"}));
  EXPECT_EQ(literal->start_timeout, 60s);
}

TEST(DescriptorParse, BundleStatusKeepsAnExplicitStartTimeout) {
  auto parsed = parse(with_check(R"("check", "$WEB_HOST?retry-count=100&retry-delay=10")") +
                      "start-timeout = 30s\n");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->start_timeout, 30s);
}

TEST(DescriptorParse, BundleStatusErrors) {
  const std::string at = "bundle.conf:16: components.bundle-status.start-command";
  EXPECT_EQ(error_of(with_check(R"("check", "$NOPE_HOST")")),
            at + "[1]: expected the address of one of the bundle's endpoints, such as $WEB_HOST, "
                 "got \"$NOPE_HOST\"");
  EXPECT_EQ(error_of(with_check(R"("check", "--initial-delay", "5", "localhost:80")")),
            at + "[3]: expected the address of one of the bundle's endpoints, such as $WEB_HOST, "
                 "got \"localhost:80\"");
  EXPECT_EQ(error_of(with_check(R"("check", "$WEB_HOST", "$NOPE_HOST")")),
            at + "[2]: expected the address of one of the bundle's endpoints, such as $WEB_HOST, "
                 "got \"$NOPE_HOST\"");
  EXPECT_EQ(error_of(with_check(R"("check", "$STATS_HOST")")),
            at + "[1]: expected the address of a tcp or http endpoint, got \"$STATS_HOST\"");
  EXPECT_EQ(error_of(with_check(R"("check", "--verbose", "$WEB_HOST")")),
            at + "[1]: expected --initial-delay, --connection-timeout or an address to check, "
                 "got \"--verbose\"");
  EXPECT_EQ(error_of(with_check(R"("check", "$WEB_HOST", "--initial-delay")")),
            at + "[2]: expected a number of seconds after --initial-delay, got nothing");
  EXPECT_EQ(error_of(with_check(R"("check", "--initial-delay", "soon", "$WEB_HOST")")),
            at + "[2]: expected a number of seconds after --initial-delay, got \"soon\"");
  EXPECT_EQ(error_of(with_check(R"("check", "$WEB_HOST?retry-count=many")")),
            at + "[1]: expected retry-count as a whole number of tries, got "
                 "\"$WEB_HOST?retry-count=many\"");
  EXPECT_EQ(error_of(with_check(R"("check", "$WEB_HOST?retry-delay=0")")),
            at + "[1]: expected retry-delay as a number of seconds greater than 0, got "
                 "\"$WEB_HOST?retry-delay=0\"");
  EXPECT_EQ(error_of(with_check(R"("check", "--initial-delay", "5")")),
            at + ": expected at least one address to check, got none");
  EXPECT_EQ(error_of(with_check(R"("check", "$WEB_HOST")") + "readiness.check = signal\n"),
            "bundle.conf:16: components.bundle-status: expected either readiness or a "
            "bundle-status check component, got both");
  EXPECT_EQ(error_of(R"(name = a
compatibilityVersion = 1
nrOfCpus = 1
memory = 1
diskSpace = 1
components.bundle-status { file-system-type = universal, start-command = [check, "tcp://x:1"] }
)"),
            "bundle.conf:6: components: expected at least one component besides bundle-status, got "
            "an object with keys bundle-status");
}

TEST(DescriptorParse, BundleStatusRunningSomethingElseIsAComponent) {
  auto parsed = parse(with_endpoints(
      "components.bundle-status { file-system-type = universal, start-command = [bin/status] "
      "}\n"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_NE(parsed->component("bundle-status"), nullptr);
  EXPECT_EQ(parsed->readiness, Readiness{});
}

// ---------------------------------------------------------------------------------------------
// Guards and cpp-hocon's traps

TEST(DescriptorParse, EmptyTextIsRefused) {
  EXPECT_EQ(error_of(""), "bundle.conf: empty, expected a bundle descriptor");
  EXPECT_EQ(error_of(" \n\t\r\n"), "bundle.conf: empty, expected a bundle descriptor");
  EXPECT_EQ(error_of("# only a comment\n"), "bundle.conf: missing required key name");
}

TEST(DescriptorParse, SizeLimit) {
  ParseOptions options;
  options.max_bytes = 100;
  auto result = parse(kVisualizer, options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::limit);
  EXPECT_EQ(result.error().message, "bundle.conf: " + std::to_string(kVisualizer.size()) +
                                        " bytes, over the limit of 100 bytes");
  options.max_bytes = kVisualizer.size();
  EXPECT_TRUE(parse(kVisualizer, options));
}

TEST(DescriptorParse, SubstitutionCountLimit) {
  ParseOptions options;
  options.max_substitutions = 2;
  std::string text = with("system = ${name}\ntags = [${name}, ${compatibilityVersion}]\n");
  auto result = parse(text, options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::limit);
  EXPECT_EQ(result.error().message, "bundle.conf: 3 substitutions (${...}), over the limit of 2");
  options.max_substitutions = 3;
  auto parsed = parse(text, options);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->system, "app");
  EXPECT_EQ(parsed->tags, (std::vector<std::string>{"app", "1"}));
}

TEST(DescriptorParse, SyntaxErrorsAreReportedNotSwallowed) {
  // parse_file_any_syntax would have returned an empty config here.
  EXPECT_EQ(error_of(with("components.web {\n")),
            "bundle.conf: HOCON syntax error: expecting a close brace or a field name here, got "
            "end of file");
  EXPECT_EQ(error_of(with("roles = [web\nsystem = x\n")),
            "bundle.conf: HOCON syntax error: List should have ended with ']' or had a comma, "
            "instead had token: '=' (if you want '=' to be part of a string value, then double "
            "quote it)");
  EXPECT_EQ(error_of("[1, 2]"),
            "bundle.conf: HOCON syntax error: has type list rather than object at file root");
}

TEST(DescriptorParse, ManyAppendsToOneKeyGiveACleanError) {
  // cpp-hocon's resolve throws "A delayed merge should not contain another one" here.
  EXPECT_EQ(error_of(with("roles += a\nroles += b\nroles += c\nroles += d\n")),
            "bundle.conf:13: roles: expected fewer appends to one key (+= or ${roles}), got more "
            "than the HOCON library can merge");
  EXPECT_EQ(error_of(with("components.web { start-command += a }\n"
                          "components.web.start-command += b\n"
                          "components.web.start-command += c\n")),
            "bundle.conf:12: components.web.start-command: expected fewer appends to one key (+= "
            "or ${components.web.start-command}), got more than the HOCON library can merge");
  EXPECT_EQ(
      error_of(with("tags = [a]\ntags = ${tags} [b]\ntags = ${tags} [c]\n"
                    "tags = ${tags} [d]\n")),
      "bundle.conf:13: tags: expected fewer appends to one key (+= or ${tags}), got more than "
      "the HOCON library can merge");
  // What cpp-hocon does merge still works.
  auto three = parse(with("tags += a\ntags += b\ntags += c\n"));
  ASSERT_TRUE(three) << three.error().message;
  EXPECT_EQ(three->tags, (std::vector<std::string>{"a", "b", "c"}));
  auto restarted = parse(with("tags += a\ntags += b\ntags += c\ntags = [x]\ntags += y\n"));
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_EQ(restarted->tags, (std::vector<std::string>{"x", "y"}));
  auto appended = parse(with("roles += backend\n"));
  ASSERT_TRUE(appended) << appended.error().message;
  EXPECT_EQ(appended->roles, std::vector<std::string>{"backend"});  // no default to append to
}

TEST(DescriptorParse, IncludesAreRefused) {
  // They would read files of the host that parses the descriptor.
  const std::string refused =
      "bundle.conf:10: expected a self-contained descriptor, got an include statement";
  EXPECT_EQ(error_of(with("include \"/etc/baton/secrets.conf\"\n")), refused);
  EXPECT_EQ(error_of(with("include file(\"/etc/passwd\")\n")), refused);
  EXPECT_EQ(error_of(with("include url(\"http://example.com/x.conf\")\n")), refused);
  EXPECT_EQ(error_of(with("include required(file(\"x.conf\"))\n")), refused);
  EXPECT_EQ(error_of(with("annotations {\n  include \"x\"\n}\n")),
            "bundle.conf:11: expected a self-contained descriptor, got an include statement");
  // The word itself is fine as a quoted key or a value.
  auto parsed =
      parse(with("annotations { \"include\" = \"include \\\"x\\\"\", mode = include }\n"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->annotations["include"], "include \"x\"");
  EXPECT_EQ(parsed->annotations["mode"], "include");
}

TEST(DescriptorParse, DeepNestingIsRefusedBeforeItCrashesTheParser) {
  // cpp-hocon's recursive parser overflows the stack at about 10,000 levels.
  const int levels = 20000;
  auto deep_list =
      parse(with("annotations.x = " + std::string(levels, '[') + std::string(levels, ']') + "\n"));
  ASSERT_FALSE(deep_list);
  EXPECT_EQ(deep_list.error().code, Errc::limit);
  EXPECT_EQ(deep_list.error().message, "bundle.conf:10: nested deeper than 64 levels");

  std::string dotted = "annotations";
  for (int i = 0; i < levels; ++i)
    dotted += ".a";
  auto deep_key = parse(with(dotted + " = 1\n"));
  ASSERT_FALSE(deep_key);
  EXPECT_EQ(deep_key.error().code, Errc::limit);
  EXPECT_EQ(deep_key.error().message, "bundle.conf:10: nested deeper than 64 levels");

  auto fine = parse(with("annotations.x = " + std::string(30, '[') + std::string(30, ']') + "\n"));
  EXPECT_TRUE(fine) << fine.error().message;
}

TEST(DescriptorParse, KeysWithEmptyPartsAreRefusedBeforeTheyCrashTheParser) {
  // cpp-hocon dereferences a null origin when it reports these: a segfault, found by fuzzing.
  EXPECT_EQ(error_of(with(".memory = 1\n")),
            "bundle.conf:10: expected a key without empty parts between dots, got \".memory\"");
  EXPECT_EQ(error_of(with("components..web = 1\n")),
            "bundle.conf:10: expected a key without empty parts between dots, got "
            "\"components..web\"");
  EXPECT_EQ(error_of(with("annotations {\n  x. = 1\n}\n")),
            "bundle.conf:11: expected a key without empty parts between dots, got \"x.\"");
  // A quoted empty part is a real key.
  auto parsed = parse(with("annotations.\"\".x = 1\n"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->annotations, nlohmann::json::parse(R"({"": {"x": 1}})"));
}

TEST(DescriptorParse, ExpensiveSubstitutionsAreRefusedBeforeResolving) {
  // A chain of 400 takes cpp-hocon 2.5 s (cubic); doubling is exponential.
  std::string chain = with("annotations.k0 = 1\n");
  for (int i = 1; i <= 40; ++i) {
    chain +=
        "annotations.k" + std::to_string(i) + " = ${annotations.k" + std::to_string(i - 1) + "}\n";
  }
  auto long_chain = parse(chain);
  ASSERT_FALSE(long_chain);
  EXPECT_EQ(long_chain.error().code, Errc::limit);
  EXPECT_EQ(long_chain.error().message,
            "bundle.conf:43: annotations.k33: substitutions nest deeper than 32 levels");

  std::string doubling = with("annotations.k0 = [1]\n");
  for (int i = 1; i <= 30; ++i) {
    std::string previous = "${annotations.k" + std::to_string(i - 1) + "}";
    doubling += "annotations.k" + std::to_string(i) + " = " + previous + " " + previous + "\n";
  }
  auto exponential = parse(doubling);
  ASSERT_FALSE(exponential);
  EXPECT_EQ(exponential.error().code, Errc::limit);
  EXPECT_EQ(exponential.error().message,
            "bundle.conf:22: annotations.k12: substitutions expand to more than 10000 values");

  // Ordinary use is untouched.
  auto fine =
      parse(with("system = ${name}-system\nannotations { a = ${name}, b = ${annotations.a} "
                 "}\n"));
  ASSERT_TRUE(fine) << fine.error().message;
  EXPECT_EQ(fine->system, "app-system");
  EXPECT_EQ(fine->annotations["b"], "app");
}

TEST(DescriptorParse, TheEnvironmentIsNotConsulted) {
  // The same descriptor means the same on every host.
  ASSERT_NE(std::getenv("PATH"), nullptr);
  EXPECT_EQ(error_of(with("system = ${PATH}\n")),
            "bundle.conf: HOCON error: Could not resolve subtitution to a value: ${PATH}");
  auto optional = parse(with("system = ${?PATH}\n"));
  ASSERT_TRUE(optional) << optional.error().message;
  EXPECT_EQ(optional->system, "app");
}

TEST(DescriptorParse, Utf8) {
  // cpp-hocon refuses any non-ASCII byte in a quoted string; they reach it as \u escapes.
  auto parsed =
      parse(with("components.web.description = \"caf\xC3\xA9 \\u00e9 \xE2\x82\xAC\"\n"
                 "annotations { \"cl\xC3\xA9\" = \"\xC3\xA9\", plain = \xC3\xA9t\xC3\xA9 }\n"
                 "# comment \xC3\xA9 \xF0\x9F\x98\x80\n"
                 "tags = [\"\"\"tri \xC3\xA9\"\"\"]\n"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->components[0].description, "caf\xC3\xA9 \xC3\xA9 \xE2\x82\xAC");
  EXPECT_EQ(parsed->annotations, nlohmann::json::parse("{\"cl\xC3\xA9\": \"\xC3\xA9\", "
                                                       "\"plain\": \"\xC3\xA9t\xC3\xA9\"}"));
  EXPECT_EQ(parsed->tags, std::vector<std::string>{"tri \xC3\xA9"});

  EXPECT_EQ(error_of(with("system = \"caf\xC3\"\n")),
            "bundle.conf:10: expected UTF-8 text, got invalid bytes");
  EXPECT_EQ(error_of(with("# \xFF\n")), "bundle.conf:10: expected UTF-8 text, got invalid bytes");
  // cpp-hocon turns the surrogate pair of an escape into two U+FFFD, so to_json's output could
  // not be read back.
  const std::string beyond =
      ": expected characters up to U+FFFF (a limit of the HOCON library), got U+1F600";
  EXPECT_EQ(error_of(with("\nsystem = \"\xF0\x9F\x98\x80\"\n")), "bundle.conf:11" + beyond);
  EXPECT_EQ(error_of(with("system = x\xF0\x9F\x98\x80\n")), "bundle.conf:10" + beyond);
  EXPECT_EQ(error_of(with("system = \"\"\"\n\xF0\x9F\x98\x80\"\"\"\n")), "bundle.conf:11" + beyond);
}

// ---------------------------------------------------------------------------------------------
// Overlays

TEST(DescriptorParse, OverlayWinsAndObjectsMerge) {
  auto merged = overlay(kVisualizer, R"(
nrOfCpus = 2
roles = ["web", "internal"]
components.visualizer {
  start-command = ["visualizer/bin/visualizer", "-Xmx64m"]
  endpoints.admin { bind-protocol = tcp, bind-port = 9999 }
}
annotations.env = "staging"
)");
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_DOUBLE_EQ(merged->nr_of_cpus, 2);
  EXPECT_EQ(merged->memory, 67108864);  // from the base
  EXPECT_EQ(merged->roles, (std::vector<std::string>{"web", "internal"}));
  EXPECT_EQ(merged->annotations, nlohmann::json::parse(R"({"env": "staging"})"));
  const Component& c = merged->components[0];
  EXPECT_EQ(c.file_system_type, "universal");  // from the base
  EXPECT_EQ(c.start_command, (std::vector<std::string>{"visualizer/bin/visualizer", "-Xmx64m"}));
  ASSERT_EQ(c.endpoints.size(), 2u);
  EXPECT_EQ(c.endpoints[0].name, "admin");
  EXPECT_EQ(c.endpoints[0].bind_port, 9999);
  EXPECT_EQ(c.endpoints[1].name, "visualizer");
  EXPECT_EQ(c.endpoints[1].acls.size(), 1u);  // kept from the base
}

TEST(DescriptorParse, OverlaySubstitutionsAndAppendsSeeTheBase) {
  auto merged = overlay(kMinimal, "system = ${name}-blue\nroles += backend\ntags += canary\n");
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged->system, "app-blue");
  EXPECT_EQ(merged->roles, std::vector<std::string>{"backend"});
  EXPECT_EQ(merged->tags, std::vector<std::string>{"canary"});
  auto extended = overlay(with("roles = [web]\n"), "roles += backend\n");
  ASSERT_TRUE(extended) << extended.error().message;
  EXPECT_EQ(extended->roles, (std::vector<std::string>{"web", "backend"}));
  // cpp-hocon cannot stack two appends on a key the base sets.
  auto stacked = overlay(with("roles = [web]\n"), "\nroles += a\nroles += b\n");
  ASSERT_FALSE(stacked);
  EXPECT_EQ(stacked.error().message,
            "overlay.conf:3: roles: expected fewer appends to one key (+= or ${roles}), got more "
            "than the HOCON library can merge");
}

TEST(DescriptorParse, OverlayMayUseTheOtherSpelling) {
  auto merged = overlay(kMinimal, "disk-space = 4096\ncompatibility-version = 2\n");
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged->disk_space, 4096);
  EXPECT_EQ(merged->compatibility_version, "2");
}

TEST(DescriptorParse, OverlayErrorsNameTheirSource) {
  auto bad_value = overlay(kMinimal, "\n\ncomponents.web.endpoints.e.bind-port = 70000\n");
  ASSERT_FALSE(bad_value);
  EXPECT_EQ(bad_value.error().message,
            "overlay.conf:3: components.web.endpoints.e.bind-port: expected a port 0-65535, got "
            "70000");
  auto bad_syntax = overlay(kMinimal, "memory = {\n");
  ASSERT_FALSE(bad_syntax);
  EXPECT_EQ(bad_syntax.error().message,
            "overlay.conf: HOCON syntax error: expecting a close brace or a field name here, got "
            "end of file");
  auto bad_base = overlay("name = [", "memory = 1\n");
  ASSERT_FALSE(bad_base);
  EXPECT_EQ(bad_base.error().message.substr(0, 33), "bundle.conf: HOCON syntax error: ");
  // A new component from the overlay lacks a key: the overlay is at fault.
  auto incomplete = overlay(kMinimal, "components.extra { file-system-type = universal }\n");
  ASSERT_FALSE(incomplete);
  EXPECT_EQ(incomplete.error().message,
            "overlay.conf: components.extra: missing required key start-command");
  // A key the base lacks: the base has to be complete.
  auto base_missing = overlay("name = a\ncompatibilityVersion = 1\n", "nrOfCpus = 1\n");
  ASSERT_FALSE(base_missing);
  EXPECT_EQ(base_missing.error().message, "bundle.conf: missing required key memory");
  auto empty_base = overlay(" \n", "nrOfCpus = 1\n");
  ASSERT_FALSE(empty_base);
  EXPECT_EQ(empty_base.error().message, "bundle.conf: empty, expected a bundle descriptor");
  auto include = overlay(kMinimal, "include \"x\"\n");
  ASSERT_FALSE(include);
  EXPECT_EQ(include.error().message,
            "overlay.conf:1: expected a self-contained descriptor, got an include statement");
}

TEST(DescriptorParse, OverlayLimitsApplyToEachText) {
  ParseOptions options;
  options.max_bytes = kMinimal.size();
  auto fits = parse_descriptor_with_overlay(kMinimal, "bundle.conf", "memory = 5\n", "overlay.conf",
                                            options);
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->memory, 5);
  std::string big(kMinimal.size() + 1, '\n');
  auto too_big =
      parse_descriptor_with_overlay(kMinimal, "bundle.conf", big, "overlay.conf", options);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, Errc::limit);
  EXPECT_EQ(too_big.error().message, "overlay.conf: " + std::to_string(big.size()) +
                                         " bytes, over the limit of " +
                                         std::to_string(kMinimal.size()) + " bytes");
}

TEST(DescriptorParse, CheckOverlayChecksSizeAndSyntaxOnly) {
  EXPECT_TRUE(check_overlay("memory = 1\n", "overlay.conf"));
  EXPECT_TRUE(check_overlay("", "overlay.conf"));
  EXPECT_TRUE(check_overlay("system = ${name}-x\nroles += a\n", "overlay.conf"));  // unresolved
  EXPECT_TRUE(check_overlay("memory = \"lots\"\n", "overlay.conf"));  // validated when merged

  auto syntax = check_overlay("a = {\n", "overlay.conf");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, Errc::invalid);
  EXPECT_EQ(syntax.error().message,
            "overlay.conf: HOCON syntax error: expecting a close brace or a field name here, got "
            "end of file");
  ParseOptions options;
  options.max_bytes = 4;
  auto size = check_overlay("memory = 1\n", "overlay.conf", options);
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().code, Errc::limit);
  EXPECT_EQ(size.error().message, "overlay.conf: 11 bytes, over the limit of 4 bytes");
  auto include = check_overlay("include file(\"/etc/passwd\")\n", "overlay.conf");
  ASSERT_FALSE(include);
  EXPECT_EQ(include.error().message,
            "overlay.conf:1: expected a self-contained descriptor, got an include statement");
  auto appends = check_overlay("a += 1\na += 2\na += 3\na += 4\n", "overlay.conf");
  ASSERT_FALSE(appends);
  EXPECT_EQ(appends.error().message,
            "overlay.conf:4: a: expected fewer appends to one key (+= or ${a}), got more than the "
            "HOCON library can merge");
}

// ---------------------------------------------------------------------------------------------
// to_json

TEST(DescriptorParse, ToJsonUsesCanonicalSpellings) {
  auto parsed = parse(R"(name = app
compatibility-version = 1
nr-of-cpus = 1
memory = 1024
disk-space = 1
components.web {
  file-system-type = universal
  start-command = [web/bin/web]
  endpoints.http.service-name = web
}
readiness.check = http
)");
  ASSERT_TRUE(parsed) << parsed.error().message;
  nlohmann::json json = to_json(*parsed);
  EXPECT_EQ(json["version"], "1");
  EXPECT_EQ(json["compatibilityVersion"], "1");
  EXPECT_EQ(json["systemVersion"], "1");
  EXPECT_EQ(json["diskSpace"], 1);
  EXPECT_EQ(json["nrOfCpus"], 1.0);
  EXPECT_EQ(json["memory"], 1024);
  EXPECT_EQ(json["roles"], nlohmann::json::array({"web"}));
  EXPECT_EQ(json["start-timeout"], "60s");
  EXPECT_FALSE(json.contains("disk-space"));
  EXPECT_EQ(json["readiness"], nlohmann::json::parse(R"({"check": "http", "endpoint": "http",
      "path": "/", "initial-delay": "0s", "interval": "100ms", "timeout": "1s"})"));
  const nlohmann::json& web = json["components"]["web"];
  EXPECT_EQ(web["file-system-type"], "universal");
  EXPECT_EQ(web["start-command"], nlohmann::json::array({"web/bin/web"}));
  EXPECT_EQ(web["stop-signal"], "SIGTERM");
  EXPECT_EQ(web["stop-timeout"], "5s");
  EXPECT_EQ(web["endpoints"]["http"], nlohmann::json::parse(R"({"bind-protocol": "http",
      "bind-port": 0, "service-name": "web", "services": [], "acls": []})"));
}

void expect_round_trip(std::string_view text) {
  auto first = parse(text);
  ASSERT_TRUE(first) << first.error().message;
  std::string json = to_json(*first).dump(2);
  auto second = parse_descriptor(json, "to_json");
  ASSERT_TRUE(second) << second.error().message << "\n" << json;
  EXPECT_EQ(*second, *first) << json;
  EXPECT_EQ(to_json(*second), to_json(*first));
}

TEST(DescriptorParse, ToJsonRoundTrips) {
  expect_round_trip(kVisualizer);
  expect_round_trip(kMinimal);
  expect_round_trip(with(R"(tags = ["v1", "caf\u00e9"]
compatibilityVersion = 1.10
nrOfCpus = 0.3
memory = 64M
start-timeout = 1500ms
annotations { "a.b" = { c = [1, 2.5, "x", null, true] }, "slash/tilde~" = "$HOME ${x}" }
components.web {
  description = "The \"web\" tier\n"
  volumes { data = "/data" }
  stop-signal = KILL
  stop-timeout = 250ms
  endpoints {
    web { bind-port = 8080, service-name = web, services = ["http://:9000/web"]
          acls = [ { http { requests = [ { path = "/", method = POST, rewrite = "/x" } ] } } ] }
    db { bind-protocol = tcp, acls = [ { tcp { requests = [5432] } } ] }
    dns { bind-protocol = udp, acls = [ { udp { requests = [53] } } ] }
  }
}
components.worker { file-system-type = docker }
readiness { check = tcp, initial-delay = 1s, interval = 2s, timeout = 250ms }
)"));
  expect_round_trip(with_check(
      R"("check", "--initial-delay", "1", "$API_HOST/ready?retry-count=90&retry-delay=2")"));
}

}  // namespace
}  // namespace baton::bundle
