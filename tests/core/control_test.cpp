// The control protocol over real HTTP: load (validation, idempotence, overlay), listing shape,
// ids, scale, unload, history.

#include <gtest/gtest.h>

#include <fstream>

#include "bundle/zip_writer.hpp"
#include "common/sha256.hpp"
#include "support.hpp"

namespace baton::core::testing {
namespace {

std::size_t entries_in(const stdfs::path& folder) {
  std::size_t n = 0;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(folder, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

// A multipart body built in memory (small bundles), for requests that need extra headers.
std::pair<std::string, http::Headers> multipart(const std::vector<http::FormPart>& parts) {
  std::string boundary = "baton-test-boundary-1234";
  std::string body;
  for (const auto& p : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    std::string content = p.content;
    if (!p.path.empty()) {
      std::ifstream in(p.path, std::ios::binary);
      content.assign(std::istreambuf_iterator<char>(in), {});
    }
    if (!p.file_name.empty()) body += "; filename=\"" + p.file_name + "\"";
    body += "\r\n\r\n" + content + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  http::Headers headers;
  headers.emplace("Content-Type", "multipart/form-data; boundary=" + boundary);
  return {body, headers};
}

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override { work = temp_folder("baton-core-work-"); }
  void TearDown() override { files::remove_tree(work); }

  http::Response post(const std::vector<http::FormPart>& parts) {
    auto r = client.post_form(core.url("/v2/bundles"), parts);
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  }
  void expect_no_leftovers() {
    EXPECT_EQ(entries_in(core.data() / "files"), 0u);
    EXPECT_EQ(entries_in(core.data() / "tmp"), 0u);
  }

  stdfs::path work;
  TestCore core;
  http::Client client;
};

TEST_F(ControlTest, LoadListsTheBundleInConductRShape) {
  BundleSpec spec;
  spec.name = "visualizer";
  spec.tags = {"1.0.0"};
  MadeFile b = make_bundle(work, spec);
  std::string id = core.load(b);
  EXPECT_EQ(id, b.digest.substr(0, 32));

  json list = core.bundles();
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  json bundle = list[0];
  EXPECT_EQ(bundle["bundleId"], id);
  EXPECT_EQ(bundle["bundleDigest"], b.digest);
  EXPECT_FALSE(bundle.contains("configurationDigest"));

  json attributes = bundle["attributes"];
  EXPECT_EQ(attributes["system"], "visualizer");
  EXPECT_DOUBLE_EQ(attributes["nrOfCpus"].get<double>(), 0.1);
  EXPECT_EQ(attributes["memory"], 32 << 20);
  EXPECT_EQ(attributes["diskSpace"], 1 << 20);
  EXPECT_EQ(attributes["roles"], json::array({"web"}));
  EXPECT_EQ(attributes["bundleName"], "visualizer");
  EXPECT_EQ(attributes["compatibilityVersion"], "1");
  EXPECT_EQ(attributes["systemVersion"], "1");
  EXPECT_EQ(attributes["tags"], json::array({"1.0.0"}));
  EXPECT_TRUE(attributes["annotations"].is_object());

  json endpoint = bundle["bundleConfig"]["endpoints"]["web"];
  EXPECT_EQ(endpoint["bindProtocol"], "http");
  EXPECT_EQ(endpoint["serviceName"], "visualizer");
  EXPECT_EQ(endpoint["services"], json::array());
  EXPECT_EQ(endpoint["acls"],
            json::parse(R"([{"http": {"requests": [{"pathBeg": "/visualizer"}]}}])"));

  EXPECT_EQ(bundle["bundleScale"]["scale"], 0);
  EXPECT_TRUE(bundle["bundleScale"]["affinity"].is_null());
  EXPECT_TRUE(bundle["bundleScale"]["shortfall"].is_null());
  EXPECT_EQ(bundle["bundleExecutions"], json::array());
  ASSERT_EQ(bundle["bundleInstallations"].size(), 1u);  // the core holds it
  json installation = bundle["bundleInstallations"][0];
  EXPECT_TRUE(installation["uniqueAddress"]["address"].get<std::string>().starts_with(
      "baton-core://127.0.0.1:"));
  EXPECT_TRUE(installation["uniqueAddress"]["uid"].is_string());
  EXPECT_EQ(installation["bundleFile"], "file://" + (core.data() / "files" / b.digest).string());
  EXPECT_TRUE(installation["configurationFile"].is_null());
  EXPECT_EQ(bundle["hasError"], false);
  EXPECT_TRUE(bundle["error"].is_null());
  EXPECT_GT(bundle["loadedAt"].get<std::int64_t>(), 0);

  // GET /v2/bundles/{id} answers the same object, by any id form.
  for (std::string form : {id, id.substr(0, 7), std::string("visualizer"),
                           std::string("visualizer:1.0.0"), std::string("visualizer:1")}) {
    auto one = core.get("/v2/bundles/" + form);
    ASSERT_EQ(one.status, 200) << form << ": " << one.body;
    EXPECT_EQ(json::parse(one.body), bundle) << form;
  }
  EXPECT_EQ(core.get("/v2/bundles/nothing").status, 404);
}

TEST_F(ControlTest, ConfigurationOverlayIsMergedAndPartOfTheId) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "eslite"});
  MadeFile c = make_configuration(work, "prod", "nrOfCpus = 0.5\ntags = [\"prod\"]\n");
  std::string id = core.load(b, &c);
  EXPECT_EQ(id, b.digest.substr(0, 32) + "-" + c.digest.substr(0, 32));
  auto bundle = core.bundle(id);
  ASSERT_TRUE(bundle);
  EXPECT_EQ((*bundle)["configurationDigest"], c.digest);
  EXPECT_DOUBLE_EQ((*bundle)["attributes"]["nrOfCpus"].get<double>(), 0.5);
  EXPECT_EQ((*bundle)["attributes"]["tags"], json::array({"prod"}));
  EXPECT_EQ((*bundle)["bundleInstallations"][0]["configurationFile"],
            "file://" + (core.data() / "files" / c.digest).string());
  // The same bundle without the configuration is another bundle.
  std::string plain = core.load(b);
  EXPECT_EQ(plain, b.digest.substr(0, 32));
  EXPECT_EQ(core.bundles().size(), 2u);
  // The short form of both parts selects the configured one.
  EXPECT_EQ(json::parse(core.get("/v2/bundles/" + id.substr(0, 7) + "-" + id.substr(33, 7)).body)
                .at("bundleId"),
            id);
  // The short bundle part alone is ambiguous: 300 with the candidates.
  auto ambiguous = core.get("/v2/bundles/" + id.substr(0, 7));
  EXPECT_EQ(ambiguous.status, 300);
  json body = json::parse(ambiguous.body);
  EXPECT_TRUE(body["error"].is_string());
  EXPECT_EQ(body["candidates"].size(), 2u);
}

TEST_F(ControlTest, LoadingAgainIsIdempotent) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "again"});
  std::string first = core.load(b);
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + first + "?scale=2").status, 200);
  std::string second = core.load(b);
  EXPECT_EQ(first, second);
  json list = core.bundles();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["bundleScale"]["scale"], 2);  // a load again does not reset the scale
  json history = json::parse(core.get("/v2/history").body);
  ASSERT_EQ(history.size(), 2u);  // the record of each load
  EXPECT_GT(history[0]["sequence"].get<int>(), history[1]["sequence"].get<int>());
  EXPECT_EQ(entries_in(core.data() / "files"), 1u);
}

