/* Capabilities and credentials of the jailed program. Internal. */
#pragma once

#include <sys/types.h>

/* In the child, while still root: clear the bounding set, lock securebits so that
 * uid 0 never regains capabilities. Returns 0 or -errno. */
int jr_caps_drop_bounding(void);
/* In the child: setgroups(0), setresgid, setresuid to the slot's ids, then clear the
 * effective, permitted, inheritable and ambient sets. Returns 0 or -errno. */
int jr_caps_become(uid_t uid, gid_t gid);
