// Opening and recovering the core, the control operations, and the scheduling loop's timing.
// The agent side and the scheduling steps are in agents.cpp, the JSON views in views.cpp.

#include "core/core.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "bundle/bundle_name.hpp"
#include "bundle/descriptor_parse.hpp"
#include "common/text.hpp"
#include "core/ids.hpp"
#include "store/sqlite_store.hpp"

namespace baton::core {

using nlohmann::json;

namespace {

constexpr long long kMaxScale = 10000;

// A stored bundle stays valid whatever its runtimes: they were checked at load, and placement
// explains when no agent offers one any more.
Result<bundle::Descriptor> effective_descriptor(const BundleRecord& r) {
  std::string source = r.bundle_file_name + ":bundle.conf";
  bundle::ParseOptions options;
  options.any_runtime = true;
  if (!r.overlay_conf.empty()) {
    return bundle::parse_descriptor_with_overlay(
        r.bundle_conf, source, r.overlay_conf, r.configuration_file_name + ":bundle.conf", options);
  }
  return bundle::parse_descriptor(r.bundle_conf, source, options);
}

std::string reply_json(const std::string& request_id, const std::string& bundle_id) {
  return json{{"requestId", request_id}, {"bundleId", bundle_id}}.dump();
}

}  // namespace

Core::Core(CoreOptions options, store::StorePtr store)
    : options_(std::move(options)),
      store_(std::move(store)),
      files_(options_.data),
      events_(options_.events_per_bundle),
      random_(std::random_device{}()) {}

Result<std::unique_ptr<Core>> Core::open(CoreOptions options) {
  std::error_code ec;
  if (options.data.empty()) return make_error(Errc::invalid, "no data folder given (--data)");
  std::filesystem::create_directories(options.data, ec);
  if (ec) {
    return make_error(Errc::io, options.data.string() + ": cannot create: " + ec.message());
  }
  store::SqliteOptions sqlite;
  sqlite.durability = options.durable_store ? store::Durability::full : store::Durability::normal;
  BATON_ASSIGN_OR_RETURN(store::StorePtr store,
                         store::SqliteStore::open(options.data / "store.db", sqlite));
  return open(std::move(options), std::move(store));
}

Result<std::unique_ptr<Core>> Core::open(CoreOptions options, store::StorePtr store) {
  std::unique_ptr<Core> core(new Core(std::move(options), std::move(store)));
  BATON_TRY(core->recover());
  core->loop_ = std::thread([raw = core.get()] { raw->run_loop(); });
  return core;
}

Core::~Core() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& poll : polls_) {
      poll.responder->send(http::Response::error(503, "the core is stopping"));
    }
    polls_.clear();
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
  events_.close_all();
}

void Core::set_address(const std::string& host, unsigned short port) {
  std::lock_guard lock(mutex_);
  self_address_ = "baton-core://" + host + ":" + std::to_string(port);
  changed_locked();
}

// --- Recovery -------------------------------------------------------------------------------

