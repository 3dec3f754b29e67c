/* Resource limits of the jailed program. Internal. */
#pragma once

#include <stdint.h>

typedef struct jr_rlimits {
        uint64_t cpu_s; /* RLIMIT_CPU backstop (the cgroup is the real limit); 0 = none */
        uint64_t fsize; /* 0 = none */
        uint64_t nofile;
        uint64_t stack;
} jr_rlimits;

/* In the child. RLIMIT_CORE is always 0. Returns 0 or -errno; *which names the limit. */
int jr_rlimits_apply(const jr_rlimits *r, const char **which);
