#include "units.h"

#include "cleanup.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The value, for an error message (a NUL-terminated string). */
static const char *quote(const char *s, char buf[JR_QUOTE_BUF])
{
        return jr_quote(s, strlen(s), buf);
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* A decimal number "ddd[.ddd]" at *p: the integer part (saturating at UINT64_MAX) and
 * up to 18 fraction digits as frac/scale. Returns false when there is no digit. */
static bool number(const char **p, uint64_t *ip, uint64_t *frac, uint64_t *scale, bool *dot)
{
        const char *s = *p;
        uint64_t v = 0, f = 0, sc = 1;
        bool any = false;
        for (; is_digit(*s); s++, any = true)
                v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(*s - '0');
        *dot = *s == '.';
        if (*dot)
                for (s++; is_digit(*s); s++, any = true)
                        if (sc < 1000000000000000000ULL) {
                                f = f * 10 + (uint64_t)(*s - '0');
                                sc *= 10;
                        }
        *p = s;
        *ip = v;
        *frac = f;
        *scale = sc;
        return any;
}

static const struct {
        const char *name;
        uint64_t ns;
} duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ULL}, /* U+03BC greek mu */
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
};

int jr_parse_duration_ns(const char *s, uint64_t *out_ns, jr_error *e)
{
        char q[JR_QUOTE_BUF];
        const char *p = s;
        bool neg = false;

        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        if (*p == '\0')
                return jr_error_set(e, 0, "duration \"%s\": empty", quote(s, q));
        if (!strcmp(p, "0")) {
                *out_ns = 0;
                return 0;
        }
        unsigned __int128 total = 0;
        while (*p) {
                uint64_t ip, frac, scale;
                bool dot;
                if (!number(&p, &ip, &frac, &scale, &dot))
                        return jr_error_set(e, 0, "duration \"%s\": expected a number",
                                            quote(s, q));
                const char *u = p;
                while (*p && !is_digit(*p) && *p != '.')
                        p++;
                size_t ulen = (size_t)(p - u);
                if (ulen == 0)
                        return jr_error_set(e, 0,
                                            "duration \"%s\": missing unit (e.g. \"5s\" or "
                                            "\"500ms\")",
                                            quote(s, q));
                uint64_t unit = 0;
                for (size_t i = 0; i < JR_ARRAY_SIZE(duration_units); i++)
                        if (strlen(duration_units[i].name) == ulen &&
                            !memcmp(duration_units[i].name, u, ulen))
                                unit = duration_units[i].ns;
                if (unit == 0) {
                        char uq[JR_QUOTE_BUF];
                        return jr_error_set(
                            e, 0,
                            "duration \"%s\": unknown unit \"%s\" (valid: ns, us, "
                            "ms, s, m, h)",
                            quote(s, q),
                            jr_quote(u, ulen < JR_QUOTE_MAX ? ulen : JR_QUOTE_MAX, uq));
                }
                total += (unsigned __int128)ip * unit;
                total += (unsigned __int128)frac * unit / scale;
                if (total > INT64_MAX)
                        return jr_error_set(e, 0, "duration \"%s\": out of range", quote(s, q));
        }
        if (neg && total != 0)
                return jr_error_set(e, 0, "duration \"%s\": must not be negative", quote(s, q));
        *out_ns = (uint64_t)total;
        return 0;
}

int jr_parse_duration_ms(const char *s, uint64_t *out_ms, jr_error *e)
{
        uint64_t ns;
        int ret = jr_parse_duration_ns(s, &ns, e);
        if (ret < 0)
                return ret;
        *out_ms = ns / 1000000 + (ns % 1000000 != 0);
        return 0;
}

int jr_parse_size(const char *s, uint64_t *out_bytes, jr_error *e)
{
        char q[JR_QUOTE_BUF];
        const char *p = s;
        uint64_t ip, frac, scale;
        bool dot;

        if (!number(&p, &ip, &frac, &scale, &dot))
                return jr_error_set(e, 0, "size \"%s\": expected a number of bytes, e.g. 64M",
                                    quote(s, q));
        char unit[4] = "";
        size_t ulen = strlen(p);
        if (ulen >= sizeof unit)
                goto bad_unit;
        for (size_t i = 0; i < ulen; i++)
                unit[i] = (char)(p[i] | 0x20); /* ASCII lower case; other bytes fail below */
        unit[ulen] = '\0';
        unsigned shift;
        switch (unit[0]) {
        case '\0':
                if (dot)
                        return jr_error_set(e, 0, "size \"%s\": a fraction needs a unit",
                                            quote(s, q));
                shift = 0;
                break;
        case 'b':
                shift = 0;
                break;
        case 'k':
                shift = 10;
                break;
        case 'm':
                shift = 20;
                break;
        case 'g':
                shift = 30;
                break;
        case 't':
                shift = 40;
                break;
        default:
                goto bad_unit;
        }
        if (unit[0] != '\0' && unit[1] != '\0' &&
            !(shift > 0 && (!strcmp(unit + 1, "b") || !strcmp(unit + 1, "ib"))))
                goto bad_unit;

        unsigned __int128 v = (unsigned __int128)ip << shift;
        v += ((unsigned __int128)frac << shift) / scale;
        if (v > INT64_MAX)
                return jr_error_set(e, 0, "size \"%s\": out of range", quote(s, q));
        *out_bytes = (uint64_t)v;
        return 0;

bad_unit:
        return jr_error_set(e, 0,
                            "size \"%s\": unknown unit (valid: k, M, G, T, optionally "
                            "followed by B or iB; all are powers of 1024)",
                            quote(s, q));
}