TEST_F(ControlTest, DigestMismatchIsRefusedNamingThePart) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "mismatch"});
  std::string wrong = std::string(64, 'a');
  auto parts = load_parts(b);
  parts[1].file_name = "mismatch-v1-" + wrong + ".zip";
  auto r = post(parts);
  EXPECT_EQ(r.status, 400);
  std::string error = json::parse(r.body).at("error");
  EXPECT_NE(error.find("bundle part"), std::string::npos) << error;
  EXPECT_NE(error.find("digest mismatch"), std::string::npos) << error;
  EXPECT_NE(error.find(wrong), std::string::npos) << error;
  EXPECT_NE(error.find(b.digest), std::string::npos) << error;
  expect_no_leftovers();

  MadeFile c = make_configuration(work, "conf", "nrOfCpus = 0.2\n");
  auto with_config = load_parts(b, &c);
  with_config[3].file_name = "conf-" + wrong + ".zip";
  r = post(with_config);
  EXPECT_EQ(r.status, 400);
  error = json::parse(r.body).at("error");
  EXPECT_NE(error.find("configuration part"), std::string::npos) << error;
  expect_no_leftovers();
  EXPECT_EQ(core.bundles().size(), 0u);
}

TEST_F(ControlTest, WrongFileNameIsRefused) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "named"});
  auto parts = load_parts(b);
  parts[1].file_name = "named.zip";
  auto r = post(parts);
  EXPECT_EQ(r.status, 400);
  std::string error = json::parse(r.body).at("error");
  EXPECT_NE(error.find("bundle part"), std::string::npos) << error;
  parts[1].file_name.clear();
  parts[1].path.clear();
  parts[1].content = "x";
  r = post(parts);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body).at("error").get<std::string>().find("no file name"),
            std::string::npos);
  expect_no_leftovers();
}

