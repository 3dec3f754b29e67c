/* Build artifacts carried out of a jail-written directory. See artifacts.h. */
#include "artifacts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int jr_carry_artifacts(const char *from_dir, const char *to_dir, const jr_lang *lang, jr_error *e)
{
        _cleanup_close_ int bfd = open(from_dir, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int rfd = open(to_dir, O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (bfd < 0 || rfd < 0)
                return jr_error_errno(e, "open the work directories");
        int dfd = dup(bfd);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        close(dfd);
                return jr_error_errno(e, "read \"%s\"", from_dir);
        }
        _cleanup_closedir_ DIR *dir = d;
        struct dirent *de;
        char buf[65536];
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
                        continue;
                if (!jr_lang_is_artifact(lang, de->d_name))
                        continue;
                _cleanup_close_ int in =
                    openat(bfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                if (in < 0)
                        continue; /* a symlink or a vanished file is no artifact */
                struct stat st;
                if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                _cleanup_close_ int outfd = openat(
                    rfd, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
                if (outfd < 0)
                        return jr_error_errno(e, "create artifact \"%s\"", de->d_name);
                ssize_t n;
                while ((n = read(in, buf, sizeof buf)) > 0)
                        if (write_all(outfd, buf, (size_t)n) < 0)
                                return jr_error_errno(e, "copy artifact \"%s\"", de->d_name);
                if (n < 0)
                        return jr_error_errno(e, "read artifact \"%s\"", de->d_name);
        }
        return 0;
}
