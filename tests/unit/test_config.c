/* The config file: syntax, checks, export into the environment, sources, and the host
 * caps it feeds into the judge. Each criterion test runs in its own process, so the
 * environment changes stay there. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "judge.h"
#include "units.h"
#include "testutil.h"

static char *write_conf(const char *text)
{
        static char path[64];
        snprintf(path, sizeof path, "/tmp/jr-test-config-%d-XXXXXX", (int)getpid());
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        return path;
}

static void load_ok(const char *text)
{
        char *path = write_conf(text);
        jr_error e = {0};
        int r = jr_config_load(path, &e);
        unlink(path);
        cr_assert_eq(r, 0, "load: %s", e.msg);
}

static void load_fails(const char *text, const char *want)
{
        char *path = write_conf(text);
        jr_error e = {0};
        int r = jr_config_load(path, &e);
        unlink(path);
        cr_assert_lt(r, 0, "accepted:\n%s", text);
        cr_assert(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
        cr_assert(strstr(e.msg, "/tmp/jr-test-config-"), "message \"%s\" lacks the file", e.msg);
}

static size_t index_of(const char *name)
{
        const jr_config_key *k = jr_config_find(name);
        cr_assert(k, "%s not a key", name);
        return (size_t)(k - jr_config_keys);
}

static void clear_keys(void)
{
        for (size_t i = 0; i < jr_config_n_keys; i++)
                unsetenv(jr_config_keys[i].name);
        unsetenv("JAILRUN_CONFIG");
}

Test(config, exports_the_file_into_the_environment)
{
        clear_keys();
        load_ok("# a comment\n"
                "\n"
                "KAFKA_BROKERS = k1:9092,k2:9092\n"
                "  RUNNER_MAX_PARALLEL=4   # one per core\n"
                "RUNNER_TIME_LIMIT = 1500ms\n"
                "KAFKA_EVENTS_TOPIC =\n"
                "JAILRUN_KAFKA_CONFIG = \"a=1; b=x # y\"\n"
                "JAILRUN_ROOTFS_DIR = '/srv/trees' # quoted literally\n"
                "KAFKA_TOPIC = a#b\n"
                "KAFKA_GROUP_ID =    # empty, and a comment\n");
        cr_assert_str_eq(getenv("KAFKA_BROKERS"), "k1:9092,k2:9092");
        cr_assert_str_eq(getenv("RUNNER_MAX_PARALLEL"), "4");
        cr_assert_str_eq(getenv("RUNNER_TIME_LIMIT"), "1500ms");
        cr_assert_str_eq(getenv("KAFKA_EVENTS_TOPIC"), "", "an empty value is exported empty");
        cr_assert_str_eq(getenv("JAILRUN_KAFKA_CONFIG"), "a=1; b=x # y");
        cr_assert_str_eq(getenv("JAILRUN_ROOTFS_DIR"), "/srv/trees");
        cr_assert_str_eq(getenv("KAFKA_TOPIC"), "a#b", "'#' without white space before it");
        cr_assert_str_eq(getenv("KAFKA_GROUP_ID"), "");

        jr_config_entry en;
        jr_config_get(index_of("RUNNER_MAX_PARALLEL"), &en);
        cr_assert_eq(en.source, JR_CONFIG_SRC_FILE);
        cr_assert_eq(en.file_line, 4);
        jr_config_get(index_of("KAFKA_RESULTS_TOPIC"), &en);
        cr_assert_eq(en.source, JR_CONFIG_SRC_DEFAULT);
        cr_assert_str_eq(en.value, "script-results");
        cr_assert(strstr(jr_config_path(), "/tmp/jr-test-config-"));
}

Test(config, environment_overrides_the_file)
{
        clear_keys();
        setenv("RUNNER_MAX_PARALLEL", "2", 1);
        load_ok("KAFKA_TOPIC = subs\nRUNNER_MAX_PARALLEL = 8\n");
        cr_assert_str_eq(getenv("RUNNER_MAX_PARALLEL"), "2");
        jr_config_entry en;
        jr_config_get(index_of("RUNNER_MAX_PARALLEL"), &en);
        cr_assert_eq(en.source, JR_CONFIG_SRC_ENV);
        cr_assert_str_eq(en.value, "2");
        cr_assert_eq(en.file_line, 2, "the overridden line is remembered");
        jr_config_get(index_of("KAFKA_TOPIC"), &en);
        cr_assert_eq(en.source, JR_CONFIG_SRC_FILE);
}

Test(config, unknown_keys_and_bad_syntax_name_the_line)
{
        clear_keys();
        load_fails("KAFKA_TOPIC = a\n\nKAFKA_TOPICS = b\n", ":3: unknown key \"KAFKA_TOPICS\"");
        load_fails("kafka_topic = a\n", ":1: \"kafka_topic\" is not a key");
        load_fails("# ok\nKAFKA_TOPIC\n", ":2: expected KEY = value");
        load_fails("KAFKA_TOPIC = a\nKAFKA_TOPIC = b\n", ":2: KAFKA_TOPIC: already set on line 1");
        load_fails("JAILRUN_KAFKA_CONFIG = \"abc\n", ":1: JAILRUN_KAFKA_CONFIG: unterminated");
        load_fails("JAILRUN_KAFKA_CONFIG = \"abc\" x\n", "text after the closing quote");
        load_fails("JAILRUN_KAFKA_CONFIG = a\"b\n", "quote inside a value");
        load_fails("JAILRUN_KAFKA_CONFIG = \"a\\nb\"\n", "unknown escape");
        cr_assert_null(getenv("KAFKA_TOPIC"), "nothing is exported from a broken file");
}

Test(config, values_are_checked_with_the_key_and_line)
{
        clear_keys();
        load_fails("RUNNER_TIME_LIMIT = 5x\n", ":1: RUNNER_TIME_LIMIT: duration \"5x\"");
        load_fails("\nRUNNER_MEMORY_LIMIT = lots\n", ":2: RUNNER_MEMORY_LIMIT:");
        /* RUNNER_MAX_PARALLEL = 0 is valid: an HTTP front door that judges nothing */
        load_fails("JAILRUN_HTTP_MAX_BODY = 10\n",
                   "JAILRUN_HTTP_MAX_BODY: \"10\" is below the minimum of 1024");
        load_fails("RUNNER_MAX_PARALLEL = 5000\n", "above the maximum of 1024");
        load_fails("RUNNER_MAX_PARALLEL = -1\n", "RUNNER_MAX_PARALLEL:");
        load_fails("JAILRUN_CGROUP = v3\n", "JAILRUN_CGROUP: \"v3\" is not one of auto|v1|v2");
        load_fails("JAILRUN_ROOTFS_DIR = trees\n", "not an absolute path");
        load_fails("JAILRUN_METRICS_ADDR = 9464\n", "JAILRUN_METRICS_ADDR: address \"9464\"");
        load_fails("JAILRUN_METRICS_ADDR = :99999\n", "port \"99999\"");
        load_fails("JAILRUN_CG_FALLBACKS = memory-peek\n", "unknown fallback \"memory-peek\"");
        load_fails("KAFKA_TOPIC = a b\n", "white space");
        load_fails("JAILRUN_MAX_MESSAGE_SIZE = 1k\n", "below the minimum");
        load_fails("JAILRUN_LOG_LEVEL = loud\n", "JAILRUN_LOG_LEVEL");
}

