// baton-runtime-rpm.so: the plugin's entry point (plugins/include/baton/runtime_plugin.h).
#include "runtimes/rpm/rpm_runtime.hpp"

BATON_PLUGIN("baton-runtime-rpm", BATON_RPM_VERSION, baton::runtimes::rpm::RpmRuntime)
