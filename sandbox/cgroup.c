/* cgroup manager, common part: mode detection, the backend dispatch table, run names,
 * helpers that read and write cgroup files through directory fds, the bounded kill and
 * rmdir loops, and the clean-up of run cgroups left behind by a crashed process.
 *
 * The backends (cgroup_v1.c, cgroup_v2.c) only decide which files to touch. */
#include "cgroup_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "clock.h"

/* How many jr_cg are open in this process: stale clean-up may reclaim jr-<own pid>-*
 * directories only when none is (they can then only come from an earlier process that
 * had our pid). */
static int open_count;

/* ---- small helpers --------------------------------------------------------------------- */

void jr_cg_sleep_us(unsigned us)
{
        struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int path_join(char *out, size_t size, const char *a, const char *b)
{
        size_t la = strlen(a);
        while (la > 1 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        int n;
        if (*b == '\0')
                n = snprintf(out, size, "%.*s", (int)la, a);
        else if (la == 1 && a[0] == '/')
                n = snprintf(out, size, "/%s", b);
        else
                n = snprintf(out, size, "%.*s/%s", (int)la, a, b);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

void jr_cg_dir_init(jr_cg_dir *d)
{
        d->fd = -1;
        d->what = 0;
        d->path[0] = '\0';
}

void jr_cg_dir_close(jr_cg_dir *d)
{
        if (d->fd >= 0)
                close(d->fd);
        d->fd = -1;
}

int jr_cg_dir_open(jr_cg_dir *d, const char *path, unsigned what, jr_error *e)
{
        if (strlen(path) >= sizeof d->path)
                return jr_error_set(e, ENAMETOOLONG, "open \"%s\"", path);
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s\"", path);
        jr_cg_dir_close(d);
        d->fd = fd;
        d->what = what;
        snprintf(d->path, sizeof d->path, "%s", path);
        return 0;
}

int jr_cg_dir_mkdir(const jr_cg_dir *parent, const char *name, int flags, bool allow_existing,
                    jr_cg_dir *d, bool *created, jr_error *e)
{
        char path[PATH_MAX];
        if (path_join(path, sizeof path, parent->path, name) < 0)
                return jr_error_set(e, ENAMETOOLONG, "mkdir \"%s/%s\"", parent->path, name);

        bool made = true;
        if (mkdirat(parent->fd, name, 0755) < 0) {
                if (errno != EEXIST || !allow_existing)
                        return jr_error_errno(e, "mkdir \"%s\"", path);
                /* EEXIST says nothing about what is there: make sure it is a directory
                 * (on cgroupfs it can only be one, but the check is cheap and explicit). */
                struct stat st;
                if (fstatat(parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return jr_error_errno(e, "stat \"%s\"", path);
                if (!S_ISDIR(st.st_mode))
                        return jr_error_set(e, ENOTDIR, "mkdir \"%s\": exists", path);
                made = false;
        }
        int fd = openat(parent->fd, name, flags | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                int err = errno;
                if (made)
                        unlinkat(parent->fd, name, AT_REMOVEDIR);
                return jr_error_set(e, err, "open \"%s\"", path);
        }
        jr_cg_dir_close(d);
        d->fd = fd;
        d->what = parent->what;
        memcpy(d->path, path, sizeof path);
        if (created)
                *created = made;
        return 0;
}

bool jr_cg_has_file(const jr_cg_dir *d, const char *file)
{
        struct stat st;
        return fstatat(d->fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- reading and writing cgroup files ------------------------------------------------- */

int jr_cg_write(const jr_cg_dir *d, const char *file, const char *val, jr_error *e)
{
        int err = 0;
        int fd = openat(d->fd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                err = errno;
        } else {
                size_t len = strlen(val);
                /* cgroup files take one value per write(2); a short write is an error. */
                ssize_t n = write(fd, val, len);
                if (n < 0)
                        err = errno;
                else if ((size_t)n != len)
                        err = EIO;
                close(fd);
        }
        if (err) {
                jr_error_set(e, err, "write \"%s/%s\"", d->path, file);
                return -err;
        }
        return 0;
}

int jr_cg_write_u64(const jr_cg_dir *d, const char *file, uint64_t v, jr_error *e)
{
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        return jr_cg_write(d, file, buf, e);
}

/* Cgroup files are seq files: one read returns every record that fits in the kernel's
 * page-sized buffer and the caller's. A read that came back short while the total is well
 * under a page therefore reached the end; skipping the read that would return 0 saves a
 * syscall per file on the per-run path. */
static bool short_read_ends(size_t asked, ssize_t n, size_t total)
{
        return n > 0 && (size_t)n < asked && total < 2048;
}

static ssize_t read_fd_all(int fd, char *buf, size_t size)
{
        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        return -EFBIG;
                size_t asked = size - 1 - len;
                ssize_t n = read(fd, buf + len, asked);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (short_read_ends(asked, n, len))
                        break;
        }
        buf[len] = '\0';
        return (ssize_t)len;
}

ssize_t jr_cg_read(const jr_cg_dir *d, const char *file, char *buf, size_t size, jr_error *e)
{
        int fd = openat(d->fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                int err = errno;
                jr_error_set(e, err, "read \"%s/%s\"", d->path, file);
                return -err;
        }
        ssize_t n = read_fd_all(fd, buf, size);
        close(fd);
        if (n < 0) {
                jr_error_set(e, (int)-n, "read \"%s/%s\"", d->path, file);
                return n;
        }
        return n;
}

ssize_t jr_cg_pread_fd(int fd, char *buf, size_t size)
{
        /* A kernfs seq file regenerates its content when read from offset 0 again, so one
         * fd kept open serves every supervision tick without open/close. */
        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        return -EFBIG;
                size_t asked = size - 1 - len;
                ssize_t n = pread(fd, buf + len, asked, (off_t)len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (short_read_ends(asked, n, len))
                        break;
        }
        buf[len] = '\0';
        return (ssize_t)len;
}

/* quick: records are small (cgroup.procs), so the short-read shortcut is safe. Not for
 * /proc/self/mountinfo, where one record (an overlayfs with many layers) can exceed it. */
static int read_alloc(const jr_cg_dir *d, const char *file, bool quick, char **out, jr_error *e)
{
        _cleanup_close_ int fd = openat(d->fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                int err = errno;
                jr_error_set(e, err, "read \"%s/%s\"", d->path, file);
                return -err;
        }
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return jr_error_set(e, ENOMEM, "read \"%s/%s\"", d->path, file), -ENOMEM;
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap >= (64u << 20))
                                return jr_error_set(e, EFBIG, "read \"%s/%s\"", d->path, file),
                                       -EFBIG;
                        char *nb = realloc(buf, cap * 2);
                        if (!nb)
                                return jr_error_set(e, ENOMEM, "read \"%s/%s\"", d->path, file),
                                       -ENOMEM;
                        buf = nb;
                        cap *= 2;
                }
                size_t asked = cap - 1 - len;
                ssize_t n = read(fd, buf + len, asked);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int err = errno;
                        jr_error_set(e, err, "read \"%s/%s\"", d->path, file);
                        return -err;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (quick && short_read_ends(asked, n, len))
                        break;
        }
        buf[len] = '\0';
        *out = TAKE_PTR(buf);
        return 0;
}

int jr_cg_read_alloc(const jr_cg_dir *d, const char *file, char **out, jr_error *e)
{
        return read_alloc(d, file, true, out, e);
}

int jr_cg_parse_u64(const char *s, uint64_t *v)
{
        while (*s == ' ' || *s == '\t')
                s++;
        if (strncmp(s, "max", 3) == 0 && (s[3] == '\0' || isspace((unsigned char)s[3]))) {
                *v = UINT64_MAX;
                return 0;
        }
        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long x = strtoull(s, &end, 10);
        if (errno != 0)
                return -errno;
        while (*end == ' ' || *end == '\t' || *end == '\n')
                end++;
        if (*end != '\0')
                return -EINVAL;
        *v = x;
        return 0;
}

int jr_cg_parse_key_u64(const char *text, const char *key, uint64_t *v)
{
        size_t klen = strlen(key);
        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n');
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
                        char num[32];
                        size_t n = nl ? (size_t)(nl - line) - klen - 1 : strlen(line + klen + 1);
                        if (n == 0 || n >= sizeof num)
                                return -EINVAL;
                        memcpy(num, line + klen + 1, n);
                        num[n] = '\0';
                        return jr_cg_parse_u64(num, v);
                }
                line = nl ? nl + 1 : NULL;
        }
        return -ENOENT;
}