Test(config, explicit_file_must_exist)
{
        clear_keys();
        jr_error e = {0};
        cr_assert_lt(jr_config_load("/nonexistent/jailrun.conf", &e), 0);
        cr_assert(strstr(e.msg, "\"/nonexistent/jailrun.conf\""), "%s", e.msg);
        cr_assert_eq(e.err, ENOENT);
        setenv("JAILRUN_CONFIG", "/nonexistent/x.conf", 1);
        cr_assert_lt(jr_config_load(NULL, &e), 0, "$JAILRUN_CONFIG is explicit too");
}

Test(config, a_second_load_replaces_the_first)
{
        clear_keys();
        load_ok("KAFKA_TOPIC = one\nKAFKA_GROUP_ID = g\n");
        load_ok("KAFKA_TOPIC = two\n");
        cr_assert_str_eq(getenv("KAFKA_TOPIC"), "two");
        cr_assert_null(getenv("KAFKA_GROUP_ID"), "the first file's export is gone");
}

Test(config, main_hook_takes_config_off_argv)
{
        clear_keys();
        char *path = write_conf("KAFKA_TOPIC = from-main\n");
        char *argv[] = {"jailrun", "--config", path, "run", "x.json", NULL};
        int argc = 5;
        char **av = argv;
        jr_error e = {0};
        ASSERT_OK(jr_config_load_for_main(&argc, &av, &e), e);
        cr_assert_eq(argc, 3);
        cr_assert_str_eq(av[0], "jailrun");
        cr_assert_str_eq(av[1], "run");
        cr_assert_str_eq(av[2], "x.json");
        cr_assert_str_eq(getenv("KAFKA_TOPIC"), "from-main");
        cr_assert_str_eq(getenv("JAILRUN_CONFIG"), path, "children read the same file");
        cr_assert_str_eq(jr_config_main_path(), path);
        unlink(path);
}

