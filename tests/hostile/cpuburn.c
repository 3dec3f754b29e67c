/* cpuburn [THREADS] [MS]: THREADS threads (default 4) each burn MS milliseconds of
 * their own CPU time (CLOCK_THREAD_CPUTIME_ID; 0 = forever, the default), then
 * print "burned threads=T ms=M" and exit 0. The total CPU time is THREADS x MS
 * whatever the number of cores. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static unsigned long burn_ms;

static unsigned long thread_cpu_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (unsigned long)ts.tv_sec * 1000 + (unsigned long)ts.tv_nsec / 1000000;
}

static void *burn(void *arg)
{
        volatile unsigned long x = 0;
        (void)arg;
        while (burn_ms == 0 || thread_cpu_ms() < burn_ms)
                for (int i = 0; i < 100000; i++)
                        x += (unsigned long)i;
        return NULL;
}

int main(int argc, char **argv)
{
        int n = argc > 1 ? atoi(argv[1]) : 4;
        burn_ms = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
        if (n < 1 || n > 256) {
                dprintf(2, "usage: %s [THREADS 1..256] [MS]\n", argv[0]);
                return 2;
        }
        pthread_t t[256];
        for (int i = 0; i < n; i++)
                if (pthread_create(&t[i], NULL, burn, NULL) != 0) {
                        dprintf(1, "pthread_create failed at=%d\n", i);
                        return 1;
                }
        for (int i = 0; i < n; i++)
                pthread_join(t[i], NULL);
        dprintf(1, "burned threads=%d ms=%lu\n", n, burn_ms);
        return 0;
}
