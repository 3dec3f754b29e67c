/* The long-lived parts of the jail library: the per-process sandbox and per-slot state. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "jail.h"

const char *jr_jail_status_name(jr_jail_status s)
{
        static const char *const names[] = {"OK", "TL", "ML", "RE", "OL", "IE"};
        return (unsigned)s < JR_ARRAY_SIZE(names) ? names[s] : "IE";
}

void jr_run_config_init(jr_run_config *cfg)
{
        memset(cfg, 0, sizeof *cfg);
        cfg->stdin_fd = -1;
        cfg->stdout_fd = -1;
        cfg->stderr_fd = -1;
}

/* mkdir that accepts an existing directory (and only a directory: EEXIST may be a file). */
static int mkdir_dir(const char *path, mode_t mode)
{
        if (mkdir(path, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -1;
        struct stat st;
        if (stat(path, &st) < 0)
                return -1;
        if (!S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                return -1;
        }
        return 0;
}

/* The jail's root tmpfs needs a host directory to be mounted on, inside the child's own
 * mount namespace, so one fixed empty directory serves every jail at once. It must not be
 * /tmp: a rootfs tree may live below it and would be hidden. */
static int pick_newroot(char *buf, size_t n, jr_error *e)
{
        static const char *const bases[] = {"/run", "/var/lib", "/tmp"};
        for (size_t i = 0; i < JR_ARRAY_SIZE(bases); i++) {
                char dir[64];
                snprintf(dir, sizeof dir, "%s/jailrun", bases[i]);
                if (mkdir_dir(dir, 0755) < 0)
                        continue;
                int len = snprintf(buf, n, "%s/newroot", dir);
                if (len > 0 && (size_t)len < n && mkdir_dir(buf, 0700) == 0)
                        return 0;
        }
        return jr_error_errno(e, "create the mount point for jail roots (/run/jailrun/newroot)");
}

int jr_sandbox_new(const jr_sandbox_opts *opts, jr_sandbox **out, jr_error *e)
{
        jr_sandbox_opts none = {0};
        if (!opts)
                opts = &none;
        jr_sandbox *sb = calloc(1, sizeof *sb);
        if (!sb)
                return jr_error_set(e, ENOMEM, "allocate sandbox");
        if (pick_newroot(sb->newroot, sizeof sb->newroot, e) < 0)
                goto fail;
        if (jr_cg_open(opts->cg_mode, opts->fallbacks, &sb->cg, e) < 0)
                goto fail;
        if (jr_seccomp_prepare(&sb->seccomp, e) < 0) {
                jr_error_wrap(e, "prepare seccomp filter");
                goto fail;
        }
        cpu_set_t set;
        sb->ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (sb->ncpu < 1)
                sb->ncpu = 1;
        snprintf(sb->describe, sizeof sb->describe, "%s", jr_cg_describe(sb->cg));
        *out = sb;
        return 0;
fail:
        jr_sandbox_free(sb);
        return -1;
}

void jr_sandbox_free(jr_sandbox *sb)
{
        if (!sb)
                return;
        if (sb->cg)
                jr_cg_close(sb->cg);
        jr_seccomp_free(&sb->seccomp);
        for (size_t i = 0; i < JR_TEMPLATES; i++) {
                if (sb->templates[i].key) {
                        free(sb->templates[i].key);
                        free(sb->templates[i].tree);
                        close(sb->templates[i].nsfd);
                        if (sb->templates[i].treefd >= 0)
                                close(sb->templates[i].treefd);
                }
        }
        free(sb);
}

const char *jr_sandbox_describe(const jr_sandbox *sb)
{
        return sb->describe;
}

jr_cg_mode jr_sandbox_cg_mode(const jr_sandbox *sb)
{
        return jr_cg_get_mode(sb->cg);
}

int jr_slot_new(jr_sandbox *sb, unsigned index, uid_t uid, gid_t gid, jr_slot **out, jr_error *e)
{
        if (uid == 0 || gid == 0)
                return jr_error_set(e, EINVAL, "slot %u: uid and gid must not be 0", index);
        jr_slot *slot = calloc(1, sizeof *slot);
        if (!slot)
                return jr_error_set(e, ENOMEM, "allocate slot");
        slot->sb = sb;
        slot->index = index;
        slot->uid = uid;
        slot->gid = gid;
        slot->netns_fd = -1;
        /* guard | init stack | guard | program stack | guard */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        slot->stack_size = JR_CHILD_STACK;
        slot->stacks_len = 3 * page + 2 * slot->stack_size;
        slot->stacks = mmap(NULL, slot->stacks_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slot->stacks == MAP_FAILED) {
                slot->stacks = NULL;
                jr_error_errno(e, "slot %u: map the jail's stacks", index);
                goto fail;
        }
        slot->init_stack = slot->stacks + page;
        slot->prog_stack = slot->init_stack + slot->stack_size + page;
        if (mprotect(slot->init_stack, slot->stack_size, PROT_READ | PROT_WRITE) < 0 ||
            mprotect(slot->prog_stack, slot->stack_size, PROT_READ | PROT_WRITE) < 0) {
                jr_error_errno(e, "slot %u: map the jail's stacks", index);
                goto fail;
        }
        slot->netns_fd = jr_net_new_loopback_ns(e);
        if (slot->netns_fd < 0) {
                jr_error_wrap(e, "slot %u", index);
                goto fail;
        }
        *out = slot;
        return 0;
fail:
        jr_slot_free(slot);
        return -1;
}

void jr_slot_free(jr_slot *slot)
{
        if (!slot)
                return;
        if (slot->netns_fd >= 0)
                close(slot->netns_fd);
        if (slot->stacks)
                munmap(slot->stacks, slot->stacks_len);
        free(slot);
}

uid_t jr_slot_uid(const jr_slot *slot)
{
        return slot->uid;
}

gid_t jr_slot_gid(const jr_slot *slot)
{
        return slot->gid;
}

unsigned jr_slot_index(const jr_slot *slot)
{
        return slot->index;
}

jr_sandbox *jr_slot_sandbox(const jr_slot *slot)
{
        return slot->sb;
}