Test(config, main_hook_leaves_config_and_doctor_alone)
{
        clear_keys();
        char *path = write_conf("NOT_A_KEY = 1\n");
        char *argv[] = {"jailrun", "--config", path, "config", NULL};
        int argc = 4;
        char **av = argv;
        jr_error e = {0};
        cr_assert_eq(jr_config_load_for_main(&argc, &av, &e), 0, "config reports errors itself");
        cr_assert_str_eq(av[1], "config");
        char *argv2[] = {"jailrun", "--config", path, "exec", NULL};
        argc = 4;
        av = argv2;
        cr_assert_lt(jr_config_load_for_main(&argc, &av, &e), 0);
        cr_assert(strstr(e.msg, "unknown key \"NOT_A_KEY\""), "%s", e.msg);
        unlink(path);
}

Test(config, every_default_is_valid)
{
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                const jr_config_key *k = &jr_config_keys[i];
                jr_error e = {0};
                cr_assert_eq(jr_config_check_value(k, k->dflt, &e), 0, "%s default: %s", k->name,
                             e.msg);
                cr_assert(k->help && *k->help, "%s has no help", k->name);
        }
}

static uint64_t size_of(const char *key)
{
        uint64_t v = 0;
        jr_error e = {0};
        ASSERT_OK(jr_parse_size(jr_config_find(key)->dflt, &v, &e), e);
        return v;
}

static uint64_t ms_of(const char *key)
{
        uint64_t v = 0;
        jr_error e = {0};
        const char *d = jr_config_find(key)->dflt;
        if (jr_parse_duration_ms(d, &v, &e) < 0)
                ASSERT_OK(jr_parse_uint(d, UINT64_MAX, &v, &e), e);
        return v;
}

Test(config, defaults_shown_are_the_judges)
{
        jr_judge_limits l;
        jr_judge_limits_default(&l);
        cr_assert_eq(ms_of("RUNNER_TIME_LIMIT"), l.default_time_ms);
        cr_assert_eq(size_of("RUNNER_MEMORY_LIMIT"), l.default_memory_bytes);
        cr_assert_eq(size_of("JAILRUN_MAX_MEMORY"), l.max_memory_bytes);
        cr_assert_eq(ms_of("JAILRUN_MAX_TOTAL_MS"), l.max_total_ms);
        cr_assert_eq(ms_of("JAILRUN_MAX_TEST_WALL"), l.max_test_wall_ms);
        cr_assert_eq(ms_of("JAILRUN_WALL_MARGIN"), l.wall_margin_ms);
        cr_assert_eq(size_of("JAILRUN_OUTPUT_LIMIT"), l.output_limit_bytes);
        cr_assert_eq(size_of("JAILRUN_MAX_MESSAGE_SIZE"), l.max_message_bytes);
}

