/* The configuration file: parse, check, export to the environment. See config.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "jailopts.h"
#include "kvfile.h"
#include "judge.h"
#include "lang.h"
#include "metrics.h"
#include "rootfs.h"
#include "spool.h"
#include "units.h"

#define MiB (1024ull * 1024ull)

static const char *dflt_langs(void)
{
        return jr_lang_default_dir();
}

static const char *dflt_recipes(void)
{
        return jr_rootfs_default_recipes_dir();
}

/* The host caps' defaults are those of jr_judge_limits_default(); the unit test checks
 * that the texts here say the same. */
#define KEY(n, t, d, h, ...)                                                                       \
        {                                                                                          \
                .name = (n), .type = (t), .dflt = (d), .help = (h), __VA_ARGS__                    \
        }

const jr_config_key jr_config_keys[] = {
    /* the worker's variables (docs/messages.md) */
    KEY("KAFKA_BROKERS", JR_CONFIG_TEXT, "localhost:9092",
        "comma-separated brokers; \"embedded\" starts an in-process mock cluster"),
    KEY("KAFKA_TOPIC", JR_CONFIG_NAME, "scripts", "topic of the submissions"),
    KEY("KAFKA_GROUP_ID", JR_CONFIG_NAME, "scrc-runner", "consumer group"),
    KEY("KAFKA_RESULTS_TOPIC", JR_CONFIG_NAME, "script-results", "topic of the results"),
    KEY("KAFKA_EVENTS_TOPIC", JR_CONFIG_NAME, "script-events",
        "topic of the progress events; empty disables them"),
    KEY("RUNNER_MAX_PARALLEL", JR_CONFIG_UINT, "1",
        "executions at a time; 0: an HTTP front door that judges nothing", .max = 1024),
    KEY("RUNNER_TIME_LIMIT", JR_CONFIG_DURATION, "2s",
        "time limit of a submission that asks for 0 (a duration: 500ms, 2s, 1m30s)"),
    KEY("RUNNER_MEMORY_LIMIT", JR_CONFIG_SIZE, "256MiB",
        "memory limit of a submission that asks for 0 (bytes, or 64M)"),
    KEY("SCRIPT_EXPECTED", JR_CONFIG_UINT, "0", "exit after this many submissions (0: never)",
        .max = UINT64_MAX / 2),
    /* Kafka, beyond the spec */
    KEY("JAILRUN_KAFKA_CONFIG", JR_CONFIG_TEXT, "",
        "extra librdkafka properties: \"name=value;consumer.name=value;producer.name=value\""),
    /* where things are */
    KEY("JAILRUN_ROOTFS_DIR", JR_CONFIG_PATH, "/var/lib/jailrun/rootfs", "the rootfs trees"),
    KEY("JAILRUN_SPOOL_DIR", JR_CONFIG_PATH, JR_SPOOL_DEFAULT_DIR,
        "the spool of results and events not yet acknowledged"),
    KEY("JAILRUN_LANGS_DIR", JR_CONFIG_PATH, "/usr/share/jailrun/langs", "the language files",
        .effective_default = dflt_langs),
    KEY("JAILRUN_RECIPES_DIR", JR_CONFIG_PATH, "/usr/share/jailrun/rootfs",
        "the rootfs recipes (for `jailrun rootfs build`)", .effective_default = dflt_recipes),
    KEY("JAILRUN_CACHE_DIR", JR_CONFIG_PATH, "/var/lib/jailrun/cache",
        "apt cache shared by the rootfs builds"),
    /* host caps */
    KEY("JAILRUN_MAX_MEMORY", JR_CONFIG_SIZE, "256MiB",
        "largest memory limit a submission may ask for (more is IE)", .min = 1 * MiB),
    KEY("JAILRUN_MAX_TOTAL_MS", JR_CONFIG_UINT, "300000",
        "testing time of one execution in ms; tests after it get \"-\"", .max = INT64_MAX),
    KEY("JAILRUN_MAX_TEST_WALL", JR_CONFIG_DURATION, "20s",
        "wall time of one test, whatever its CPU limit", .max = 24ull * 3600 * 1000),
    KEY("JAILRUN_WALL_MARGIN", JR_CONFIG_DURATION, "500ms",
        "a test's wall-clock limit is its time limit plus this: a program that sleeps or "
        "blocks gets TL then",
        .max = 3600 * 1000),
    KEY("JAILRUN_TIME_SCALE", JR_CONFIG_UINT, "1",
        "multiply every time limit (a slower host, e.g. an emulated test VM)", .min = 1,
        .max = 1000),
    KEY("JAILRUN_CPUS", JR_CONFIG_CPUS, "",
        "CPU bandwidth of each test run in CPUs (0.5, 2; 0.01 to 1024); empty: no limit"),
    KEY("JAILRUN_OUTPUT_LIMIT", JR_CONFIG_SIZE, "64MiB", "stdout + stderr of one run (more is OL)",
        .max = 1024ull * MiB),
    KEY("JAILRUN_MAX_MESSAGE_SIZE", JR_CONFIG_SIZE, "256KiB",
        "one result or event message (outputs are truncated to fit)", .min = 16 * 1024,
        .max = 8 * MiB),
    KEY("JAILRUN_DEFAULT_CHECKER", JR_CONFIG_TEXT, "lines",
        "checker of the submissions that name none: lines, exact (byte for byte, as the "
        "reference), tokens, tokens-lines, float:EPS or sorted"),
    KEY("JAILRUN_MAX_SUBMISSION_BYTES", JR_CONFIG_SIZE, "64MiB",
        "larger submission messages get an IE result", .min = 1, .max = 64 * MiB),
    KEY("JAILRUN_SPOOL_FINISHED_MAX", JR_CONFIG_UINT, "100000",
        "answered messages (Kafka coordinates) remembered to suppress duplicate results",
        .max = UINT32_MAX / 4),
    /* the jails */
    KEY("JAILRUN_SLOT_UID_BASE", JR_CONFIG_UINT, "60000",
        "slot N runs as uid and gid BASE + N (never 0)", .min = 1, .max = JR_SLOT_UID_BASE_MAX),
    KEY("JAILRUN_CGROUP", JR_CONFIG_CHOICE, "auto", "cgroup backend: auto, v1 or v2",
        .choices = "auto|v1|v2"),
    KEY("JAILRUN_CG_FALLBACKS", JR_CONFIG_FALLBACKS, "",
        "pretend the kernel lacks: memory-peak, cgroup-kill, clone-into-cgroup"),
    /* the service */
    KEY("JAILRUN_LOG_LEVEL", JR_CONFIG_CHOICE, "info", "error, warning, notice, info or debug",
        .choices = "error|warning|warn|notice|info|debug"),
    KEY("JAILRUN_METRICS_ADDR", JR_CONFIG_ADDRESS, "",
        "Prometheus endpoint HOST:PORT (GET /metrics); empty: off"),
    /* the HTTP front door (docs/http.md) */
    KEY("JAILRUN_HTTP_ADDR", JR_CONFIG_ADDRESS, "",
        "HTTP front door HOST:PORT (POST /execute, /v1/executions); empty: off"),
    KEY("JAILRUN_HTTP_TOKENS", JR_CONFIG_TEXT, "",
        "bearer tokens, comma-separated; empty: no authentication (loopback addresses only)"),
    KEY("JAILRUN_HTTP_MAX_BODY", JR_CONFIG_SIZE, "8MiB", "largest request body (more is 413)",
        .min = 1024, .max = 64 * MiB),
    KEY("JAILRUN_HTTP_MAX_PENDING", JR_CONFIG_UINT, "1000",
        "HTTP submissions waiting for a result (more is 429)", .max = 1000000),
    KEY("JAILRUN_HTTP_EXECUTE_WAIT", JR_CONFIG_DURATION, "5m",
        "how long POST /execute waits for its result (then 504; the job goes on)",
        .max = 24ull * 3600 * 1000),
    KEY("JAILRUN_HTTP_HEADER_TIMEOUT", JR_CONFIG_DURATION, "10s",
        "request headers must arrive within this (slower connections are closed)",
        .max = 3600 * 1000),
    KEY("JAILRUN_HTTP_GROUP_ID", JR_CONFIG_NAME, "",
        "the front door's consumer group for results; empty: its own, kept in the results store"),
    KEY("JAILRUN_RESULTS_DB", JR_CONFIG_PATH, "/var/lib/jailrun/results.db",
        "the front door's results store (SQLite)"),
    KEY("JAILRUN_RESULTS_TTL", JR_CONFIG_DURATION, "24h",
        "results and events are kept this long after their last change",
        .max = 3650ull * 24 * 3600 * 1000),
    /* the Executor Service's names (docs/http.md) */
    KEY("EXECUTOR_PORT", JR_CONFIG_UINT, "",
        "HTTP on 127.0.0.1:PORT when JAILRUN_HTTP_ADDR is unset", .max = 65535),
    KEY("EXECUTOR_MAX_CONCURRENCY", JR_CONFIG_UINT, "",
        "executions at a time when RUNNER_MAX_PARALLEL is unset", .max = 1024),
    KEY("EXECUTOR_MEM_LIMIT", JR_CONFIG_SIZE, "",
        "memory limit of a submission that asks for 0, when RUNNER_MEMORY_LIMIT is unset"),
    KEY("EXECUTOR_NANO_CPUS", JR_CONFIG_NANO_CPUS, "",
        "JAILRUN_CPUS in billionths of a CPU (1000000000 = one CPU), when that is unset"),
    KEY("EXECUTOR_TIMEOUT", JR_CONFIG_TEXT, "3000",
        "default wall (and CPU) limit of a POST /execute test: milliseconds, or a duration "
        "(3s)"),
    KEY("EXECUTOR_ALLOWED_MODULES", JR_CONFIG_TEXT, "",
        "JSON array of the modules Python programs may import; empty: the language "
        "files' allowed_modules where they have one, else no policy"),
};
const size_t jr_config_n_keys = JR_ARRAY_SIZE(jr_config_keys);

