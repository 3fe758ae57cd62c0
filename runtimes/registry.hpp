#pragma once
// Runtimes by name. main() builds one registry and passes it down: built-in runtimes and loaded
// plugins register here alike, so configuration never cares where a runtime came from.

#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "runtimes/runtime.hpp"

namespace baton::runtimes {

class Registry {
 public:
  // Refuses a second runtime of the same name, naming it and who came first.
  Status add(RuntimePtr runtime, std::string origin = "built-in");
  Runtime* find(const std::string& name) const;
  std::vector<std::string> names() const;
  // Errors name the missing runtime and list the known ones.
  Result<Runtime*> get(const std::string& name) const;

 private:
  struct Entry {
    RuntimePtr runtime;
    std::string origin;
  };
  std::map<std::string, Entry> runtimes_;
};

}  // namespace baton::runtimes