bool jr_cg_list_has(const char *list, const char *token)
{
        size_t tlen = strlen(token);
        const char *p = list;
        while (*p) {
                while (*p == ' ' || *p == ',' || *p == '\n')
                        p++;
                const char *start = p;
                while (*p && *p != ' ' && *p != ',' && *p != '\n')
                        p++;
                if ((size_t)(p - start) == tlen && tlen > 0 && memcmp(start, token, tlen) == 0)
                        return true;
        }
        return false;
}

int jr_cg_read_u64(const jr_cg_dir *d, const char *file, uint64_t *v, jr_error *e)
{
        char buf[64];
        ssize_t n = jr_cg_read(d, file, buf, sizeof buf, e);
        if (n < 0)
                return (int)n;
        uint64_t x;
        int r = jr_cg_parse_u64(buf, &x);
        if (r < 0) {
                jr_error_set(e, -r, "parse \"%s/%s\" (\"%.20s\")", d->path, file, buf);
                return r;
        }
        *v = x;
        return 0;
}

int jr_cg_read_key_u64(const jr_cg_dir *d, const char *file, const char *key, uint64_t *v,
                       jr_error *e)
{
        char buf[4096];
        ssize_t n = jr_cg_read(d, file, buf, sizeof buf, e);
        if (n < 0)
                return (int)n;
        uint64_t x;
        int r = jr_cg_parse_key_u64(buf, key, &x);
        if (r < 0) {
                if (r == -ENOENT)
                        jr_error_set(e, 0, "read \"%s/%s\": no \"%s\" line", d->path, file, key);
                else
                        jr_error_set(e, -r, "parse \"%s/%s\" at \"%s\"", d->path, file, key);
                return r;
        }
        *v = x;
        return 0;
}

