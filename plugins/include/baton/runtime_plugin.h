/* Baton runtime plugins: the whole contract between baton-agent and a runtime in a shared library.
 *
 * A plugin is a shared library exporting one function, baton_plugin_entry(), which returns a
 * description of the plugin: the ABI version it was built against (always the first field), its
 * name and version, and a table of functions per runtime it offers (the `file-system-type` names
 * bundles use). Each table is a thin C rendering of baton::runtimes::Runtime (runtimes/runtime.hpp)
 * and the host's services of baton::runtimes::RuntimeHost; docs/plugins.md walks through writing
 * one, and baton/runtime_plugin.hpp lets C++ authors write a class instead of these tables.
 *
 * Version. BATON_PLUGIN_ABI_VERSION is derived from this file: "1." followed by the first 16 hex
 * digits of the SHA-256 of this file without the line defining it (plugins/tools/abi-version
 * recomputes it; a test fails when it is stale). The agent calls baton_plugin_entry() and compares
 * abi_version with its own before it reads anything else; any difference refuses the library with
 * both versions in the message. There is no partial compatibility: rebuild plugins against the
 * header of the agent that loads them.
 *
 * Loading. The agent dlopen()s every `*.so` of its plugin folders with RTLD_NOW | RTLD_LOCAL:
 * plugins see none of the agent's symbols and each other's none; everything they use from the
 * agent comes through baton_host. A library stays loaded while any of its runtimes exists.
 *
 * Plain C. Only the types below cross the boundary: no C++ objects, no exceptions, no longjmp.
 * A C++ plugin catches everything before returning (the C++ wrapper does).
 *
 * Strings are NUL-terminated UTF-8 (paths: bytes without NUL) unless a size is given.
 *
 * Ownership, as written on every pointer:
 *   borrowed       valid only until the function it was passed to returns; copy what you keep.
 *   host-owned     belongs to the agent, valid for the period given (e.g. until destroy_runtime).
 *   plugin-owned   belongs to the plugin, valid for the period given (e.g. while loaded).
 * Nothing allocated on one side is ever freed on the other: variable-size results (messages,
 * handle state, probe attributes) are written into host-provided sinks (baton_output,
 * baton_attributes) during the call.
 *
 * Threads. The agent calls a runtime's functions from its worker threads, possibly concurrently
 * for different launches, never concurrently for the same launch (a launch is keyed by its id).
 * prepare() and start() may block (unpacking, image builds); stop() must return promptly without
 * waiting for the exit; the others should return within a second or so. probe() may be called at
 * any time, concurrently with the rest, and should be cheap (it runs every few seconds).
 * create() and destroy_runtime() are never concurrent with any other call of that runtime.
 * The host functions in baton_host may be called from any thread, including threads the plugin
 * made, between create() returning and destroy_runtime() returning; exited() may be called before
 * the start() or recover() it answers has returned. destroy_runtime() must stop the plugin's own
 * threads: nothing of the plugin may run after it returns (the library may be unloaded).
 */
#ifndef BATON_RUNTIME_PLUGIN_H
#define BATON_RUNTIME_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define BATON_PLUGIN_ABI_VERSION "1.b6a1460ce899892c"

#if defined(__GNUC__) || defined(__clang__)
#define BATON_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define BATON_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Results ---------------------------------------------------------------------------------
 * Functions that can fail return a baton_status and, when it is not BATON_OK, write a message
 * into their `error` output naming the thing at fault (file, entry, launch id, port). The codes
 * mirror baton::Errc (common/result.hpp). */
typedef int32_t baton_status;
enum {
  BATON_OK = 0,
  BATON_ERR_INVALID = 1,     /* the input is malformed or breaks a rule */
  BATON_ERR_NOT_FOUND = 2,   /* the thing named does not exist */
  BATON_ERR_CONFLICT = 3,    /* clashes with current state (e.g. already running) */
  BATON_ERR_AMBIGUOUS = 4,   /* a prefix matches more than one thing */
  BATON_ERR_UNAVAILABLE = 5, /* a peer or resource is not there now (daemon down, no java) */
  BATON_ERR_LIMIT = 6,       /* a configured limit was exceeded (size, entries, ratio) */
  BATON_ERR_IO = 7,          /* the operating system refused (disk full, permission) */
  BATON_ERR_INTERNAL = 8     /* a bug or broken invariant */
};