int jr_check_range(uint64_t v, uint64_t min, uint64_t max, const char *text, jr_error *e)
{
        if (v < min)
                return jr_error_set(e, 0, "\"%s\" is below the minimum of %llu", text,
                                    (unsigned long long)min);
        if (max && v > max)
                return jr_error_set(e, 0, "\"%s\" is above the maximum of %llu", text,
                                    (unsigned long long)max);
        return 0;
}

int jr_parse_uint(const char *s, uint64_t max, uint64_t *out, jr_error *e)
{
        char q[JR_QUOTE_BUF];
        uint64_t v = 0;
        const char *p = s;

        if (!is_digit(*p))
                return jr_error_set(e, 0, "number \"%s\": expected a non-negative integer",
                                    quote(s, q));
        for (; is_digit(*p); p++) {
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return jr_error_set(e, 0,
                                            "number \"%s\": out of range (at most %" PRIu64 ")",
                                            quote(s, q), max);
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (*p)
                return jr_error_set(e, 0, "number \"%s\": expected a non-negative integer",
                                    quote(s, q));
        if (v > max)
                return jr_error_set(e, 0, "number \"%s\": out of range (at most %" PRIu64 ")",
                                    quote(s, q), max);
        *out = v;
        return 0;
}

int jr_parse_cpus(const char *s, uint64_t *out_nano, jr_error *e)
{
        char q[JR_QUOTE_BUF];
        uint64_t whole = 0, frac = 0;
        unsigned frac_digits = 0;
        const char *p = s;

        if (!is_digit(*p) && !(*p == '.' && is_digit(p[1])))
                return jr_error_set(e, 0, "CPUs \"%s\": expected a decimal number (0.5, 2)",
                                    quote(s, q));
        for (; is_digit(*p); p++) {
                whole = whole * 10 + (uint64_t)(*p - '0');
                if (whole > JR_CPUS_PARSE_MAX)
                        return jr_error_set(e, 0, "CPUs \"%s\": out of range (at most %u)",
                                            quote(s, q), (unsigned)JR_CPUS_PARSE_MAX);
        }
        if (*p == '.') {
                for (p++; is_digit(*p); p++) {
                        if (++frac_digits > 9)
                                return jr_error_set(e, 0,
                                                    "CPUs \"%s\": more than 9 decimals (the unit "
                                                    "is a billionth of a CPU)",
                                                    quote(s, q));
                        frac = frac * 10 + (uint64_t)(*p - '0');
                }
        }
        if (*p)
                return jr_error_set(e, 0, "CPUs \"%s\": expected a decimal number (0.5, 2)",
                                    quote(s, q));
        for (; frac_digits < 9; frac_digits++)
                frac *= 10;
        *out_nano = whole * 1000000000ull + frac;
        return 0;
}

char *jr_format_size(uint64_t bytes, char *buf, size_t n)
{
        static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        unsigned i = 0;
        while (i + 1 < JR_ARRAY_SIZE(names) && bytes >= (1ULL << (10 * (i + 1))))
                i++;
        if (n == 0)
                return buf;
        uint64_t unit = 1ULL << (10 * i);
        uint64_t whole = bytes / unit;
        /* one decimal, rounded down so that "1.9 GiB" never claims 2 */
        uint64_t tenth = (uint64_t)(((unsigned __int128)(bytes % unit) * 10) / unit);
        if (tenth == 0)
                snprintf(buf, n, "%" PRIu64 " %s", whole, names[i]);
        else
                snprintf(buf, n, "%" PRIu64 ".%" PRIu64 " %s", whole, tenth, names[i]);
        return buf;
}

char *jr_format_duration_ms(uint64_t ms, char *buf, size_t n)
{
        if (n == 0)
                return buf;
        if (ms < 1000) {
                snprintf(buf, n, "%" PRIu64 "%s", ms, ms ? "ms" : "s");
                return buf;
        }
        uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
        char sec[32];
        if (frac == 0) {
                snprintf(sec, sizeof sec, "%" PRIu64 "s", s);
        } else {
                int digits = 3;
                while (frac % 10 == 0) {
                        frac /= 10;
                        digits--;
                }
                snprintf(sec, sizeof sec, "%" PRIu64 ".%0*" PRIu64 "s", s, digits, frac);
        }
        if (h)
                snprintf(buf, n, "%" PRIu64 "h%" PRIu64 "m%s", h, m, sec);
        else if (m)
                snprintf(buf, n, "%" PRIu64 "m%s", m, sec);
        else
                snprintf(buf, n, "%s", sec);
        return buf;
}
