#pragma once
// Port slots for tests that run agents (shared by tests/agent, tests/plugins and integration/).

namespace baton::testing {

// Ports [first, first + kPortSlotSize) that no other test process on this machine uses while this
// one lives: agents of tests running in parallel allocate endpoint ports from their own slot, so
// one never takes (or probes for readiness) a port another test's instance holds. Below the
// ephemeral range, so port-0 binds never land in a slot. Reserved on the first call (an flock on
// a file under /tmp; it waits while every slot is taken), then the same slot every call.
inline constexpr int kPortSlotSize = 3000;
int reserved_port_slot();

}  // namespace baton::testing