const jr_config_key *jr_config_find(const char *name)
{
        for (size_t i = 0; i < jr_config_n_keys; i++)
                if (!strcmp(jr_config_keys[i].name, name))
                        return &jr_config_keys[i];
        return NULL;
}

/* ---- values ---------------------------------------------------------------------------- */

static bool choice_has(const char *choices, const char *v)
{
        size_t len = strlen(v);
        for (const char *p = choices; *p;) {
                size_t n = strcspn(p, "|");
                if (n == len && !strncmp(p, v, n))
                        return true;
                p += n;
                if (*p == '|')
                        p++;
        }
        return false;
}

int jr_config_check_value(const jr_config_key *k, const char *value, jr_error *e)
{
        uint64_t v;
        if (!*value)
                return 0;
        switch (k->type) {
        case JR_CONFIG_TEXT:
                return 0;
        case JR_CONFIG_NAME:
                for (const unsigned char *p = (const unsigned char *)value; *p; p++)
                        if (*p <= ' ' || *p == 0x7f)
                                return jr_error_set(e, 0,
                                                    "\"%s\": white space or a control "
                                                    "character in a name",
                                                    value);
                return 0;
        case JR_CONFIG_PATH:
                if (value[0] != '/')
                        return jr_error_set(e, 0, "\"%s\" is not an absolute path", value);
                return 0;
        case JR_CONFIG_UINT:
                if (jr_parse_uint(value, UINT64_MAX, &v, e) < 0)
                        return -1;
                return jr_check_range(v, k->min, k->max, value, e);
        case JR_CONFIG_DURATION:
                if (jr_parse_duration_ms(value, &v, e) < 0)
                        return -1;
                return jr_check_range(v, k->min, k->max, value, e);
        case JR_CONFIG_SIZE:
                if (jr_parse_size(value, &v, e) < 0)
                        return -1;
                return jr_check_range(v, k->min, k->max, value, e);
        case JR_CONFIG_CHOICE:
                if (!choice_has(k->choices, value))
                        return jr_error_set(e, 0, "\"%s\" is not one of %s", value, k->choices);
                return 0;
        case JR_CONFIG_FALLBACKS: {
                unsigned fb = 0;
                return jr_parse_fallbacks(value, &fb, e);
        }
        case JR_CONFIG_ADDRESS: {
                char host[256], port[16];
                return jr_metrics_split_address(value, host, sizeof host, port, sizeof port, e);
        }
        case JR_CONFIG_CPUS:
                return jr_parse_cpus_limit(value, &v, e);
        case JR_CONFIG_NANO_CPUS:
                return jr_parse_nano_cpus_limit(value, &v, e);
        }
        return jr_error_set(e, 0, "unknown type");
}