int jr_cg_read_procs(const jr_cg_dir *d, pid_t **pids, size_t *n, jr_error *e)
{
        _cleanup_free_ char *text = NULL;
        int r = jr_cg_read_alloc(d, "cgroup.procs", &text, e);
        if (r < 0)
                return r;
        size_t cap = 0, cnt = 0;
        _cleanup_free_ pid_t *v = NULL;
        for (char *p = text; *p;) {
                char *end;
                long x = strtol(p, &end, 10);
                if (end == p)
                        break;
                if (jr_grow(&v, &cap, cnt + 1, sizeof *v, 16) < 0) {
                        jr_error_set(e, ENOMEM, "read \"%s/cgroup.procs\"", d->path);
                        return -ENOMEM;
                }
                v[cnt++] = (pid_t)x;
                p = end;
                while (*p == '\n' || *p == ' ')
                        p++;
        }
        *pids = TAKE_PTR(v);
        *n = cnt;
        return 0;
}

static bool pid_in(const pid_t *v, size_t n, pid_t pid)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == pid)
                        return true;
        return false;
}

/* Enough for a fork bomb held by pids.max: a SIGKILLed task can no longer fork, so every
 * round can only discover children forked before their parent got its signal. */
#define KILL_ROUNDS 256

int jr_cg_kill_listed(const jr_cg_dir *d, jr_error *e)
{
        pid_t self = getpid();
        _cleanup_free_ pid_t *done = NULL;
        size_t ndone = 0, capdone = 0;

        for (int round = 0; round < KILL_ROUNDS; round++) {
                _cleanup_free_ pid_t *list = NULL;
                size_t n = 0;
                int r = jr_cg_read_procs(d, &list, &n, e);
                if (r == -ENOENT || r == -ENODEV)
                        return 0; /* the cgroup is gone: nothing left to kill */
                if (r < 0)
                        return r;

                _cleanup_free_ pid_t *pin_pid = calloc(n ? n : 1, sizeof *pin_pid);
                _cleanup_free_ int *pin_fd = calloc(n ? n : 1, sizeof *pin_fd);
                if (!pin_pid || !pin_fd)
                        return jr_error_set(e, ENOMEM, "kill \"%s\"", d->path);
                size_t npin = 0;
                for (size_t i = 0; i < n; i++) {
                        pid_t pid = list[i];
                        /* 0: not visible in our pid namespace; ourselves: never. */
                        if (pid <= 1 || pid == self || pid_in(done, ndone, pid))
                                continue;
                        /* Pin the process first, then check that the pid is still listed:
                         * if the pinned process is alive at that check the pid is still
                         * its own and it is in the cgroup; if it died meanwhile the pidfd
                         * signal fails with ESRCH and a recycled pid is never hit. */
                        int fd = pidfd_open(pid, 0);
                        if (fd < 0 && errno == ESRCH)
                                continue;
                        pin_pid[npin] = pid;
                        /* -1 (kernel < 5.3, out of fds): a plain kill after the same
                         * check, which leaves only a tiny window for pid reuse. */
                        pin_fd[npin] = fd;
                        npin++;
                }
                if (npin == 0)
                        return 0; /* everything listed has been signalled: it is dying */

                _cleanup_free_ pid_t *check = NULL;
                size_t ncheck = 0;
                r = jr_cg_read_procs(d, &check, &ncheck, e);
                for (size_t i = 0; i < npin; i++) {
                        int fd = pin_fd[i];
                        if (r == 0 && pid_in(check, ncheck, pin_pid[i])) {
                                int k = fd >= 0 ? pidfd_send_signal(fd, SIGKILL, NULL, 0)
                                                : kill(pin_pid[i], SIGKILL);
                                if (k == 0) {
                                        jr_grow(&done, &capdone, ndone + 1, sizeof *done, 16);
                                        if (ndone < capdone)
                                                done[ndone++] = pin_pid[i];
                                }
                        }
                        if (fd >= 0)
                                close(fd);
                }
                if (r == -ENOENT || r == -ENODEV)
                        return 0;
                if (r < 0)
                        return r;
        }
        return jr_error_set(e, EAGAIN, "kill \"%s\": new processes still appear after %d rounds",
                            d->path, KILL_ROUNDS);
}

