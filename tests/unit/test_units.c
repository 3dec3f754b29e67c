/* Durations, sizes and counts from environment variables and CLI options. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "units.h"
#include "testutil.h"

static uint64_t ms(const char *s)
{
        jr_error e = {0};
        uint64_t v = 12345;
        cr_assert_eq(jr_parse_duration_ms(s, &v, &e), 0, "%s: %s", s, e.msg);
        return v;
}

static uint64_t ns(const char *s)
{
        jr_error e = {0};
        uint64_t v = 12345;
        cr_assert_eq(jr_parse_duration_ns(s, &v, &e), 0, "%s: %s", s, e.msg);
        return v;
}

static void bad_duration(const char *s, const char *msg)
{
        jr_error e = {0};
        uint64_t v = 777;
        cr_assert_lt(jr_parse_duration_ms(s, &v, &e), 0, "%s accepted", s);
        cr_assert_eq(v, 777, "out-param changed on failure");
        cr_assert(strstr(e.msg, msg), "%s: message \"%s\" lacks \"%s\"", s, e.msg, msg);
}

Test(units, durations_like_go)
{
        cr_assert_eq(ms("0"), 0);
        cr_assert_eq(ms("+0"), 0);
        cr_assert_eq(ms("-0"), 0);
        cr_assert_eq(ms("500ms"), 500);
        cr_assert_eq(ms("5s"), 5000);
        cr_assert_eq(ms("2m30s"), 150000);
        cr_assert_eq(ms("1h"), 3600000);
        cr_assert_eq(ms("1.5s"), 1500);
        cr_assert_eq(ms(".5s"), 500);
        cr_assert_eq(ms("5.s"), 5000);
        cr_assert_eq(ms("1h2m3s4ms"), 3723004);
        cr_assert_eq(ms("0s"), 0);
        cr_assert_eq(ms("0.000s"), 0);
        cr_assert_eq(ns("1ns"), 1);
        cr_assert_eq(ns("3us"), 3000);
        cr_assert_eq(ns("3\xc2\xb5s"), 3000);
        cr_assert_eq(ns("3\xce\xbcs"), 3000);
        cr_assert_eq(ns("1.000000001s"), 1000000001);
        cr_assert_eq(ns("1.0000000019s"), 1000000001); /* extra digits truncate */
        cr_assert_eq(ns("2562047h47m16.854775807s"), INT64_MAX);
        /* sub-millisecond values round up so a limit never silently becomes "default" */
        cr_assert_eq(ms("1us"), 1);
        cr_assert_eq(ms("1500us"), 2);
        cr_assert_eq(ms("1ns"), 1);
}

Test(units, bad_durations_name_the_value)
{
        bad_duration("", "duration \"\": empty");
        bad_duration("5", "duration \"5\": missing unit");
        bad_duration("00", "missing unit");
        bad_duration("5x", "duration \"5x\": unknown unit \"x\"");
        bad_duration("5 s", "unknown unit \" s\"");
        bad_duration("s", "expected a number");
        bad_duration(".s", "expected a number");
        bad_duration("-5s", "must not be negative");
        bad_duration("5s-", "unknown unit \"s-\"");
        bad_duration("2562047h47m16.854775808s", "out of range");
        bad_duration("99999999999999999999999h", "out of range");
        bad_duration("1e3s", "unknown unit \"e\"");
        bad_duration("5\"\x01s", "duration \"5\\x22\\x01s\"");
}

static uint64_t size(const char *s)
{
        jr_error e = {0};
        uint64_t v = 12345;
        cr_assert_eq(jr_parse_size(s, &v, &e), 0, "%s: %s", s, e.msg);
        return v;
}

static void bad_size(const char *s, const char *msg)
{
        jr_error e = {0};
        uint64_t v = 777;
        cr_assert_lt(jr_parse_size(s, &v, &e), 0, "%s accepted", s);
        cr_assert_eq(v, 777);
        cr_assert(strstr(e.msg, msg), "%s: message \"%s\" lacks \"%s\"", s, e.msg, msg);
}

Test(units, sizes)
{
        cr_assert_eq(size("0"), 0);
        cr_assert_eq(size("67108864"), 67108864);
        cr_assert_eq(size("64M"), 67108864);
        cr_assert_eq(size("64m"), 67108864);
        cr_assert_eq(size("64MiB"), 67108864);
        cr_assert_eq(size("64MB"), 67108864);
        cr_assert_eq(size("64mib"), 67108864);
        cr_assert_eq(size("1G"), 1073741824);
        cr_assert_eq(size("512k"), 524288);
        cr_assert_eq(size("512K"), 524288);
        cr_assert_eq(size("2T"), 2ULL << 40);
        cr_assert_eq(size("100b"), 100);
        cr_assert_eq(size("100B"), 100);
        cr_assert_eq(size("1.5k"), 1536);
        cr_assert_eq(size("0.5G"), 536870912);
        cr_assert_eq(size("9223372036854775807"), INT64_MAX);
}

Test(units, bad_sizes)
{
        bad_size("", "size \"\": expected a number");
        bad_size("M", "expected a number");
        bad_size("-1", "size \"-1\"");
        bad_size("64X", "size \"64X\": unknown unit");
        bad_size("64 M", "unknown unit");
        bad_size("64Mi", "unknown unit");
        bad_size("64bb", "unknown unit");
        bad_size("64kibx", "unknown unit");
        bad_size("1.5", "a fraction needs a unit");
        bad_size("9223372036854775808", "out of range");
        bad_size("8388608T", "out of range");
        bad_size("99999999999999999999999", "out of range");
}

