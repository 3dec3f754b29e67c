#include "paths.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"

const char *jr_env_or(const char *env, const char *installed)
{
        const char *v = getenv(env);
        return v && *v ? v : installed;
}

const char *jr_default_dir(const char *env, const char *source_dir, const char *installed)
{
        const char *v = getenv(env);
        if (v && *v)
                return v;
        struct stat st;
        if (source_dir && stat(source_dir, &st) == 0 && S_ISDIR(st.st_mode))
                return source_dir;
        return installed;
}

int jr_mkdir_p(const char *path, mode_t mode, jr_error *e)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return jr_error_set(e, ENOMEM, "mkdir \"%s\"", path);
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0) {
                        if (errno != EEXIST)
                                return jr_error_errno(e, "mkdir \"%s\"", p);
                        struct stat st;
                        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                                return jr_error_set(e, ENOTDIR, "mkdir \"%s\"", p);
                }
                *s = c;
                if (!c)
                        return 0;
        }
}