Status Core::recover() {
  BATON_TRY(files_.open());
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  index_base_ = static_cast<std::uint64_t>(now_ms());

  BATON_ASSIGN_OR_RETURN(auto meta, store_->get(kMetaKey));
  if (meta) {
    try {
      core_uid_ = json::parse(meta->value).at("uid").get<std::string>();
    } catch (const json::exception& e) {
      return make_error(Errc::internal, std::string("store entry ") + kMetaKey + ": " + e.what());
    }
  } else {
    char uid[17];
    std::snprintf(uid, sizeof uid, "%016" PRIx64, static_cast<std::uint64_t>(random_()));
    core_uid_ = uid;
    store::Transaction tx;
    tx.compares.push_back({kMetaKey, 0});
    tx.puts.push_back({kMetaKey, json{{"uid", core_uid_}}.dump()});
    BATON_TRY(store_->commit(tx));
  }

  BATON_ASSIGN_OR_RETURN(auto bundle_entries, store_->list("bundles/"));
  for (const auto& entry : bundle_entries) {
    BATON_ASSIGN_OR_RETURN(BundleRecord record, decode_bundle(entry.key, entry.value));
    record.revision = entry.revision;
    if (auto descriptor = effective_descriptor(record)) {
      record.descriptor = std::move(*descriptor);
    } else {
      // Kept (its files and scale are the user's), but not scheduled until it is fixed.
      spdlog::error("bundle {}: stored descriptor no longer valid: {}", record.bundle_id,
                    descriptor.error().message);
      record.has_error = true;
      record.error = "stored bundle.conf no longer valid: " + descriptor.error().message;
      auto stem = bundle::parse_file_name(record.bundle_file_name);
      record.descriptor.name = stem ? stem->stem : record.bundle_id;
      record.descriptor.system = record.descriptor.name;
    }
    bundles_.emplace(record.bundle_id, std::move(record));
  }

  BATON_ASSIGN_OR_RETURN(auto agent_entries, store_->list("agents/"));
  for (const auto& entry : agent_entries) {
    BATON_ASSIGN_OR_RETURN(protocol::Registration registration,
                           decode_agent(entry.key, entry.value));
    AgentRecord agent;
    agent.registration = std::move(registration);
    agent.registered = false;  // until it registers with this run
    agent.up = true;           // given down-after to come back before its instances move
    agent.last_seen = now;
    agents_.emplace(agent.registration.name, std::move(agent));
  }

  BATON_ASSIGN_OR_RETURN(auto instance_entries, store_->list("instances/"));
  for (const auto& entry : instance_entries) {
    BATON_ASSIGN_OR_RETURN(InstanceRecord record, decode_instance(entry.key, entry.value));
    record.recovered = true;
    record.released = true;  // the agent may run it; its registration tells
    next_instance_sequence_ = std::max(next_instance_sequence_, record.sequence + 1);
    if (!agents_.count(record.agent)) {
      AgentRecord agent;
      agent.registration.name = record.agent;
      agent.last_seen = now;
      agents_.emplace(record.agent, std::move(agent));
    }
    instances_.emplace(record.instance_id, std::move(record));
  }

  BATON_ASSIGN_OR_RETURN(auto history_entries, store_->list("history/"));
  for (const auto& entry : history_entries) {
    BATON_ASSIGN_OR_RETURN(HistoryRecord record, decode_history(entry.key, entry.value));
    next_sequence_ = std::max(next_sequence_, record.sequence + 1);
    history_.emplace(record.sequence, std::move(record));
  }

  // Files: the store says which are wanted; a file on disk without a record comes from an upload
  // that crashed between moving it in and its commit.
  BATON_ASSIGN_OR_RETURN(auto file_entries, store_->list("files/"));
  std::set<std::string> on_disk = files_.list();
  store::Transaction missing;
  for (const auto& entry : file_entries) {
    BATON_ASSIGN_OR_RETURN(FileRecord record, decode_file(entry.key, entry.value));
    if (!on_disk.count(record.digest)) {
      spdlog::error("file {} ({}) is recorded but missing from {}", record.digest, record.file_name,
                    files_.path_of(record.digest).string());
      missing.deletes.push_back(entry.key);
      continue;
    }
    file_records_.emplace(record.digest, std::move(record));
  }
  for (const auto& digest : on_disk) {
    if (!file_records_.count(digest)) {
      spdlog::warn("removing unrecorded file {}", files_.path_of(digest).string());
      files_.remove(digest);
    }
  }
  if (!missing.deletes.empty()) BATON_TRY(store_->commit(missing));

  spdlog::info("recovered {} bundles, {} instances, {} agents, {} history entries, {} files",
               bundles_.size(), instances_.size(), agents_.size(), history_.size(),
               file_records_.size());
  next_heartbeat_ = now + options_.sse_heartbeat;
  mark_dirty_locked();
  return {};
}

// --- Helpers --------------------------------------------------------------------------------

Result<std::string> Core::resolve_locked(std::string_view id) const {
  std::vector<IdCandidate> candidates;
  candidates.reserve(bundles_.size());
  for (const auto& [bundle_id, b] : bundles_) {
    candidates.push_back(IdCandidate{bundle_id, b.descriptor.name,
                                     b.descriptor.compatibility_version, b.descriptor.tags});
  }
  return resolve_id(candidates, id);
}

