#include "bundle/bundle_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "bundle/bundle_name.hpp"
#include "bundle/zip_writer.hpp"
#include "bundle_test_support.hpp"

namespace baton::bundle {
namespace {

using namespace baton::bundle::testing;

const std::string kBundleConf = R"(version = "1"
name = "hello"
compatibilityVersion = "1"
system = "hello"
nrOfCpus = 0.1
memory = 33554432
diskSpace = 1048576
roles = ["web"]
tags = ["stable"]
components {
  hello {
    description = "Says hello"
    file-system-type = "universal"
    start-command = ["hello/bin/run", "$WEB_BIND_PORT"]
    endpoints {
      web {
        bind-protocol = "http"
        bind-port = 0
        service-name = "hello"
      }
    }
  }
}
)";

class BundleFileTest : public ::testing::Test {
 protected:
  files::TempFolder work_ = temp_folder();
  stdfs::path source_ = work_.path() / "hello";
  stdfs::path output_ = work_.path() / "out";

  void SetUp() override {
    write_file(source_ / "bundle.conf", kBundleConf);
    write_file(source_ / "hello" / "bin" / "run", "#!/bin/sh\nexec echo hello\n",
               stdfs::perms(0755));
    write_file(source_ / "hello" / "www" / "index.html", text_bytes(100 * 1024));
    stdfs::create_directories(output_);
  }

  CreatedBundle create(CreateOptions options = {}, const stdfs::path& folder = {}) {
    options.output_folder = output_;
    auto created = create_bundle(folder.empty() ? source_ : folder, options);
    if (!created) throw std::runtime_error(created.error().message);
    return std::move(created).value();
  }

  // Zip `raw` entries, digest-named as `stem`, in a folder of their own.
  stdfs::path raw_bundle(const std::vector<RawEntry>& raw, const std::string& stem = "hello-v1") {
    stdfs::path folder = work_.path() / "raw";
    stdfs::create_directories(folder);
    stdfs::path zip = folder / "raw.zip";
    write_raw_zip(zip, raw);
    return digest_named(zip, stem);
  }
};

TEST_F(BundleFileTest, CreateOpenResolveExtract) {
  CreatedBundle created = create();
  EXPECT_EQ(created.stem, "hello-v1");
  EXPECT_EQ(created.path, output_ / file_name("hello-v1", created.digest));
  EXPECT_EQ(names_in(output_), std::vector<std::string>{created.path.filename().string()});

  auto opened = open_bundle(created.path);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->digest, created.digest);
  EXPECT_EQ(opened->stem, "hello-v1");
  EXPECT_EQ(opened->top_folder, "hello-v1");
  EXPECT_EQ(opened->bundle_conf, kBundleConf);
  EXPECT_FALSE(opened->has_runtime_config);
  EXPECT_EQ(opened->member_source("bundle.conf"),
            created.path.filename().string() + ":hello-v1/bundle.conf");

  auto resolved = resolve(*opened);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->descriptor.name, "hello");
  EXPECT_EQ(resolved->bundle_digest, created.digest);
  EXPECT_EQ(resolved->bundle_id, created.digest.substr(0, 32));
  EXPECT_EQ(resolved->configuration_digest, "");

  stdfs::path extracted = work_.path() / "extracted";
  ASSERT_TRUE(extract(created.path, extracted).ok());
  stdfs::path root = extracted / opened->top_folder;
  EXPECT_EQ(read_file(root / "bundle.conf"), kBundleConf);
  EXPECT_EQ(read_file(root / "hello" / "www" / "index.html"), text_bytes(100 * 1024));
  struct stat info {};
  ASSERT_EQ(::stat((root / "hello" / "bin" / "run").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0555u);  // exec bits kept, write bits removed
  remove_extracted(extracted);
}

TEST_F(BundleFileTest, SameFolderSameDigestWhateverTheMtimes) {
  CreatedBundle first = create();
  stdfs::remove(first.path);
  for (const auto& entry : stdfs::recursive_directory_iterator(source_)) {
    stdfs::last_write_time(entry.path(),
                           stdfs::file_time_type::clock::now() + std::chrono::hours(3));
  }
  CreatedBundle second = create();
  EXPECT_EQ(first.digest, second.digest);
}