/* A host-provided sink for variable-size text. Pointers to a baton_output are borrowed: write
 * into it only before the function it was passed to returns (from any thread). */
typedef struct baton_output baton_output;
struct baton_output {
  void* context; /* host-owned, for write() only */
  /* Appends `size` bytes at `data` (borrowed; need not be NUL-terminated). Call it any number of
   * times; the pieces are concatenated. */
  void (*write)(baton_output* output, const char* data, size_t size);
};

/* A host-provided sink for key/value text pairs (probe attributes). Borrowed, like baton_output. */
typedef struct baton_attributes baton_attributes;
struct baton_attributes {
  void* context; /* host-owned, for set() only */
  /* Sets `key` to `value` (both borrowed, NUL-terminated); a later set of the same key wins. */
  void (*set)(baton_attributes* attributes, const char* key, const char* value);
};

/* ---- Data ------------------------------------------------------------------------------------
 * Every struct below is passed borrowed, and so is everything it points to. */

/* One verified, extracted bundle (runtimes::BundleContent). */
typedef struct baton_bundle {
  const char* digest;          /* bundle file SHA-256, 64 lower-case hex */
  const char* root;            /* extracted top folder holding bundle.conf; read-only */
  const char* descriptor_json; /* the resolved bundle.conf as JSON, keys spelled as in bundle.conf
                                  (what `baton bundle inspect --json` prints) */
} baton_bundle;

enum { BATON_PROTOCOL_HTTP = 0, BATON_PROTOCOL_TCP = 1, BATON_PROTOCOL_UDP = 2 };

typedef struct baton_port_binding {
  const char* endpoint; /* endpoint name from bundle.conf */
  int32_t protocol;     /* BATON_PROTOCOL_* */
  int32_t bind_port;    /* the port the component binds (inside a container: the container's) */
  int32_t host_port;    /* the port on the host (equal to bind_port outside containers) */
} baton_port_binding;

typedef struct baton_env_var {
  const char* name;
  const char* value;
} baton_env_var;

/* One component of one instance (runtimes::Launch). */
typedef struct baton_launch {
  const char* id; /* "<instance id>.<component>": the key of everything below */
  const char* instance_id;
  const char* bundle_id;
  const char* bundle_digest;
  const char* component;
  const char* agent_name;  /* for names that must not clash between agents on one machine */
  const char* bundle_root; /* extracted bundle (read-only), as given to prepare() */
  const char* work_dir;    /* writable, the component's working folder */
  const char* log_dir;     /* `<log_dir>/<component>.log` in Baton's log format (docs/logs.md) */
  const char* state_dir;   /* the runtime's private, persistent folder for this launch */
  /* start-command after `$NAME` expansion; the program is not yet resolved (the runtime decides
   * what it means). command_count may be 0. */
  const char* const* command;
  size_t command_count;
  /* The complete environment of the component (ConductR's names); later entries win. */
  const baton_env_var* environment;
  size_t environment_count;
  const baton_port_binding* ports;
  size_t port_count;
  double cpus;               /* CPU limit, 0 = none */
  int64_t memory;            /* resident memory limit in bytes (the bundle's `memory`), 0 = none */
  int32_t stop_signal;       /* e.g. 15 (SIGTERM) */
  int64_t stop_timeout_ms;   /* grace between stop_signal and SIGKILL */
  const char* notify_socket; /* the agent's NOTIFY_SOCKET for this instance, "" = none */
} baton_launch;

typedef struct baton_exit_status {
  int32_t code;        /* exit code, -1 when killed by a signal or unknown */
  int32_t signal;      /* terminating signal, 0 when it exited */
  int32_t oom_killed;  /* 1 when the memory limit killed it */
  const char* message; /* e.g. "killed by SIGKILL (memory limit 64 MiB)"; may be NULL */
} baton_exit_status;

