/* Options shared by the commands that run jails (exec, run, serve, doctor): the cgroup
 * backend, forced fallbacks and the slot's ids, from the command line or from the
 * environment / config file (JAILRUN_CGROUP, JAILRUN_CG_FALLBACKS, JAILRUN_SLOT_UID_BASE). */
#pragma once

#include <sys/types.h>

#include "error.h"
#include "jail.h"

#define JR_DEFAULT_SLOT_UID_BASE 60000

/* "auto", "v1" or "v2". */
int jr_parse_cg_mode(const char *arg, jr_cg_mode *out, jr_error *e);
/* Comma-separated JR_FB_* names (memory-peak, cgroup-kill, clone-into-cgroup), or'ed
 * into *out. */
int jr_parse_fallbacks(const char *list, unsigned *out, jr_error *e);
/* Start from JAILRUN_CGROUP and JAILRUN_CG_FALLBACKS; errors name the variable.
 * Command-line options are applied after this and win. */
int jr_sandbox_opts_from_env(jr_sandbox_opts *o, jr_error *e);
/* The ids slot N runs as: JAILRUN_SLOT_UID_BASE (default 60000) + N, for uid and gid. */
int jr_slot_ids(unsigned slot, uid_t *uid, gid_t *gid, jr_error *e);
