/* setsid_escapee [PIDFILE|-] [SLEEP_S] [TOKEN...]: the classic escape from a naive
 * supervisor that only waits for its direct child. Forks a child that calls setsid()
 * and forks again; the grandchild (now in its own session, reparented away from
 * us) ignores SIGHUP, SIGTERM and SIGINT and sleeps SLEEP_S seconds (default an
 * hour). The parent waits only until the grandchild has reported its pid, prints
 * "escapee=PID" (the pid as seen inside the jail's pid namespace), writes it to
 * PIDFILE when one is given, and exits 0.
 *
 * Extra TOKEN arguments are ignored but stay in /proc/PID/cmdline of the
 * grandchild, so a test on the host can pass a unique token and then look for any
 * surviving process whose command line carries it. The grandchild also names
 * itself "jr-escapee" (comm). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        const char *pidfile = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
        unsigned long sleep_s = argc > 2 ? strtoul(argv[2], NULL, 10) : 3600;

        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
                perror("pipe2");
                return 1;
        }
        pid_t child = fork();
        if (child < 0) {
                perror("fork");
                return 1;
        }
        if (child == 0) {
                close(p[0]);
                if (setsid() < 0)
                        _exit(1);
                pid_t grandchild = fork();
                if (grandchild != 0)
                        _exit(grandchild < 0); /* the middle process leaves at once */

                signal(SIGHUP, SIG_IGN);
                signal(SIGTERM, SIG_IGN);
                signal(SIGINT, SIG_IGN);
                prctl(PR_SET_NAME, "jr-escapee");
                pid_t self = getpid();
                (void)!write(p[1], &self, sizeof self);
                close(p[1]);
                /* stdout and stderr stay open: a supervisor waiting for EOF on the
                 * output pipes would wait for this process too */
                struct timespec ts = {(time_t)sleep_s, 0};
                while (nanosleep(&ts, &ts) < 0)
                        ;
                _exit(0);
        }

        close(p[1]);
        pid_t escapee = 0;
        ssize_t n = read(p[0], &escapee, sizeof escapee);
        waitpid(child, NULL, 0);
        if (n != (ssize_t)sizeof escapee) {
                dprintf(1, "escapee=none\n");
                return 1;
        }
        dprintf(1, "escapee=%d\n", (int)escapee);
        if (pidfile) {
                FILE *f = fopen(pidfile, "we");
                if (!f) {
                        perror(pidfile);
                        return 1;
                }
                fprintf(f, "%d\n", (int)escapee);
                fclose(f);
        }
        return 0;
}