/* ---- the file ------------------------------------------------------------------------- */

struct file_value {
        char *value;
        unsigned line;
};

/* What the last load found, indexed like jr_config_keys. */
static struct {
        char *path;
        struct file_value values[64];
        bool exported[64]; /* we set this variable: unset it before another load */
} state;

_Static_assert(JR_ARRAY_SIZE(jr_config_keys) <= 64, "state arrays too small");

static void file_values_free(struct file_value *v)
{
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                free(v[i].value);
                v[i] = (struct file_value){0};
        }
}

/* One line of the file: the key (its syntax checked by the reader) must be known and
 * set once, and its value valid for it. */
static int config_kv(const char *key, char *raw, unsigned lineno, void *userdata, jr_error *e)
{
        struct file_value *vals = userdata;
        const jr_config_key *k = jr_config_find(key);
        if (!k)
                return jr_error_set(e, 0, "unknown key \"%s\" (`jailrun config` lists the keys)",
                                    key);
        size_t idx = (size_t)(k - jr_config_keys);
        if (vals[idx].line)
                return jr_error_set(e, 0, "%s: already set on line %u", k->name, vals[idx].line);
        char *value = NULL;
        if (jr_kv_string(raw, &value, e) < 0)
                return jr_error_wrap(e, "%s", k->name);
        if (jr_config_check_value(k, value, e) < 0)
                return jr_error_wrap(e, "%s", k->name);
        vals[idx].value = strdup(value);
        if (!vals[idx].value)
                return jr_error_set(e, ENOMEM, "%s", k->name);
        vals[idx].line = lineno;
        return 0;
}