TEST_F(ControlTest, InvalidDescriptorIsRefusedNamingFileAndKey) {
  std::vector<bundle::ZipEntry> entries;
  std::string conf = bundle_conf(BundleSpec{.name = "bad"}) + "nrOfCpus = \"lots\"\n";
  entries.push_back({.path = "bad-v1/bundle.conf", .content = conf});
  entries.push_back({.path = "bad-v1/bad/bin/run", .mode = 0755, .content = "#!/bin/sh\n"});
  auto zip = bundle::write_zip(entries, work, "bad-v1");
  ASSERT_TRUE(zip.ok()) << zip.error().message;
  MadeFile b{zip->path, zip->digest, zip->path.filename().string(), conf};
  auto r = post(load_parts(b));
  EXPECT_EQ(r.status, 400);
  std::string error = json::parse(r.body).at("error");
  EXPECT_NE(error.find("bundle.conf"), std::string::npos) << error;
  EXPECT_NE(error.find("nrOfCpus"), std::string::npos) << error;
  expect_no_leftovers();

  // A zip without bundle.conf.
  std::vector<bundle::ZipEntry> empty{{.path = "x/readme", .content = "hi"}};
  auto bare = bundle::write_zip(empty, work, "x-v1");
  ASSERT_TRUE(bare.ok());
  r = post({{.name = "bundle", .file_name = bare->path.filename().string(), .path = bare->path}});
  EXPECT_EQ(r.status, 400) << r.body;
  expect_no_leftovers();
}

TEST_F(ControlTest, SentTextsMustMatchTheArchives) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "texts"});
  auto parts = load_parts(b);
  parts[0].content = bundle_conf(BundleSpec{.name = "texts", .memory = 64 << 20});
  auto r = post(parts);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body).at("error").get<std::string>().find("bundleConf part differs"),
            std::string::npos)
      << r.body;

  MadeFile c = make_configuration(work, "conf", "nrOfCpus = 0.2\n");
  auto with_config = load_parts(b, &c);
  with_config[1].content = "nrOfCpus = 0.3\n";
  r = post(with_config);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body).at("error").get<std::string>().find("bundleConfOverlay"),
            std::string::npos)
      << r.body;

  // An overlay without a configuration.
  auto overlay_only = load_parts(b);
  overlay_only.insert(overlay_only.begin() + 1,
                      http::FormPart{.name = "bundleConfOverlay", .content = "nrOfCpus = 1\n"});
  r = post(overlay_only);
  EXPECT_EQ(r.status, 400);
  // An unknown part, two bundle parts, no bundle part.
  auto unknown = load_parts(b);
  unknown.push_back(http::FormPart{.name = "surprise", .content = "x"});
  EXPECT_EQ(post(unknown).status, 400);
  auto twice = load_parts(b);
  twice.push_back(twice[1]);
  EXPECT_EQ(post(twice).status, 400);
  EXPECT_EQ(post({{.name = "bundleConf", .content = b.conf}}).status, 400);
  expect_no_leftovers();
  // Without the bundleConf part the bundle's own is used.
  auto bare = load_parts(b);
  bare.erase(bare.begin());
  EXPECT_EQ(post(bare).status, 200);
}

TEST_F(ControlTest, ScaleRecordsAndExplainsShortfall) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "scaled"});
  std::string id = core.load(b);
  auto r = core.request("PUT", "/v2/bundles/" + id.substr(0, 7) + "?scale=2");
  ASSERT_EQ(r.status, 200) << r.body;
  json reply = json::parse(r.body);
  EXPECT_EQ(reply["bundleId"], id);
  EXPECT_EQ(reply["requestId"].get<std::string>().size(), 36u);
  ASSERT_TRUE(wait_until([&] {
    auto bundle = core.bundle(id);
    return bundle && (*bundle)["bundleScale"]["shortfall"].is_string();
  }));
  auto bundle = *core.bundle(id);
  EXPECT_EQ(bundle["bundleScale"]["scale"], 2);
  EXPECT_NE(bundle["bundleScale"]["shortfall"].get<std::string>().find("2 of 2"), std::string::npos)
      << bundle["bundleScale"]["shortfall"];
  EXPECT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=-1").status, 400);
  EXPECT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=two").status, 400);
  EXPECT_EQ(core.request("PUT", "/v2/bundles/" + id).status, 400);
  EXPECT_EQ(core.request("PUT", "/v2/bundles/nothing?scale=1").status, 404);
  EXPECT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1&affinity=nothing").status, 404);
  // Affinity to another bundle is recorded by full id.
  std::string other = core.load(make_bundle(work, BundleSpec{.name = "other"}));
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1&affinity=other").status, 200);
  EXPECT_EQ((*core.bundle(id))["bundleScale"]["affinity"], other);
}