Test(config, host_caps_reach_the_judge)
{
        clear_keys();
        load_ok("JAILRUN_MAX_MEMORY = 128M\n"
                "JAILRUN_MAX_TEST_WALL = 5s\n"
                "JAILRUN_WALL_MARGIN = 0\n"
                "JAILRUN_OUTPUT_LIMIT = 1M\n"
                "JAILRUN_MAX_MESSAGE_SIZE = 1MiB\n"
                "JAILRUN_MAX_TOTAL_MS = 60000\n");
        jr_judge_limits l;
        jr_judge_limits_default(&l);
        jr_error e = {0};
        ASSERT_OK(jr_judge_limits_from_env(&l, &e), e);
        cr_assert_eq(l.max_memory_bytes, 128u << 20);
        cr_assert_eq(l.default_memory_bytes, 128u << 20, "the default follows a lower cap");
        cr_assert_eq(l.max_test_wall_ms, 5000);
        cr_assert_eq(l.wall_margin_ms, 0, "0 is a margin, not the default");
        cr_assert_eq(l.output_limit_bytes, 1u << 20);
        cr_assert_eq(l.max_message_bytes, 1u << 20);
        cr_assert_eq(l.max_total_ms, 60000);

        /* RUNNER_MEMORY_LIMIT is checked against the configured cap */
        setenv("RUNNER_MEMORY_LIMIT", "200M", 1);
        jr_judge_limits_default(&l);
        cr_assert_lt(jr_judge_limits_from_env(&l, &e), 0);
        cr_assert(strstr(e.msg, "RUNNER_MEMORY_LIMIT"), "%s", e.msg);
        cr_assert_lt(jr_config_check_env(&e), 0, "config check sees it too");

        /* a message cap the results could not fit in */
        unsetenv("RUNNER_MEMORY_LIMIT");
        setenv("JAILRUN_MAX_MESSAGE_SIZE", "1k", 1);
        jr_judge_limits_default(&l);
        cr_assert_lt(jr_judge_limits_from_env(&l, &e), 0);
        cr_assert(strstr(e.msg, "JAILRUN_MAX_MESSAGE_SIZE"), "%s", e.msg);
}

Test(config, cpu_bandwidth_reaches_the_judge)
{
        clear_keys();
        jr_judge_limits l;
        jr_error e = {0};
        jr_judge_limits_default(&l);
        ASSERT_OK(jr_judge_limits_from_env(&l, &e), e);
        cr_assert_eq(l.nano_cpus, 0, "no limit by default");

        /* the Executor Service's name, in nano-CPUs */
        load_ok("EXECUTOR_NANO_CPUS = 500000000\n");
        jr_judge_limits_default(&l);
        ASSERT_OK(jr_judge_limits_from_env(&l, &e), e);
        cr_assert_eq(l.nano_cpus, 500000000);
        /* jailrun's, in CPUs, wins */
        load_ok("EXECUTOR_NANO_CPUS = 500000000\nJAILRUN_CPUS = 1.5\n");
        jr_judge_limits_default(&l);
        ASSERT_OK(jr_judge_limits_from_env(&l, &e), e);
        cr_assert_eq(l.nano_cpus, 1500000000);
        ASSERT_OK(jr_config_check_env(&e), e);

        /* out of range, in the file and in the environment */
        clear_keys();
        char *path = write_conf("JAILRUN_CPUS = 0.001\n");
        cr_assert_lt(jr_config_load(path, &e), 0);
        cr_assert(strstr(e.msg, ":1: JAILRUN_CPUS: CPUs \"0.001\": want 0 (no limit) or 0.01 to "
                                "1024 CPUs"),
                  "%s", e.msg);
        unlink(path);
        path = write_conf("EXECUTOR_NANO_CPUS = 0.5\n");
        cr_assert_lt(jr_config_load(path, &e), 0);
        cr_assert(strstr(e.msg, "EXECUTOR_NANO_CPUS: number \"0.5\""), "%s", e.msg);
        unlink(path);
        setenv("EXECUTOR_NANO_CPUS", "2000000000000", 1);
        jr_judge_limits_default(&l);
        cr_assert_lt(jr_judge_limits_from_env(&l, &e), 0);
        cr_assert(strstr(e.msg, "EXECUTOR_NANO_CPUS: CPUs \"2000000000000\""), "%s", e.msg);
        cr_assert_lt(jr_config_check_env(&e), 0);
        cr_assert(strstr(e.msg, "EXECUTOR_NANO_CPUS (from the environment)"), "%s", e.msg);
        unsetenv("EXECUTOR_NANO_CPUS");
}

