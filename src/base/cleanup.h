/* Cleanup attributes and ownership transfer, in the style of systemd. */
#pragma once

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

static inline void jr_freep(void *p)
{
        free(*(void **)p);
}
static inline void jr_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void jr_close_pairp(int (*fds)[2])
{
        jr_closep(&(*fds)[0]);
        jr_closep(&(*fds)[1]);
}
static inline void jr_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
static inline void jr_closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* A child process that must not outlive its owner: SIGKILL, then reap it (its status is
 * of no interest). pid <= 0: nothing to do. */
static inline void jr_kill_and_reapp(pid_t *pid)
{
        if (*pid > 0) {
                int saved = errno;
                kill(*pid, SIGKILL);
                while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                errno = saved;
        }
}

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _cleanup_free_       _cleanup_(jr_freep)
#define _cleanup_close_      _cleanup_(jr_closep)
#define _cleanup_close_pair_ _cleanup_(jr_close_pairp)
#define _cleanup_fclose_     _cleanup_(jr_fclosep)
#define _cleanup_closedir_   _cleanup_(jr_closedirp)
#define _cleanup_kill_pid_   _cleanup_(jr_kill_and_reapp)

/* Take ownership: return the value and leave the variable empty so cleanup skips it. */
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })
#define TAKE_PID(pid)                                                                              \
        ({                                                                                         \
                pid_t _pid_ = (pid);                                                               \
                (pid) = 0;                                                                         \
                _pid_;                                                                             \
        })
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

#define JR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
