/* forkbomb: fork in a loop forever; every child does the same. Failed forks
 * (EAGAIN under a pids limit) are retried, so the bomb keeps pressing on the
 * limit until the jail kills it. Prints one line before it starts.
 *
 *   forkbomb */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <stdio.h>
#include <unistd.h>

int main(void)
{
        dprintf(1, "forkbomb start pid=%d\n", getpid());
        for (;;)
                (void)fork();
}
