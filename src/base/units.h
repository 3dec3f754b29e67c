/* Parsers for the small values found in environment variables and CLI options:
 * durations ("500ms", "2m30s"), byte sizes ("64MiB") and plain counts.
 *
 * Every parser takes a NUL-terminated string, accepts no surrounding white space,
 * returns 0 and sets *out on success, and on failure returns -1, leaves *out untouched
 * and fills e with a message that quotes the value, e.g.
 *   duration "5x": unknown unit "x" (valid: ns, us, ms, s, m, h)
 * The caller adds the variable's name: jr_error_wrap(e, "RUNNER_TIME_LIMIT"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A duration in the syntax of Go's time.ParseDuration, which the reference worker
 * used for RUNNER_TIME_LIMIT: one or more <decimal number><unit> components with
 * units ns, us (also µs/μs), ms, s, m, h; fractions allowed ("1.5s", ".5h"); an
 * optional leading '+'. Plain "0" is the only number accepted without a unit: a bare
 * "5" is rejected rather than guessed (5 s? 5 ms?). Negative durations are rejected.
 * The result is at most INT64_MAX nanoseconds (about 292 years). */
int jr_parse_duration_ns(const char *s, uint64_t *out_ns, jr_error *e);

/* jr_parse_duration_ns in milliseconds, rounded up so that a non-zero duration never
 * becomes 0 (which means "host default" for a limit): "1us" -> 1, "1500us" -> 2. */
int jr_parse_duration_ms(const char *s, uint64_t *out_ms, jr_error *e);

/* A byte count: a plain number of bytes ("67108864") or a decimal number followed by a
 * unit, case-insensitive: b; k, kb, kib; m, mb, mib; g, gb, gib; t, tb, tib. Every
 * unit is binary (k = 1024), as for `docker --memory` and the kernel's memory.max:
 * "64M", "64MB" and "64MiB" are all 67108864. Fractions are allowed with a unit and
 * rounded down to a whole byte ("1.5k" = 1536). At most INT64_MAX. */
int jr_parse_size(const char *s, uint64_t *out_bytes, jr_error *e);

/* A plain non-negative decimal integer (digits only) no greater than max, e.g.
 * RUNNER_MAX_PARALLEL or SCRIPT_EXPECTED. */
int jr_parse_uint(const char *s, uint64_t max, uint64_t *out, jr_error *e);

/* A number of CPUs, as a decimal ("0.5", "2", "1.25", ".5"; no sign, no exponent, at
 * most 9 decimals, at most JR_CPUS_PARSE_MAX), in billionths of a CPU (Docker's
 * NanoCPUs: 1000000000 is one CPU): "0.5" -> 500000000. "0" is 0. */
#define JR_CPUS_PARSE_MAX 1000000u
int jr_parse_cpus(const char *s, uint64_t *out_nano, jr_error *e);

/* v within [min, max] (max 0: no upper bound); the message quotes text, the value as it
 * was written: "0" is below the minimum of 1. */
int jr_check_range(uint64_t v, uint64_t min, uint64_t max, const char *text, jr_error *e);

/* Human-readable renderings for logs and listings: "0 B", "512 B", "64 MiB",
 * "1.5 GiB" (one decimal when not whole); and "0s", "500ms", "2m30s", "1h0m5s",
 * "1.5s" (Go's Duration.String style, whole milliseconds). Always NUL-terminate when
 * n > 0 (truncating if buf is too small); return buf. */
char *jr_format_size(uint64_t bytes, char *buf, size_t n);
char *jr_format_duration_ms(uint64_t ms, char *buf, size_t n);
