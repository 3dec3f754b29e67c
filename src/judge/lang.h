/* Languages as data: the langs/<name>.lang files (format in langs/README.md).
 *
 * A language says how to build a submission (argv template, rootfs tree, limits) and
 * how to run the artifact (argv template, rootfs tree, extra pids, minimum memory), the
 * environment of both, and which files the build leaves for the run. Adding a language
 * is adding a file (plus its rootfs recipe): no C code knows the language names.
 *
 * Templates hold placeholders that jr_lang_command() expands for one jail:
 *   {src}      the source file name ("Main.java")
 *   {mem_mb}   the memory limit of that jail in MiB (rounded down)
 *   {heap_mb}  {mem_mb} minus the language's heap_reserve (at least 1)
 *   {{         a literal '{'
 *
 * The same line format (jr_lang_kv_format) and word splitter (strv.h) serve the rootfs
 * recipes (src/host/rootfs.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "kvfile.h"

typedef struct jr_lang {
        char *name;                  /* "java": also the file's name without ".lang" */
        char *path;                  /* the file it came from, for messages */
        char *source;                /* file name of the submission in /work: "Main.java" */
        char **build;                /* argv template of the build, NULL when there is no build */
        char *build_rootfs;          /* tree of the build jail (NULL when there is no build) */
        uint64_t build_time_ms;      /* CPU and wall limit of the build */
        uint64_t build_memory_bytes; /* memory limit of the build */
        uint64_t build_pids;         /* pids.max of the build */
        uint64_t build_nofile;       /* RLIMIT_NOFILE of the build; 0 = the jail's default */
        uint64_t build_tmp_bytes;    /* size of /tmp and /work in the build jail; 0 = default */
        char **run;                  /* argv template of every test run */
        char *run_rootfs;            /* tree of the run jails */
        uint64_t run_extra_pids;     /* added to the submission's pids allowance */
        uint64_t min_memory_bytes;   /* a smaller memory limit is raised to this; at least
                                        JR_LANG_MIN_MEMORY, which is also the default */
        uint64_t heap_reserve_bytes; /* what {heap_mb} leaves to the runtime */
        char **env;                  /* "NAME=value" templates for build and run */
        char **build_env;            /* extra for the build (override env by name) */
        char **run_env;              /* extra for the run (override env by name) */
        char **artifacts;            /* fnmatch patterns of /work files kept for the run */
        char **oom_markers;          /* text in a failed run's output that means the runtime
                                        ran out of its memory limit itself (ML, not RE) */
        char **artifact_check;       /* NULL, or {file, format, message}: after a build that
                                        succeeded, the artifact `file` must be of `format`
                                        (artifact.h), else BF saying `message` */
        char **allowed_modules;      /* Python's allowed modules (pyimports.h) when the host
                                        sets no EXECUTOR_ALLOWED_MODULES; NULL: no policy of
                                        its own; an empty list allows none. Only for a
                                        language whose source is a .py file */
        char *comment;               /* what starts a comment to the end of the line in a
                                        source ("//", "#", "--"), for tools that append a
                                        line to one (bench/); NULL when the file names none */
} jr_lang;

/* The least memory limit of any run (the default min_memory): a jail needs some memory
 * of its own, and below this even a static hello world is killed. */
#define JR_LANG_MIN_MEMORY (1ULL << 20)

typedef struct jr_lang_set jr_lang_set;

/* Default directory of the .lang files: $JAILRUN_LANGS_DIR, else the source tree's
 * langs/ when it exists (development builds), else /usr/share/jailrun/langs. */
const char *jr_lang_default_dir(void);

/* Load every "*.lang" file of dir (sorted by name). Fails on the first error, which
 * names the file and line: `langs/java.lang:12: unknown key "foo"`. An empty
 * directory is an error too (a judge without languages is a configuration mistake). */
int jr_lang_load_dir(const char *dir, jr_lang_set **out, jr_error *e);
/* Load one file; its name must end in ".lang". */
int jr_lang_load_file(const char *path, jr_lang **out, jr_error *e);
void jr_lang_free(jr_lang *l);
void jr_lang_set_free(jr_lang_set *s);
static inline void jr_lang_freep(jr_lang **l)
{
        jr_lang_free(*l);
}
static inline void jr_lang_set_freep(jr_lang_set **s)
{
        jr_lang_set_free(*s);
}
#define _cleanup_lang_     __attribute__((cleanup(jr_lang_freep)))
#define _cleanup_lang_set_ __attribute__((cleanup(jr_lang_set_freep)))

/* NULL when unknown. */
const jr_lang *jr_lang_find(const jr_lang_set *s, const char *name);
size_t jr_lang_count(const jr_lang_set *s);
const jr_lang *jr_lang_get(const jr_lang_set *s, size_t i);
/* The names, sorted, NULL-terminated; owned by the set (for the message parser). */
const char *const *jr_lang_names(const jr_lang_set *s);

/* Whether the language's source is a .py file: the languages Python's allowed-modules
 * policy covers. */
bool jr_lang_is_python(const jr_lang *l);

/* The memory limit a run really gets: max(requested, min_memory). */
uint64_t jr_lang_memory(const jr_lang *l, uint64_t requested_bytes);

typedef enum jr_lang_step {
        JR_LANG_BUILD,
        JR_LANG_RUN,
} jr_lang_step;

/* An expanded command: NULL-terminated argv and envp, malloc'd. */
typedef struct jr_lang_cmd {
        char **argv;
        char **envp;
} jr_lang_cmd;

/* Expand the build or run command of l for a jail whose memory limit is mem_bytes
 * (for the run, pass jr_lang_memory(l, requested)). The environment is env followed
 * by build_env or run_env, a later NAME= replacing an earlier one. Fails when the step
 * does not exist (no build). out is untouched on failure. */
int jr_lang_command(const jr_lang *l, jr_lang_step step, uint64_t mem_bytes, jr_lang_cmd *out,
                    jr_error *e);
void jr_lang_cmd_free(jr_lang_cmd *c);

/* Whether a file name in /work after the build is carried into the run jail. */
bool jr_lang_is_artifact(const jr_lang *l, const char *file_name);
/* Whether n bytes of a failed run's output hold one of the language's oom_markers. */
bool jr_lang_output_says_oom(const jr_lang *l, const char *buf, size_t n);

/* The format of the .lang files (kvfile.h's JR_KV_WORDS, lines of at most 4096 bytes),
 * which the rootfs recipes share. */
extern const jr_kv_format jr_lang_kv_format;
