#include "runtimes/registry.hpp"

#include "common/text.hpp"

namespace baton::runtimes {

Status Registry::add(RuntimePtr runtime, std::string origin) {
  std::string name = runtime->name();
  if (auto it = runtimes_.find(name); it != runtimes_.end()) {
    return make_error(Errc::conflict, "runtime " + name + " from " + origin +
                                          " is already registered by " + it->second.origin);
  }
  runtimes_.emplace(name, Entry{std::move(runtime), std::move(origin)});
  return {};
}

Runtime* Registry::find(const std::string& name) const {
  auto it = runtimes_.find(name);
  return it == runtimes_.end() ? nullptr : it->second.runtime.get();
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : runtimes_)
    names.push_back(name);
  return names;
}

Result<Runtime*> Registry::get(const std::string& name) const {
  if (Runtime* runtime = find(name)) return runtime;
  return make_error(Errc::not_found, "no runtime named " + name + " on this agent (known: " +
                                         text::join(names(), ", ") + ")");
}

}  // namespace baton::runtimes
