#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"

int jr_write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -1;
                if (w == 0) {
                        errno = EIO;
                        return -1;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

ssize_t jr_read_full(int fd, void *buf, size_t n)
{
        char *p = buf;
        size_t got = 0;
        while (got < n) {
                ssize_t r = read(fd, p + got, n - got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -1;
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        return (ssize_t)got;
}

int jr_put_file(const char *dir, const char *name, jr_bytes data, mode_t mode, uid_t uid, gid_t gid,
                jr_error *e)
{
        _cleanup_close_ int dfd = open(dir, O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (dfd < 0)
                return jr_error_errno(e, "open \"%s\"", dir);
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return jr_error_errno(e, "remove \"%s/%s\"", dir, name);
        _cleanup_close_ int fd =
            openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return jr_error_errno(e, "create \"%s/%s\"", dir, name);
        if (jr_write_all(fd, data.ptr, data.len) < 0)
                return jr_error_errno(e, "write \"%s/%s\"", dir, name);
        if (uid && fchown(fd, uid, gid) < 0)
                return jr_error_errno(e, "chown \"%s/%s\"", dir, name);
        return 0;
}

int jr_memfd_reset(int fd)
{
        return ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

jr_bytes jr_map_fd(int fd)
{
        off_t size = lseek(fd, 0, SEEK_END);
        if (size <= 0)
                return (jr_bytes){NULL, 0};
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return (jr_bytes){NULL, 0};
        return (jr_bytes){p, (size_t)size};
}

void jr_unmap(jr_bytes *b)
{
        if (b->ptr)
                munmap((void *)b->ptr, b->len);
        *b = (jr_bytes){NULL, 0};
}
