/* sd_notify's protocol: datagrams on $NOTIFY_SOCKET, a path or an abstract "@name". */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "testutil.h"

/* Bind a datagram socket where systemd would listen; name "@x" is abstract. */
static int listen_at(const char *name)
{
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(name);
        memcpy(sa.sun_path, name, len);
        if (name[0] == '@')
                sa.sun_path[0] = '\0';
        else
                len++;
        cr_assert_eq(bind(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
                     0);
        return fd;
}

static char *next_message(int fd)
{
        static char buf[2048];
        ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        cr_assert_gt(n, 0, "nothing was sent");
        buf[n] = '\0';
        return buf;
}

Test(notify, path_socket)
{
        char path[64];
        snprintf(path, sizeof path, "/tmp/jr-test-notify-%d", (int)getpid());
        unlink(path);
        int fd = listen_at(path);
        setenv("NOTIFY_SOCKET", path, 1);
        jr_error e = {0};
        ASSERT_OK(jr_notify_ready("judging, 2 slots\nand more", &e), e);
        cr_assert_str_eq(next_message(fd), "READY=1\nSTATUS=judging, 2 slots and more");
        ASSERT_OK(jr_notify_status("flushing", &e), e);
        cr_assert_str_eq(next_message(fd), "STATUS=flushing");
        ASSERT_OK(jr_notify_stopping(&e), e);
        cr_assert_str_eq(next_message(fd), "STOPPING=1");
        close(fd);
        unlink(path);
}

Test(notify, abstract_socket)
{
        char name[64];
        snprintf(name, sizeof name, "@jr-test-notify-%d", (int)getpid());
        int fd = listen_at(name);
        setenv("NOTIFY_SOCKET", name, 1);
        jr_error e = {0};
        ASSERT_OK(jr_notify_ready(NULL, &e), e);
        cr_assert_str_eq(next_message(fd), "READY=1");
        close(fd);
}

Test(notify, without_systemd_nothing_happens)
{
        unsetenv("NOTIFY_SOCKET");
        jr_error e = {0};
        ASSERT_OK(jr_notify_ready("x", &e), e);
        setenv("NOTIFY_SOCKET", "relative/path", 1);
        cr_assert_lt(jr_notify_ready("x", &e), 0, "a bad socket name is an error");
        cr_assert(strstr(e.msg, "NOTIFY_SOCKET"), "%s", e.msg);
        setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
        cr_assert_lt(jr_notify_ready("x", &e), 0, "nobody listening");
}
