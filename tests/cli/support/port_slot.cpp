#include "tests/cli/support/port_slot.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace baton::testing {

int reserved_port_slot() {
  constexpr int kFirst = 20000;
  constexpr int kSlots = (32768 - kFirst) / kPortSlotSize;
  static const int first = [] {
    const char* folder = "/tmp/baton-test-ports";
    ::mkdir(folder, 0777);
    for (;;) {
      for (int slot = 0; slot < kSlots; ++slot) {
        std::string file = std::string(folder) + "/slot-" + std::to_string(slot) + ".lock";
        int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) continue;
        // Held (fd left open) until this process ends; the kernel drops it even on a crash.
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return kFirst + slot * kPortSlotSize;
        ::close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }();
  return first;
}

}  // namespace baton::testing