static void unexport_previous(void)
{
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                if (state.exported[i])
                        unsetenv(jr_config_keys[i].name);
                state.exported[i] = false;
        }
        file_values_free(state.values);
        free(state.path);
        state.path = NULL;
}

int jr_config_load(const char *path, jr_error *e)
{
        bool must_exist = true;
        if (!path) {
                const char *env = getenv("JAILRUN_CONFIG");
                path = env && *env ? env : NULL;
        }
        if (!path) {
                path = JR_CONFIG_DEFAULT_PATH;
                must_exist = false;
        }
        /* read whole: a file too large or with a NUL byte is refused before any line */
        const jr_kv_format format = {.syntax = JR_KV_STRING,
                                     .max_bytes = JR_CONFIG_MAX_BYTES,
                                     .what = "config",
                                     .missing_ok = !must_exist};
        struct file_value vals[64] = {0};
        int r = jr_kv_read(path, &format, config_kv, vals, e);
        if (r < 0) {
                file_values_free(vals);
                return -1;
        }
        char *path_copy = NULL;
        if (r > 0 && !(path_copy = strdup(path))) {
                file_values_free(vals);
                return jr_error_set(e, ENOMEM, "config");
        }

        /* Replace the previous load, then export: the environment set by whoever
         * started us keeps precedence because setenv() does not overwrite. */
        unexport_previous();
        state.path = path_copy;
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                state.values[i] = vals[i];
                if (!vals[i].line || getenv(jr_config_keys[i].name))
                        continue;
                if (setenv(jr_config_keys[i].name, vals[i].value, 0) < 0)
                        return jr_error_errno(e, "config: setenv %s", jr_config_keys[i].name);
                state.exported[i] = true;
        }
        return 0;
}

