// The agent side of the core: registration, status reports, assignments (long polls), and the
// scheduling steps that run on every relevant change (docs/scheduling.md).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/core.hpp"
#include "scheduler/placement.hpp"

namespace baton::core {

using nlohmann::json;
using protocol::InstanceState;

namespace {

bool valid_agent_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return name.front() != '.' && name.front() != '-';
}

bool terminal(InstanceState state) {
  return state == InstanceState::stopped || state == InstanceState::failed;
}

std::vector<std::string> runtimes_of(const bundle::Descriptor& d) {
  std::set<std::string> names;
  for (const auto& c : d.components)
    names.insert(c.file_system_type);
  return {names.begin(), names.end()};
}

}  // namespace

bool Core::agent_up(const std::string& name) const {
  auto it = agents_.find(name);
  return it != agents_.end() && it->second.up;
}

bool Core::agent_usable(const std::string& name) const {
  auto it = agents_.find(name);
  return it != agents_.end() && it->second.up && it->second.registered;
}

bool Core::is_starting(const InstanceRecord& r) const {
  if (r.removing || !r.released || r.recovered || !agent_usable(r.agent)) return false;
  return !r.reported || r.state == InstanceState::fetching || r.state == InstanceState::starting;
}

void Core::execution_event_locked(const char* name, const InstanceRecord& r,
                                  const std::string& description) {
  json data{{"bundleId", r.bundle_id}, {"instanceId", r.instance_id}, {"agent", r.agent}};
  if (auto it = agents_.find(r.agent); it != agents_.end()) {
    data["host"] = it->second.registration.address;
  }
  if (r.reported) data["state"] = protocol::to_string(r.state);
  publish_locked(name, r.bundle_id,
                 "instance " + r.instance_id + " on " + r.agent + ": " + description, data.dump());
}

// --- Registration and status ----------------------------------------------------------------

Result<std::string> Core::register_agent(protocol::Registration reg) {
  if (!valid_agent_name(reg.name)) {
    return make_error(Errc::invalid, "registration: agent name '" + reg.name.substr(0, 80) +
                                         "' is not 1-128 of [A-Za-z0-9._-]");
  }
  if (reg.address.empty()) {
    return make_error(Errc::invalid, "registration of " + reg.name + ": no address");
  }
  std::lock_guard lock(mutex_);
  if (stopping_) return make_error(Errc::unavailable, "the core is stopping");
  auto now = std::chrono::steady_clock::now();
  auto existing = agents_.find(reg.name);
  bool durable_change = existing == agents_.end() || !existing->second.registered ||
                        encode_agent(existing->second.registration) != encode_agent(reg);
  if (durable_change) {
    store::Transaction tx;
    tx.puts.push_back({agent_key(reg.name), encode_agent(reg)});
    BATON_TRY(commit_locked(tx));
  }
  AgentRecord& agent = agents_[reg.name];
  bool was_down = !agent.up;
  agent.registration = reg;
  agent.registration.instances.clear();
  agent.registration.bundles.clear();
  agent.registered = true;
  agent.up = true;
  agent.last_seen = now;
  agent.available = reg.resources;
  agent.prefetch.clear();
  update_holds_locked(agent, reg.bundles);

  // Reconcile what it runs with what the core wants: wanted instances are kept as they are.
  std::set<std::string> reported;
  for (const auto& status : reg.instances) {
    reported.insert(status.instance_id);
    auto it = instances_.find(status.instance_id);
    if (it == instances_.end() || it->second.agent != reg.name) {
      track_unknown_locked(reg.name, status);
      continue;
    }
    InstanceRecord& rec = it->second;
    bool was_visible = !was_down && (rec.reported || rec.recovered);
    rec.released = true;
    apply_status_locked(rec, status);
    if (!was_visible && instances_.count(status.instance_id)) {
      execution_event_locked("bundleExecutionAdded", instances_.at(status.instance_id),
                             "kept after the agent registered");
    }
  }
  std::vector<std::string> gone;
  for (auto& [id, rec] : instances_) {
    if (rec.agent != reg.name || reported.count(id)) continue;
    if (rec.removing) {
      gone.push_back(id);
      continue;
    }
    // The agent does not run it (new agent process, or never got it): through the gate again.
    rec.released = false;
    rec.reported = false;
    rec.recovered = false;
    rec.state = InstanceState::fetching;
    rec.pid = 0;
    rec.endpoints.clear();
  }
  for (const auto& id : gone) {
    execution_event_locked("bundleExecutionRemoved", instances_.at(id), "stopped");
    instances_.erase(id);
  }
  spdlog::info("agent {} registered from {} ({} instances reported)", reg.name, reg.address,
               reg.instances.size());
  changed_locked();
  refresh_assignments_locked();
  mark_dirty_locked();
  protocol::RegistrationReply reply{.agent_id = reg.name,
                                    .heartbeat_interval_ms = options_.heartbeat.count(),
                                    .down_after_ms = options_.down_after.count()};
  return json(reply).dump();
}