int jr_cg_rmdir_wait(const jr_cg_dir *parent, const char *name, unsigned timeout_ms, jr_error *e)
{
        uint64_t start = 0;
        unsigned nap = 200; /* us, doubling up to 20 ms: quick when the last exit is racing */
        for (;;) {
                if (unlinkat(parent->fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return jr_error_errno(e, "rmdir \"%s/%s\"", parent->path, name);
                uint64_t t = jr_mono_us();
                if (start == 0)
                        start = t;
                uint64_t spent = t - start;
                if (spent >= (uint64_t)timeout_ms * 1000u)
                        break;
                uint64_t left = (uint64_t)timeout_ms * 1000u - spent;
                jr_cg_sleep_us(nap < left ? nap : (unsigned)left);
                if (nap < 20000)
                        nap *= 2;
        }

        /* Say what keeps it busy. */
        char who[128] = "none";
        jr_cg_dir d;
        jr_cg_dir_init(&d);
        d.fd = openat(parent->fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (d.fd >= 0) {
                path_join(d.path, sizeof d.path, parent->path, name);
                _cleanup_free_ pid_t *pids = NULL;
                size_t n = 0;
                if (jr_cg_read_procs(&d, &pids, &n, NULL) == 0 && n > 0) {
                        size_t off = 0;
                        for (size_t i = 0; i < n && off + 16 < sizeof who; i++)
                                off += (size_t)snprintf(who + off, sizeof who - off, "%s%d",
                                                        i ? " " : "", (int)pids[i]);
                        if (n > 8)
                                snprintf(who + off, sizeof who - off, " ... (%zu)", n);
                }
                jr_cg_dir_close(&d);
        }
        return jr_error_set(e, EBUSY, "rmdir \"%s/%s\" after %u ms (processes: %s)", parent->path,
                            name, timeout_ms, who);
}

/* ---- stale run cgroups -------------------------------------------------------------- */

pid_t jr_cg_stale_pid(const char *name)
{
        size_t plen = strlen(JR_CG_PREFIX);
        if (strncmp(name, JR_CG_PREFIX, plen) != 0)
                return -1;
        const char *p = name + plen;
        long pid = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 10) {
                pid = pid * 10 + (*p - '0');
                p++;
                digits++;
        }
        if (digits == 0 || *p != '-' || pid <= 0 || pid > INT32_MAX)
                return -1;
        return (pid_t)pid;
}

int jr_cg_cleanup_stale(const jr_cg_dir *parent, bool skip_self)
{
        /* O_PATH fds cannot be listed: open the directory itself for readdir. */
        int fd = openat(parent->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        _cleanup_closedir_ DIR *dir = fdopendir(fd);
        if (!dir) {
                close(fd);
                return 0;
        }
        pid_t self = getpid();
        int removed = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                pid_t pid = jr_cg_stale_pid(de->d_name);
                if (pid <= 0)
                        continue;
                if (pid == self) {
                        if (skip_self)
                                continue;
                } else if (kill(pid, 0) == 0 || errno != ESRCH) {
                        continue; /* alive (EPERM also means alive) */
                }
                /* rmdir only: a cgroup with processes or children fails with EBUSY and is
                 * left alone; nothing is ever removed recursively. */
                if (unlinkat(fd, de->d_name, AT_REMOVEDIR) == 0)
                        removed++;
        }
        return removed;
}

/* ---- /proc/self/mountinfo and /proc/self/cgroup -------------------------------------- */

int jr_cg_read_proc(const char *path, char **out, jr_error *e)
{
        jr_cg_dir d;
        jr_cg_dir_init(&d);
        d.fd = AT_FDCWD;
        snprintf(d.path, sizeof d.path, "%s", "");
        /* The growing reader: path is absolute, so AT_FDCWD and an empty prefix work. */
        int r = read_alloc(&d, path, false, out, NULL);
        if (r < 0)
                return jr_error_set(e, -r, "read \"%s\"", path);
        return 0;
}

/* Mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
        char *w = s;
        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else {
                        *w++ = *r++;
                }
        }
        *w = '\0';
}

static bool path_is_prefix(const char *prefix, const char *path)
{
        size_t n = strlen(prefix);
        if (n == 1 && prefix[0] == '/')
                return path[0] == '/';
        return strncmp(prefix, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

typedef struct mi_line {
        char *root, *mnt, *fstype, *opts;
} mi_line;

/* Split one mountinfo line (modified in place). */
static bool mi_parse(char *line, mi_line *l)
{
        char *f[6] = {0};
        char *save = NULL;
        char *tok = strtok_r(line, " ", &save);
        int i = 0;
        for (; tok && i < 6; i++) {
                f[i] = tok;
                tok = strtok_r(NULL, " ", &save);
        }
        if (i < 6)
                return false;
        /* optional fields up to "-" */
        while (tok && strcmp(tok, "-") != 0)
                tok = strtok_r(NULL, " ", &save);
        if (!tok)
                return false;
        char *fstype = strtok_r(NULL, " ", &save);
        char *source = strtok_r(NULL, " ", &save);
        char *opts = strtok_r(NULL, " ", &save);
        if (!fstype || !source || !opts)
                return false;
        unescape_octal(f[3]);
        unescape_octal(f[4]);
        l->root = f[3];
        l->mnt = f[4];
        l->fstype = fstype;
        l->opts = opts;
        return true;
}

static int mi_copy(const mi_line *l, jr_cg_mount *m)
{
        if (strlen(l->mnt) >= sizeof m->mnt || strlen(l->root) >= sizeof m->root ||
            strlen(l->opts) >= sizeof m->opts)
                return -ENAMETOOLONG;
        strcpy(m->mnt, l->mnt);
        strcpy(m->root, l->root);
        strcpy(m->opts, l->opts);
        return 0;
}

int jr_cg_mountinfo_find(const char *mountinfo, const char *fstype, const char *controller,
                         const char *own_path, jr_cg_mount *m)
{
        _cleanup_free_ char *text = strdup(mountinfo);
        if (!text)
                return -ENOMEM;
        int best = -1;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                mi_line l;
                if (!mi_parse(line, &l) || strcmp(l.fstype, fstype) != 0)
                        continue;
                if (controller && !jr_cg_list_has(l.opts, controller))
                        continue;
                /* A mount whose root is outside our cgroup cannot reach it; among the
                 * usable ones prefer the conventional place. */
                int score = 0;
                if (own_path ? path_is_prefix(l.root, own_path) : strcmp(l.root, "/") == 0)
                        score += 2;
                if (path_is_prefix("/sys/fs/cgroup", l.mnt))
                        score += 1;
                if (score > best) {
                        if (mi_copy(&l, m) < 0)
                                continue;
                        best = score;
                }
        }
        return best >= 0 ? 0 : -ENOENT;
}

int jr_cg_mountinfo_at(const char *mountinfo, const char *mnt, jr_cg_mount *m)
{
        _cleanup_free_ char *text = strdup(mountinfo);
        if (!text)
                return -ENOMEM;
        int found = -ENOENT;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                mi_line l;
                if (!mi_parse(line, &l) || strcmp(l.mnt, mnt) != 0)
                        continue;
                /* the last mount on a path is the visible one */
                if (mi_copy(&l, m) == 0)
                        found = 0;
        }
        return found;
}