TEST_F(BundleFileTest, PermissionBitsAreKept) {
  stdfs::permissions(source_ / "hello" / "bin" / "run", stdfs::perms(0700));
  CreatedBundle created = create();
  auto entries = list_entries(created.path);
  ASSERT_TRUE(entries.ok());
  for (const ArchiveEntry& entry : *entries) {
    if (entry.path == "hello-v1/hello/bin/run") {
      EXPECT_EQ(entry.mode, 0700u);
    }
    if (entry.path == "hello-v1/bundle.conf") {
      EXPECT_EQ(entry.mode, 0644u);
    }
  }
}

TEST_F(BundleFileTest, OverridesAndEnvironment) {
  CreateOptions options;
  options.overrides.name = "greeter";
  options.overrides.compatibility_version = "2";
  options.overrides.roles = {"frontend", "edge"};
  options.overrides.tags = {"canary", "stable"};
  options.overrides.memory = "64M";
  options.overrides.nr_of_cpus = "0.5";
  options.environment = {{"GREETING", "hello \"world\" $HOME `x` \\"}, {"MODE", "fast"}};
  CreatedBundle created = create(options);
  EXPECT_EQ(created.stem, "greeter-v2");
  EXPECT_EQ(created.path.filename().string().substr(0, 11), "greeter-v2-");

  auto opened = open_bundle(created.path);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->top_folder, "greeter-v2");
  EXPECT_TRUE(opened->has_runtime_config);
  auto resolved = resolve(*opened);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  const Descriptor& d = resolved->descriptor;
  EXPECT_EQ(d.name, "greeter");
  EXPECT_EQ(d.compatibility_version, "2");
  EXPECT_EQ(d.roles, (std::vector<std::string>{"frontend", "edge"}));
  EXPECT_EQ(d.tags, (std::vector<std::string>{"stable", "canary"}));
  EXPECT_EQ(d.memory, 64 << 20);
  EXPECT_DOUBLE_EQ(d.nr_of_cpus, 0.5);

  auto script = read_member(created.path, "greeter-v2/runtime-config.sh");
  ASSERT_TRUE(script.ok()) << script.error().message;
  EXPECT_NE(script->find("export GREETING=\"hello \\\"world\\\" \\$HOME \\`x\\` \\\\\"\n"),
            std::string::npos)
      << *script;
  EXPECT_NE(script->find("export MODE=\"fast\"\n"), std::string::npos);
  // The shell reads back exactly what was given.
  stdfs::path copy = work_.path() / "runtime-config.sh";
  write_file(copy, *script);
  CommandResult shell = run_command("sh -c '. " + copy.string() + " && printf %s \"$GREETING\"'");
  EXPECT_EQ(shell.output, "hello \"world\" $HOME `x` \\");

  auto bad = export_line("1X", "v");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("\"1X\": not a shell variable name"), std::string::npos);
}

TEST_F(BundleFileTest, OverridesKeepTheKebabSpelling) {
  std::string conf = kBundleConf;
  conf.replace(conf.find("compatibilityVersion"), 20, "compatibility-version");
  write_file(source_ / "bundle.conf", conf);
  CreateOptions options;
  options.overrides.compatibility_version = "3";
  CreatedBundle created = create(options);
  EXPECT_EQ(created.stem, "hello-v3");
}

TEST_F(BundleFileTest, CreateRefusesAnInvalidDescriptorAndWritesNothing) {
  std::string conf = kBundleConf;
  conf.replace(conf.find("bind-port = 0"), 13, "bind-port = 70000");
  write_file(source_ / "bundle.conf", conf);
  CreateOptions options;
  options.output_folder = output_;
  auto created = create_bundle(source_, options);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, Errc::invalid);
  EXPECT_NE(created.error().message.find((source_ / "bundle.conf").string()), std::string::npos)
      << created.error().message;
  EXPECT_NE(created.error().message.find("bind-port"), std::string::npos)
      << created.error().message;
  EXPECT_TRUE(names_in(output_).empty());

  stdfs::remove(source_ / "bundle.conf");
  auto missing = create_bundle(source_, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("bundle.conf: no such file"), std::string::npos);
}

