/* memhog MIB [HOLD_MS]: allocate MIB mebibytes and touch every page so that they
 * are really charged, print "allocated=MIB", then sleep HOLD_MS (default 0) and
 * exit 0. Under a smaller memory limit the OOM killer ends it first.
 * Progress lines go out unbuffered every 64 MiB ("touched=N"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        if (argc < 2) {
                dprintf(2, "usage: %s MIB [HOLD_MS]\n", argv[0]);
                return 2;
        }
        unsigned long mib = strtoul(argv[1], NULL, 10);
        unsigned long hold_ms = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
        const size_t chunk = 1 << 20;

        for (unsigned long i = 1; i <= mib; i++) {
                char *p = malloc(chunk);
                if (!p) {
                        dprintf(1, "malloc failed at=%lu\n", i);
                        return 1;
                }
                memset(p, (int)(i & 0xff) | 1, chunk); /* non-zero: no zero-page tricks */
                if (i % 64 == 0)
                        dprintf(1, "touched=%lu\n", i);
        }
        dprintf(1, "allocated=%lu\n", mib);
        struct timespec ts = {(time_t)(hold_ms / 1000), (long)(hold_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
}