int jr_cg_proc_cgroup_find(const char *text, const char *controller, char *path, size_t size)
{
        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                const char *c1 = memchr(line, ':', len);
                const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
                if (c2) {
                        char ctrls[256];
                        size_t clen = (size_t)(c2 - c1 - 1);
                        bool match;
                        if (!controller) {
                                match = clen == 0 && c1 - line == 1 && line[0] == '0';
                        } else if (clen < sizeof ctrls) {
                                memcpy(ctrls, c1 + 1, clen);
                                ctrls[clen] = '\0';
                                match = jr_cg_list_has(ctrls, controller);
                        } else {
                                match = false;
                        }
                        if (match) {
                                size_t plen = len - (size_t)(c2 + 1 - line);
                                if (plen == 0 || plen >= size)
                                        return -ENAMETOOLONG;
                                memcpy(path, c2 + 1, plen);
                                path[plen] = '\0';
                                return 0;
                        }
                }
                line = nl ? nl + 1 : NULL;
        }
        return -ENOENT;
}

int jr_cg_join_path(const jr_cg_mount *m, const char *own, char *out, size_t size)
{
        const char *rel;
        if (strcmp(m->root, "/") == 0)
                rel = own;
        else if (path_is_prefix(m->root, own))
                rel = own + strlen(m->root);
        else
                return -ENOENT; /* our cgroup is not below what this mount shows */
        return path_join(out, size, m->mnt, rel);
}