TEST_F(BundleFileTest, ConfigurationOverlayWinsAndJoinsTheId) {
  CreatedBundle bundle = create();
  stdfs::path config_source = work_.path() / "hello-prod";
  write_file(config_source / "bundle.conf", "nrOfCpus = 2\nroles = [\"prod\"]\n");
  write_file(config_source / "runtime-config.sh", "export DB=prod\n");
  write_file(config_source / "certs" / "ca.pem", "cert");
  CreateOptions options;
  options.configuration = true;
  options.environment = {{"LEVEL", "info"}};
  CreatedBundle config = create(options, config_source);
  EXPECT_EQ(config.stem, "hello-prod");

  auto opened_bundle = open_bundle(bundle.path);
  ASSERT_TRUE(opened_bundle.ok()) << opened_bundle.error().message;
  auto opened_config = open_configuration(config.path);
  ASSERT_TRUE(opened_config.ok()) << opened_config.error().message;
  EXPECT_EQ(opened_config->top_folder, "hello-prod");
  EXPECT_TRUE(opened_config->has_runtime_config);
  ASSERT_TRUE(opened_config->bundle_conf.has_value());

  auto resolved = resolve(*opened_bundle, &*opened_config);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_DOUBLE_EQ(resolved->descriptor.nr_of_cpus, 2);
  EXPECT_EQ(resolved->descriptor.roles, std::vector<std::string>{"prod"});
  EXPECT_EQ(resolved->descriptor.name, "hello");
  EXPECT_EQ(resolved->configuration_digest, config.digest);
  EXPECT_EQ(resolved->bundle_id, bundle.digest.substr(0, 32) + "-" + config.digest.substr(0, 32));
  EXPECT_EQ(short_id(resolved->bundle_id),
            bundle.digest.substr(0, 7) + "-" + config.digest.substr(0, 7));
  auto script = read_member(config.path, "hello-prod/runtime-config.sh");
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(*script, "export DB=prod\nexport LEVEL=\"info\"\n");
}

TEST_F(BundleFileTest, ConfigurationWithOnlyARuntimeConfigAtTheRoot) {
  CreatedBundle bundle = create();
  stdfs::path config = raw_bundle({{.path = "runtime-config.sh", .data = "export A=1\n"}}, "cfg");
  auto opened = open_configuration(config);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->top_folder, "");
  EXPECT_FALSE(opened->bundle_conf.has_value());
  auto opened_bundle = open_bundle(bundle.path);
  ASSERT_TRUE(opened_bundle.ok());
  auto resolved = resolve(*opened_bundle, &*opened);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->descriptor.roles, std::vector<std::string>{"web"});
  EXPECT_EQ(resolved->bundle_id.size(), 65u);
}

TEST_F(BundleFileTest, ConfigurationNeedsOneOfItsFiles) {
  stdfs::path config_source = work_.path() / "empty-config";
  write_file(config_source / "notes.txt", "nothing");
  CreateOptions options;
  options.configuration = true;
  options.output_folder = output_;
  auto created = create_bundle(config_source, options);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("a configuration needs bundle.conf or runtime-config.sh"),
            std::string::npos);

  stdfs::path zip = raw_bundle({{.path = "x/notes.txt", .data = "x"}}, "cfg");
  auto opened = open_configuration(zip);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message.find(
                "no bundle.conf or runtime-config.sh at the root or in the top folder x"),
            std::string::npos)
      << opened.error().message;
}

// ---- Bad bundles, opened.

TEST_F(BundleFileTest, TamperedContentIsADigestMismatch) {
  CreatedBundle created = create();
  std::string bytes = read_file(created.path);
  bytes[bytes.size() / 2] ^= 0x01;
  write_file(created.path, bytes);
  auto actual = sha256_file_hex(created.path);
  ASSERT_TRUE(actual.ok());
  auto opened = open_bundle(created.path);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Errc::invalid);
  EXPECT_EQ(opened.error().message, created.path.string() + ": digest mismatch: the name says " +
                                        created.digest + ", the content hashes to " + *actual);
}

TEST_F(BundleFileTest, WrongDigestInTheName) {
  CreatedBundle created = create();
  std::string wrong(64, 'a');
  stdfs::path renamed = output_ / file_name("hello-v1", wrong);
  stdfs::rename(created.path, renamed);
  auto opened = open_bundle(renamed);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().message, renamed.string() + ": digest mismatch: the name says " + wrong +
                                        ", the content hashes to " + created.digest);
  stdfs::path unnamed = output_ / "hello.zip";
  stdfs::rename(renamed, unnamed);
  auto no_digest = open_bundle(unnamed);
  ASSERT_FALSE(no_digest.ok());
  EXPECT_NE(no_digest.error().message.find("hello.zip: the file name carries no digest"),
            std::string::npos);
}

