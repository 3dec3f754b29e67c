/* jr_doctor: check a judge host, like isolate's check-environment.
 *
 * Each check reports one line: a level, a short name and what was found or what to fix.
 * Checks that could disturb the process run in a forked child (unshare, seccomp, mounts);
 * the last one, the trial jail, runs in the calling process like `jailrun exec` does
 * (on cgroup v2 it may move the process into <own cgroup>/supervisor).
 *
 *   FAIL  jailrun cannot judge correctly on this host (a namespace, a controller, a
 *         required syscall, a rootfs tree is missing)
 *   WARN  it works, but verdicts or timings may be less reliable, or something is
 *         less safe than it could be (swap without accounting, SMT, a frequency
 *         governor, a pipe core_pattern, ...)
 *   OK    fine */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "jail.h"

typedef enum jr_doctor_level {
        JR_DOCTOR_OK,
        JR_DOCTOR_WARN,
        JR_DOCTOR_FAIL,
} jr_doctor_level;

const char *jr_doctor_level_name(jr_doctor_level l); /* "OK", "WARN", "FAIL" */

/* The "config" check: load the configuration file at path (NULL: $JAILRUN_CONFIG or the
 * default file) into the environment, which the later checks read, and check it. 1 and
 * *file the file read; 0 and *file the default file, missing; < 0 and e. The caller
 * passes it (jr_config_check): the configuration knows the settings of every layer, so
 * it sits above this one. */
typedef int jr_doctor_config_fn(const char *path, const char **file, jr_error *e);

typedef struct jr_doctor_opts {
        jr_doctor_config_fn *check_config; /* NULL: no "config" check */
        const char *config_path;           /* NULL: $JAILRUN_CONFIG or the default file */
        const char *rootfs_dir;            /* NULL: jr_rootfs_default_dir() */
        const char *langs_dir;             /* NULL: jr_lang_default_dir() */
        const char *recipes_dir;           /* NULL: jr_rootfs_default_recipes_dir() */
        jr_cg_mode cg_mode;                /* JR_CG_AUTO unless forced */
        unsigned slots;                    /* slot uids checked: base .. base + slots - 1
                                            * (0: RUNNER_MAX_PARALLEL, else 1) */
        unsigned rootfs_max_age_days;      /* older trees are WARN (0: 30) */
        bool no_jail;                      /* skip the trial jail */
} jr_doctor_opts;

typedef void jr_doctor_report_fn(void *opaque, jr_doctor_level level, const char *check,
                                 const char *message);

/* Run every check, calling report for each line, and count the levels in counts[3]
 * (indexed by jr_doctor_level). Never fails: a check that cannot run says so itself. */
void jr_doctor_run(const jr_doctor_opts *o, jr_doctor_report_fn *report, void *opaque,
                   unsigned counts[3]);