Result<std::string> Core::report_status(const std::string& name, protocol::StatusReport report) {
  std::lock_guard lock(mutex_);
  auto found = agents_.find(name);
  if (found == agents_.end() || !found->second.registered || !found->second.up) {
    return make_error(Errc::not_found,
                      "agent " + name.substr(0, 80) + " is not registered: register again");
  }
  AgentRecord& agent = found->second;
  agent.last_seen = std::chrono::steady_clock::now();
  agent.available = report.resources_available;
  update_holds_locked(agent, report.bundles);
  std::uint64_t before = version_.load();
  std::set<std::string> reported;
  for (const auto& status : report.instances) {
    reported.insert(status.instance_id);
    auto it = instances_.find(status.instance_id);
    if (it == instances_.end() || it->second.agent != name) {
      track_unknown_locked(name, status);
      continue;
    }
    apply_status_locked(it->second, status);
  }
  std::vector<std::string> gone, vanished;
  for (auto& [id, rec] : instances_) {
    if (rec.agent != name || reported.count(id)) continue;
    if (rec.removing) {
      gone.push_back(id);
    } else if (rec.released && rec.reported) {
      vanished.push_back(id);
    }
  }
  for (const auto& id : gone) {
    execution_event_locked("bundleExecutionRemoved", instances_.at(id), "stopped");
    instances_.erase(id);
    changed_locked();
  }
  for (const auto& id : vanished) {
    fail_instance_locked(id, "agent " + name + " no longer reports it");
  }
  if (version_.load() != before) mark_dirty_locked();
  return json(protocol::StatusReply{.index = agent.index}).dump();
}

void Core::update_holds_locked(AgentRecord& agent, const std::vector<std::string>& digests) {
  std::set<std::string> now_holds(digests.begin(), digests.end());
  if (now_holds == agent.holds) return;
  const std::string& name = agent.registration.name;
  for (const auto& [id, b] : bundles_) {
    bool had = agent.holds.count(b.bundle_digest) > 0;
    bool has = now_holds.count(b.bundle_digest) > 0;
    if (had == has) continue;
    json data{{"bundleId", id}, {"address", "baton-agent://" + name}};
    if (has) {
      publish_locked("bundleInstallationAdded", id, "bundle file on agent " + name, data.dump());
    } else {
      publish_locked("bundleInstallationRemoved", id, "bundle file gone from agent " + name,
                     data.dump());
    }
  }
  std::erase_if(agent.prefetch, [&](const std::string& digest) {
    if (!now_holds.count(digest)) return false;
    for (auto& [id, b] : bundles_) {
      if (b.bundle_digest == digest) b.prefetched.insert(name);
    }
    return true;
  });
  agent.holds = std::move(now_holds);
  changed_locked();
  mark_dirty_locked();
}

void Core::track_unknown_locked(const std::string& agent, const protocol::InstanceStatus& status) {
  // An instance the core does not want (removed while the core or the agent was away): absent
  // from the agent's assignment, so the agent stops it; shown until it is gone.
  if (terminal(status.state) || !bundles_.count(status.bundle_id)) return;
  if (instances_.count(status.instance_id)) return;  // wanted on another agent: never reused
  InstanceRecord rec;
  rec.instance_id = status.instance_id;
  rec.bundle_id = status.bundle_id;
  rec.agent = agent;
  rec.removing = true;
  rec.released = true;
  rec.sequence = next_instance_sequence_++;
  instances_.emplace(rec.instance_id, std::move(rec));
  apply_status_locked(instances_.at(status.instance_id), status);
  changed_locked();
}

