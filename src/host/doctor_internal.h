/* What the checks of `jailrun doctor` share (doctor.c, doctor_cgroup.c); private to them. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "doctor.h"

#define CG_ROOT "/sys/fs/cgroup"

struct doctor_ctx {
        const jr_doctor_opts *o;
        jr_doctor_report_fn *report;
        void *opaque;
        unsigned *counts;
        jr_cg_mode mode;            /* resolved: V1 or V2 */
        char own_v2[PATH_MAX + 32]; /* v2: our cgroup directory */
        bool own_v2_is_root;
        char memory_v1[PATH_MAX]; /* v1: our memory cgroup directory */
        bool no_jail_cgroups;     /* v2: jail cgroups cannot be made from our cgroup */
        uint64_t nano_cpus;       /* JAILRUN_CPUS / EXECUTOR_NANO_CPUS, for the trial jail */
};

/* One check's line: counted, then handed to the report function. */
void jr_doctor_say(struct doctor_ctx *c, jr_doctor_level level, const char *check, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/* The first line of a small file, without its newline; < 0 (-errno) when unreadable. */
int jr_doctor_read_line(const char *path, char *buf, size_t n);
/* A whole small text file, malloc'd; NULL when unreadable. */
char *jr_doctor_read_all(const char *path);
/* word is in list, separated by spaces, commas or newlines. */
bool jr_doctor_word_in_list(const char *list, const char *word);
bool jr_doctor_file_exists(const char *path);
/* The running kernel is at least major.minor. */
bool jr_doctor_kernel_at_least(int major, int minor);

/* Where the v1 hierarchy of `controller` is mounted (mountinfo: /proc/self/mountinfo's
 * text) and our path in it (self: /proc/self/cgroup's), into out; < 0 when not found. */
int jr_doctor_v1_dir(const char *mountinfo, const char *self, const char *controller, char *out,
                     size_t n);

/* doctor_cgroup.c: the cgroup mode and delegation, cgroup.kill and memory.peak, and what
 * moving a process into a v1 cgroup costs here. */
void jr_doctor_check_cgroups(struct doctor_ctx *c);
