/* The HTTP front door's state, private to its two files:
 *   http.c            the daemon: setup, the loop, the ids requests wait for, suspend and
 *                     resume, the connections (the slowloris clock)
 *   http_endpoints.c  what each request gets: routing, auth, the answers, submissions,
 *                     the executions and their event streams */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define N_BUCKETS 1024 /* hash buckets of ids that someone waits for */

enum route {
        R_NONE = 0,
        R_EXECUTE,
        R_ENQUEUE,
        R_GET,
        R_EVENTS,
        R_LANGUAGES,
        R_HEALTH,
        R_READY,
};

enum wait_kind {
        W_NONE = 0,
        W_DONE, /* the result: /execute, Enqueue with ?wait= */
        W_SSE,  /* anything new for a stream */
};

/* An id that requests wait for, or an own submission whose result has not come. */
struct entry {
        struct entry *next; /* hash chain */
        char *id;
        size_t id_len;
        bool pending;
        uint64_t pending_since_ms;
        bool hold; /* being walked by jr_http_notify: not to be freed */
        struct req *waiters;
};

/* One TCP connection (libmicrohttpd's socket context): the slowloris clock. */
enum conn_phase {
        C_HEADERS, /* waiting for a request's headers (also between keep-alive requests) */
        C_BODY,    /* headers in, body coming */
        C_HANDLED, /* the request is ours: answered, waiting or streaming */
};

struct conn {
        struct conn *next, *prev;
        int fd;
        enum conn_phase phase;
        uint64_t since_ms;
        bool killed;
};

struct req {
        jr_http *h;
        struct MHD_Connection *mc;
        struct conn *conn;
        enum route route;
        char method[8];
        char *path; /* for the log */
        uint64_t start_ms;
        unsigned status; /* queued answer */
        /* the body */
        char *body;
        size_t len, cap;
        bool too_big, over_budget;
        /* the execution */
        char *xid;
        size_t xid_len;
        jr_execute_req xreq;
        uint64_t wait_ms; /* Enqueue's ?wait= */
        bool submitted;
        /* waiting */
        enum wait_kind wait;
        struct entry *entry;
        struct req *wnext, *wprev; /* the entry's waiters */
        struct req *snext, *sprev; /* every suspended request */
        bool suspended;
        uint64_t deadline_ms;
        bool deadline_hit;
        uint64_t waited_until_ms; /* W_DONE: the wait's end */
        /* SSE */
        bool streaming;
        int64_t last_seq;
        jr_buf chunk;
        size_t chunk_off;
        bool sse_end;
};

struct jr_http {
        struct MHD_Daemon *d;
        int epfd;
        unsigned port;
        jr_store *store;
        jr_http_ops ops;
        void *opaque;
        /* config */
        char **tokens; /* NULL-terminated; NULL: no auth */
        size_t max_body, max_pending, body_budget;
        uint64_t execute_wait_ms, header_timeout_ms, request_timeout_ms, keepalive_ms;
        uint64_t store_expire_ms;
        unsigned retry_after_s;
        bool events_enabled, log_requests;
        jr_execute_opts execute;
        jr_parse_options parse;
        char *languages_json;
        char **languages; /* copies behind execute/parse */
        /* state */
        struct entry *buckets[N_BUCKETS];
        struct req *suspended;
        struct conn *conns;
        bool need_run, shutting_down;
        uint64_t next_expire_ms;
        jr_http_stats stats;
};

/* ---- http.c ---- */

/* The entry of an id (created when `create`); NULL when there is none (or out of memory). */
struct entry *http_entry_get(jr_http *h, const char *id, size_t len, bool create);
/* Suspend r until jr_http_notify for its id, or deadline. false: out of memory. */
bool http_suspend(struct req *r, enum wait_kind kind, uint64_t deadline_ms);

/* ---- http_endpoints.c: the steps of libmicrohttpd's handler ---- */

/* The request's headers are in: route, method, auth, the checks of a body to come. */
enum MHD_Result http_first_call(jr_http *h, struct req *r, const char *url, const char *method);
/* A piece of the body. */
enum MHD_Result http_body_data(jr_http *h, struct req *r, const char *data, size_t n);
/* The body is complete: answer, or start waiting. */
enum MHD_Result http_last_call(jr_http *h, struct req *r);
/* After a resume (the result came, or the deadline passed). */
enum MHD_Result http_resumed(struct req *r);