TEST_F(BundleFileTest, MissingBundleConf) {
  stdfs::path zip = raw_bundle(
      {{.path = "hello-v1/", .type = AE_IFDIR}, {.path = "hello-v1/hello/run", .data = "x"}});
  auto opened = open_bundle(zip);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Errc::invalid);
  EXPECT_EQ(opened.error().message,
            zip.string() + ": no bundle.conf at the root or in the top folder hello-v1");
}

TEST_F(BundleFileTest, BundleConfInANestedButNotSingleTopFolder) {
  stdfs::path zip = raw_bundle(
      {{.path = "hello-v1/bundle.conf", .data = kBundleConf}, {.path = "other/file", .data = "x"}});
  auto opened = open_bundle(zip);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().message,
            zip.string() +
                ": no bundle.conf at the root or in a single top folder (top-level "
                "entries: hello-v1, other)");
}

TEST_F(BundleFileTest, HostileEntriesAreRefusedOnOpen) {
  stdfs::path zip = raw_bundle({{.path = "hello-v1/bundle.conf", .data = kBundleConf},
                                {.path = "hello-v1/x", .type = AE_IFLNK, .symlink = "../../.."}});
  auto opened = open_bundle(zip);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().message,
            zip.string() + ": hello-v1/x: symlink to \"../../..\" points outside the bundle");
}

TEST_F(BundleFileTest, MalformedHoconIsRefusedByResolveNamingTheMember) {
  stdfs::path zip = raw_bundle({{.path = "hello-v1/bundle.conf", .data = "name = {\n"}});
  auto opened = open_bundle(zip);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto resolved = resolve(*opened);
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.error().code, Errc::invalid);
  EXPECT_EQ(resolved.error().message.rfind(zip.filename().string() + ":hello-v1/bundle.conf", 0),
            0u)
      << resolved.error().message;
}

TEST_F(BundleFileTest, ValidationErrorSurfacesThroughResolve) {
  std::string conf = kBundleConf;
  conf.erase(conf.find("name = \"hello\"\n"), 15);
  stdfs::path zip = raw_bundle({{.path = "bundle.conf", .data = conf}});
  auto opened = open_bundle(zip);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->top_folder, "");
  auto resolved = resolve(*opened);
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.error().code, Errc::invalid);
  EXPECT_NE(resolved.error().message.find(zip.filename().string() + ":bundle.conf"),
            std::string::npos)
      << resolved.error().message;
  EXPECT_NE(resolved.error().message.find("name"), std::string::npos);

  // An unknown runtime is refused unless allowed (a runtime plugin).
  std::string plugin = kBundleConf;
  plugin.replace(plugin.find("\"universal\""), 11, "\"firecracker\"");
  stdfs::path plugin_zip = raw_bundle({{.path = "bundle.conf", .data = plugin}}, "plugin-v1");
  auto plugin_bundle = open_bundle(plugin_zip);
  ASSERT_TRUE(plugin_bundle.ok());
  EXPECT_FALSE(resolve(*plugin_bundle).ok());
  ParseOptions allowed;
  allowed.extra_runtimes = {"firecracker"};
  EXPECT_TRUE(resolve(*plugin_bundle, nullptr, allowed).ok());
}

// ---- `baton bundle`, the command.

class BundleCommandTest : public BundleFileTest {
 protected:
  stdfs::path baton_;

  void SetUp() override {
    BundleFileTest::SetUp();
    const char* build = std::getenv("BATON_BUILD_DIR");
    baton_ = stdfs::path(build != nullptr ? build : "") / "bin" / "baton";
    if (build == nullptr || !stdfs::exists(baton_)) {
      GTEST_SKIP() << "SKIPPED LOUDLY: the baton binary is not built (" << baton_
                   << "); build the `baton` target";
    }
  }

  CommandResult baton(const std::string& arguments, bool with_stderr = false) {
    return run_command(shell_quote(baton_.string()) + " " + arguments +
                       (with_stderr ? " 2>&1" : ""));
  }
};

