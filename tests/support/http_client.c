#include "http_client.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testutil.h"

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct tu_resp *r = ud;
        size_t k = sz * n;
        r->body = realloc(r->body, r->len + k + 1);
        cr_assert(r->body);
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = '\0';
        return k;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct tu_resp *r = ud;
        size_t k = sz * n;
        if (r->hlen + k < sizeof r->headers) {
                memcpy(r->headers + r->hlen, p, k);
                r->hlen += k;
                r->headers[r->hlen] = '\0';
        }
        return k;
}

/* An easy handle for url with the header list hdrs, what comes written by write_cb to
 * data, the whole transfer bounded by timeout_s. */
static CURL *easy_new(const char *url, struct curl_slist *hdrs, curl_write_callback write_cb,
                      void *data, long timeout_s)
{
        CURL *c = curl_easy_init();
        cr_assert(c, "curl_easy_init failed");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, data);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        return c;
}

CURL *tu_http_easy(unsigned port, const char *method, const char *path, const char *body,
                   size_t blen, struct curl_slist *hdrs, struct tu_resp *r, long timeout_s)
{
        char url[512];
        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
        CURL *c = easy_new(url, hdrs, body_cb, r, timeout_s);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        }
        if (!strcmp(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        return c;
}

struct tu_resp tu_http_req(unsigned port, const char *method, const char *path, const char *body,
                           const char *const *headers, long timeout_s)
{
        struct tu_resp r = {0};
        struct curl_slist *h = NULL;
        bool ct = false;
        for (size_t i = 0; headers && headers[i]; i++) {
                h = curl_slist_append(h, headers[i]);
                ct |= !strncasecmp(headers[i], "Content-Type:", 13);
        }
        if (body && !ct)
                h = curl_slist_append(h, "Content-Type: application/json");
        CURL *c = tu_http_easy(port, method, path, body, body ? strlen(body) : 0, h, &r, timeout_s);
        CURLcode rc = curl_easy_perform(c);
        cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        if (!r.body)
                r.body = strdup("");
        return r;
}

const char *tu_http_header(const struct tu_resp *r, const char *name, char *buf, size_t size)
{
        buf[0] = '\0';
        size_t n = strlen(name);
        for (const char *p = r->headers; *p;) {
                const char *eol = strstr(p, "\r\n");
                if (!eol)
                        break;
                if (!strncasecmp(p, name, n) && p[n] == ':') {
                        const char *v = p + n + 1;
                        while (*v == ' ')
                                v++;
                        snprintf(buf, size, "%.*s", (int)(eol - v), v);
                        return buf;
                }
                p = eol + 2;
        }
        return buf;
}

static size_t sse_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct tu_sse *s = ud;
        size_t k = sz * n;
        if (!s->first)
                s->first = tu_now_s();
        s->last = tu_now_s();
        if (s->len + k < sizeof s->buf) {
                memcpy(s->buf + s->len, p, k);
                s->len += k;
                s->buf[s->len] = '\0';
        }
        return k;
}

long tu_http_stream(unsigned port, const char *id, const char *last, struct tu_sse *s, char *ids,
                    size_t size, long timeout_s)
{
        char url[256], hdr[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/executions/%s/events", port, id);
        struct curl_slist *h = NULL;
        if (last) {
                snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", last);
                h = curl_slist_append(h, hdr);
        }
        CURL *c = easy_new(url, h, sse_cb, s, timeout_s);
        CURLcode rc = curl_easy_perform(c);
        cr_assert_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
        long status;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        size_t n = 0;
        ids[0] = '\0';
        for (const char *p = s->buf; (p = strstr(p, "id: ")); p += 4)
                if (p == s->buf || p[-1] == '\n')
                        n += (size_t)snprintf(ids + n, size - n, "%s%ld", n ? " " : "",
                                              strtol(p + 4, NULL, 10));
        return status;
}
