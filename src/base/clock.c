#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t jr_mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t jr_mono_us(void)
{
        return jr_mono_ns() / 1000u;
}

uint64_t jr_mono_ms(void)
{
        return jr_mono_ns() / 1000000u;
}

int64_t jr_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *jr_format_timestamp(int64_t ms, char buf[JR_TIMESTAMP_LEN])
{
        if (ms <= 0)
                ms = jr_now_ms();
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 > 9999) {
                memcpy(buf, "1970-01-01T00:00:00.000Z", JR_TIMESTAMP_LEN);
                return buf;
        }
        char tmp[96]; /* the compiler cannot know the fields are in range */
        snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        memcpy(buf, tmp, JR_TIMESTAMP_LEN - 1);
        buf[JR_TIMESTAMP_LEN - 1] = '\0';
        return buf;
}
