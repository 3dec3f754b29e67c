/* The HTTP tests' client (test_http*, against a front door on 127.0.0.1): libcurl
 * requests with their status, headers and body, and Server-Sent Event streams. */
#pragma once

#include <curl/curl.h>
#include <stddef.h>

/* An answer: the status, the body (NUL-terminated, malloc'd: the caller frees it) and
 * the header lines (cut at 4 KiB). */
struct tu_resp {
        long status;
        char *body;
        size_t len;
        char headers[4096];
        size_t hlen;
};

/* An easy handle for `method` http://127.0.0.1:<port><path> with `blen` bytes of body
 * (NULL: none) and the header list `hdrs` (the caller keeps both until the transfer is
 * over), its answer into *r, a bound of timeout_s on the whole transfer: to perform alone
 * or in a multi handle. HEAD asks for no body. */
CURL *tu_http_easy(unsigned port, const char *method, const char *path, const char *body,
                   size_t blen, struct curl_slist *hdrs, struct tu_resp *r, long timeout_s);

/* One request, performed: `headers` as "Name: value" (NULL-terminated, or NULL), and
 * "Content-Type: application/json" when there is a body and they name no Content-Type.
 * The test fails when the transfer fails; the body is "" when there is none. */
struct tu_resp tu_http_req(unsigned port, const char *method, const char *path, const char *body,
                           const char *const *headers, long timeout_s);

/* A header's value in an answer ("" when absent; the name is case-insensitive), in buf. */
const char *tu_http_header(const struct tu_resp *r, const char *name, char *buf, size_t size);

/* An event stream as it came: its bytes (cut at 64 KiB) and when (tu_now_s) its first
 * and its last bytes came. */
struct tu_sse {
        char buf[1 << 16];
        size_t len;
        double first, last;
};

/* GET /v1/executions/<id>/events until the server ends it, with Last-Event-ID: `last`
 * (NULL: none), into *s; the numbers of its "id: N" lines, space-separated, into ids.
 * The test fails when the transfer fails; returns the status. */
long tu_http_stream(unsigned port, const char *id, const char *last, struct tu_sse *s, char *ids,
                    size_t size, long timeout_s);