std::vector<std::string> Core::candidates(std::string_view id) {
  std::lock_guard lock(mutex_);
  std::vector<IdCandidate> candidates;
  for (const auto& [bundle_id, b] : bundles_) {
    candidates.push_back(IdCandidate{bundle_id, b.descriptor.name,
                                     b.descriptor.compatibility_version, b.descriptor.tags});
  }
  return match_ids(candidates, id);
}

std::set<std::string> Core::known_runtimes_locked() const {
  std::vector<std::string> builtin = bundle::builtin_runtimes();
  std::set<std::string> known(builtin.begin(), builtin.end());
  // Down and recovering agents count: a runtime is known once an agent reported it, even when
  // that agent is away or its runtime unavailable right now.
  for (const auto& [name, agent] : agents_) {
    for (const auto& [runtime, info] : agent.registration.runtimes)
      known.insert(runtime);
  }
  return known;
}

Status Core::check_runtimes_locked(const LoadInput& in) const {
  std::set<std::string> known = known_runtimes_locked();
  for (const auto& component : in.descriptor.components) {
    if (known.count(component.file_system_type)) continue;
    std::string source = in.bundle_file_name + ":bundle.conf";
    if (!in.overlay_conf.empty()) source += " with " + in.configuration_file_name + ":bundle.conf";
    return make_error(
        Errc::invalid,
        source + ": components." + component.name + ".file-system-type: runtime \"" +
            component.file_system_type +
            "\" is neither built in nor offered by an agent of this core (known: " +
            text::join(std::vector<std::string>(known.begin(), known.end()), ", ") +
            "); start an agent whose --plugins-dir holds the plugin, then load again");
  }
  return {};
}

Result<std::int64_t> Core::commit_locked(const store::Transaction& transaction) {
  auto revision = store_->commit(transaction);
  if (!revision) {
    spdlog::error("store commit failed: {}", revision.error().message);
    auto error = revision.error();
    if (error.code == Errc::conflict) {
      // Another writer changed what this core believed; refuse rather than overwrite.
      return make_error(Errc::conflict, "the store changed underneath: " + error.message);
    }
    return make_error(Errc::unavailable, "store: " + error.message);
  }
  return revision;
}

void Core::changed_locked() {
  version_.fetch_add(1, std::memory_order_acq_rel);
}

void Core::mark_dirty_locked() {
  if (!dirty_) {
    dirty_ = true;
    dirty_at_ = std::chrono::steady_clock::now();
  }
  wake_.notify_one();
}

std::string Core::new_instance_id_locked() {
  for (;;) {
    char id[17];
    std::snprintf(id, sizeof id, "%016" PRIx64, static_cast<std::uint64_t>(random_()));
    if (!instances_.count(id)) return id;
  }
}

