/* Capabilities and credentials of the jailed program.
 *
 * Both functions run in the forked child between clone and execve, so they only
 * make syscalls: no allocation, no locks. libcap's bounding-set, ambient and
 * securebits helpers are thin prctl wrappers and qualify; its cap_t interface
 * allocates, so the effective/permitted/inheritable sets are cleared with capset(2)
 * and static data instead. The credential syscalls are made raw on purpose: glibc's
 * wrappers broadcast uid changes to every thread of a threaded process (the
 * "setxid" dance), which is pointless in a single-threaded child and not
 * async-signal-safe. */
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Far above any kernel's last capability (40 in 6.x): the loop ends on EINVAL. */
#define JR_CAP_LIMIT 128

int jr_caps_drop_bounding(void)
{
        /* The bounding set caps what execve can ever grant, file capabilities
         * included. Drop every capability the kernel knows: PR_CAPBSET_DROP answers
         * EINVAL past the last one, so no /proc read is needed (and a kernel newer
         * than our libcap headers is covered too). */
        int cap;
        for (cap = 0; cap < JR_CAP_LIMIT; cap++) {
                if (cap_drop_bound((cap_value_t)cap) == 0)
                        continue;
                if (errno == EINVAL && cap > 0)
                        break;
                return -errno;
        }
        if (cap == JR_CAP_LIMIT)
                return -E2BIG;

        /* Securebits, locked so the program can never change them back:
         * - NOROOT: executing as uid 0 (or a setuid-root file) grants nothing;
         * - NO_SETUID_FIXUP stays *off* but locked: the kernel's fixup is what
         *   clears the permitted and effective sets when setresuid leaves uid 0,
         *   and the program must not be able to switch it off;
         * - KEEP_CAPS stays off and locked, for the same reason;
         * - NO_CAP_AMBIENT_RAISE: the ambient set can never be refilled.
         * This needs CAP_SETPCAP in the effective set, which dropping it from the
         * bounding set above does not remove. */
        unsigned bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                        SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                        SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        if (cap_set_secbits(bits) < 0)
                return -errno;

        /* No setuid bits or file capabilities honoured by any later execve. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        return 0;
}

int jr_caps_become(uid_t uid, gid_t gid)
{
        /* Supplementary groups first, while CAP_SETGID is still there: a root
         * child inherits the supervisor's groups (often root's own). */
        if (syscall(SYS_setgroups, 0, NULL) < 0)
                return -errno;
        /* gid before uid: changing the gid needs the capabilities that leaving
         * uid 0 takes away. */
        if (syscall(SYS_setresgid, gid, gid, gid) < 0)
                return -errno;
        if (syscall(SYS_setresuid, uid, uid, uid) < 0)
                return -errno;

        /* Leaving uid 0 already emptied permitted, effective and ambient (setuid
         * fixup, kept on above); make it explicit and cover the inheritable set,
         * which the fixup leaves alone, and a slot uid of 0 should one ever be
         * configured. */
        if (cap_reset_ambient() < 0)
                return -errno;
        static struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        static const struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
        hdr.pid = 0; /* the kernel may rewrite the header: reset it every time */
        hdr.version = _LINUX_CAPABILITY_VERSION_3;
        if (syscall(SYS_capset, &hdr, none) < 0)
                return -errno;
        return 0;
}