/* ---- the public interface -------------------------------------------------------------- */

static bool name_ok(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > JR_CG_NAME_MAX || name[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)name[i];
                if (!isalnum(c) && c != '-' && c != '_' && c != '.')
                        return false;
        }
        return true;
}

static void cg_free(jr_cg *cg)
{
        for (size_t i = 0; i < cg->nbases; i++)
                jr_cg_dir_close(&cg->bases[i]);
        free(cg);
}

int jr_cg_open_at(const jr_cg_open_opts *opts, jr_cg **out, jr_error *e)
{
        jr_cg_mode mode = opts->mode;
        if (mode == JR_CG_AUTO) {
                /* A pure unified host mounts cgroup2 itself at /sys/fs/cgroup; a hybrid or
                 * legacy host has a tmpfs there with the v1 hierarchies below it. */
                struct statfs sfs;
                if (statfs("/sys/fs/cgroup", &sfs) < 0)
                        return jr_error_errno(e, "cgroup: statfs \"/sys/fs/cgroup\"");
                mode = sfs.f_type == CGROUP2_SUPER_MAGIC ? JR_CG_V2 : JR_CG_V1;
        }
        if (mode != JR_CG_V1 && mode != JR_CG_V2)
                return jr_error_set(e, EINVAL, "cgroup: unknown mode %d", (int)mode);

        jr_cg *cg = calloc(1, sizeof *cg);
        if (!cg)
                return jr_error_set(e, ENOMEM, "cgroup");
        cg->mode = mode;
        cg->ops = mode == JR_CG_V2 ? &jr_cg_v2_ops : &jr_cg_v1_ops;
        cg->fallbacks = opts->fallbacks;
        for (size_t i = 0; i < JR_CG_MAX_DIRS; i++)
                jr_cg_dir_init(&cg->bases[i]);
        cg->v2_required = opts->v2_custom_controllers ? opts->v2_controllers : JR_CG_ALL;
        cg->v2_always_leaf = opts->v2_always_leaf;
        if (opts->v2_mount)
                snprintf(cg->v2_mount, sizeof cg->v2_mount, "%s", opts->v2_mount);

        if (cg->ops->open(cg, e) < 0) {
                cg_free(cg);
                return jr_error_wrap(e, "cgroup %s", mode == JR_CG_V2 ? "v2" : "v1");
        }

        /* Reclaim run cgroups of crashed earlier processes. Our own pid's directories are
         * fair game only while no other jr_cg of this process could own them. */
        for (size_t i = 0; i < cg->nbases; i++)
                jr_cg_cleanup_stale(&cg->bases[i],
                                    __atomic_load_n(&open_count, __ATOMIC_SEQ_CST) > 0);
        __atomic_add_fetch(&open_count, 1, __ATOMIC_SEQ_CST);
        *out = cg;
        return 0;
}