const char *jr_config_path(void)
{
        return state.path;
}

void jr_config_get(size_t i, jr_config_entry *out)
{
        const jr_config_key *k = &jr_config_keys[i];
        *out = (jr_config_entry){.key = k, .file_line = state.values[i].line};
        const char *env = getenv(k->name);
        if (state.exported[i] && env && state.values[i].value &&
            !strcmp(env, state.values[i].value)) {
                out->source = JR_CONFIG_SRC_FILE;
                out->value = env;
        } else if (env) {
                out->source = JR_CONFIG_SRC_ENV;
                out->value = env;
        } else {
                out->source = JR_CONFIG_SRC_DEFAULT;
                out->value = k->effective_default ? k->effective_default() : k->dflt;
        }
}

static const char *source_name(const jr_config_entry *en, char *buf, size_t n)
{
        if (en->source == JR_CONFIG_SRC_FILE)
                snprintf(buf, n, "%s:%u", state.path ? state.path : "?", en->file_line);
        else if (en->source == JR_CONFIG_SRC_ENV)
                snprintf(buf, n, "the environment");
        else
                snprintf(buf, n, "the default");
        return buf;
}

int jr_config_check_env(jr_error *e)
{
        char where[PATH_MAX + 32];
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                jr_config_entry en;
                jr_config_get(i, &en);
                if (en.source == JR_CONFIG_SRC_DEFAULT)
                        continue;
                if (jr_config_check_value(en.key, en.value, e) < 0)
                        return jr_error_wrap(e, "%s (from %s)", en.key->name,
                                             source_name(&en, where, sizeof where));
        }
        /* The values together, as their consumers see them. */
        jr_judge_limits lim;
        jr_judge_limits_default(&lim);
        if (jr_judge_limits_from_env(&lim, e) < 0)
                return -1;
        jr_cg_mode mode;
        if (jr_config_cg_mode(&mode, e) < 0)
                return -1;
        uid_t base;
        if (jr_config_slot_uid_base(&base, e) < 0)
                return -1;
        return 0;
}

int jr_config_check(const char *path, const char **file, jr_error *e)
{
        if (jr_config_load(path, e) < 0)
                return JR_CONFIG_UNREADABLE;
        *file = jr_config_path() ? jr_config_path() : JR_CONFIG_DEFAULT_PATH;
        if (jr_config_check_env(e) < 0)
                return JR_CONFIG_INVALID;
        return jr_config_path() != NULL;
}

/* ---- main's hook ------------------------------------------------------------------------ */

static const char *main_path;

const char *jr_config_main_path(void)
{
        return main_path;
}

int jr_config_load_for_main(int *argc, char ***argv, jr_error *e)
{
        char **v = *argv;
        if (*argc >= 2 && !strncmp(v[1], "--config=", 9)) {
                main_path = v[1] + 9;
                v[1] = v[0];
                (*argc)--;
                *argv = ++v;
        } else if (*argc >= 2 && !strcmp(v[1], "--config")) {
                if (*argc < 3)
                        return jr_error_set(e, 0, "option --config needs a FILE");
                main_path = v[2];
                v[2] = v[0];
                *argc -= 2;
                *argv = v += 2;
        }
        if (*argc < 2)
                return 0;
        static const char *const self_loading[] = {"config", "doctor", "--help",
                                                   "-h",     "help",   "--version"};
        for (size_t i = 0; i < JR_ARRAY_SIZE(self_loading); i++)
                if (!strcmp(v[1], self_loading[i]))
                        return 0;
        if (jr_config_load(main_path, e) < 0)
                return -1;
        /* The processes we start (jailrun-kafka for serve, serve's executors) load the
         * configuration again: make them read the same file. */
        if (main_path && setenv("JAILRUN_CONFIG", main_path, 1) < 0)
                return jr_error_errno(e, "setenv JAILRUN_CONFIG");
        return 0;
}
