/* The host's jail options. See jailopts.h. */
#include "jailopts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "units.h"

int jr_parse_cg_mode(const char *arg, jr_cg_mode *out, jr_error *e)
{
        if (!strcmp(arg, "auto"))
                *out = JR_CG_AUTO;
        else if (!strcmp(arg, "v1"))
                *out = JR_CG_V1;
        else if (!strcmp(arg, "v2"))
                *out = JR_CG_V2;
        else
                return jr_error_set(e, 0, "cgroup mode \"%s\": expected auto, v1 or v2", arg);
        return 0;
}

int jr_parse_fallbacks(const char *list, unsigned *out, jr_error *e)
{
        static const struct {
                const char *name;
                unsigned flag;
        } names[] = {{"memory-peak", JR_FB_NO_MEMORY_PEAK},
                     {"cgroup-kill", JR_FB_NO_CGROUP_KILL},
                     {"clone-into-cgroup", JR_FB_NO_CLONE_INTO_CGROUP}};
        unsigned flags = 0;
        const char *p = list;
        while (*p) {
                size_t len = strcspn(p, ",");
                bool found = false;
                for (size_t i = 0; i < JR_ARRAY_SIZE(names); i++) {
                        if (strlen(names[i].name) == len && !strncmp(p, names[i].name, len)) {
                                flags |= names[i].flag;
                                found = true;
                        }
                }
                if (!found && len > 0)
                        return jr_error_set(e, 0,
                                            "unknown fallback \"%.*s\" (known: memory-peak, "
                                            "cgroup-kill, clone-into-cgroup)",
                                            (int)len, p);
                p += len;
                if (*p == ',')
                        p++;
        }
        *out |= flags;
        return 0;
}

int jr_config_cg_mode(jr_cg_mode *mode, jr_error *e)
{
        const char *v = getenv("JAILRUN_CGROUP");
        if (!v || !*v)
                return 0;
        if (jr_parse_cg_mode(v, mode, e) < 0)
                return jr_error_wrap(e, "JAILRUN_CGROUP");
        return 0;
}

int jr_config_slot_uid_base(uid_t *base, jr_error *e)
{
        const char *v = getenv("JAILRUN_SLOT_UID_BASE");
        uint64_t x = JR_DEFAULT_SLOT_UID_BASE;
        if (v && *v &&
            (jr_parse_uint(v, UINT64_MAX, &x, e) < 0 ||
             jr_check_range(x, 1, JR_SLOT_UID_BASE_MAX, v, e) < 0))
                return jr_error_wrap(e, "JAILRUN_SLOT_UID_BASE");
        *base = (uid_t)x;
        return 0;
}

int jr_sandbox_opts_from_env(jr_sandbox_opts *o, jr_error *e)
{
        if (jr_config_cg_mode(&o->cg_mode, e) < 0)
                return -1;
        const char *fb = getenv("JAILRUN_CG_FALLBACKS");
        if (fb && *fb && jr_parse_fallbacks(fb, &o->fallbacks, e) < 0)
                return jr_error_wrap(e, "JAILRUN_CG_FALLBACKS");
        return 0;
}

int jr_slot_ids(unsigned slot, uid_t *uid, gid_t *gid, jr_error *e)
{
        uid_t base = JR_DEFAULT_SLOT_UID_BASE;
        if (jr_config_slot_uid_base(&base, e) < 0)
                return -1;
        *uid = base + slot;
        *gid = (gid_t)(base + slot);
        return 0;
}

int jr_check_nano_cpus(uint64_t nano, const char *text, jr_error *e)
{
        if (nano != 0 && (nano < JR_NANO_CPUS_MIN || nano > JR_NANO_CPUS_MAX))
                return jr_error_set(e, ERANGE,
                                    "CPUs \"%s\": want 0 (no limit) or 0.01 to 1024 CPUs (%" PRIu64
                                    " to %" PRIu64 " nano-CPUs)",
                                    text, (uint64_t)JR_NANO_CPUS_MIN, (uint64_t)JR_NANO_CPUS_MAX);
        return 0;
}

int jr_parse_cpus_limit(const char *arg, uint64_t *nano, jr_error *e)
{
        uint64_t v;
        if (jr_parse_cpus(arg, &v, e) < 0 || jr_check_nano_cpus(v, arg, e) < 0)
                return -1;
        *nano = v;
        return 0;
}

int jr_parse_nano_cpus_limit(const char *arg, uint64_t *nano, jr_error *e)
{
        uint64_t v;
        if (jr_parse_uint(arg, UINT64_MAX, &v, e) < 0 || jr_check_nano_cpus(v, arg, e) < 0)
                return -1;
        *nano = v;
        return 0;
}

int jr_config_nano_cpus(uint64_t *nano, jr_error *e)
{
        const char *v = getenv("JAILRUN_CPUS");
        if (v && *v)
                return jr_parse_cpus_limit(v, nano, e) < 0 ? jr_error_wrap(e, "JAILRUN_CPUS") : 0;
        v = getenv("EXECUTOR_NANO_CPUS");
        if (v && *v)
                return jr_parse_nano_cpus_limit(v, nano, e) < 0
                           ? jr_error_wrap(e, "EXECUTOR_NANO_CPUS")
                           : 0;
        return 0;
}

char *jr_format_cpus(uint64_t nano, char *buf, size_t n)
{
        /* "0.5", "2", "0.125": as few decimals as the value needs */
        char frac[16];
        snprintf(frac, sizeof frac, "%09" PRIu64, nano % 1000000000u);
        size_t len = strlen(frac);
        while (len > 0 && frac[len - 1] == '0')
                frac[--len] = '\0';
        snprintf(buf, n, "%" PRIu64 "%s%s", nano / 1000000000u, len ? "." : "", frac);
        return buf;
}
