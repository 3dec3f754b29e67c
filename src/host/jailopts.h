/* jr_jailopts: how this host runs its jails, for every command and process that makes
 * them (exec, run, serve and its executors, doctor): the cgroup backend, forced
 * fallbacks, the slots' ids and the CPU bandwidth of test runs, from the command line or
 * from the environment that the configuration file fills (JAILRUN_CGROUP,
 * JAILRUN_CG_FALLBACKS, JAILRUN_SLOT_UID_BASE, JAILRUN_CPUS or EXECUTOR_NANO_CPUS). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "jail.h"

#define JR_DEFAULT_SLOT_UID_BASE 60000
/* The largest JAILRUN_SLOT_UID_BASE: room above it for 65536 slots. */
#define JR_SLOT_UID_BASE_MAX (UINT32_MAX - 65536)

/* "auto", "v1" or "v2". */
int jr_parse_cg_mode(const char *arg, jr_cg_mode *out, jr_error *e);
/* Comma-separated JR_FB_* names (memory-peak, cgroup-kill, clone-into-cgroup), or'ed
 * into *out. */
int jr_parse_fallbacks(const char *list, unsigned *out, jr_error *e);

/* JAILRUN_CGROUP (auto, v1, v2): the cgroup backend when no --cgroup option says
 * otherwise. *mode is untouched when the variable is unset or empty. */
int jr_config_cg_mode(jr_cg_mode *mode, jr_error *e);
/* JAILRUN_SLOT_UID_BASE: slot N runs as uid and gid base + N (default 60000, at least 1,
 * at most JR_SLOT_UID_BASE_MAX). */
int jr_config_slot_uid_base(uid_t *base, jr_error *e);

/* Start from JAILRUN_CGROUP and JAILRUN_CG_FALLBACKS; errors name the variable.
 * Command-line options are applied after this and win. */
int jr_sandbox_opts_from_env(jr_sandbox_opts *o, jr_error *e);
/* The ids slot N runs as: JAILRUN_SLOT_UID_BASE (default 60000) + N, for uid and gid. */
int jr_slot_ids(unsigned slot, uid_t *uid, gid_t *gid, jr_error *e);

/* A CPU bandwidth limit: 0 (none) or JR_NANO_CPUS_MIN..JR_NANO_CPUS_MAX nano-CPUs; the
 * message quotes text. */
int jr_check_nano_cpus(uint64_t nano, const char *text, jr_error *e);
/* `--cpus 0.5`, JAILRUN_CPUS: a decimal number of CPUs (jr_parse_cpus), checked. */
int jr_parse_cpus_limit(const char *arg, uint64_t *nano, jr_error *e);
/* EXECUTOR_NANO_CPUS: an integer of nano-CPUs (Docker's NanoCPUs, 1e9 = one CPU),
 * checked. */
int jr_parse_nano_cpus_limit(const char *arg, uint64_t *nano, jr_error *e);
/* The CPU bandwidth of every test run: JAILRUN_CPUS, else EXECUTOR_NANO_CPUS; *nano is
 * untouched when both are unset or empty. Errors name the variable. */
int jr_config_nano_cpus(uint64_t *nano, jr_error *e);
/* nano-CPUs as a number of CPUs: "0.5", "2". Returns buf. */
char *jr_format_cpus(uint64_t nano, char *buf, size_t n);
