/* The clocks jailrun reads: the monotonic clock for every duration and deadline, the
 * real-time clock only for the timestamps that messages and logs carry. */
#pragma once

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds, microseconds and milliseconds. */
uint64_t jr_mono_ns(void);
uint64_t jr_mono_us(void);
uint64_t jr_mono_ms(void);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t jr_now_ms(void);

#define JR_TIMESTAMP_LEN sizeof("2026-01-15T10:30:00.123Z")

/* RFC 3339 UTC with milliseconds, e.g. "2026-01-15T10:30:00.123Z"; ms since the
 * epoch, 0 = now. Returns buf. */
char *jr_format_timestamp(int64_t ms, char buf[JR_TIMESTAMP_LEN]);