int jr_cg_open(jr_cg_mode mode, unsigned forced_fallbacks, jr_cg **out, jr_error *e)
{
        jr_cg_open_opts o = {.mode = mode, .fallbacks = forced_fallbacks};
        return jr_cg_open_at(&o, out, e);
}

static void run_close_fds(jr_cg_run *run)
{
        if (run->cpu_fd >= 0)
                close(run->cpu_fd);
        if (run->mem_current_fd >= 0)
                close(run->mem_current_fd);
        run->cpu_fd = run->mem_current_fd = -1;
        for (size_t i = 0; i < JR_CG_MAX_DIRS; i++) {
                if (run->procs_fds[i] >= 0)
                        close(run->procs_fds[i]);
                run->procs_fds[i] = -1;
        }
        for (size_t i = 0; i < run->ndirs; i++)
                jr_cg_dir_close(&run->dirs[i]);
}

static void run_unlink(jr_cg_run *run)
{
        for (jr_cg_run **p = &run->cg->runs; *p; p = &(*p)->next) {
                if (*p == run) {
                        *p = run->next;
                        break;
                }
        }
}

/* rmdir the run's directories (those not yet removed), sharing one time budget. */
static int run_remove(jr_cg_run *run, unsigned budget_ms, jr_error *e)
{
        int ret = 0;
        uint64_t start = jr_mono_us();
        for (size_t i = 0; i < run->ndirs; i++) {
                if (run->removed & (1u << i))
                        continue;
                uint64_t spent_ms = (jr_mono_us() - start) / 1000u;
                unsigned left = spent_ms < budget_ms ? budget_ms - (unsigned)spent_ms : 0;
                jr_error err;
                if (jr_cg_rmdir_wait(&run->cg->bases[i], run->name, left, &err) < 0) {
                        if (ret == 0 && e)
                                *e = err;
                        ret = -1;
                        continue;
                }
                run->removed |= 1u << i;
        }
        return ret;
}

void jr_cg_close(jr_cg *cg)
{
        if (!cg)
                return;
        while (cg->runs) {
                /* Runs the caller did not destroy, or whose destroy failed: kill what is
                 * left and try the rmdir once more (bounded). */
                jr_cg_run *run = cg->runs;
                cg->ops->run_kill(run, NULL);
                run_remove(run, 1000, NULL);
                run_close_fds(run);
                run_unlink(run);
                free(run);
        }
        if (cg->ops->close)
                cg->ops->close(cg);
        cg_free(cg);
        __atomic_sub_fetch(&open_count, 1, __ATOMIC_SEQ_CST);
}

jr_cg_mode jr_cg_get_mode(const jr_cg *cg)
{
        return cg->mode;
}

unsigned jr_cg_get_fallbacks(const jr_cg *cg)
{
        return cg->fallbacks;
}

const char *jr_cg_describe(const jr_cg *cg)
{
        return cg->describe;
}