typedef struct baton_stats {
  double cpu_seconds;   /* user + system since start */
  int64_t memory_bytes; /* resident */
} baton_stats;

enum { BATON_LOG_DEBUG = 0, BATON_LOG_INFO = 1, BATON_LOG_WARN = 2, BATON_LOG_ERROR = 3 };
enum { BATON_STREAM_STDOUT = 0, BATON_STREAM_STDERR = 1 };

/* ---- What the agent offers a runtime ---------------------------------------------------------
 * One table per runtime, passed to create(). host-owned: the table and every pointer in it stay
 * valid until destroy_runtime() returns. Every function may be called from any thread. */
typedef struct baton_host baton_host;
struct baton_host {
  void* context;            /* host-owned, for the functions below only */
  const char* runtime_name; /* host-owned (until destroy_runtime): the runtime's name */
  /* host-owned (until destroy_runtime): a folder private to this runtime that outlives agent
   * restarts (`<agent data>/runtimes/<name>`), created before create(); "" when the host has
   * none. */
  const char* data_dir;

  /* The agent's own log, tagged with the runtime's name. level: BATON_LOG_*; message borrowed. */
  void (*log)(const baton_host* host, int32_t level, const char* message);

  /* A launch the plugin runs itself ended: exactly once per successful start()/recover() of it,
   * destroy() included (a destroyed launch reports its end too). launch_id and status are
   * borrowed. Not for launches run through the process service below: those are reported by the
   * service. */
  void (*exited)(const baton_host* host, const char* launch_id, const baton_exit_status* status);

  /* For runtimes that receive a launch's output themselves: appends `size` bytes (borrowed) of
   * `stream` (BATON_STREAM_*) to `<log_dir>/<component>.log` of a launch this runtime started or
   * recovered, in Baton's log format (timestamped lines, rotation). A partial last line is kept
   * until its newline comes, or until exited() is reported for the launch. */
  baton_status (*append_log)(const baton_host* host, const char* launch_id, int32_t stream,
                             const char* data, size_t size, baton_output* error);

  /* -- The process service: run one program per launch supervised exactly as the universal
   * runtime runs its components (its own baton-shim as parent, cgroup and limits, logs written
   * to <log_dir>/<component>.log, stop signal then SIGKILL, survives agent restarts). Its exits
   * reach the agent directly, under the launch's id: the plugin reports nothing for them. */

  /* Starts `launch` (borrowed), normally a copy of the launch given to start() with `command`
   * and `environment` replaced. The id must be that of a launch this runtime is starting; one
   * process per launch id. command[0] is the program: absolute (the host's file), containing a
   * '/' (relative to bundle_root, never outside it) or a bare name looked up in the launch's
   * PATH (from `environment`); the whole command is the program's argv. On BATON_OK, *pid is the
   * program's pid and `state` received the recovery data to return from start() (or to embed in
   * the runtime's own state) and to give back to process_recover(). */
  baton_status (*process_start)(const baton_host* host, const baton_launch* launch, int32_t* pid,
                                baton_output* state, baton_output* error);
  /* Asks the launch's program to end: `signal`, then SIGKILL after timeout_ms. Returns at once;
   * unknown ids are not an error. */
  baton_status (*process_stop)(const baton_host* host, const char* launch_id, int32_t signal,
                               int64_t timeout_ms, baton_output* error);
  /* Kills the program if it runs and removes what the service made for it (launch state_dir
   * included). Idempotent, also for unknown ids. */
  baton_status (*process_destroy)(const baton_host* host, const char* launch_id,
                                  baton_output* error);
  /* After an agent restart: re-adopts the program of `launch` from the pid and state
   * process_start() gave (both borrowed). Outputs as process_start(). */
  baton_status (*process_recover)(const baton_host* host, const baton_launch* launch,
                                  int32_t saved_pid, const char* saved_state, int32_t* pid,
                                  baton_output* state, baton_output* error);
  /* CPU and memory of the launch's program and its descendants. */
  baton_status (*process_stats)(const baton_host* host, const char* launch_id, baton_stats* stats,
                                baton_output* error);
};

