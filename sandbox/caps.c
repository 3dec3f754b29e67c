/* Capabilities and credentials of the jailed program.
 *
 * Both functions run in the program's child between clone and execve, which shares the
 * supervisor's memory (CLONE_VM, see sys.h): they make raw syscalls only, and touch no
 * libc state, errno included. That rules out libcap's helpers in the child: they are
 * thin prctl wrappers, but they report through errno (and the bounding-set loop below
 * ends on an expected EINVAL), and errno is the supervisor's. libcap's types define what
 * is cleared here, and the tests check the result with libcap's cap_get_proc and
 * cap_get_bound. The credential syscalls are raw for a second reason too: glibc's
 * wrappers broadcast uid changes to every thread of the process (the "setxid" dance). */
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

/* Far above any kernel's last capability (40 in 6.x): the loop ends on EINVAL. */
#define JR_CAP_LIMIT 128

int jr_caps_drop_bounding(void)
{
        /* The bounding set caps what execve can ever grant, file capabilities
         * included. Drop every capability the kernel knows: PR_CAPBSET_DROP answers
         * EINVAL past the last one, so no /proc read is needed (and a kernel newer
         * than our libcap headers is covered too). */
        int cap;
        long r;
        for (cap = 0; cap < JR_CAP_LIMIT; cap++) {
                r = JR_SYS(SYS_prctl, PR_CAPBSET_DROP, (cap_value_t)cap, 0, 0, 0);
                if (r == 0)
                        continue;
                if (r == -EINVAL && cap > 0)
                        break;
                return (int)r;
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
        if ((r = JR_SYS(SYS_prctl, PR_SET_SECUREBITS, bits, 0, 0, 0)) < 0)
                return (int)r;

        /* No setuid bits or file capabilities honoured by any later execve. */
        r = JR_SYS(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        return r < 0 ? (int)r : 0;
}

int jr_caps_become(uid_t uid, gid_t gid)
{
        /* Supplementary groups first, while CAP_SETGID is still there: a root
         * child inherits the supervisor's groups (often root's own). */
        long r;
        if ((r = JR_SYS(SYS_setgroups, 0, NULL)) < 0)
                return (int)r;
        /* gid before uid: changing the gid needs the capabilities that leaving
         * uid 0 takes away. */
        if ((r = JR_SYS(SYS_setresgid, gid, gid, gid)) < 0)
                return (int)r;
        if ((r = JR_SYS(SYS_setresuid, uid, uid, uid)) < 0)
                return (int)r;

        /* Leaving uid 0 already emptied permitted, effective and ambient (setuid
         * fixup, kept on above); make it explicit and cover the inheritable set,
         * which the fixup leaves alone, and a slot uid of 0 should one ever be
         * configured. */
        if ((r = JR_SYS(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) < 0)
                return (int)r;
        /* On the child's own stack: the kernel may rewrite the header. */
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {0};
        r = JR_SYS(SYS_capset, &hdr, none);
        return r < 0 ? (int)r : 0;
}
