/* jr_metrics: what `jailrun serve` exposes to Prometheus (text format 0.0.4), and the
 * tiny HTTP endpoint that serves it (JAILRUN_METRICS_ADDR, off by default).
 *
 * REGISTRY. Process-global, used from ONE thread (the supervisor's loop); recording is
 * a few additions, no allocation after a label is first seen, no system call:
 *   jailrun_results_total{language,status}          counter  (jr_metrics_count_result)
 *   jailrun_latency_seconds{language} _bucket/_sum/_count   histogram, from consumption
 *                                                   to the result being spooled
 *   jailrun_jail_setup_failures_total               counter
 *   jailrun_invalid_messages_total                  counter
 *   jailrun_slots, jailrun_slots_busy               gauges
 *   jailrun_spool_pending                           gauge (records not yet acknowledged)
 *   jailrun_consumer_lag                            gauge (messages behind the high
 *                                                   watermark; absent until set)
 *   jailrun_http_requests_total{status}             counter  (the HTTP front door; absent
 *   jailrun_http_pending                            gauge     without it)
 *   jailrun_build_info{version}, jailrun_start_time_seconds
 * Label values are limited: at most JR_METRICS_MAX_LANGUAGES distinct languages (more,
 * or a name that is not [a-z0-9_+.-]{1,32}, count as "other"), statuses are those of the
 * spec (anything else is "other"). A flood of invalid messages cannot grow the output.
 *
 * ENDPOINT. jr_metrics_open() binds a listening socket and returns a server whose ONE
 * file descriptor (an epoll instance holding the listener, the clients and a timer) goes
 * into the caller's epoll set with EPOLLIN. When it is readable, jr_metrics_handle()
 * accepts, reads and answers without ever blocking: every socket is non-blocking, a
 * request is at most 4 KiB and must arrive within 5 s, at most 16 clients at a time (more
 * are closed at once), the answer is written as the socket accepts it.
 *   GET /metrics (or HEAD)  200, Content-Type: text/plain; version=0.0.4; charset=utf-8
 *   another path            404
 *   another method          405
 * Connection: close after every answer. The server never calls the registry's writers;
 * before each answer it calls the collector (jr_metrics_set_collector) so that gauges
 * can be refreshed on demand rather than on every change. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define JR_METRICS_MAX_LANGUAGES 32
#define JR_METRICS_MAX_CLIENTS   16
#define JR_METRICS_REQUEST_MAX   4096
#define JR_METRICS_TIMEOUT_MS    5000

/* ---- registry ----------------------------------------------------------------------- */

/* One result produced: status is the overall status ("OK", "WA", ..., "IE", "-"). */
void jr_metrics_count_result(const char *language, const char *status);
/* Latency of one submission, in seconds (< 0 is ignored). */
void jr_metrics_observe_latency(const char *language, double seconds);
void jr_metrics_count_jail_setup_failure(void);
void jr_metrics_count_invalid_message(void);
void jr_metrics_set_slots(unsigned total, unsigned busy);
void jr_metrics_set_spool_pending(uint64_t records);
/* < 0: unknown (the gauge is left out). */
void jr_metrics_set_consumer_lag(int64_t messages);

/* The HTTP front door (absent from the output until first set): requests answered, by
 * status code (codes 100..599; others are "other"), connections closed without an answer,
 * and own submissions waiting for a result. Cumulative values, copied. */
void jr_metrics_set_http(const uint64_t by_code[600], uint64_t unanswered, uint64_t pending);

/* Called before each scrape, from jr_metrics_handle(): refresh the gauges there. */
typedef void jr_metrics_collect_fn(void *opaque);
void jr_metrics_set_collector(jr_metrics_collect_fn *fn, void *opaque);

/* The exposition text (malloc'd, NUL-terminated, *len without the NUL). Does not call
 * the collector. */
int jr_metrics_render(char **text, size_t *len, jr_error *e);
/* Forget everything (tests). */
void jr_metrics_reset(void);

/* ---- endpoint ----------------------------------------------------------------------- */

typedef struct jr_metrics_server jr_metrics_server;

/* Split "HOST:PORT", "[V6ADDR]:PORT" or ":PORT" (host empty: every address). PORT is a
 * number 0..65535 (0: any free port). */
int jr_metrics_split_address(const char *addr, char *host, size_t host_size, char *port,
                             size_t port_size, jr_error *e);

/* Listen on addr (see jr_metrics_split_address; a host name is resolved once, now). */
int jr_metrics_open(const char *addr, jr_metrics_server **out, jr_error *e);
/* The fd to watch for EPOLLIN (owned by the server). */
int jr_metrics_fd(const jr_metrics_server *s);
/* Serve whatever is ready; never blocks. Errors on one client close that client and are
 * not reported; returns < 0 only when the server itself broke (its epoll failed). */
int jr_metrics_handle(jr_metrics_server *s, jr_error *e);
/* The bound address, "127.0.0.1:9464" or "[::]:9464" (the real port when 0 was asked). */
const char *jr_metrics_address(const jr_metrics_server *s);
/* Requests answered so far (any status). */
uint64_t jr_metrics_requests(const jr_metrics_server *s);
/* Close the listener and every client. NULL is fine. */
void jr_metrics_close(jr_metrics_server *s);
