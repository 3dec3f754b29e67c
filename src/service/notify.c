/* sd_notify's datagram protocol, without libsystemd. See notify.h. */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"

int jr_notify(const char *state, jr_error *e)
{
        const char *path = getenv("NOTIFY_SOCKET");
        if (!path || !*path)
                return 0;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(path);
        /* "@name" is an abstract socket: a leading NUL instead of the '@', no terminator */
        if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
                return jr_error_set(e, EINVAL, "NOTIFY_SOCKET \"%s\": not a socket path", path);
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = '\0';
        socklen_t salen =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return jr_error_errno(e, "notify: socket");
        ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
        if (n < 0)
                return jr_error_errno(e, "notify \"%s\"", path);
        return 0;
}

static int send_with_status(const char *what, const char *status, jr_error *e)
{
        char buf[1024];
        if (status)
                snprintf(buf, sizeof buf, "%sSTATUS=%s", what, status);
        else
                snprintf(buf, sizeof buf, "%s", what);
        /* STATUS is one line */
        for (char *p = buf; *p; p++)
                if (status && p >= buf + strlen(what) && *p == '\n')
                        *p = ' ';
        return jr_notify(buf, e);
}

int jr_notify_ready(const char *status, jr_error *e)
{
        return status ? send_with_status("READY=1\n", status, e) : jr_notify("READY=1", e);
}

int jr_notify_status(const char *status, jr_error *e)
{
        return send_with_status("", status ? status : "", e);
}

int jr_notify_stopping(jr_error *e)
{
        return send_with_status("STOPPING=1", NULL, e);
}