void Core::apply_status_locked(InstanceRecord& rec, const protocol::InstanceStatus& status) {
  bool first = !rec.reported;
  InstanceState before = rec.state;
  int restarts_before = rec.restarts;
  rec.reported = true;
  rec.recovered = false;
  rec.state = status.state;
  rec.pid = status.pid;
  rec.endpoints = status.endpoints;
  rec.started_at = status.started_at;
  rec.restarts = status.restarts;
  rec.error = status.error;
  bool differs = first || before != rec.state || restarts_before != rec.restarts;
  if (!differs) return;
  changed_locked();
  if (rec.removing) {
    if (terminal(rec.state)) {
      execution_event_locked("bundleExecutionRemoved", rec, "stopped");
      instances_.erase(instances_.find(rec.instance_id));  // rec dangles from here on
    }
    return;
  }
  if (rec.state == InstanceState::failed) {
    fail_instance_locked(rec.instance_id,
                         rec.error.empty() ? std::string("failed without a reason") : rec.error);
    return;
  }
  if (rec.state == InstanceState::started) {
    if (auto b = bundles_.find(rec.bundle_id); b != bundles_.end()) {
      b->second.failures = 0;
      b->second.retry_at = {};
    }
  }
  std::string what = protocol::to_string(rec.state);
  if (rec.restarts != restarts_before) what += " (restarts " + std::to_string(rec.restarts) + ")";
  if (rec.state == InstanceState::stopped) what += ": exited normally, left stopped";
  execution_event_locked("bundleExecutionChanged", rec, what);
  mark_dirty_locked();  // the start gate may open
}

// By value: callers pass strings that live in the record this erases.
void Core::fail_instance_locked(std::string instance_id, std::string cause) {
  auto it = instances_.find(instance_id);
  if (it == instances_.end()) return;
  InstanceRecord rec = it->second;
  auto b = bundles_.find(rec.bundle_id);
  store::Transaction tx;
  tx.deletes.push_back(instance_key(instance_id));
  int failures = 0;
  BundleRecord next;
  bool raise = false;
  if (b != bundles_.end()) {
    failures = b->second.failures + 1;
    raise = failures >= options_.restart_limit && !b->second.has_error;
    if (raise) {
      const BundleRecord& cur = b->second;
      next.bundle_id = cur.bundle_id;
      next.bundle_digest = cur.bundle_digest;
      next.configuration_digest = cur.configuration_digest;
      next.bundle_file_name = cur.bundle_file_name;
      next.configuration_file_name = cur.configuration_file_name;
      next.bundle_conf = cur.bundle_conf;
      next.overlay_conf = cur.overlay_conf;
      next.scale = cur.scale;
      next.affinity = cur.affinity;
      next.loaded_at = cur.loaded_at;
      next.loaded_by = cur.loaded_by;
      next.has_error = true;
      next.error = std::to_string(failures) + " failed starts; last: instance " + instance_id +
                   " on " + rec.agent + ": " + cause;
      tx.compares.push_back({bundle_key(cur.bundle_id), cur.revision});
      tx.puts.push_back({bundle_key(cur.bundle_id), encode(next)});
    }
  }
  auto revision = commit_locked(tx);
  if (!revision) return;  // the agent reports it again; tried again then
  execution_event_locked("bundleExecutionRemoved", rec, "failed: " + cause);
  instances_.erase(instance_id);
  changed_locked();
  mark_dirty_locked();
  if (b == bundles_.end()) return;
  BundleRecord& bundle = b->second;
  bundle.failures = failures;
  auto backoff = options_.restart_backoff * (1 << std::min(failures - 1, 10));
  bundle.retry_at = std::chrono::steady_clock::now() + backoff;
  spdlog::warn("instance {} of bundle {} on {} failed ({} in a row): {}", instance_id,
               bundle.bundle_id, rec.agent, failures, cause);
  if (raise) {
    bundle.has_error = true;
    bundle.error = next.error;
    bundle.revision = *revision;
    bundle.retry_at = {};
    publish_locked(
        "bundleErrorOccurred", bundle.bundle_id, bundle.error,
        json{{"bundleId", bundle.bundle_id}, {"instanceId", instance_id}, {"error", bundle.error}}
            .dump());
  }
}

