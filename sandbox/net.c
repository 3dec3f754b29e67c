/* Networking of the jail: a network namespace with loopback only.
 *
 * Creating and destroying a network namespace per run is expensive on some kernels and
 * serialises the machine (net namespace cleanup runs in one workqueue), so each slot
 * creates one at start and every run of the slot joins it with setns(). Nothing of a run
 * survives into the next: every process of the jail is dead before the next run starts,
 * and with them every socket. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"

/* The kernel gives the loopback device of every network namespace the fixed index 1
 * (LOOPBACK_IFINDEX), registered as the namespace is created: the change request can name
 * it directly. Asking the kernel for the link first (rtnl_link_get_kernel) would cost a
 * second round trip and libnl's parsing of the whole link message on every jail start. */
#define LOOPBACK_IFINDEX 1

static int loopback_up(jr_error *e)
{
        struct nl_sock *sk = nl_socket_alloc();
        if (!sk)
                return jr_error_set(e, ENOMEM, "libnl: allocate socket");
        int ret = nl_connect(sk, NETLINK_ROUTE);
        if (ret < 0) {
                nl_socket_free(sk);
                return jr_error_set(e, 0, "libnl: connect NETLINK_ROUTE: %s", nl_geterror(ret));
        }
        struct rtnl_link *lo = rtnl_link_alloc(), *change = rtnl_link_alloc();
        if (!lo || !change) {
                ret = jr_error_set(e, ENOMEM, "libnl: allocate link");
                goto out;
        }
        rtnl_link_set_ifindex(lo, LOOPBACK_IFINDEX);
        rtnl_link_set_flags(change, IFF_UP);
        ret = rtnl_link_change(sk, lo, change, 0);
        if (ret < 0)
                jr_error_set(e, 0, "libnl: set \"lo\" (index %d) up: %s", LOOPBACK_IFINDEX,
                             nl_geterror(ret));
out:
        if (change)
                rtnl_link_put(change);
        if (lo)
                rtnl_link_put(lo);
        nl_socket_free(sk);
        return ret < 0 ? -1 : 0;
}

int jr_net_new_loopback_ns(jr_error *e)
{
        /* unshare() moves only the calling thread; we step into the new namespace, bring
         * lo up there, keep an fd to it and step back. */
        _cleanup_close_ int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (home < 0)
                return jr_error_errno(e, "open /proc/self/ns/net");
        if (unshare(CLONE_NEWNET) < 0)
                return jr_error_errno(e, "unshare(CLONE_NEWNET)");
        int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int ret = fd < 0 ? jr_error_errno(e, "open new /proc/self/ns/net") : loopback_up(e);
        if (setns(home, CLONE_NEWNET) < 0) {
                /* Staying in the jail's namespace would cut the supervisor off from Kafka. */
                jr_error_errno(e, "setns back to the host network namespace");
                ret = -1;
        }
        if (ret < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}
