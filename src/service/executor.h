/* Executors: the single-threaded processes of `jailrun serve` that judge.
 *
 * Why a separate process. librdkafka runs threads; a process with threads must not clone
 * jails (the child inherits a copy of malloc and libc locks that another thread may hold,
 * style.md). So the supervisor (Kafka, spool, event loop) never judges: each jail slot
 * belongs to one executor, a fresh `jailrun serve --executor` process (fork + execve: the
 * only things done between the two are async-signal-safe syscalls, so spawning a
 * replacement is safe even after librdkafka has started). The executor prepares its
 * sandbox, slot (uid JAILRUN_SLOT_UID_BASE + slot) and judge once, then judges one submission at a
 * time.
 *
 * The two talk over a SOCK_STREAM socketpair with length-prefixed frames (submissions
 * can be tens of MB, more than a datagram):
 *
 *   executor -> supervisor   READY   once, after setup; payload: a description for the log
 *                            FAILED  setup failed, the executor exits; payload: the error
 *   supervisor -> executor   JOB     jr_exec_job header, fallback id, the message bytes
 *   executor -> supervisor   EVENT   jr_exec_event header, event JSON (seq order)
 *                            RESULT  jr_exec_summary header, result JSON (last frame of a job)
 *                            LOG     jr_exec_log header, text (a warning worth logging)
 *
 * The executor exits 0 when the supervisor closes its end, and dies with the supervisor
 * (PR_SET_PDEATHSIG). It ignores SIGINT, SIGTERM and SIGHUP: a terminal's Ctrl-C or
 * systemd's SIGTERM to the whole cgroup must not cut a judgement short; the supervisor
 * decides when they stop (it closes the sockets). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "jail.h"
#include "message.h"

enum jr_frame_type {
        JR_FRAME_READY = 1,
        JR_FRAME_FAILED = 2,
        JR_FRAME_JOB = 3,
        JR_FRAME_EVENT = 4,
        JR_FRAME_RESULT = 5,
        JR_FRAME_LOG = 6,
};

/* The largest frame either side accepts: a whole submission plus its headers. */
#define JR_FRAME_MAX (JR_PARSE_MAX_INPUT_DEFAULT + 65536)

/* Both ends run on the same host, from the same binary: native byte order. */
typedef struct jr_frame_header {
        uint32_t type;
        uint32_t len; /* payload bytes after this header */
} jr_frame_header;

typedef struct jr_exec_job {
        uint64_t job;          /* the supervisor's job number, echoed in replies */
        uint32_t fallback_len; /* bytes of fallback id after this header */
        uint32_t max_input;    /* the parser's input cap (0: default) */
} jr_exec_job;

typedef struct jr_exec_event {
        uint64_t job;
        uint64_t seq;
} jr_exec_event;

typedef struct jr_exec_summary {
        uint64_t job;
        uint32_t status; /* jr_status */
        uint32_t tests_run;
        uint64_t build_ms, tests_ms, total_ms, jail_ms, own_us;
        uint32_t sandbox_failures; /* jails that failed themselves (jr_judge_summary) */
        uint32_t pad;
} jr_exec_summary;

typedef struct jr_exec_log {
        uint64_t job;
        int32_t level; /* jr_log_level */
        uint32_t pad;
} jr_exec_log;

/* ---- framing ---------------------------------------------------------------------- */

/* Send one frame: the header, then the pieces in order. Blocks until everything is
 * written (the peer reads promptly; a send timeout on the socket bounds the wait).
 * EPIPE when the peer is gone (no SIGPIPE). */
int jr_frame_send(int fd, uint32_t type, const void *a, size_t a_len, const void *b, size_t b_len,
                  const void *c, size_t c_len, jr_error *e);

/* Blocking receive of one whole frame into *payload (malloc'd, NUL-terminated, free()).
 * Returns 1 with a frame, 0 on EOF at a frame boundary, < 0 on error or a truncated or
 * oversized frame. */
int jr_frame_recv(int fd, uint32_t *type, jr_buf *payload, jr_error *e);

/* Incremental reader for a non-blocking socket (the supervisor's side). */
typedef struct jr_frame_reader {
        char *buf;
        size_t len, cap, off; /* bytes buffered, capacity, start of the unread part */
        bool eof;
} jr_frame_reader;

/* Read what is available: 0 (check eof), < 0 on a read error. */
int jr_frame_reader_fill(jr_frame_reader *r, int fd, jr_error *e);
/* The next complete frame: 1 and *type, *payload, *len set (valid until the next call),
 * 0 when incomplete, < 0 when the peer sent an oversized frame. */
int jr_frame_reader_next(jr_frame_reader *r, uint32_t *type, const void **payload, size_t *len,
                         jr_error *e);
/* Give the buffer back once it grew beyond what a small frame needs. */
void jr_frame_reader_shrink(jr_frame_reader *r);
void jr_frame_reader_free(jr_frame_reader *r);

/* ---- the executor process ------------------------------------------------------------ */

typedef struct jr_executor_opts {
        int fd;                 /* the socket to the supervisor */
        unsigned slot;          /* jail slot: uid/gid JAILRUN_SLOT_UID_BASE (60000) + slot */
        const char *langs_dir;  /* NULL: jr_lang_default_dir() */
        const char *rootfs_dir; /* NULL: the judge's default */
        jr_sandbox_opts sandbox;
} jr_executor_opts;

/* The executor's whole life; returns its exit status. */
int jr_executor_main(const jr_executor_opts *o);

/* ---- spawning (supervisor side) ------------------------------------------------------- */

/* fork + execveat(exe_fd) with the child's end of a new socketpair as fd 3; argv/envp are
 * prepared by the caller. In the child, between fork and exec, only async-signal-safe
 * calls: signal mask cleared, SIGINT/SIGTERM/SIGHUP ignored, a new session (setsid: a
 * terminal's Ctrl-C reaches the supervisor only), PR_SET_PDEATHSIG(SIGKILL).
 * On success *pid and *sock (the supervisor's end, O_CLOEXEC, blocking) are set. */
int jr_executor_spawn(int exe_fd, char *const argv[], char *const envp[], pid_t *pid, int *sock,
                      jr_error *e);

/* The fd number the executor finds its socket at. */
#define JR_EXECUTOR_FD 3

/* ---- the executor's command line -------------------------------------------------------- */

/* Most executors (jail slots) one supervisor runs. */
#define JR_EXECUTOR_SLOTS_MAX 1024

/* The supervisor's options that every executor gets too (NULL: not given). */
typedef struct jr_executor_args {
        const char *langs_dir;
        const char *rootfs_dir;
        const char *cg_mode;   /* --cgroup as given */
        const char *fallbacks; /* --fallback as given */
} jr_executor_args;

/* argv of slot `slot`'s executor: jailrun serve --executor SLOT [--langs DIR]
 * [--rootfs-dir DIR] [--cgroup MODE] [--fallback LIST]. NULL when out of memory; free with
 * jr_strv_free(). */
char **jr_executor_argv(const jr_executor_args *a, unsigned slot);
/* The hidden `jailrun serve --executor SLOT ...`: parse what jr_executor_argv() built, with
 * JAILRUN_CGROUP and JAILRUN_CG_FALLBACKS under the options, and run jr_executor_main() on
 * JR_EXECUTOR_FD. Returns the exit status (2 on a bad command line or environment). */
int jr_executor_command(int argc, char **argv);