int jr_cg_run_create(jr_cg *cg, const char *name, const jr_cg_limits *lim, jr_cg_run **out,
                     jr_error *e)
{
        if (!name_ok(name))
                return jr_error_set(e, EINVAL,
                                    "cgroup: run name \"%.80s\": want 1-%d of [A-Za-z0-9_.-], "
                                    "not starting with '.'",
                                    name, JR_CG_NAME_MAX);
        jr_cg_limits none = {0};
        if (!lim)
                lim = &none;
        if (lim->nano_cpus &&
            (lim->nano_cpus < JR_NANO_CPUS_MIN || lim->nano_cpus > JR_NANO_CPUS_MAX))
                return jr_error_set(e, EINVAL,
                                    "cgroup: CPU bandwidth of %" PRIu64
                                    " nano-CPUs: want 0.01 to 1024 CPUs",
                                    lim->nano_cpus);

        jr_cg_run *run = calloc(1, sizeof *run);
        if (!run)
                return jr_error_set(e, ENOMEM, "cgroup: run \"%s\"", name);
        run->cg = cg;
        run->cpu_fd = run->mem_current_fd = -1;
        for (size_t i = 0; i < JR_CG_MAX_DIRS; i++) {
                jr_cg_dir_init(&run->dirs[i]);
                run->procs_fds[i] = -1;
        }
        /* The pid in the name keeps concurrent supervisors apart and lets a later process
         * recognise the directory as stale once we are gone. getpid() now, not at open: a
         * spawner forked after open creates its runs under its own pid. */
        snprintf(run->name, sizeof run->name, JR_CG_PREFIX "%d-%s", (int)getpid(), name);

        if (cg->ops->run_create(run, lim, e) < 0) {
                run_close_fds(run);
                for (size_t i = 0; i < run->ndirs; i++)
                        unlinkat(cg->bases[i].fd, run->name, AT_REMOVEDIR);
                free(run);
                return -1;
        }
        run->next = cg->runs;
        cg->runs = run;
        *out = run;
        return 0;
}

int jr_cg_run_clone_fd(const jr_cg_run *run)
{
        if (run->cg->mode != JR_CG_V2 || (run->cg->fallbacks & JR_FB_NO_CLONE_INTO_CGROUP))
                return -1;
        return run->dirs[0].fd;
}

int jr_cg_run_procs_fds(jr_cg_run *run, int *fds, size_t max, jr_error *e)
{
        if (jr_cg_run_clone_fd(run) >= 0)
                return 0;
        if (run->ndirs > max)
                return jr_error_set(e, EINVAL, "cgroup: %zu hierarchies, room for %zu", run->ndirs,
                                    max);
        for (size_t i = 0; i < run->ndirs; i++) {
                if (run->procs_fds[i] < 0) {
                        run->procs_fds[i] = openat(run->dirs[i].fd, "cgroup.procs",
                                                   O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                        if (run->procs_fds[i] < 0)
                                return jr_error_errno(e, "open \"%s/cgroup.procs\"",
                                                      run->dirs[i].path);
                }
                fds[i] = run->procs_fds[i];
        }
        return (int)run->ndirs;
}

/* The same for both backends: a run has one directory per hierarchy (v2: one). */
int jr_cg_run_attach(jr_cg_run *run, pid_t pid, jr_error *e)
{
        char buf[16];
        snprintf(buf, sizeof buf, "%d", (int)pid); /* 0 means the writing process */
        for (size_t i = 0; i < run->ndirs; i++)
                if (jr_cg_write(&run->dirs[i], "cgroup.procs", buf, e) < 0)
                        return -1;
        return 0;
}

int jr_cg_run_poll(jr_cg_run *run, uint64_t *cpu_ns, jr_error *e)
{
        return run->cg->ops->run_poll(run, cpu_ns, e);
}

int jr_cg_run_stats(jr_cg_run *run, jr_cg_stats *st, jr_error *e)
{
        return run->cg->ops->run_stats(run, st, e);
}

int jr_cg_run_kill(jr_cg_run *run, jr_error *e)
{
        return run->cg->ops->run_kill(run, e);
}

int jr_cg_run_destroy(jr_cg_run *run, jr_error *e)
{
        if (!run)
                return 0;
        /* Open fds on a cgroup's directory or files do not block its rmdir. On failure the
         * run stays listed, fds and all, so jr_cg_close() can kill and try again; the
         * caller is done with it either way. */
        if (run_remove(run, 2000, e) < 0) {
                run->orphan = true;
                return -1;
        }
        run_close_fds(run);
        run_unlink(run);
        free(run);
        return 0;
}