Test(config, check_env_names_the_source)
{
        clear_keys();
        load_ok("KAFKA_TOPIC = t\n");
        jr_error e = {0};
        ASSERT_OK(jr_config_check_env(&e), e);
        setenv("RUNNER_TIME_LIMIT", "soon", 1);
        cr_assert_lt(jr_config_check_env(&e), 0);
        cr_assert(strstr(e.msg, "RUNNER_TIME_LIMIT (from the environment)"), "%s", e.msg);
}

Test(config, accessors)
{
        clear_keys();
        jr_cg_mode m = JR_CG_V1;
        jr_error e = {0};
        ASSERT_OK(jr_config_cg_mode(&m, &e), e);
        cr_assert_eq(m, JR_CG_V1, "unset leaves the mode alone");
        setenv("JAILRUN_CGROUP", "v2", 1);
        ASSERT_OK(jr_config_cg_mode(&m, &e), e);
        cr_assert_eq(m, JR_CG_V2);
        setenv("JAILRUN_CGROUP", "v9", 1);
        cr_assert_lt(jr_config_cg_mode(&m, &e), 0);

        uid_t base = 0;
        ASSERT_OK(jr_config_slot_uid_base(&base, &e), e);
        cr_assert_eq(base, 60000);
        setenv("JAILRUN_SLOT_UID_BASE", "200000", 1);
        ASSERT_OK(jr_config_slot_uid_base(&base, &e), e);
        cr_assert_eq(base, 200000);
        setenv("JAILRUN_SLOT_UID_BASE", "0", 1);
        cr_assert_lt(jr_config_slot_uid_base(&base, &e), 0, "uid 0 is never a jail's");
}

Test(config, the_shipped_file_lists_every_key_and_loads)
{
        FILE *f = fopen(JR_SOURCE_DIR "/packaging/jailrun.conf", "re");
        cr_assert(f, "packaging/jailrun.conf");
        char text[16384];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                char want[96];
                snprintf(want, sizeof want, "\n#%s = ", jr_config_keys[i].name);
                char want_empty[96];
                snprintf(want_empty, sizeof want_empty, "\n#%s =\n", jr_config_keys[i].name);
                cr_assert(strstr(text, want) || strstr(text, want_empty),
                          "packaging/jailrun.conf does not show %s", jr_config_keys[i].name);
        }
        /* as shipped (all commented out) and with every example line enabled */
        clear_keys();
        load_ok(text);
        cr_assert_null(getenv("KAFKA_TOPIC"));
        char enabled[16384];
        size_t w = 0;
        for (const char *p = text; *p; p++) {
                bool line_start = p == text || p[-1] == '\n';
                if (line_start && p[0] == '#' && p[1] >= 'A' && p[1] <= 'Z')
                        continue;
                enabled[w++] = *p;
        }
        enabled[w] = '\0';
        load_ok(enabled);
        cr_assert_str_eq(getenv("KAFKA_TOPIC"), "scripts");
}