TEST_F(ControlTest, UnloadRemovesTheBundleAndKeepsFilesForHistory) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "gone"});
  std::string id = core.load(b);
  auto r = core.request("DELETE", "/v2/bundles/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["bundleId"], id);
  EXPECT_EQ(core.bundles().size(), 0u);
  EXPECT_EQ(core.request("DELETE", "/v2/bundles/" + id).status, 404);
  // The archive keeps the file, so the history entry can be loaded again.
  json history = json::parse(core.get("/v2/history?name=gone").body);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["available"], true);
  EXPECT_EQ(history[0]["loaded"], false);
  EXPECT_EQ(history[0]["bundleFileName"], b.file_name);
  EXPECT_EQ(history[0]["loadedBy"], "127.0.0.1");
  auto seq = std::to_string(history[0]["sequence"].get<int>());
  r = core.request("POST", "/v2/history/" + seq + "/load");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["bundleId"], id);
  EXPECT_EQ(core.bundles().size(), 1u);
  EXPECT_EQ(core.request("POST", "/v2/history/999/load").status, 404);
  EXPECT_EQ(core.request("POST", "/v2/history/x/load").status, 400);
  // purge=true drops the files at once: no more reload.
  ASSERT_EQ(core.request("DELETE", "/v2/bundles/" + id + "?purge=true").status, 200);
  EXPECT_FALSE(stdfs::exists(core.data() / "files" / b.digest));
  history = json::parse(core.get("/v2/history?name=gone").body);
  EXPECT_EQ(history[0]["available"], false);
  EXPECT_EQ(core.request("POST", "/v2/history/" + seq + "/load").status, 409);
}

TEST_F(ControlTest, HistoryBytesBoundsTheArchive) {
  TestCore small([] {
    auto o = TestCore::test_options();
    o.history_bytes = 0;
    return o;
  }());
  MadeFile b = make_bundle(work, BundleSpec{.name = "small"});
  std::string id = small.load(b);
  ASSERT_EQ(small.request("DELETE", "/v2/bundles/" + id).status, 200);
  EXPECT_FALSE(stdfs::exists(small.data() / "files" / b.digest));
}

TEST_F(ControlTest, LoadedByComesFromTheHeader) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "who"});
  auto [body, headers] = multipart(load_parts(b));
  headers.emplace("X-Baton-User", "alice@laptop");
  auto r = client.request("POST", core.url("/v2/bundles"), body, headers);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  json history = json::parse(core.get("/v2/history").body);
  EXPECT_EQ(history[0]["loadedBy"], "alice@laptop");
  EXPECT_EQ((*core.bundle(json::parse(r->body)["bundleId"]))["loadedBy"], "alice@laptop");
}

TEST_F(ControlTest, EventsOfABundle) {
  MadeFile b = make_bundle(work, BundleSpec{.name = "evented"});
  std::string id = core.load(b);
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1").status, 200);
  auto r = core.get("/v2/bundles/" + id + "/events?count=10");
  ASSERT_EQ(r.status, 200);
  json events = json::parse(r.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0]["event"], "bundleInstallationAdded");
  EXPECT_EQ(events[1]["event"], "bundleScaleChanged");
  EXPECT_TRUE(events[0]["timestamp"].get<std::string>().ends_with("Z"));
  EXPECT_TRUE(events[0]["description"].is_string());
  EXPECT_EQ(json::parse(core.get("/v2/bundles/" + id + "/events?count=1").body).size(), 1u);
  EXPECT_EQ(core.get("/v2/bundles/" + id + "/events?count=x").status, 400);
}

TEST_F(ControlTest, VersionNamesTheBuildAndProtocol) {
  auto answer = core.get("/v2/version");
  ASSERT_EQ(answer.status, 200) << answer.body;
  json version = json::parse(answer.body);
  EXPECT_EQ(version["version"], BATON_VERSION);
  EXPECT_EQ(version["protocol"], "v2");
}

TEST_F(ControlTest, MembersShape) {
  json members = json::parse(core.get("/v2/members").body);
  EXPECT_TRUE(members["selfNode"]["address"].is_string());
  EXPECT_TRUE(members["selfNode"]["uid"].is_string());
  ASSERT_EQ(members["members"].size(), 1u);
  EXPECT_EQ(members["members"][0]["status"], "Up");
  EXPECT_EQ(members["members"][0]["node"], members["selfNode"]);
  EXPECT_EQ(members["unreachable"], json::array());
}

}  // namespace
}  // namespace baton::core::testing
