/* Plugins the loader must refuse, one per BROKEN_* definition (tests/plugins/CMakeLists.txt builds
 * one library per defect from this file). Each runtime works when it gets that far, so a refusal
 * can only come from the defect. */
#include <stdlib.h>
#include <string.h>

#include "baton/runtime_plugin.h"

#ifdef BROKEN_CREATE_FAILS
static void put(baton_output* output, const char* text) {
  if (output && output->write) output->write(output, text, strlen(text));
}
#endif

static int created;

static void* make(const baton_host* host, const char* config, baton_output* error) {
  (void)host;
  (void)config;
#ifdef BROKEN_CREATE_FAILS
  (void)created;
  put(error, "cannot reach the frobnicator at /run/frob.sock");
  return NULL;
#else
  (void)error;
  ++created;
  return &created;
#endif
}
static void drop(void* self) {
  (void)self;
}
static int32_t probe(void* self, baton_output* reason, baton_attributes* attributes) {
  (void)self;
  (void)reason;
  (void)attributes;
  return 1;
}
static baton_status prepare(void* self, const baton_bundle* bundle, baton_output* error) {
  (void)self;
  (void)bundle;
  (void)error;
  return BATON_OK;
}
static baton_status start(void* self, const baton_launch* launch, int32_t* pid, baton_output* state,
                          baton_output* error) {
  (void)self;
  (void)launch;
  (void)state;
  (void)error;
  *pid = 0;
  return BATON_OK;
}
static baton_status stop(void* self, const char* id, int32_t signal, int64_t timeout,
                         baton_output* error) {
  (void)self;
  (void)id;
  (void)signal;
  (void)timeout;
  (void)error;
  return BATON_OK;
}
static baton_status destroy(void* self, const char* id, baton_output* error) {
  (void)self;
  (void)id;
  (void)error;
  return BATON_OK;
}
static baton_status recover(void* self, const baton_launch* launch, int32_t saved_pid,
                            const char* saved_state, int32_t* pid, baton_output* state,
                            baton_output* error) {
  (void)self;
  (void)launch;
  (void)saved_state;
  (void)state;
  (void)error;
  *pid = saved_pid;
  return BATON_OK;
}
static baton_status stats(void* self, const char* id, baton_stats* out, baton_output* error) {
  (void)self;
  (void)id;
  (void)error;
  out->cpu_seconds = 0;
  out->memory_bytes = 0;
  return BATON_OK;
}
static baton_status release(void* self, const char* digest, baton_output* error) {
  (void)self;
  (void)digest;
  (void)error;
  return BATON_OK;
}

#if defined(BROKEN_DUPLICATE)
#define NAME "universal"
#elif defined(BROKEN_BAD_NAME)
#define NAME "Not A Type"
#else
#define NAME "broken"
#endif

#ifdef BROKEN_MISSING_FUNCTION
#define START NULL
#define STATS NULL
#else
#define START start
#define STATS stats
#endif

static const baton_runtime runtimes[] = {
    {NAME, make, drop, probe, prepare, START, stop, destroy, recover, STATS, release},
    {NAME, make, drop, probe, prepare, start, stop, destroy, recover, stats, release}};

#ifdef BROKEN_TWICE
#define COUNT 2
#elif defined(BROKEN_NO_RUNTIMES)
#define COUNT 0
#else
#define COUNT 1
#endif

#ifdef BROKEN_WRONG_ABI
#define ABI "0.0000000000000000"
#else
#define ABI BATON_PLUGIN_ABI_VERSION
#endif

static const baton_plugin plugin = {ABI, "broken", "0.0", COUNT, runtimes};

#ifndef BROKEN_NO_ENTRY
const baton_plugin* baton_plugin_entry(void) {
#ifdef BROKEN_NULL_PLUGIN
  (void)plugin;
  return NULL;
#else
  return &plugin;
#endif
}
#else
/* Exported, but not under the entry's name. */
BATON_PLUGIN_EXPORT const baton_plugin* baton_plugin_entry_v0(void) {
  return &plugin;
}
#endif
