/* A runtime plugin written in plain C99 against the ABI header alone (built with -pedantic-errors,
 * so the header stays C). Runtime "echo-c": start() writes "hello from c <command...>" to the
 * launch's log through append_log and reports the exit from a thread of its own, with the
 * command's length as exit code. Commands starting with "fail" or "odd" make start() fail with
 * BATON_ERR_LIMIT and a message, or with an unknown status and no message. A config holding
 * "refuse" makes create() fail. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baton/runtime_plugin.h"

#define MAX_THREADS 64

typedef struct echo_runtime {
  const baton_host* host;
  pthread_mutex_t mutex;
  pthread_t threads[MAX_THREADS];
  int thread_count;
} echo_runtime;

typedef struct exit_job {
  const baton_host* host;
  char launch_id[256];
  char line[512];
  int code;
} exit_job;

static void put(baton_output* output, const char* text) {
  if (output && output->write) output->write(output, text, strlen(text));
}

static void* report_exit(void* argument) {
  exit_job* job = (exit_job*)argument;
  baton_exit_status status;
  job->host->append_log(job->host, job->launch_id, BATON_STREAM_STDOUT, job->line,
                        strlen(job->line), NULL);
  /* A partial line: the host writes it when the exit is reported. */
  job->host->append_log(job->host, job->launch_id, BATON_STREAM_STDERR, "no newline", 10, NULL);
  status.code = job->code;
  status.signal = 0;
  status.oom_killed = 0;
  status.message = "exited";
  job->host->exited(job->host, job->launch_id, &status);
  free(job);
  return NULL;
}

static void* echo_create(const baton_host* host, const char* config, baton_output* error) {
  echo_runtime* self;
  if (strstr(config, "refuse") != NULL) {
    put(error, "echo-c: told to refuse by its configuration");
    return NULL;
  }
  self = (echo_runtime*)calloc(1, sizeof *self);
  if (self == NULL) return NULL;
  self->host = host;
  pthread_mutex_init(&self->mutex, NULL);
  host->log(host, BATON_LOG_INFO, "echo-c created");
  return self;
}

static void echo_destroy_runtime(void* runtime) {
  echo_runtime* self = (echo_runtime*)runtime;
  int i;
  for (i = 0; i < self->thread_count; ++i)
    pthread_join(self->threads[i], NULL);
  pthread_mutex_destroy(&self->mutex);
  free(self);
}

static int32_t echo_probe(void* runtime, baton_output* reason, baton_attributes* attributes) {
  (void)runtime;
  (void)reason;
  attributes->set(attributes, "language", "c");
  return 1;
}

static baton_status echo_prepare(void* runtime, const baton_bundle* bundle, baton_output* error) {
  (void)runtime;
  if (strstr(bundle->descriptor_json, "\"echo-c\"") == NULL) {
    put(error, "echo-c: the descriptor does not name this runtime");
    return BATON_ERR_INVALID;
  }
  return BATON_OK;
}

static baton_status echo_start(void* runtime, const baton_launch* launch, int32_t* pid,
                               baton_output* state, baton_output* error) {
  echo_runtime* self = (echo_runtime*)runtime;
  exit_job* job;
  size_t i;
  int started;
  if (launch->command_count > 0 && strncmp(launch->command[0], "fail", 4) == 0) {
    put(error, "echo-c: limit reached for launch ");
    put(error, launch->id);
    return BATON_ERR_LIMIT;
  }
  if (launch->command_count > 0 && strncmp(launch->command[0], "odd", 3) == 0) return 42;
  job = (exit_job*)calloc(1, sizeof *job);
  if (job == NULL) return BATON_ERR_IO;
  job->host = self->host;
  snprintf(job->launch_id, sizeof job->launch_id, "%s", launch->id);
  snprintf(job->line, sizeof job->line, "hello from c");
  for (i = 0; i < launch->command_count; ++i) {
    size_t used = strlen(job->line);
    snprintf(job->line + used, sizeof job->line - used, " %s", launch->command[i]);
  }
  strncat(job->line, "\n", sizeof job->line - strlen(job->line) - 1);
  job->code = (int)launch->command_count;
  pthread_mutex_lock(&self->mutex);
  started = self->thread_count < MAX_THREADS &&
            pthread_create(&self->threads[self->thread_count], NULL, report_exit, job) == 0;
  if (started) ++self->thread_count;
  pthread_mutex_unlock(&self->mutex);
  if (!started) {
    free(job);
    put(error, "echo-c: cannot start a thread");
    return BATON_ERR_IO;
  }
  *pid = 0;
  put(state, "{\"echo\":\"");
  put(state, launch->id);
  put(state, "\"}");
  return BATON_OK;
}

static baton_status echo_stop(void* runtime, const char* launch_id, int32_t signal,
                              int64_t timeout_ms, baton_output* error) {
  (void)runtime;
  (void)launch_id;
  (void)signal;
  (void)timeout_ms;
  (void)error;
  return BATON_OK;
}

static baton_status echo_destroy(void* runtime, const char* launch_id, baton_output* error) {
  (void)runtime;
  (void)launch_id;
  (void)error;
  return BATON_OK;
}

static baton_status echo_recover(void* runtime, const baton_launch* launch, int32_t saved_pid,
                                 const char* saved_state, int32_t* pid, baton_output* state,
                                 baton_output* error) {
  (void)runtime;
  (void)launch;
  (void)error;
  *pid = saved_pid;
  put(state, saved_state);
  return BATON_OK;
}

static baton_status echo_stats(void* runtime, const char* launch_id, baton_stats* stats,
                               baton_output* error) {
  (void)runtime;
  (void)launch_id;
  (void)error;
  stats->cpu_seconds = 1.5;
  stats->memory_bytes = 4096;
  return BATON_OK;
}

static baton_status echo_release(void* runtime, const char* bundle_digest, baton_output* error) {
  (void)runtime;
  (void)bundle_digest;
  (void)error;
  return BATON_OK;
}

static const baton_runtime runtimes[] = {{"echo-c", echo_create, echo_destroy_runtime, echo_probe,
                                          echo_prepare, echo_start, echo_stop, echo_destroy,
                                          echo_recover, echo_stats, echo_release}};

static const baton_plugin plugin = {BATON_PLUGIN_ABI_VERSION, "echo-c", "1.0", 1, runtimes};

const baton_plugin* baton_plugin_entry(void) {
  return &plugin;
}
