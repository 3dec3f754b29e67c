/* jr_judge_file: `jailrun run`'s work, one submission judged from a file.
 *
 * Read the submission (a script message) from a file or stdin, load the languages,
 * make a sandbox and the slot's jail, judge, and hand back the result message. */
#pragma once

#include "jail.h"
#include "message.h"

typedef struct jr_judge_file_opts {
        const char *path;        /* NULL or "-": stdin */
        const char *langs_dir;   /* NULL: jr_lang_default_dir() */
        const char *rootfs_dir;  /* NULL: jr_rootfs_default_dir() */
        const char *events_path; /* progress events, one JSON a line; "-": stderr; NULL: none */
        jr_sandbox_opts sandbox;
        unsigned slot; /* runs as uid JAILRUN_SLOT_UID_BASE + slot */
} jr_judge_file_opts;

/* What failed (the return value). */
typedef enum jr_judge_file_failure {
        JR_JUDGE_FILE_FAILED = -1,  /* the judge itself: the languages, the sandbox, a jail */
        JR_JUDGE_FILE_INVALID = -2, /* the input: the submission, the host limits, a file */
} jr_judge_file_failure;

/* Judge the submission of o->path. Returns 0 with *result the result message (whatever
 * the verdict), or a jr_judge_file_failure with e set and *result the IE result to
 * answer with: when the input was JSON but not a valid submission, or when judging it
 * failed; else result->ptr is NULL. *result is the caller's to free either way. */
int jr_judge_file(const jr_judge_file_opts *o, jr_buf *result, jr_error *e);