/* ---- What a runtime offers the agent ---------------------------------------------------------
 * One table per runtime (runtimes::Runtime). plugin-owned: the table and its name stay valid while
 * the library is loaded. `self` is what create() returned. All functions are required. */
typedef struct baton_runtime {
  /* The `file-system-type` that selects this runtime: [a-z0-9][a-z0-9-]*, unique on the agent
   * (a name already registered, e.g. "universal", refuses the whole plugin). */
  const char* name;

  /* Makes the runtime. host: host-owned until destroy_runtime(self) returns. config: borrowed
   * JSON text, the content of `<plugin folder>/<name>.json` or "{}" when that file is absent.
   * Returns an opaque, plugin-owned `self` valid until destroy_runtime(self); NULL on failure
   * with a message in `error` (the plugin is then not loaded). */
  void* (*create)(const baton_host* host, const char* config, baton_output* error);
  /* Frees `self`. Launches keep running (a new agent recovers them); the plugin's own threads
   * end before it returns. No host function may be called after it returned. */
  void (*destroy_runtime)(void* self);

  /* Is the runtime usable on this host? Returns 1 (usable) or 0 and then writes why into
   * `reason`; attributes (e.g. "java.version") are reported to the core. Cannot fail otherwise. */
  int32_t (*probe)(void* self, baton_output* reason, baton_attributes* attributes);
  /* Once per bundle digest before the first start of its components (unpack, build, load). */
  baton_status (*prepare)(void* self, const baton_bundle* bundle, baton_output* error);
  /* Starts one launch; on failure nothing of it is left running. On BATON_OK, *pid is the main
   * process on the host (0 when not meaningful) and `state` received the runtime-private
   * recovery data (JSON text by convention) the agent saves verbatim for recover(). */
  baton_status (*start)(void* self, const baton_launch* launch, int32_t* pid, baton_output* state,
                        baton_output* error);
  /* Asks a launch to end: `signal`, then SIGKILL after timeout_ms. Must return promptly; the exit
   * is reported later. Unknown ids are not an error. */
  baton_status (*stop)(void* self, const char* launch_id, int32_t signal, int64_t timeout_ms,
                       baton_output* error);
  /* Kills the launch if running and removes everything it left. Idempotent, also for ids the
   * runtime never saw. */
  baton_status (*destroy)(void* self, const char* launch_id, baton_output* error);
  /* After an agent restart: re-adopts a launch from the pid and state start() gave. If it ended
   * meanwhile, its exit is reported (with the real status when known). Outputs as start(). */
  baton_status (*recover)(void* self, const baton_launch* launch, int32_t saved_pid,
                          const char* saved_state, int32_t* pid, baton_output* state,
                          baton_output* error);
  baton_status (*stats)(void* self, const char* launch_id, baton_stats* stats, baton_output* error);
  /* The bundle digest left this agent: removes what prepare() made for it. */
  baton_status (*release)(void* self, const char* bundle_digest, baton_output* error);
} baton_runtime;

/* ---- The library ----------------------------------------------------------------------------- */
typedef struct baton_plugin {
  /* BATON_PLUGIN_ABI_VERSION as the plugin was built. Always the first field, in every version of
   * this header, so a mismatch can be detected and reported. plugin-owned, static. */
  const char* abi_version;
  const char* name;    /* the plugin's name, for messages; plugin-owned, static */
  const char* version; /* the plugin's own version, for messages; plugin-owned, static */
  size_t runtime_count;
  const baton_runtime* runtimes; /* runtime_count tables; plugin-owned, static */
} baton_plugin;

#define BATON_PLUGIN_ENTRY_NAME "baton_plugin_entry"
typedef const baton_plugin* (*baton_plugin_entry_function)(void);

/* The one exported function. Returns static, plugin-owned data (valid while the library is
 * loaded); must have no side effects: it runs before the version is checked. */
BATON_PLUGIN_EXPORT const baton_plugin* baton_plugin_entry(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BATON_RUNTIME_PLUGIN_H */
