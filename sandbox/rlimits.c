/* Resource limits of the jailed program.
 *
 * The cgroup carries the real memory, pids and CPU limits; rlimits are the
 * per-process backstops the cgroup cannot express (core dumps, file size, open
 * files, stack). Soft and hard are set equal, except for CPU (below), so the
 * program cannot raise them: raising a hard limit needs CAP_SYS_RESOURCE, which
 * the jail never has. */
#include "rlimits.h"

#include <errno.h>
#include <stddef.h>
#include <sys/resource.h>

#include "sys.h"

#define JR_DEFAULT_NOFILE 64
#define JR_DEFAULT_STACK  (8ull << 20)

/* Raw prlimit64: the program's child shares the supervisor's memory and errno (sys.h). */
static int set_limit(int resource, rlim_t soft, rlim_t hard)
{
        struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
        long r = JR_SYS(SYS_prlimit64, 0, resource, &rl, NULL);
        return r < 0 ? (int)r : 0;
}

int jr_rlimits_apply(const jr_rlimits *r, const char **which)
{
        struct {
                int resource;
                const char *name;
                rlim_t soft, hard;
                int wanted;
        } limits[] = {
            /* a core dump of a submission fills the disk and tells no one anything */
            {RLIMIT_CORE, "RLIMIT_CORE", 0, 0, 1},
            /* SIGXCPU at the soft limit, SIGKILL one second later at the hard one:
             * the cgroup's CPU accounting decides TL, this only stops a runaway
             * process should the supervisor be late */
            {RLIMIT_CPU, "RLIMIT_CPU", r->cpu_s,
             r->cpu_s >= RLIM_INFINITY - 1 ? RLIM_INFINITY : r->cpu_s + 1, r->cpu_s != 0},
            {RLIMIT_FSIZE, "RLIMIT_FSIZE", r->fsize, r->fsize, r->fsize != 0},
            {RLIMIT_NOFILE, "RLIMIT_NOFILE", r->nofile ? r->nofile : JR_DEFAULT_NOFILE,
             r->nofile ? r->nofile : JR_DEFAULT_NOFILE, 1},
            {RLIMIT_STACK, "RLIMIT_STACK", r->stack ? r->stack : JR_DEFAULT_STACK,
             r->stack ? r->stack : JR_DEFAULT_STACK, 1},
        };

        for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
                if (!limits[i].wanted)
                        continue;
                int ret = set_limit(limits[i].resource, limits[i].soft, limits[i].hard);
                if (ret < 0) {
                        if (which)
                                *which = limits[i].name;
                        return ret;
                }
        }
        return 0;
}
