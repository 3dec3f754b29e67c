/* The judge: one submission in, one result out, with progress events on the way.
 *
 * Build once in the language's build tree (stdin /dev/null, build limits), carry the
 * artifacts into a fresh read-only /work, run every test in its own jail with the
 * submission's limits, compare, decide the verdicts of the spec.
 *
 * The judge runs jails, so it must run in a single-threaded process (see style.md): the
 * `run` command, or an executor process of `serve` forked before Kafka starts. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "jail.h"
#include "lang.h"
#include "message.h"

/* Host limits; every field has a default (jr_judge_limits_default) and may come from the
 * environment (jr_judge_limits_from_env). */
typedef struct jr_judge_limits {
        uint64_t default_time_ms;      /* a request of 0 gets this (RUNNER_TIME_LIMIT) */
        uint64_t default_memory_bytes; /* a request of 0 gets this (RUNNER_MEMORY_LIMIT) */
        uint64_t max_memory_bytes;     /* a larger request is IE naming this maximum */
        uint64_t max_total_ms;         /* testing time of one execution; the rest get "-" */
        uint64_t max_test_wall_ms;     /* wall time of one test, whatever its CPU limit */
        uint64_t wall_margin_ms;       /* a test's wall limit is its time limit plus this
                                          (JAILRUN_WALL_MARGIN; 0 allowed) */
        uint64_t output_limit_bytes;   /* stdout + stderr of one run (OL) */
        uint64_t run_pids;             /* pids of a test run, before the language's extra */
        uint64_t work_bytes;           /* size of one execution's work tmpfs */
        uint64_t time_scale;           /* every time limit times this: a host whose CPU is
                                          N times slower (an emulated test VM) keeps the
                                          verdicts of a real one (JAILRUN_TIME_SCALE) */
        size_t max_message_bytes;      /* one result or one event */
        jr_checker default_checker;    /* of a submission that names none
                                          (JAILRUN_DEFAULT_CHECKER; lines) */
        double default_checker_eps;    /* its tolerance, for float:EPS */
        uint64_t nano_cpus;            /* CPU bandwidth of each test run, 1e9 = one CPU;
                                          0 = none (JAILRUN_CPUS, EXECUTOR_NANO_CPUS) */
} jr_judge_limits;

void jr_judge_limits_default(jr_judge_limits *l);
/* Apply RUNNER_TIME_LIMIT, RUNNER_MEMORY_LIMIT and the host caps and defaults
 * (src/service/config.c lists them); errors name the variable. */
int jr_judge_limits_from_env(jr_judge_limits *l, jr_error *e);

/* Python's allowed-modules policy (docs/http.md) for language l: env_list
 * (EXECUTOR_ALLOWED_MODULES parsed; NULL when unset) when the language's source is a .py
 * file, else the language file's allowed_modules; NULL when there is none (any import
 * goes). *n is the list's length. The judge applies it to the submission's program (a
 * static check of its imports, BF, and a run-time guard, ImportError), never to the
 * jury's programs. */
const char *const *jr_judge_allowed_modules(const jr_lang *l, char *const *env_list, size_t *n);

typedef struct jr_judge jr_judge;

/* Called for each event, in seq order, as soon as it happens. */
typedef void (*jr_judge_event_fn)(const jr_event *ev, const jr_buf *json, void *userdata);

typedef struct jr_judge_opts {
        jr_slot *slot;            /* the jail slot this judge owns */
        const jr_lang_set *langs; /* borrowed */
        const char *rootfs_dir;   /* NULL: jr_rootfs_default_dir() */
        jr_judge_limits limits;
} jr_judge_opts;

/* Prepares the judge's work area: the process moves into its own mount namespace so that
 * every execution's tmpfs stays invisible to the host and dies with the process. */
int jr_judge_new(const jr_judge_opts *opts, jr_judge **out, jr_error *e);
void jr_judge_free(jr_judge *j);
static inline void jr_judge_freep(jr_judge **j)
{
        jr_judge_free(*j);
}
#define _cleanup_judge_ __attribute__((cleanup(jr_judge_freep)))

/* What the supervisor logs about one execution. */
typedef struct jr_judge_summary {
        jr_status status;
        uint64_t build_ms; /* wall time of the build, 0 without one */
        uint64_t tests_ms; /* wall time of all tests */
        uint64_t total_ms; /* wall time of the whole execution, jailrun's own work included */
        uint64_t jail_ms;  /* wall time of the programs in jails (compilers, tests, checkers) */
        uint64_t own_us;   /* total minus that, in microseconds: jailrun's own time (the jails'
                              set-up and teardown, files, comparisons, events, the result) */
        size_t tests_run;
        unsigned sandbox_failures; /* jails that failed themselves (jr_jail_run < 0): the
                                      host's fault, never the submission's */
} jr_judge_summary;

/* Judge one submission. Always produces a result (status IE for a submission that
 * cannot be judged or a sandbox failure, the error naming the cause) unless memory runs
 * out, which is the only failure (< 0). */
int jr_judge_submission(jr_judge *j, const jr_submission *sub, jr_judge_event_fn on_event,
                        void *userdata, jr_buf *result_json, jr_judge_summary *summary,
                        jr_error *e);