std::string Core::request_id_locked() {
  std::uint64_t a = random_(), b = random_();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char out[40];
  std::snprintf(out, sizeof out,
                "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, a >> 32,
                (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                static_cast<std::uint64_t>(b & 0xffffffffffffULL));
  return out;
}

void Core::publish_locked(const char* name, const std::string& bundle_id, std::string description,
                          std::string data) {
  events_.publish(Event{.timestamp = now_ms(),
                        .name = name,
                        .bundle_id = bundle_id,
                        .description = std::move(description),
                        .data = std::move(data)});
}

// --- Control operations ---------------------------------------------------------------------

Result<std::string> Core::load(LoadInput in) {
  // The data of a large upload reaches the disk here, before the model's lock is taken.
  auto stored = [&](const std::string& digest, const stdfs::path& path) {
    return path == files_.path_of(digest);
  };
  if (!stored(in.bundle_digest, in.bundle_path)) BATON_TRY(FileStore::sync(in.bundle_path));
  if (!in.configuration_digest.empty() && !stored(in.configuration_digest, in.configuration_path)) {
    BATON_TRY(FileStore::sync(in.configuration_path));
  }

  std::lock_guard lock(mutex_);
  if (stopping_) return make_error(Errc::unavailable, "the core is stopping");
  BATON_TRY(check_runtimes_locked(in));
  std::string id = bundle::bundle_id(in.bundle_digest, in.configuration_digest);
  std::int64_t now = now_ms();
  store::Transaction tx;
  std::vector<std::string> adopted;  // files this load moved in: removed again if it fails
  std::vector<FileRecord> file_updates;
  auto rollback = [&] {
    for (const auto& digest : adopted) {
      if (!file_records_.count(digest)) files_.remove(digest);
    }
  };
  auto take_file = [&](const std::string& digest, const std::string& file_name,
                       const stdfs::path& path, std::uint64_t bytes) -> Status {
    if (stored(digest, path)) {
      if (!file_records_.count(digest) || !files_.has(digest)) {
        return make_error(Errc::conflict, "the core no longer keeps " + file_name +
                                              ": load it again with POST /v2/bundles");
      }
    } else {
      auto fresh = files_.adopt(path, digest);
      if (!fresh) return std::move(fresh).error();
      if (*fresh) adopted.push_back(digest);
    }
    FileRecord record;
    if (auto it = file_records_.find(digest); it != file_records_.end()) record = it->second;
    record.digest = digest;
    if (record.file_name.empty()) record.file_name = file_name;
    if (record.bytes == 0) record.bytes = bytes;
    record.last_used = now;
    tx.puts.push_back({file_key(digest), encode(record)});
    file_updates.push_back(std::move(record));
    return {};
  };
  if (auto taken =
          take_file(in.bundle_digest, in.bundle_file_name, in.bundle_path, in.bundle_bytes);
      !taken) {
    rollback();
    return std::move(taken).error();
  }
  if (!in.configuration_digest.empty()) {
    if (auto taken = take_file(in.configuration_digest, in.configuration_file_name,
                               in.configuration_path, in.configuration_bytes);
        !taken) {
      rollback();
      return std::move(taken).error();
    }
  }

  HistoryRecord history{.sequence = next_sequence_,
                        .bundle_id = id,
                        .bundle_name = in.descriptor.name,
                        .bundle_digest = in.bundle_digest,
                        .configuration_digest = in.configuration_digest,
                        .bundle_file_name = in.bundle_file_name,
                        .configuration_file_name = in.configuration_file_name,
                        .bundle_conf = in.bundle_conf,
                        .overlay_conf = in.overlay_conf,
                        .loaded_at = now,
                        .loaded_by = in.loaded_by};
  tx.compares.push_back({history_key(history.sequence), 0});
  tx.puts.push_back({history_key(history.sequence), encode(history)});

  bool is_new = !bundles_.count(id);
  BundleRecord record;
  if (is_new) {
    record.bundle_id = id;
    record.bundle_digest = in.bundle_digest;
    record.configuration_digest = in.configuration_digest;
    record.bundle_file_name = in.bundle_file_name;
    record.configuration_file_name = in.configuration_file_name;
    record.bundle_conf = in.bundle_conf;
    record.overlay_conf = in.overlay_conf;
    record.loaded_at = now;
    record.loaded_by = in.loaded_by;
    record.descriptor = std::move(in.descriptor);
    tx.compares.push_back({bundle_key(id), 0});
    tx.puts.push_back({bundle_key(id), encode(record)});
  }

  auto revision = commit_locked(tx);
  if (!revision) {
    rollback();
    return std::move(revision).error();
  }
  for (auto& file : file_updates)
    file_records_[file.digest] = std::move(file);
  ++next_sequence_;
  history_.emplace(history.sequence, history);
  if (is_new) {
    record.revision = *revision;
    std::string name = record.descriptor.name;
    bundles_.emplace(id, std::move(record));
    publish_locked("bundleInstallationAdded", id,
                   "bundle " + name + " loaded by " + in.loaded_by + " (installed on the core)",
                   json{{"bundleId", id}, {"address", self_address_}}.dump());
    spdlog::info("loaded bundle {} ({}) for {}", id, name, in.loaded_by);
  } else {
    spdlog::info("bundle {} loaded again for {} (history {})", id, in.loaded_by, history.sequence);
  }
  changed_locked();
  mark_dirty_locked();
  return reply_json(request_id_locked(), id);
}

Result<std::string> Core::scale(std::string_view id, std::string_view scale_text,
                                std::optional<std::string> affinity) {
  auto scale = text::parse_integer(scale_text);
  if (!scale || *scale < 0 || *scale > kMaxScale) {
    return make_error(Errc::invalid, "scale must be a whole number from 0 to " +
                                         std::to_string(kMaxScale) + ", got '" +
                                         std::string(scale_text.substr(0, 40)) + "'");
  }
  std::lock_guard lock(mutex_);
  BATON_ASSIGN_OR_RETURN(std::string bundle_id, resolve_locked(id));
  std::string affinity_id;
  if (affinity && !affinity->empty()) {
    auto resolved = resolve_locked(*affinity);
    if (!resolved) return std::move(resolved).error().within("affinity");
    affinity_id = *resolved;
  }
  BundleRecord& b = bundles_.at(bundle_id);
  BundleRecord next;
  next.bundle_id = b.bundle_id;
  next.bundle_digest = b.bundle_digest;
  next.configuration_digest = b.configuration_digest;
  next.bundle_file_name = b.bundle_file_name;
  next.configuration_file_name = b.configuration_file_name;
  next.bundle_conf = b.bundle_conf;
  next.overlay_conf = b.overlay_conf;
  next.loaded_at = b.loaded_at;
  next.loaded_by = b.loaded_by;
  next.scale = static_cast<int>(*scale);
  next.affinity = affinity_id;
  // A stored descriptor that no longer parses keeps its error; any other error is cleared.
  bool broken = b.error.rfind("stored bundle.conf", 0) == 0;
  next.has_error = broken;
  next.error = broken ? b.error : std::string();
  store::Transaction tx;
  tx.compares.push_back({bundle_key(bundle_id), b.revision});
  tx.puts.push_back({bundle_key(bundle_id), encode(next)});
  BATON_ASSIGN_OR_RETURN(std::int64_t revision, commit_locked(tx));
  b.revision = revision;
  b.scale = next.scale;
  b.affinity = next.affinity;
  b.has_error = next.has_error;
  b.error = next.error;
  b.failures = 0;
  b.retry_at = {};
  publish_locked("bundleScaleChanged", bundle_id,
                 "scale set to " + std::to_string(b.scale) +
                     (affinity_id.empty() ? "" : " with affinity to " + affinity_id),
                 json{{"bundleId", bundle_id},
                      {"scale", b.scale},
                      {"affinity", affinity_id.empty() ? json(nullptr) : json(affinity_id)}}
                     .dump());
  changed_locked();
  mark_dirty_locked();
  return reply_json(request_id_locked(), bundle_id);
}

Result<std::string> Core::unload(std::string_view id, bool purge) {
  std::lock_guard lock(mutex_);
  BATON_ASSIGN_OR_RETURN(std::string bundle_id, resolve_locked(id));
  BundleRecord& b = bundles_.at(bundle_id);
  int running = 0;
  store::Transaction tx;
  for (const auto& [instance_id, rec] : instances_) {
    if (rec.bundle_id != bundle_id) continue;
    bool live = rec.state != protocol::InstanceState::stopped &&
                rec.state != protocol::InstanceState::failed;
    // Instances on a down agent cannot be stopped now; its assignment drops them on return.
    if (agent_up(rec.agent) && live && (rec.released || rec.recovered)) ++running;
    if (!rec.removing) tx.deletes.push_back(instance_key(instance_id));
  }
  if (running > 0) {
    return make_error(Errc::conflict, "bundle " + bundle_id + " has " + std::to_string(running) +
                                          " running instance(s): stop it first (scale 0)");
  }
  tx.compares.push_back({bundle_key(bundle_id), b.revision});
  tx.deletes.push_back(bundle_key(bundle_id));
  std::int64_t now = now_ms();
  std::vector<FileRecord> touched;
  for (const std::string& digest : {b.bundle_digest, b.configuration_digest}) {
    auto it = file_records_.find(digest);
    if (digest.empty() || it == file_records_.end()) continue;
    FileRecord record = it->second;
    record.last_used = now;  // the archive keeps the most recently unloaded files longest
    tx.puts.push_back({file_key(digest), encode(record)});
    touched.push_back(std::move(record));
  }
  BATON_ASSIGN_OR_RETURN(std::int64_t revision, commit_locked(tx));
  (void)revision;
  for (auto& record : touched)
    file_records_[record.digest] = std::move(record);
  std::string name = b.descriptor.name;
  std::string bundle_digest = b.bundle_digest;
  std::string configuration_digest = b.configuration_digest;
  std::erase_if(instances_, [&](const auto& item) { return item.second.bundle_id == bundle_id; });
  for (auto& [agent_name, agent] : agents_) {
    std::erase(agent.prefetch, bundle_digest);
    if (agent.holds.count(bundle_digest)) {
      publish_locked(
          "bundleInstallationRemoved", bundle_id,
          "bundle " + name + " unloaded (agent " + agent_name + ")",
          json{{"bundleId", bundle_id}, {"address", "baton-agent://" + agent_name}}.dump());
    }
  }
  publish_locked("bundleInstallationRemoved", bundle_id, "bundle " + name + " unloaded (the core)",
                 json{{"bundleId", bundle_id}, {"address", self_address_}}.dump());
  bundles_.erase(bundle_id);
  events_.forget(bundle_id);
  spdlog::info("unloaded bundle {} ({}){}", bundle_id, name, purge ? ", purged" : "");
  std::vector<std::string> purged;
  if (purge) {
    purged.push_back(bundle_digest);
    if (!configuration_digest.empty()) purged.push_back(configuration_digest);
  }
  enforce_archive_locked(purged);
  changed_locked();
  mark_dirty_locked();
  return reply_json(request_id_locked(), bundle_id);
}

void Core::enforce_archive_locked(const std::vector<std::string>& purge) {
  std::set<std::string> referenced;
  for (const auto& [id, b] : bundles_) {
    referenced.insert(b.bundle_digest);
    if (!b.configuration_digest.empty()) referenced.insert(b.configuration_digest);
  }
  std::vector<const FileRecord*> archive;
  std::uint64_t total = 0;
  for (const auto& [digest, record] : file_records_) {
    if (referenced.count(digest)) continue;
    archive.push_back(&record);
    total += record.bytes;
  }
  std::sort(archive.begin(), archive.end(), [](const FileRecord* a, const FileRecord* b) {
    return a->last_used != b->last_used ? a->last_used < b->last_used : a->digest < b->digest;
  });
  std::vector<std::string> evict;
  for (const FileRecord* record : archive) {
    bool purged = std::find(purge.begin(), purge.end(), record->digest) != purge.end();
    if (purged || total > options_.history_bytes) {
      evict.push_back(record->digest);
      total -= record->bytes;
    }
  }
  if (evict.empty()) return;
  store::Transaction tx;
  for (const auto& digest : evict)
    tx.deletes.push_back(file_key(digest));
  if (!commit_locked(tx)) return;  // kept for now; the next unload tries again
  for (const auto& digest : evict) {
    spdlog::info("archive: dropping file {} ({})", digest, file_records_[digest].file_name);
    file_records_.erase(digest);
    files_.remove(digest);
  }
  changed_locked();
}

Result<std::string> Core::reload_history(std::string_view sequence_text,
                                         const std::string& loaded_by) {
  auto sequence = text::parse_integer(sequence_text);
  if (!sequence || *sequence <= 0) {
    return make_error(Errc::invalid, "history sequence must be a positive whole number, got '" +
                                         std::string(sequence_text.substr(0, 40)) + "'");
  }
  HistoryRecord record;
  stdfs::path bundle_path, configuration_path;
  {
    std::lock_guard lock(mutex_);
    auto it = history_.find(*sequence);
    if (it == history_.end()) {
      return make_error(Errc::not_found, "no history entry " + std::to_string(*sequence));
    }
    record = it->second;
    auto kept = [&](const std::string& digest) {
      return digest.empty() || (file_records_.count(digest) && files_.has(digest));
    };
    if (!kept(record.bundle_digest) || !kept(record.configuration_digest)) {
      return make_error(Errc::conflict, "the files of history entry " + std::to_string(*sequence) +
                                            " are no longer kept: load them again with POST "
                                            "/v2/bundles");
    }
    bundle_path = files_.path_of(record.bundle_digest);
    if (!record.configuration_digest.empty()) {
      configuration_path = files_.path_of(record.configuration_digest);
    }
  }
  BATON_ASSIGN_OR_RETURN(LoadInput input,
                         inspect_files(bundle_path, record.bundle_file_name, configuration_path,
                                       record.configuration_file_name));
  input.bundle_digest = record.bundle_digest;
  input.configuration_digest = record.configuration_digest;
  input.loaded_by = loaded_by;
  return load(std::move(input));
}

Result<std::string> Core::bundle_json(std::string_view id) {
  std::lock_guard lock(mutex_);
  BATON_ASSIGN_OR_RETURN(std::string bundle_id, resolve_locked(id));
  return bundle_object_locked(bundles_.at(bundle_id));
}

Result<std::string> Core::bundle_events_json(std::string_view id, std::size_t count) {
  std::lock_guard lock(mutex_);
  BATON_ASSIGN_OR_RETURN(std::string bundle_id, resolve_locked(id));
  return events_.recent_json(bundle_id, count);
}

Result<std::vector<LogSource>> Core::log_sources(std::string_view id) {
  std::lock_guard lock(mutex_);
  BATON_ASSIGN_OR_RETURN(std::string bundle_id, resolve_locked(id));
  std::vector<LogSource> out;
  for (const auto& [instance_id, rec] : instances_) {
    if (rec.bundle_id != bundle_id || !rec.reported || !agent_usable(rec.agent)) continue;
    const auto& registration = agents_.at(rec.agent).registration;
    if (registration.api_url.empty()) continue;
    out.push_back(LogSource{instance_id, rec.agent, registration.address, registration.api_url});
  }
  return out;
}

std::optional<std::filesystem::path> Core::file_path(const std::string& digest) {
  std::lock_guard lock(mutex_);
  if (!file_records_.count(digest) || !files_.has(digest)) return std::nullopt;
  return files_.path_of(digest);
}

// --- The scheduling loop --------------------------------------------------------------------

void Core::run_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    SteadyTime next = now + std::chrono::seconds(1);
    if (dirty_)
      next = std::min(next, std::max(dirty_at_ + options_.plan_debounce, retry_commit_at_));
    next = std::min(next, next_heartbeat_);
    for (const auto& poll : polls_)
      next = std::min(next, poll.deadline);
    for (const auto& [name, agent] : agents_) {
      if (agent.up)
        next = std::min(next, agent.last_seen + options_.down_after + std::chrono::milliseconds(1));
    }
    for (const auto& [id, b] : bundles_) {
      if (b.retry_at != SteadyTime{}) next = std::min(next, b.retry_at);
    }
    if (next > now) wake_.wait_until(lock, next);
    if (stopping_) break;
    now = std::chrono::steady_clock::now();
    if (now >= next_heartbeat_) {
      events_.heartbeat();
      next_heartbeat_ = now + options_.sse_heartbeat;
    }
    for (auto& [id, b] : bundles_) {
      if (b.retry_at != SteadyTime{} && b.retry_at <= now) {
        b.retry_at = {};
        mark_dirty_locked();
      }
    }
    detect_down_agents_locked(now);
    if (dirty_ && now >= dirty_at_ + options_.plan_debounce && now >= retry_commit_at_) {
      reconcile_locked();
    }
    answer_polls_locked(now);
  }
}

void Core::reconcile_now() {
  std::lock_guard lock(mutex_);
  reconcile_locked();
}

void Core::reconcile_locked() {
  dirty_ = false;
  auto now = std::chrono::steady_clock::now();
  detect_down_agents_locked(now);
  place_and_remove_locked(now);
  release_locked();
  prefetch_locked();
  refresh_assignments_locked();
  ++reconciles_;
}

}  // namespace baton::core
