/* jr_http: the HTTP front door of `jailrun serve` (docs/http.md), on
 * libmicrohttpd in its external-epoll mode.
 *
 * THE LOOP. The server owns no thread: jr_http_fd() is libmicrohttpd's epoll instance,
 * which goes into the supervisor's epoll set with EPOLLIN; when it is readable, or when
 * jr_http_timeout_ms() has passed, the supervisor calls jr_http_dispatch(). A request
 * that waits for a result (POST /execute, POST /v1/executions?wait=, an SSE stream with
 * nothing new to send) is suspended (MHD_suspend_connection) and costs no CPU until
 * jr_http_notify() or its deadline resumes it. Nothing here blocks but SQLite's reads
 * and writes of the local results store.
 *
 * THE REST OF THE SERVICE. The server knows no Kafka: it hands a submission to
 * ops->submit (the supervisor produces it to KAFKA_TOPIC), reads results and events
 * from the jr_store that the supervisor fills from the results and events topics, and
 * learns of news for an id when the supervisor calls jr_http_notify() after storing it.
 *
 * ENDPOINTS (http.md): POST /execute, POST /v1/executions[?wait=S], GET
 * /v1/executions/{id}, GET /v1/executions/{id}/events (SSE), GET /v1/languages,
 * GET /healthz, GET /readyz. Errors are application/problem+json naming the field;
 * /execute answers an invalid body as the Executor Service did (200, ok false, error).
 *
 * BOUNDS. Bodies: max_body each (413), and 4 x max_body (at least 64 MiB) buffered at
 * once (503); connections: max_connections; request headers must be complete within
 * header_timeout_ms and the whole request within request_timeout_ms, else the
 * connection is closed (slowloris); an SSE stream holds one event at a time and sends a
 * comment every keepalive_ms, which also finds clients that went away; own submissions
 * without a result: max_pending (429). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "http_msg.h"
#include "message.h"
#include "store.h"

#define JR_HTTP_MAX_BODY_DEFAULT        ((size_t)8 << 20)
#define JR_HTTP_MAX_PENDING_DEFAULT     1000
#define JR_HTTP_EXECUTE_WAIT_DEFAULT    (5 * 60 * 1000) /* ms */
#define JR_HTTP_MAX_WAIT_MS             (60 * 1000)     /* ?wait= cap */
#define JR_HTTP_MAX_CONNECTIONS         1024
#define JR_HTTP_HEADER_TIMEOUT_DEFAULT  (10 * 1000)
#define JR_HTTP_REQUEST_TIMEOUT_DEFAULT (60 * 1000)
#define JR_HTTP_KEEPALIVE_DEFAULT       (15 * 1000)
#define JR_HTTP_RETRY_AFTER_DEFAULT     5 /* seconds */

typedef struct jr_http jr_http;

typedef struct jr_http_ops {
        /* Produce the script message (key = id). 0: on its way; 1: not now (the
         * producer's queue is full, the broker is away): 503 with Retry-After; < 0: an
         * error (500, the message logged). */
        int (*submit)(void *opaque, const char *id, const jr_buf *script, jr_error *e);
        /* /readyz: whether submissions can be judged now; why not, when not. NULL:
         * always ready. */
        bool (*ready)(void *opaque, char *why, size_t size);
} jr_http_ops;

typedef struct jr_http_config {
        const char *addr;            /* "host:port", "[v6]:port"; host an IP address or localhost;
                                        port 0: any free port (jr_http_port) */
        const char *tokens;          /* JAILRUN_HTTP_TOKENS, comma-separated; NULL or empty: no
                                        authentication, which only a loopback address allows */
        size_t max_body;             /* 0: JR_HTTP_MAX_BODY_DEFAULT */
        size_t max_pending;          /* 0: JR_HTTP_MAX_PENDING_DEFAULT */
        uint64_t execute_wait_ms;    /* /execute's wait for its result; 0: the default */
        unsigned max_connections;    /* 0: JR_HTTP_MAX_CONNECTIONS */
        uint64_t header_timeout_ms;  /* 0: the default */
        uint64_t request_timeout_ms; /* 0: the default */
        uint64_t keepalive_ms;       /* SSE comment interval; 0: the default */
        unsigned retry_after_s;      /* 0: the default */
        uint64_t store_expire_ms;    /* how often jr_store_expire runs; 0: every minute */
        bool events_enabled;         /* false (KAFKA_EVENTS_TOPIC empty): a stream ends
                                        with the result instead of the "done" event */
        bool log_requests;           /* one JSON log line per request */
        jr_execute_opts execute;     /* /execute's translation (languages, timeouts) */
        jr_parse_options parse;      /* the runners' parse options, for Enqueue */
        const char *languages_json;  /* the body of GET /v1/languages (copied) */
} jr_http_config;

/* Requests answered, by status. */
typedef struct jr_http_stats {
        uint64_t status[6]; /* by class: [2] = 2xx ... [5] = 5xx; [0]: closed unanswered */
        uint64_t by_code[600];
        uint64_t pending;     /* own submissions without a result */
        uint64_t connections; /* open now */
        uint64_t suspended;   /* requests waiting now */
        uint64_t body_bytes;  /* request bodies buffered now */
} jr_http_stats;

/* Bind and listen. Refuses an empty token list on a non-loopback address. */
int jr_http_new(const jr_http_config *c, const jr_http_ops *ops, void *opaque, jr_store *store,
                jr_http **out, jr_error *e);
/* Answer whoever still waits (503, streams end), close every connection, free. */
void jr_http_free(jr_http *h);

/* The epoll fd to watch for EPOLLIN. */
int jr_http_fd(const jr_http *h);
/* The bound port (useful with port 0). */
unsigned jr_http_port(const jr_http *h);
/* Milliseconds until jr_http_dispatch must run even without activity on the fd; -1:
 * no deadline. */
int jr_http_timeout_ms(jr_http *h);
/* Serve what is ready, resume requests whose deadline passed, close slow connections,
 * expire the store. < 0 only when libmicrohttpd itself fails. */
int jr_http_dispatch(jr_http *h, jr_error *e);

/* The store has news for id (an event, the result): resume whoever waits for it. */
void jr_http_notify(jr_http *h, const char *id, size_t id_len);

/* Stop taking connections and answer every waiting request (503 for submissions, end
 * of stream for SSE); the loop keeps dispatching until jr_http_idle() or its own
 * deadline, then calls jr_http_free. */
void jr_http_shutdown(jr_http *h);
bool jr_http_idle(jr_http *h);

void jr_http_get_stats(const jr_http *h, jr_http_stats *out);

/* Parse "host:port" as the server does: 0 and whether it is a loopback address. */
int jr_http_parse_addr(const char *addr, void *sockaddr_storage, unsigned *len, bool *loopback,
                       jr_error *e);