void Core::remove_instance_locked(const std::string& instance_id, const std::string& why) {
  auto it = instances_.find(instance_id);
  if (it == instances_.end()) return;
  InstanceRecord& rec = it->second;
  rec.removing = true;
  changed_locked();
  if (!rec.released || !agent_usable(rec.agent) || !rec.reported || terminal(rec.state)) {
    execution_event_locked("bundleExecutionRemoved", rec, why);
    instances_.erase(it);
    return;
  }
  execution_event_locked("bundleExecutionChanged", rec, "stopping: " + why);
}

// --- Assignments ----------------------------------------------------------------------------

void Core::poll_assignment(const std::string& name, std::uint64_t index,
                           std::chrono::milliseconds wait, http::ResponderPtr responder) {
  std::lock_guard lock(mutex_);
  auto found = agents_.find(name);
  if (found == agents_.end() || !found->second.registered || !found->second.up) {
    responder->send(http::Response::error(
        404, "agent " + name.substr(0, 80) + " is not registered: register again"));
    return;
  }
  const AgentRecord& agent = found->second;
  if (agent.index != index || stopping_) {
    responder->send(http::Response::json(200, agent.assignment_json));
    return;
  }
  polls_.push_back(
      Poll{std::move(responder), name, index, std::chrono::steady_clock::now() + wait});
  wake_.notify_one();
}

void Core::answer_polls_locked(SteadyTime now) {
  std::erase_if(polls_, [&](Poll& poll) {
    if (poll.responder->closed()) return true;
    auto found = agents_.find(poll.agent);
    if (found == agents_.end() || !found->second.registered || !found->second.up) {
      poll.responder->send(
          http::Response::error(404, "agent " + poll.agent + " is not registered: register again"));
      return true;
    }
    if (found->second.index != poll.index || now >= poll.deadline) {
      poll.responder->send(http::Response::json(200, found->second.assignment_json));
      return true;
    }
    return false;
  });
}

std::string Core::assignment_json_locked(const AgentRecord& agent) const {
  protocol::Assignment assignment;
  for (const auto& [id, rec] : instances_) {
    if (rec.agent != agent.registration.name || rec.removing || !rec.released) continue;
    auto b = bundles_.find(rec.bundle_id);
    if (b == bundles_.end()) continue;
    protocol::AssignedInstance out;
    out.instance_id = id;
    out.bundle_id = rec.bundle_id;
    out.bundle_name = b->second.descriptor.name;
    out.bundle_digest = b->second.bundle_digest;
    out.bundle_file = "/v2/bundles/files/" + b->second.bundle_digest;
    if (!b->second.configuration_digest.empty()) {
      out.configuration_digest = b->second.configuration_digest;
      out.configuration_file = "/v2/configurations/files/" + b->second.configuration_digest;
    }
    out.peers = rec.peers;
    assignment.instances.push_back(std::move(out));
  }
  assignment.prefetch = agent.prefetch;
  // Files it holds of bundles no longer loaded: it drops them and what its runtimes made of them.
  for (const auto& digest : agent.holds) {
    bool used = std::any_of(bundles_.begin(), bundles_.end(), [&](const auto& item) {
      return item.second.bundle_digest == digest || item.second.configuration_digest == digest;
    });
    if (!used) assignment.discard.push_back(digest);
  }
  return json(assignment).dump();
}

void Core::refresh_assignments_locked() {
  for (auto& [name, agent] : agents_) {
    if (!agent.registered) continue;
    std::string body = assignment_json_locked(agent);
    if (body == agent.assignment_body && !agent.assignment_json.empty()) continue;
    agent.assignment_body = std::move(body);
    agent.index = std::max<std::uint64_t>(agent.index, index_base_) + 1;
    json full = json::parse(agent.assignment_body);
    full["index"] = agent.index;
    agent.assignment_json = full.dump();
  }
  answer_polls_locked(std::chrono::steady_clock::now());
}

// --- Scheduling steps -----------------------------------------------------------------------

void Core::detect_down_agents_locked(SteadyTime now) {
  bool any = false;
  for (auto& [name, agent] : agents_) {
    if (!agent.up || now - agent.last_seen <= options_.down_after) continue;
    agent.up = false;
    agent.prefetch.clear();
    any = true;
    spdlog::warn("agent {} is down (no status for {} ms){}", name, options_.down_after.count(),
                 agent.registered ? "" : ": it did not come back after the core restarted");
    std::vector<std::string> gone;
    for (auto& [id, rec] : instances_) {
      if (rec.agent != name) continue;
      if (rec.removing) {
        gone.push_back(id);
      } else {
        execution_event_locked("bundleExecutionRemoved", rec,
                               "agent " + name + " is down; placed elsewhere");
      }
    }
    for (const auto& id : gone)
      instances_.erase(id);
  }
  if (any) {
    changed_locked();
    mark_dirty_locked();
  }
}

