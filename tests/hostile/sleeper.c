/* sleeper [MS]: sleep MS milliseconds of wall time (default: a day), print
 * "slept=MS" and exit 0. Uses no CPU: only a wall-clock limit stops it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        unsigned long ms = argc > 1 ? strtoul(argv[1], NULL, 10) : 86400000UL;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        dprintf(1, "slept=%lu\n", ms);
        return 0;
}
