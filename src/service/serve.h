/* jr_serve: the supervisor of `jailrun serve`, the production entry point.
 *
 * It consumes submissions from Kafka, hands each to an executor process (one per jail
 * slot, see executor.h), spools every event and result durably (spool.h) and produces
 * them, and commits a submission's offset only once its result is durable (kafka.h,
 * DELIVERY CONTRACT). The wire contract is docs/messages.md.
 *
 * The command line gives a jr_serve_opts; everything else comes from the environment,
 * read here (KAFKA_*, RUNNER_*, SCRIPT_EXPECTED, JAILRUN_*: see `jailrun serve --help`).
 * The supervisor logs (log.h) from the moment its configuration is valid: from then on
 * the log, not the caller, is where its errors go. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* --flush-timeout's default. */
#define JR_SERVE_FLUSH_TIMEOUT_MS 30000

typedef struct jr_serve_opts {
        const char *langs_dir;  /* --langs; NULL: jr_lang_default_dir() */
        const char *rootfs_dir; /* --rootfs-dir; NULL: the judge's default */
        /* --cgroup as given (the caller checked it): wins over JAILRUN_CGROUP, here and
         * in every executor. */
        const char *cg_mode;
        /* --fallback: every one given, parsed (JR_FB_*), is added to JAILRUN_CG_FALLBACKS
         * here; the last one as given is passed on to the executors. */
        unsigned fallback_flags;
        const char *fallbacks;
        const char *log_file;       /* --log-file; NULL: stderr */
        const char *log_level;      /* --log-level; NULL: $JAILRUN_LOG_LEVEL, else info */
        bool print_results;         /* --print-results: each spooled result on stdout */
        const char *const *produce; /* --produce paths, n_produce of them */
        size_t n_produce;
        uint64_t flush_timeout_ms; /* --flush-timeout (JR_SERVE_FLUSH_TIMEOUT_MS) */
} jr_serve_opts;

/* Run the supervisor until it stops. Returns the exit status of `jailrun serve`, the
 * reason logged: 0 after a stop ("done", SCRIPT_EXPECTED, a signal), 1 on a fatal error
 * (also a second stop signal), 2 when librdkafka refused the configuration. Returns < 0
 * with *e set, having started and logged nothing, when the options or the environment
 * are invalid (exit status 2). */
int jr_serve_run(const jr_serve_opts *o, jr_error *e);