void Core::place_and_remove_locked(SteadyTime now) {
  scheduler::ClusterView view;
  for (const auto& [name, agent] : agents_) {
    scheduler::AgentView a;
    a.name = name;
    a.up = agent.up;
    a.cpus = agent.registration.resources.cpus;
    a.memory = agent.registration.resources.memory;
    a.disk = agent.registration.resources.disk;
    a.roles = agent.registration.roles;
    for (const auto& [runtime, info] : agent.registration.runtimes) {
      if (info.available) a.runtimes.push_back(runtime);
    }
    a.bundle_digests.assign(agent.holds.begin(), agent.holds.end());
    view.agents.push_back(std::move(a));
  }
  std::map<std::string, int> present;
  for (const auto& [id, rec] : instances_) {
    if (rec.removing) continue;
    if (agent_up(rec.agent)) ++present[rec.bundle_id];
    scheduler::InstanceView i;
    i.instance_id = id;
    i.bundle_id = rec.bundle_id;
    i.agent = rec.agent;
    i.started = rec.reported && rec.state == InstanceState::started;
    view.instances.push_back(std::move(i));
  }
  for (const auto& [id, b] : bundles_) {
    if (b.has_error) continue;  // left alone until a new scale clears the error
    scheduler::BundleView v;
    v.bundle_id = id;
    v.bundle_digest = b.bundle_digest;
    v.scale = b.scale;
    if (b.retry_at != SteadyTime{} && now < b.retry_at) v.scale = std::min(b.scale, present[id]);
    v.requirements.cpus = b.descriptor.nr_of_cpus;
    v.requirements.memory = b.descriptor.memory;
    v.requirements.disk = b.descriptor.disk_space;
    v.requirements.roles = b.descriptor.roles;
    v.requirements.runtimes = runtimes_of(b.descriptor);
    v.affinity = b.affinity;
    view.bundles.push_back(std::move(v));
  }
  scheduler::Plan plan = scheduler::plan(view);

  if (!plan.place.empty() || !plan.remove.empty()) {
    store::Transaction tx;
    std::vector<InstanceRecord> placed;
    std::int64_t created = now_ms();
    std::set<std::string> fresh_ids;
    for (const auto& p : plan.place) {
      InstanceRecord rec;
      do {
        rec.instance_id = new_instance_id_locked();
      } while (fresh_ids.count(rec.instance_id));
      fresh_ids.insert(rec.instance_id);
      rec.bundle_id = p.bundle_id;
      rec.agent = p.agent;
      rec.created_at = created;
      rec.sequence = next_instance_sequence_ + placed.size();
      tx.puts.push_back({instance_key(rec.instance_id), encode(rec)});
      placed.push_back(std::move(rec));
    }
    for (const auto& id : plan.remove)
      tx.deletes.push_back(instance_key(id));
    if (!commit_locked(tx)) {
      retry_commit_at_ = now + std::chrono::seconds(1);
      dirty_ = true;
      return;
    }
    next_instance_sequence_ += placed.size();
    for (auto& rec : placed) {
      std::string id = rec.instance_id;
      instances_.emplace(id, std::move(rec));
      execution_event_locked("bundleExecutionAdded", instances_.at(id), "placed");
    }
    for (const auto& id : plan.remove)
      remove_instance_locked(id, "scaled down");
    changed_locked();
  }

  std::map<std::string, std::string> shortfalls;
  for (const auto& s : plan.shortfalls)
    shortfalls[s.bundle_id] = s.reason;
  for (auto& [id, b] : bundles_) {
    std::string reason = shortfalls.count(id) ? shortfalls[id] : std::string();
    if (reason != b.shortfall) {
      if (!reason.empty()) spdlog::info("bundle {}: {}", id, reason);
      b.shortfall = std::move(reason);
      changed_locked();
    }
  }
}

