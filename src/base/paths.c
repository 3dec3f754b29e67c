#include "paths.h"

#include <stdlib.h>
#include <sys/stat.h>

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
