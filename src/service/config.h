/* jr_config: the configuration file /etc/jailrun/jailrun.conf.
 *
 * The file holds the same names as the environment variables it stands for, one
 * `KEY = value` per line:
 *
 *     # comment
 *     KAFKA_BROKERS = kafka-1:9092,kafka-2:9092
 *     RUNNER_MAX_PARALLEL = 4
 *     JAILRUN_KAFKA_CONFIG = "security.protocol=ssl; ssl.ca.location=/etc/ssl/kafka.pem"
 *
 * Keys are the names of jr_config_keys[] (an unknown key is an error naming the line);
 * white space around '=' and at both ends is dropped; a value may be quoted with "..."
 * (with \" and \\ escapes) or '...' (literal); outside quotes, a '#' at the start of the
 * value or after white space starts a comment. An empty value means "the default" (except
 * KAFKA_EVENTS_TOPIC, where it disables events, as in the environment). Each value is checked with
 * the parser its consumer uses (durations and sizes with units.h), and errors name the file, the
 * line and the key: `/etc/jailrun/jailrun.conf:7: RUNNER_TIME_LIMIT: duration "5x":
 * unknown unit "x" (valid: ns, us, ms, s, m, h)`.
 *
 * Loading EXPORTS every key of the file into the process environment unless the
 * variable is already set (the environment overrides the file), so that every consumer
 * keeps reading getenv(): jr_kafka_config_from_env(), jr_judge_limits_from_env(),
 * jr_rootfs_default_dir(), the executors that `serve` starts (they inherit environ)...
 * The module records where each effective value came from, for `jailrun config`.
 *
 * Which file: --config FILE (given to main before the command, or to `config` and
 * `doctor`), else $JAILRUN_CONFIG, else /etc/jailrun/jailrun.conf. The default file may
 * be missing (everything has a default); a file named explicitly must exist.
 *
 * Process-global state, one thread, used at start-up before any thread exists
 * (setenv is not thread-safe). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "jailopts.h"

#define JR_CONFIG_DEFAULT_PATH "/etc/jailrun/jailrun.conf"
#define JR_CONFIG_MAX_BYTES    (1024 * 1024)

typedef enum jr_config_type {
        JR_CONFIG_TEXT,      /* anything, empty allowed */
        JR_CONFIG_NAME,      /* no white space or control characters (topics, groups) */
        JR_CONFIG_PATH,      /* an absolute path */
        JR_CONFIG_UINT,      /* jr_parse_uint within [min, max] */
        JR_CONFIG_DURATION,  /* jr_parse_duration_ms within [min, max] milliseconds */
        JR_CONFIG_SIZE,      /* jr_parse_size within [min, max] bytes */
        JR_CONFIG_CHOICE,    /* one of `choices`, '|'-separated */
        JR_CONFIG_FALLBACKS, /* jr_parse_fallbacks: "memory-peak,cgroup-kill" */
        JR_CONFIG_ADDRESS,   /* HOST:PORT, [V6]:PORT or :PORT (all addresses) */
        JR_CONFIG_CPUS,      /* jr_parse_cpus_limit: "0.5" CPUs (0: none) */
        JR_CONFIG_NANO_CPUS, /* jr_parse_nano_cpus_limit: 500000000 (1e9 = one CPU) */
} jr_config_type;

typedef struct jr_config_key {
        const char *name;
        jr_config_type type;
        const char *dflt;  /* shown by `jailrun config` when nothing sets the key */
        const char *help;  /* one line */
        uint64_t min, max; /* UINT, DURATION (ms), SIZE; max 0 = no bound */
        const char *choices;
        /* The value the program really uses when the key is unset (the source tree's
         * langs/ in a development build, ...); NULL = dflt. */
        const char *(*effective_default)(void);
} jr_config_key;

/* Every key jailrun understands, in the order `jailrun config` prints them. */
extern const jr_config_key jr_config_keys[];
extern const size_t jr_config_n_keys;

/* NULL when unknown. */
const jr_config_key *jr_config_find(const char *name);

/* Check one value of key k; the error quotes the value (the caller adds the place). An
 * empty value is always valid (it means the default). */
int jr_config_check_value(const jr_config_key *k, const char *value, jr_error *e);

typedef enum jr_config_source {
        JR_CONFIG_SRC_DEFAULT,
        JR_CONFIG_SRC_FILE,
        JR_CONFIG_SRC_ENV,
} jr_config_source;

typedef struct jr_config_entry {
        const jr_config_key *key;
        jr_config_source source;
        const char *value;  /* the effective text (the default when source is DEFAULT) */
        unsigned file_line; /* the file's line for the key, 0 when the file does not set it
                             * (also set when the environment overrides that line) */
} jr_config_entry;

/* Load `path` (NULL: $JAILRUN_CONFIG, else JR_CONFIG_DEFAULT_PATH, which may be missing)
 * and export its keys into the environment (setenv without overwrite). A previous load's
 * exports are removed first, so loading another file replaces the first one. Nothing is
 * exported when the file has an error. Environment values are not checked here (their
 * consumers check them); jr_config_check_env() does. */
int jr_config_load(const char *path, jr_error *e);

/* The file of the last successful load, NULL when none was read (the default file is
 * missing, or no load happened). */
const char *jr_config_path(void);

/* Entry i (< jr_config_n_keys) as of now: the environment is read at the time of the
 * call, so a variable set after the load counts as the environment. */
void jr_config_get(size_t i, jr_config_entry *out);

/* Check every key set in the environment with jr_config_check_value, and the values
 * together as jailrun's consumers read them (RUNNER_MEMORY_LIMIT within
 * JAILRUN_MAX_MEMORY, ...). Fails on the first error, which names the key and its
 * source. */
int jr_config_check_env(jr_error *e);

/* jr_config_load, then jr_config_check_env: `jailrun config` and the "config" check of
 * `jailrun doctor`. Returns 1 with *file the file read, 0 with *file the default file
 * (which is missing: the defaults and the environment apply), or a jr_config_failure
 * with e set (*file is set too when the file was loaded). */
typedef enum jr_config_failure {
        JR_CONFIG_UNREADABLE = -1, /* the file cannot be read or parsed: nothing loaded */
        JR_CONFIG_INVALID = -2,    /* loaded, but a value (file or environment) is invalid */
} jr_config_failure;
int jr_config_check(const char *path, const char **file, jr_error *e);

/* The start-up hook of main(): takes a leading `--config FILE` off argv (it then applies
 * to any command), and loads the configuration for every command except those that load
 * it themselves to report errors their own way (`config`, `doctor`) and --help or
 * --version. */
int jr_config_load_for_main(int *argc, char ***argv, jr_error *e);
/* The --config FILE given before the command, NULL when none. */
const char *jr_config_main_path(void);

/* The typed accessors of JAILRUN_CGROUP and JAILRUN_SLOT_UID_BASE (jr_config_cg_mode,
 * jr_config_slot_uid_base) and the parser of JAILRUN_CG_FALLBACKS are their consumer's,
 * src/host/jailopts.h. */