Test(units, uints)
{
        jr_error e = {0};
        uint64_t v = 9;
        ASSERT_OK(jr_parse_uint("0", 10, &v, &e), e);
        cr_assert_eq(v, 0);
        ASSERT_OK(jr_parse_uint("10", 10, &v, &e), e);
        cr_assert_eq(v, 10);
        cr_assert_lt(jr_parse_uint("11", 10, &v, &e), 0);
        cr_assert(strstr(e.msg, "number \"11\": out of range (at most 10)"), "%s", e.msg);
        cr_assert_lt(jr_parse_uint("", 10, &v, &e), 0);
        cr_assert_lt(jr_parse_uint("1x", 10, &v, &e), 0);
        cr_assert(strstr(e.msg, "number \"1x\""), "%s", e.msg);
        cr_assert_lt(jr_parse_uint("-1", 10, &v, &e), 0);
        cr_assert_lt(jr_parse_uint(" 1", 10, &v, &e), 0);
        cr_assert_lt(jr_parse_uint("184467440737095516160", UINT64_MAX, &v, &e), 0);
        ASSERT_OK(jr_parse_uint("18446744073709551615", UINT64_MAX, &v, &e), e);
        cr_assert_eq(v, UINT64_MAX);
}

static uint64_t cpus(const char *s)
{
        jr_error e = {0};
        uint64_t v = 12345;
        cr_assert_eq(jr_parse_cpus(s, &v, &e), 0, "%s: %s", s, e.msg);
        return v;
}

Test(units, cpus_in_nano_cpus)
{
        cr_assert_eq(cpus("0"), 0);
        cr_assert_eq(cpus("0.5"), 500000000);
        cr_assert_eq(cpus(".5"), 500000000);
        cr_assert_eq(cpus("2"), 2000000000);
        cr_assert_eq(cpus("2."), 2000000000);
        cr_assert_eq(cpus("1.25"), 1250000000);
        cr_assert_eq(cpus("0.000000001"), 1);
        cr_assert_eq(cpus("1000000"), 1000000ull * 1000000000ull);
        static const char *const bad[][2] = {
            {"", "expected a decimal number"},
            {"-1", "expected a decimal number"},
            {"1e9", "expected a decimal number"},
            {" 1", "expected a decimal number"},
            {"0.5 ", "expected a decimal number"},
            {"half", "CPUs \"half\": expected a decimal number (0.5, 2)"},
            {".", "expected a decimal number"},
            {"0.0000000001", "more than 9 decimals"},
            {"1000001", "out of range (at most 1000000)"},
            {"99999999999999999999999", "out of range"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                jr_error e = {0};
                uint64_t v = 777;
                cr_assert_lt(jr_parse_cpus(bad[i][0], &v, &e), 0, "%s accepted", bad[i][0]);
                cr_assert_eq(v, 777, "out-param changed on failure");
                cr_assert(strstr(e.msg, bad[i][1]), "%s: \"%s\" lacks \"%s\"", bad[i][0], e.msg,
                          bad[i][1]);
        }
}

Test(units, long_values_are_cut_in_messages)
{
        char big[4096];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        jr_error e = {0};
        uint64_t v;
        cr_assert_lt(jr_parse_size(big, &v, &e), 0);
        cr_assert(strstr(e.msg, "xxx...\""), "%s", e.msg);
        cr_assert_lt(strlen(e.msg), 300);
}

Test(units, formatting)
{
        char b[32];
        cr_assert_str_eq(jr_format_size(0, b, sizeof b), "0 B");
        cr_assert_str_eq(jr_format_size(512, b, sizeof b), "512 B");
        cr_assert_str_eq(jr_format_size(1024, b, sizeof b), "1 KiB");
        cr_assert_str_eq(jr_format_size(67108864, b, sizeof b), "64 MiB");
        cr_assert_str_eq(jr_format_size(1610612736, b, sizeof b), "1.5 GiB");
        cr_assert_str_eq(jr_format_size(2147483647, b, sizeof b), "1.9 GiB");
        cr_assert_str_eq(jr_format_size(UINT64_MAX, b, sizeof b), "15.9 EiB");
        cr_assert_str_eq(jr_format_duration_ms(0, b, sizeof b), "0s");
        cr_assert_str_eq(jr_format_duration_ms(500, b, sizeof b), "500ms");
        cr_assert_str_eq(jr_format_duration_ms(1500, b, sizeof b), "1.5s");
        cr_assert_str_eq(jr_format_duration_ms(1001, b, sizeof b), "1.001s");
        cr_assert_str_eq(jr_format_duration_ms(150000, b, sizeof b), "2m30s");
        cr_assert_str_eq(jr_format_duration_ms(3600000, b, sizeof b), "1h0m0s");
        cr_assert_str_eq(jr_format_duration_ms(3605000, b, sizeof b), "1h0m5s");
        /* what is printed parses back */
        uint64_t v;
        jr_error e;
        ASSERT_OK(jr_parse_duration_ms(jr_format_duration_ms(3723004, b, sizeof b), &v, &e), e);
        cr_assert_eq(v, 3723004);
        char tiny[4];
        cr_assert_str_eq(jr_format_size(67108864, tiny, sizeof tiny), "64 ");
}