TEST_F(BundleCommandTest, CreateVerifyInspect) {
  CommandResult created =
      baton("bundle create " + shell_quote(source_.string()) + " -o " +
            shell_quote(output_.string()) + " --name greeter --tag beta --env A=1");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  std::string path = created.output.substr(0, created.output.size() - 1);  // one line: the path
  ASSERT_TRUE(stdfs::exists(path)) << created.output;
  EXPECT_EQ(stdfs::path(path).parent_path(), output_);
  auto name = parse_file_name(path);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->stem, "greeter-v1");

  CommandResult verified = baton("bundle verify " + shell_quote(path));
  EXPECT_EQ(verified.exit_code, 0);
  EXPECT_EQ(verified.output, "ok: greeter v1, id " + name->digest.substr(0, 7) + ", digest " +
                                 name->digest + ", components: hello\n");

  CommandResult json = baton("bundle inspect --json " + shell_quote(path));
  ASSERT_EQ(json.exit_code, 0);
  auto parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["name"], "greeter");
  EXPECT_EQ(parsed["bundleDigest"], name->digest);
  EXPECT_EQ(parsed["bundleId"], name->digest.substr(0, 32));
  EXPECT_TRUE(parsed["configurationDigest"].is_null());
  EXPECT_EQ(parsed["tags"], (nlohmann::json{"stable", "beta"}));

  CommandResult human = baton("bundle inspect " + shell_quote(path));
  ASSERT_EQ(human.exit_code, 0);
  EXPECT_NE(human.output.find("endpoint web: http, bind-port allocated, service-name hello"),
            std::string::npos)
      << human.output;
}

TEST_F(BundleCommandTest, FailuresGoToStderrWithExitOne) {
  stdfs::path bad = output_ / ("hello-v1-" + std::string(64, 'a') + ".zip");
  write_file(bad, "not a zip");
  CommandResult verified = baton("bundle verify " + shell_quote(bad.string()) + " 2>&1 >/dev/null");
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_EQ(verified.output.rfind("baton: " + bad.string() + ": digest mismatch", 0), 0u)
      << verified.output;

  write_file(source_ / "bundle.conf", "name = \"hello\"\n");
  CommandResult created = baton("bundle create " + shell_quote(source_.string()) + " -o " +
                                shell_quote(output_.string()) + " 2>&1 >/dev/null");
  EXPECT_EQ(created.exit_code, 1);
  EXPECT_EQ(created.output.rfind("baton: " + (source_ / "bundle.conf").string(), 0), 0u)
      << created.output;

  CommandResult env =
      baton("bundle create " + shell_quote(source_.string()) + " --env NOEQUALS 2>&1");
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_NE(env.output.find("--env NOEQUALS: expected NAME=VALUE"), std::string::npos);
}

TEST_F(BundleCommandTest, ConfigurationAndAllowedRuntimes) {
  std::string conf = kBundleConf;
  conf.replace(conf.find("\"universal\""), 11, "\"firecracker\"");
  write_file(source_ / "bundle.conf", conf);
  CommandResult refused = baton("bundle create " + shell_quote(source_.string()) + " -o " +
                                shell_quote(output_.string()) + " 2>&1");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  CommandResult created = baton("bundle create " + shell_quote(source_.string()) + " -o " +
                                shell_quote(output_.string()) + " --allow-runtime firecracker");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  std::string bundle = created.output.substr(0, created.output.size() - 1);

  stdfs::path config_source = work_.path() / "prod";
  write_file(config_source / "bundle.conf", "roles = [\"prod\"]\n");
  CommandResult config =
      baton("bundle create --configuration " + shell_quote(config_source.string()) + " -o " +
            shell_quote(output_.string()));
  ASSERT_EQ(config.exit_code, 0) << config.output;
  std::string configuration = config.output.substr(0, config.output.size() - 1);
  auto config_name = parse_file_name(configuration);
  ASSERT_TRUE(config_name.ok());
  EXPECT_EQ(config_name->stem, "prod");

  CommandResult json = baton("bundle inspect --json --allow-runtime firecracker " +
                             shell_quote(bundle) + " " + shell_quote(configuration));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  auto parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["roles"], nlohmann::json{"prod"});
  EXPECT_EQ(parsed["configurationDigest"], config_name->digest);
  EXPECT_EQ(parsed["bundleId"].get<std::string>().size(), 65u);
}

}  // namespace
}  // namespace baton::bundle
