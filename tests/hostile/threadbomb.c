/* threadbomb: create threads that sleep forever until pthread_create fails, print
 * how many were made, then keep retrying forever (or exit with "exit").
 *
 *   threadbomb [exit]
 *
 * Small stacks so that the pids limit, not memory, is what stops it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *idle(void *arg)
{
        (void)arg;
        for (;;)
                pause();
        return NULL;
}

int main(int argc, char **argv)
{
        int stop_at_limit = argc > 1 && strcmp(argv[1], "exit") == 0;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);

        unsigned long made = 0;
        int reported = 0;
        for (;;) {
                pthread_t t;
                int ret = pthread_create(&t, &attr, idle, NULL);
                if (ret == 0) {
                        made++;
                        continue;
                }
                if (!reported) {
                        dprintf(1, "threads=%lu errno=%s\n", made, strerrorname_np(ret) ?: "?");
                        reported = 1;
                }
                if (stop_at_limit)
                        _exit(0); /* the other threads only pause: nothing to flush */
        }
}