void Core::release_locked() {
  // The first instance of a system starts alone (ConductR): until one instance of the system is
  // started, instances are released one at a time, each once the one before it is no longer
  // starting; from then on, every held instance of the system is released together, with the
  // started ones as peers (docs/scheduling.md, "The start gate").
  auto system_of = [&](const InstanceRecord& r) -> const std::string& {
    return bundles_.at(r.bundle_id).descriptor.system;
  };
  std::set<std::string> busy;     // an instance is starting, none has started: hold the rest
  std::set<std::string> started;  // an instance has started: release the rest together
  std::vector<InstanceRecord*> held;
  for (auto& [id, rec] : instances_) {
    if (!bundles_.count(rec.bundle_id)) continue;
    if (is_starting(rec)) busy.insert(system_of(rec));
    if (!rec.removing && rec.released && rec.reported && rec.state == InstanceState::started &&
        agent_usable(rec.agent)) {
      started.insert(system_of(rec));
    }
    if (!rec.removing && !rec.released && agent_usable(rec.agent)) held.push_back(&rec);
  }
  std::sort(held.begin(), held.end(), [](const InstanceRecord* a, const InstanceRecord* b) {
    return a->sequence != b->sequence ? a->sequence < b->sequence : a->instance_id < b->instance_id;
  });
  for (InstanceRecord* rec : held) {
    const std::string& system = system_of(*rec);
    if (!started.count(system)) {
      if (busy.count(system)) continue;
      busy.insert(system);
    }
    rec->released = true;
    rec->reported = false;
    // Peers: started instances of the same system, per endpoint (*_OTHER_* variables).
    rec->peers.clear();
    const bundle::Descriptor& d = bundles_.at(rec->bundle_id).descriptor;
    for (const bundle::Endpoint* endpoint : d.endpoints()) {
      std::vector<protocol::Peer> peers;
      for (const auto& [id, other] : instances_) {
        if (id == rec->instance_id || other.removing || !other.reported ||
            other.state != InstanceState::started || !agent_usable(other.agent) ||
            !bundles_.count(other.bundle_id) || system_of(other) != system) {
          continue;
        }
        auto binding = other.endpoints.find(endpoint->name);
        if (binding == other.endpoints.end()) continue;
        peers.push_back(protocol::Peer{binding->second.protocol,
                                       agents_.at(other.agent).registration.address,
                                       binding->second.host_port});
      }
      if (!peers.empty()) rec->peers[endpoint->name] = std::move(peers);
    }
    execution_event_locked("bundleExecutionChanged", *rec, "assigned to the agent");
    changed_locked();
  }
}

void Core::prefetch_locked() {
  // After a load the bundle is copied ahead of time to up to N eligible agents that do not run
  // it, one transfer at a time (ConductR).
  for (auto& [id, b] : bundles_) {
    std::set<std::string> runners;
    for (const auto& [iid, rec] : instances_) {
      if (rec.bundle_id == id && !rec.removing) runners.insert(rec.agent);
    }
    int holders = 0;
    bool pending = false;
    for (const auto& [name, agent] : agents_) {
      if (!agent.up || runners.count(name)) continue;
      if (agent.holds.count(b.bundle_digest)) ++holders;
      if (std::find(agent.prefetch.begin(), agent.prefetch.end(), b.bundle_digest) !=
          agent.prefetch.end()) {
        pending = true;
      }
    }
    if (pending || holders >= options_.prefetch_copies) continue;
    auto runtimes = runtimes_of(b.descriptor);
    AgentRecord* best = nullptr;
    for (auto& [name, agent] : agents_) {
      if (!agent.up || !agent.registered || runners.count(name) ||
          agent.holds.count(b.bundle_digest) || b.prefetched.count(name) ||
          !agent.prefetch.empty()) {
        continue;
      }
      const auto& reg = agent.registration;
      bool roles_ok = std::all_of(
          b.descriptor.roles.begin(), b.descriptor.roles.end(), [&](const std::string& role) {
            return std::find(reg.roles.begin(), reg.roles.end(), role) != reg.roles.end();
          });
      bool runtimes_ok = std::all_of(runtimes.begin(), runtimes.end(), [&](const std::string& r) {
        auto it = reg.runtimes.find(r);
        return it != reg.runtimes.end() && it->second.available;
      });
      if (!roles_ok || !runtimes_ok) continue;
      if (!best || agent.available.disk > best->available.disk) best = &agent;
    }
    if (best) {
      best->prefetch.push_back(b.bundle_digest);
      spdlog::info("prefetch of bundle {} to agent {}", id, best->registration.name);
    }
  }
}

}  // namespace baton::core
