#include "bundle/descriptor.hpp"

namespace baton::bundle {

const char* to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::http:
      return "http";
    case Protocol::tcp:
      return "tcp";
    case Protocol::udp:
      return "udp";
  }
  return "http";
}

const char* to_string(Readiness::Mode mode) {
  switch (mode) {
    case Readiness::Mode::automatic:
      return "auto";
    case Readiness::Mode::signal:
      return "signal";
    case Readiness::Mode::http:
      return "http";
    case Readiness::Mode::tcp:
      return "tcp";
    case Readiness::Mode::none:
      return "none";
  }
  return "auto";
}

std::vector<const Endpoint*> Descriptor::endpoints() const {
  std::vector<const Endpoint*> all;
  for (const Component& component : components) {
    for (const Endpoint& endpoint : component.endpoints)
      all.push_back(&endpoint);
  }
  return all;
}

const Component* Descriptor::component(const std::string& wanted) const {
  for (const Component& component : components) {
    if (component.name == wanted) return &component;
  }
  return nullptr;
}

}  // namespace baton::bundle
