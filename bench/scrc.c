/* bench/scrc: the reference worker's (SCRC's) benchmark workload against `jailrun serve`.
 *
 * The reference simulator (docs/messages.md, "The reference workload") sends submissions of five
 * languages x five outcomes (ok, wa, tl, ml, bf) with fixed limits and tests, drawn by a
 * profile's weights and sent with exponential gaps (a Poisson process) at the profile's
 * offered rate. After a warm-up it measures a window: throughput counts the results of the
 * submissions sent in the window, latency is receive time minus send time. scrc does the
 * same against real `jailrun serve` processes, on a librdkafka mock cluster that runs inside
 * scrc (the embedded broker; each serve connects to it over TCP), and adds:
 *   - saturation runs: 2 x (executors) submissions outstanding, a new one sent as each
 *     result comes back, so the rate is what jailrun takes, not what is offered;
 *   - a RUNNER_MAX_PARALLEL sweep, two `serve` replicas in one consumer group (own spool,
 *     own slot uids), and the timeout-heavy profile against heavy;
 *   - CPU seconds per submission by part. Compilers + programs: every task that ran as one
 *     of the run's slot uids (the kernel's taskstats exit records, plus the live threads'
 *     times at the window's edges); programs alone: the results' tests[].cpu_ms; jailrun:
 *     the serve process trees' CPU (/proc, children included) minus both. The CPU bound on
 *     throughput is cores x 60 s / (CPU seconds per submission).
 * Every run gets its own topics, consumer group and spool, and its ids are the reference's
 * `{language}-{outcome}-{n}` with n restarting at 1 in every run (the ids repeat across
 * runs by design; they never meet the same serve or spool twice). Results whose id was
 * already answered (a rebalance between replicas can judge a submission twice) are counted
 * as duplicates and otherwise ignored.
 *
 * Output (--out, default build/bench-out): summary.txt (what is printed), runs.tsv,
 * samples.tsv, latency.tsv, share.tsv, cpu-comm.tsv, chart-*.tsv, one PNG per chart drawn
 * by gnuplot from bench/scrc.gp, logs/ (each serve's log). Run as root (jails, taskstats).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "bench.h"
#include "kafka.h"

extern char **environ;

#define NPARTS   4   /* partitions of every topic */
#define MAXREP   4   /* serve replicas in one group */
#define MAXRUNS  64  /* runs in one plan */
#define UID_STEP 100 /* replica k runs its slots as uid base + k * UID_STEP + slot */

/* ---- the workload (docs/messages.md, "The reference workload") ------- */

enum { L_PYTHON, L_GO, L_C, L_CPP, L_JAVA, NLANG };
enum { O_OK, O_WA, O_TL, O_ML, O_BF, NOUT };
static const char *const lang_name[NLANG] = {"python", "go", "c", "cpp", "java"};
static const char *const out_name[NOUT] = {"ok", "wa", "tl", "ml", "bf"};
static const char *const out_status[NOUT] = {"OK", "WA", "TL", "ML", "BF"};

/* limits per outcome; tests: 2 = the two sum tests, 1 = one empty test, 0 = none */
static const struct {
        int time_ms;
        long long memory;
        int tests;
} out_limits[NOUT] = {
    {2000, 256LL << 20, 2}, {2000, 256LL << 20, 2}, {1000, 256LL << 20, 1},
    {5000, 16LL << 20, 1},  {2000, 256LL << 20, 0},
};

/* ok: the sum of the numbers on the line; wa: one too many; tl: never ends (busy, or
 * sleeping with --tl sleep); ml: allocates far more than 16 MiB; bf: does not compile. */
static const char *const sources[NLANG][NOUT] = {
    [L_PYTHON] =
        {
            "print(sum(map(int, input().split())))\n",
            "print(sum(map(int, input().split())) + 1)\n",
            "x = 0\nwhile True:\n    x += 1\n",
            "keep = []\nwhile True:\n    keep.append(bytearray(1 << 20))\n",
            "def f(:\n    pass\n",
        },
    [L_GO] =
        {
            "package main\nimport (\"bufio\";\"fmt\";\"os\";\"strconv\";\"strings\")\n"
            "func main(){r:=bufio.NewReader(os.Stdin);l,_:=r.ReadString('\\n');s:=0\n"
            "for _,f:=range strings.Fields(l){n,_:=strconv.Atoi(f);s+=n};fmt.Println(s)}\n",
            "package main\nimport (\"bufio\";\"fmt\";\"os\";\"strconv\";\"strings\")\n"
            "func main(){r:=bufio.NewReader(os.Stdin);l,_:=r.ReadString('\\n');s:=0\n"
            "for _,f:=range strings.Fields(l){n,_:=strconv.Atoi(f);s+=n};fmt.Println(s+1)}\n",
            "package main\nfunc main(){x:=0;for{x++}}\n",
            "package main\nfunc main(){var keep [][]byte;for{b:=make([]byte,1<<20);"
            "for i:=range b{b[i]=1};keep=append(keep,b)}}\n",
            "package main\nfunc main(){ undefined() }\n",
        },
    [L_C] =
        {
            "#include <stdio.h>\nint main(void){long s=0,x;while(scanf(\"%ld\",&x)==1)s+=x;"
            "printf(\"%ld\\n\",s);return 0;}\n",
            "#include <stdio.h>\nint main(void){long s=0,x;while(scanf(\"%ld\",&x)==1)s+=x;"
            "printf(\"%ld\\n\",s+1);return 0;}\n",
            "int main(void){volatile unsigned long x=0;for(;;)x++;}\n",
            "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20);"
            "if(!p)return 3;memset(p,1,1<<20);}}\n",
            "int main(void){ this is not C }\n",
        },
    [L_CPP] =
        {
            "#include <iostream>\nint main(){long s=0,x;while(std::cin>>x)s+=x;"
            "std::cout<<s<<\"\\n\";}\n",
            "#include <iostream>\nint main(){long s=0,x;while(std::cin>>x)s+=x;"
            "std::cout<<s+1<<\"\\n\";}\n",
            "#include <atomic>\nint main(){std::atomic<unsigned long> x{0};for(;;)x++;}\n",
            "#include <vector>\n#include <cstring>\nint main(){std::vector<char*> v;for(;;){"
            "char*p=new char[1<<20];std::memset(p,1,1<<20);v.push_back(p);}}\n",
            "#include <iostream>\nint main(){ std::cout << undefined_name; }\n",
        },
    [L_JAVA] =
        {
            "import java.util.*;\npublic class Main{public static void main(String[] a){"
            "Scanner s=new Scanner(System.in);long t=0;while(s.hasNextLong())t+=s.nextLong();"
            "System.out.println(t);}}\n",
            "import java.util.*;\npublic class Main{public static void main(String[] a){"
            "Scanner s=new Scanner(System.in);long t=0;while(s.hasNextLong())t+=s.nextLong();"
            "System.out.println(t+1);}}\n",
            "public class Main{public static void main(String[] a){long x=0;while(true){x++;"
            "if(x==-1)break;}System.out.println(x);}}\n",
            "import java.util.*;\npublic class Main{public static void main(String[] a){"
            "List<long[]> l=new ArrayList<>();while(true)l.add(new long[1<<17]);}}\n",
            "public class Main{public static void main(String[] a){ int x = \"no\"; }}\n",
        },
};

static const char *const tl_sleep_sources[NLANG] = {
    [L_PYTHON] = "import time\nwhile True:\n    time.sleep(1)\n",
    [L_GO] = "package main\nimport \"time\"\nfunc main(){for{time.Sleep(time.Second)}}\n",
    [L_C] = "#include <unistd.h>\nint main(void){for(;;)sleep(1);}\n",
    [L_CPP] = "#include <chrono>\n#include <thread>\nint main(){for(;;)"
              "std::this_thread::sleep_for(std::chrono::seconds(1));}\n",
    [L_JAVA] = "public class Main{public static void main(String[] a)throws Exception{"
               "while(true)Thread.sleep(1000);}}\n",
};

struct profile {
        const char *name;
        double per_min; /* offered rate */
        double lang_w[NLANG];
        double out_w[NOUT];
};

enum { P_LIGHT, P_MEDIUM, P_HEAVY, P_TIMEOUT_HEAVY, NPROF };
static const struct profile profiles[NPROF] = {
    {"light", 40, {1, 1, 1, 1, 1}, {1, 1, 0.3, 1, 1}},
    {"medium", 75, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}},
    {"heavy", 120, {1.2, 1.0, 0.9, 0.9, 1.1}, {1.0, 0.8, 0.9, 0.5, 0.6}},
    {"timeout-heavy", 120, {1.2, 1.0, 0.9, 0.9, 1.1}, {1.0, 0.8, 0.9 * 2.5, 0.5, 0.6}},
};

/* ---- options ------------------------------------------------------------------------- */

static struct {
        const char *out, *spool_root, *only, *kafka_extra, *dump;
        const char *sweep, *replicas, *rep_parallel;
        unsigned profile_parallel, uid_base;
        double warmup_s, window_s, drain_s;
        uint64_t seed;
        bool quick, verbatim, tl_sleep, no_charts;
} opt = {
    .out = "build/bench-out",
    .spool_root = "/var/tmp/jailrun-scrc",
    .profile_parallel = 2,
    .uid_base = 61000,
    .seed = 1,
};

static char jailrun[4096]; /* build/jailrun next to build/bench/scrc */
static long cores;
static double clk_tck;
static FILE *summary; /* out/summary.txt: everything say() prints */

/* ---- small helpers ------------------------------------------------------------------- */

struct serve {
        pid_t pid; /* 0 once reaped */
        char log[4096];
        char spool[4096];
};
/* the serves that are running, for bench_die() and the stop signals */
static struct serve *live_serves;
static size_t n_live;

static void rm_rf(const char *path);

static void kill_serves(void)
{
        for (size_t i = 0; i < n_live; i++)
                if (live_serves[i].pid > 0) {
                        /* each serve leads its own process group: its executors and jails go
                         * with it */
                        kill(-live_serves[i].pid, SIGKILL);
                        waitpid(live_serves[i].pid, NULL, 0);
                        live_serves[i].pid = 0;
                        rm_rf(live_serves[i].spool);
                }
        n_live = 0;
}

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("scrc: warning: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* Print to stdout and to summary.txt. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        if (summary) {
                va_start(ap, fmt);
                vfprintf(summary, fmt, ap);
                va_end(ap);
        }
        fflush(stdout);
}

static void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                bench_die("out of memory");
        return p;
}

static void *xrealloc(void *p, size_t size)
{
        p = realloc(p, size);
        if (!p)
                bench_die("out of memory");
        return p;
}

static void mkdir_p(const char *path)
{
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", path);
        for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                                bench_die("mkdir \"%s\": %s", tmp, strerror(errno));
                        *p = '/';
                }
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                bench_die("mkdir \"%s\": %s", tmp, strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        if (remove(path) < 0 && errno != ENOENT)
                warnx("remove \"%s\": %s", path, strerror(errno));
        return 0;
}

static void rm_rf(const char *path)
{
        if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                warnx("remove \"%s\": %s", path, strerror(errno));
}

static FILE *out_open(const char *name, const char *header)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", opt.out, name);
        FILE *f = fopen(path, "we");
        if (!f)
                bench_die("create \"%s\": %s", path, strerror(errno));
        if (header)
                fprintf(f, "%s\n", header);
        return f;
}

static void out_close(FILE *f, const char *name)
{
        if (fclose(f) != 0)
                bench_die("write \"%s/%s\": %s", opt.out, name, strerror(errno));
}

/* ---- random numbers (splitmix64: the same --seed gives the same submissions) ---------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static double rng_unit(void) /* [0, 1) */
{
        return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* an exponential gap with this mean: the Poisson process's inter-arrival time */
static double rng_expo(double mean)
{
        return -mean * log(1.0 - rng_unit());
}

static int rng_pick(const double *w, int n)
{
        double sum = 0;
        for (int i = 0; i < n; i++)
                sum += w[i];
        double r = rng_unit() * sum;
        for (int i = 0; i < n; i++) {
                if (r < w[i])
                        return i;
                r -= w[i];
        }
        return n - 1;
}

/* ---- messages ------------------------------------------------------------------------ */

static void gen_str(yajl_gen g, const char *s)
{
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_test(yajl_gen g, int number, const char *in, const char *expected)
{
        yajl_gen_map_open(g);
        gen_str(g, "number");
        yajl_gen_integer(g, number);
        gen_str(g, "input");
        gen_str(g, in);
        gen_str(g, "expected_output");
        gen_str(g, expected);
        yajl_gen_map_close(g);
}

/* The scenario as a submission message. `tag` (unless NULL) goes into a comment at the end
 * of the source, so that no build can be cached between submissions. */
static char *make_message(int lang, int out, const char *id, const char *tag)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                bench_die("out of memory");
        yajl_gen_map_open(g);
        gen_str(g, "type");
        gen_str(g, "script");
        gen_str(g, "id");
        gen_str(g, id);
        gen_str(g, "language");
        gen_str(g, lang_name[lang]);
        gen_str(g, "source");
        const char *src = out == O_TL && opt.tl_sleep ? tl_sleep_sources[lang] : sources[lang][out];
        if (tag) {
                char *s;
                if (asprintf(&s, "%s%s scrc %s\n", src, lang == L_PYTHON ? "#" : "//", tag) < 0)
                        bench_die("out of memory");
                gen_str(g, s);
                free(s);
        } else {
                gen_str(g, src);
        }
        gen_str(g, "limits");
        yajl_gen_map_open(g);
        gen_str(g, "time_limit_ms");
        yajl_gen_integer(g, out_limits[out].time_ms);
        gen_str(g, "memory_limit_bytes");
        yajl_gen_integer(g, out_limits[out].memory);
        yajl_gen_map_close(g);
        if (out_limits[out].tests > 0) {
                gen_str(g, "tests");
                yajl_gen_array_open(g);
                if (out_limits[out].tests == 2) {
                        gen_test(g, 1, "1 2 3\n", "6\n");
                        gen_test(g, 2, "10 -5 7\n", "12\n");
                } else {
                        gen_test(g, 1, "", "");
                }
                yajl_gen_array_close(g);
        }
        yajl_gen_map_close(g);
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g, &buf, &len);
        char *msg = strndup((const char *)buf, len);
        yajl_gen_free(g);
        if (!msg)
                bench_die("out of memory");
        return msg;
}

/* --dump-scenarios DIR: the 25 submissions as files, for `jailrun run`. */
static void dump_scenarios(const char *dir)
{
        mkdir_p(dir);
        for (int l = 0; l < NLANG; l++)
                for (int o = 0; o < NOUT; o++) {
                        char id[64], path[4096];
                        snprintf(id, sizeof id, "%s-%s-1", lang_name[l], out_name[o]);
                        snprintf(path, sizeof path, "%s/%s-%s.json", dir, lang_name[l],
                                 out_name[o]);
                        char *msg = make_message(l, o, id, NULL);
                        FILE *f = fopen(path, "we");
                        if (!f || fprintf(f, "%s\n", msg) < 0 || fclose(f) != 0)
                                bench_die("write \"%s\": %s", path, strerror(errno));
                        free(msg);
                }
        printf("%d submissions in %s (expected status: OK WA TL ML BF by file name)\n",
               NLANG * NOUT, dir);
}

/* ---- taskstats: the CPU of every task that exits as a slot uid ------------------------ */

struct comm_cpu {
        char comm[TS_COMM_LEN];
        double us;
};

static struct {
        int fd, family;
        uid_t lo, hi;     /* the run's slot uids, [lo, hi) */
        double slot_us;   /* CPU of the slot-uid tasks that exited so far */
        double own_us;    /* CPU of the other tasks of the serve trees that exited so far */
        pid_t known[256]; /* the serve trees' processes at the last /proc scan */
        size_t n_known;
        bool window; /* in the measurement window: also sum by comm */
        struct comm_cpu comm[96];
        size_t n_comm;
        unsigned long overruns;
} tstat = {.fd = -1};

struct nl_req {
        struct nlmsghdr n;
        struct genlmsghdr g;
        char buf[256];
};

static int ts_send(int type, int cmd, int attr, const void *data, size_t len)
{
        struct nl_req m;
        memset(&m, 0, sizeof m);
        if (len > sizeof m.buf - NLA_HDRLEN)
                return -1;
        m.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
        m.n.nlmsg_type = (uint16_t)type;
        m.n.nlmsg_flags = NLM_F_REQUEST;
        m.g.cmd = (uint8_t)cmd;
        m.g.version = 1;
        struct nlattr *na = (struct nlattr *)((char *)&m + m.n.nlmsg_len);
        na->nla_type = (uint16_t)attr;
        na->nla_len = (uint16_t)(NLA_HDRLEN + len);
        memcpy((char *)na + NLA_HDRLEN, data, len);
        m.n.nlmsg_len += NLA_ALIGN(na->nla_len);
        struct sockaddr_nl to = {.nl_family = AF_NETLINK};
        return sendto(tstat.fd, &m, m.n.nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) < 0 ? -1
                                                                                             : 0;
}

static void ts_close(void)
{
        if (tstat.fd < 0)
                return;
        char mask[32];
        snprintf(mask, sizeof mask, "0-%ld", cores - 1);
        ts_send(tstat.family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, mask,
                strlen(mask) + 1);
        close(tstat.fd);
        tstat.fd = -1;
}

/* Listen to every task's exit record (needs CAP_NET_ADMIN). On failure the CPU split is
 * left out, with a warning. */
static void ts_open(void)
{
        tstat.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
        if (tstat.fd < 0) {
                warnx("taskstats: socket: %s; no CPU split", strerror(errno));
                return;
        }
        int rcv = 16 << 20;
        if (setsockopt(tstat.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
                setsockopt(tstat.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
        struct sockaddr_nl me = {.nl_family = AF_NETLINK};
        if (bind(tstat.fd, (struct sockaddr *)&me, sizeof me) < 0 ||
            ts_send(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME,
                    sizeof TASKSTATS_GENL_NAME) < 0) {
                warnx("taskstats: ask for the family: %s; no CPU split", strerror(errno));
                close(tstat.fd);
                tstat.fd = -1;
                return;
        }
        char buf[8192];
        ssize_t n = recv(tstat.fd, buf, sizeof buf, 0);
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        tstat.family = -1;
        if (n > 0 && NLMSG_OK(h, (size_t)n) && h->nlmsg_type != NLMSG_ERROR) {
                struct nlattr *na = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
                int rem = (int)h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
                while (rem >= NLA_HDRLEN && na->nla_len >= NLA_HDRLEN) {
                        if (na->nla_type == CTRL_ATTR_FAMILY_ID)
                                tstat.family = *(uint16_t *)((char *)na + NLA_HDRLEN);
                        rem -= NLA_ALIGN(na->nla_len);
                        na = (struct nlattr *)((char *)na + NLA_ALIGN(na->nla_len));
                }
        }
        char mask[32];
        snprintf(mask, sizeof mask, "0-%ld", cores - 1);
        if (tstat.family < 0 ||
            ts_send(tstat.family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, mask,
                    strlen(mask) + 1) < 0) {
                warnx("taskstats: no \"%s\" netlink family or no permission; no CPU split",
                      TASKSTATS_GENL_NAME);
                close(tstat.fd);
                tstat.fd = -1;
        }
}

/* One exited task (a thread, or a process's last thread). A slot uid's task is a compiler
 * or a program; another task is jailrun's when its parent was one of the serve trees'
 * processes (an executor's jail init, an executor's thread). */
static void ts_account(const struct taskstats *t)
{
        double us = (double)t->ac_utime + (double)t->ac_stime;
        if (t->ac_uid < tstat.lo || t->ac_uid >= tstat.hi) {
                for (size_t i = 0; i < tstat.n_known; i++)
                        if ((uint32_t)tstat.known[i] == t->ac_ppid) {
                                tstat.own_us += us;
                                break;
                        }
                return;
        }
        tstat.slot_us += us;
        if (!tstat.window)
                return;
        size_t i = 0;
        while (i < tstat.n_comm && strncmp(tstat.comm[i].comm, t->ac_comm, TS_COMM_LEN))
                i++;
        if (i == tstat.n_comm) {
                if (tstat.n_comm == sizeof tstat.comm / sizeof tstat.comm[0])
                        i = tstat.n_comm - 1; /* the last entry collects the rest */
                else {
                        /* a new entry: its slot may hold a previous run's sum */
                        tstat.comm[i].us = 0;
                        snprintf(tstat.comm[tstat.n_comm++].comm, TS_COMM_LEN, "%.*s",
                                 TS_COMM_LEN - 1, t->ac_comm);
                }
        }
        tstat.comm[i].us += us;
}

/* Read every exit record that arrived (never blocks). Only the per-task records count:
 * the per-thread-group record that follows a multi-threaded exit sums the same times. */
static void ts_drain(void)
{
        if (tstat.fd < 0)
                return;
        static char buf[65536];
        for (;;) {
                ssize_t n = recv(tstat.fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == ENOBUFS) {
                        tstat.overruns++;
                        continue;
                }
                if (n <= 0)
                        return;
                size_t len = (size_t)n;
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
                     h = NLMSG_NEXT(h, len)) {
                        if (h->nlmsg_type != tstat.family)
                                continue;
                        struct nlattr *na = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
                        int rem = (int)h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
                        while (rem >= NLA_HDRLEN && na->nla_len >= NLA_HDRLEN) {
                                if (na->nla_type == TASKSTATS_TYPE_AGGR_PID) {
                                        struct nlattr *in =
                                            (struct nlattr *)((char *)na + NLA_HDRLEN);
                                        int r2 = na->nla_len - NLA_HDRLEN;
                                        while (r2 >= NLA_HDRLEN && in->nla_len >= NLA_HDRLEN) {
                                                if (in->nla_type == TASKSTATS_TYPE_STATS) {
                                                        struct taskstats t;
                                                        size_t sz = in->nla_len - NLA_HDRLEN;
                                                        memset(&t, 0, sizeof t);
                                                        memcpy(&t, (char *)in + NLA_HDRLEN,
                                                               sz < sizeof t ? sz : sizeof t);
                                                        ts_account(&t);
                                                }
                                                r2 -= NLA_ALIGN(in->nla_len);
                                                in = (struct nlattr *)((char *)in +
                                                                       NLA_ALIGN(in->nla_len));
                                        }
                                }
                                rem -= NLA_ALIGN(na->nla_len);
                                na = (struct nlattr *)((char *)na + NLA_ALIGN(na->nla_len));
                        }
                }
        }
}

/* ---- /proc: the live part of the serve process trees ----------------------------------- */

/* The CPU of a task is counted once: by taskstats when it exits, or from /proc (its live
 * threads, one by one) while it lives. The kernel's per-process children times (cutime)
 * are no help: a program killed at its limit is never added to its parents'. */

struct proc_ent {
        pid_t pid, ppid;
        bool in;
};

/* utime + stime of every live thread of `pid` (ticks) */
static double threads_ticks(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
        DIR *d = opendir(path);
        if (!d)
                return 0;
        double sum = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                char p2[384];
                snprintf(p2, sizeof p2, "%s/%s/stat", path, de->d_name);
                char *st = bench_slurp(p2);
                char *q = st ? strrchr(st, ')') : NULL;
                unsigned long ut = 0, stt = 0;
                if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                                &stt) == 2)
                        sum += (double)ut + (double)stt;
                free(st);
        }
        closedir(d);
        return sum;
}

/* Find the processes under `roots` (remembered in tstat.known, for ts_account) and, unless
 * own_s is NULL, the CPU seconds of their live threads: those running as a slot uid and
 * the others (jailrun's). */
static void tree_scan(const pid_t *roots, size_t n_roots, double *own_s, double *slot_s)
{
        static struct proc_ent *ents;
        static size_t cap;
        size_t n = 0;
        DIR *d = opendir("/proc");
        if (!d)
                bench_die("opendir /proc: %s", strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                char path[300];
                snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
                char *st = bench_slurp(path);
                char *q = st ? strrchr(st, ')') : NULL;
                int ppid;
                if (q && sscanf(q + 2, "%*c %d", &ppid) == 1) {
                        if (n == cap) {
                                cap = cap ? cap * 2 : 1024;
                                ents = xrealloc(ents, cap * sizeof *ents);
                        }
                        ents[n++] = (struct proc_ent){.pid = (pid_t)atoi(de->d_name), .ppid = ppid};
                }
                free(st);
        }
        closedir(d);
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < n_roots; k++)
                        ents[i].in = ents[i].in || ents[i].pid == roots[k];
        for (bool more = true; more;) {
                more = false;
                for (size_t i = 0; i < n; i++) {
                        if (ents[i].in)
                                continue;
                        for (size_t j = 0; j < n && !ents[i].in; j++)
                                if (ents[j].in && ents[j].pid == ents[i].ppid)
                                        ents[i].in = more = true;
                }
        }
        double own = 0, slot = 0;
        tstat.n_known = 0;
        for (size_t i = 0; i < n; i++) {
                if (!ents[i].in)
                        continue;
                ents[i].in = false;
                if (tstat.n_known < sizeof tstat.known / sizeof tstat.known[0])
                        tstat.known[tstat.n_known++] = ents[i].pid;
                if (!own_s)
                        continue;
                char path[64];
                struct stat st;
                snprintf(path, sizeof path, "/proc/%d", (int)ents[i].pid);
                if (stat(path, &st) < 0)
                        continue;
                if (st.st_uid >= tstat.lo && st.st_uid < tstat.hi)
                        slot += threads_ticks(ents[i].pid);
                else
                        own += threads_ticks(ents[i].pid);
        }
        if (own_s) {
                *own_s = own / clk_tck;
                *slot_s = slot / clk_tck;
        }
}

/* ---- Kafka clients --------------------------------------------------------------------- */

/* ---- runs ------------------------------------------------------------------------------ */

enum mode { M_RATE, M_SAT };

struct sample {
        unsigned char lang, out;
        char phase; /* 'w' warm-up, 'm' measured (sent in the window), 'c' cool-down */
        bool done;
        double sent, recv; /* ms since the run's start */
        char status[4];
        long build_ms, dur_ms, cpu_ms, tests_ms; /* tests_ms: their wall times */
        long judge_ms; /* the judge's wall time (serve's "judged" line, total_ms); -1: none */
        long own_us;   /* jailrun's own part of it (the same line, own_us); -1: none */
};

struct box {
        size_t n;
        double p5, q1, med, q3, p95; /* seconds */
};

struct run {
        /* what */
        const char *group; /* profiles, parallel, replicas, timeout */
        enum mode mode;
        int prof;
        unsigned par, rep;
        char label[64]; /* file-safe: rate-medium-p2-r1 */
        char title[64]; /* for people: medium @75/min P=2 */
        /* how it went */
        bool ran;
        struct sample *s;
        size_t n, cap;
        size_t sent_m, answered_m, recv_win, wrong, dups;
        double thr, completion, p50, p95;
        struct box lo[NLANG][NOUT]; /* latency per language and outcome */
        double lang_thr[NLANG];     /* per minute */
        double lang_p50[NLANG];
        double p50_not_tl;
        double own_wall_ms; /* mean of serve's own_us (judge minus the programs' jail time) */
        /* CPU in the window, seconds */
        bool cpu_ok;
        double cpu_own, cpu_slot, cpu_prog, cpu_self;
        double load_start, load_end;
        double wall_s;
};

static struct run runs[MAXRUNS];
static size_t n_runs;

static struct run *find_run(enum mode m, int prof, unsigned par, unsigned rep)
{
        for (size_t i = 0; i < n_runs; i++)
                if (runs[i].mode == m && runs[i].prof == prof && runs[i].par == par &&
                    runs[i].rep == rep)
                        return &runs[i];
        return NULL;
}

static void plan_add(const char *group, enum mode m, int prof, unsigned par, unsigned rep)
{
        if (find_run(m, prof, par, rep))
                return;
        if (n_runs == MAXRUNS)
                bench_die("more than %d runs", MAXRUNS);
        struct run *r = &runs[n_runs++];
        r->group = group;
        r->mode = m;
        r->prof = prof;
        r->par = par;
        r->rep = rep;
        snprintf(r->label, sizeof r->label, "%s-%s-p%u-r%u", m == M_RATE ? "rate" : "sat",
                 profiles[prof].name, par, rep);
        if (m == M_RATE)
                snprintf(r->title, sizeof r->title, "%s @%.0f/min P=%u%s", profiles[prof].name,
                         profiles[prof].per_min, par, rep > 1 ? " R=2" : "");
        else
                snprintf(r->title, sizeof r->title, "%s saturated P=%u R=%u", profiles[prof].name,
                         par, rep);
        if (rep > 1 && m == M_RATE)
                snprintf(r->title, sizeof r->title, "%s @%.0f/min P=%u R=%u", profiles[prof].name,
                         profiles[prof].per_min, par, rep);
}

static double loadavg(void)
{
        char *s = bench_slurp("/proc/loadavg");
        double v = s ? atof(s) : 0;
        free(s);
        return v;
}

/* Partitions this serve owns now, from its log's last "assigned"/"revoked" line. */
static int assigned_parts(const struct serve *sv)
{
        char *log = bench_slurp(sv->log);
        int parts = 0;
        for (const char *p = log; p && (p = strstr(p, "\"msg\":\"")); p++) {
                const char *m = p + 7;
                if (!strncmp(m, "assigned ", 9))
                        parts = atoi(m + 9);
                else if (!strncmp(m, "revoked ", 8))
                        parts = 0;
        }
        free(log);
        return parts;
}

static void serve_start(struct serve *sv, const struct run *r, unsigned run_no, unsigned k,
                        const char *brokers)
{
        snprintf(sv->spool, sizeof sv->spool, "%s/run%u-r%u", opt.spool_root, run_no, k);
        rm_rf(sv->spool);
        snprintf(sv->log, sizeof sv->log, "%s/logs/%s-r%u.log", opt.out, r->label, k);
        char *envs[16];
        size_t ne = 0;
        /* the mock cluster answers a fetch only when its wait is over, so the default wait
         * (500 ms) would be every submission's latency; a real broker answers at once */
        if (asprintf(&envs[ne++], "KAFKA_BROKERS=%s", brokers) < 0 ||
            asprintf(&envs[ne++], "KAFKA_TOPIC=scripts-%u", run_no) < 0 ||
            asprintf(&envs[ne++], "KAFKA_RESULTS_TOPIC=results-%u", run_no) < 0 ||
            asprintf(&envs[ne++], "KAFKA_EVENTS_TOPIC=events-%u", run_no) < 0 ||
            asprintf(&envs[ne++], "KAFKA_GROUP_ID=scrc-%u", run_no) < 0 ||
            asprintf(&envs[ne++], "RUNNER_MAX_PARALLEL=%u", r->par) < 0 ||
            asprintf(&envs[ne++], "JAILRUN_SPOOL_DIR=%s", sv->spool) < 0 ||
            asprintf(&envs[ne++], "JAILRUN_SLOT_UID_BASE=%u", opt.uid_base + k * UID_STEP) < 0 ||
            asprintf(&envs[ne++],
                     "JAILRUN_KAFKA_CONFIG=consumer.fetch.wait.max.ms=10;"
                     "consumer.session.timeout.ms=6000%s%s",
                     opt.kafka_extra ? ";" : "", opt.kafka_extra ? opt.kafka_extra : "") < 0)
                bench_die("out of memory");
        envs[ne] = NULL;
        static const char *const drop[] = {"KAFKA_",
                                           "RUNNER_",
                                           "SCRIPT_",
                                           "JAILRUN_SPOOL_DIR=",
                                           "JAILRUN_KAFKA_CONFIG=",
                                           "JAILRUN_SLOT_UID_BASE=",
                                           NULL};
        /* its own process group: a stuck run is killed whole (kill_serves) */
        sv->pid = bench_serve_spawn(jailrun, sv->log, false, drop, (const char *const *)envs, true);
        for (size_t i = 0; i < ne; i++)
                free(envs[i]);
}

/* SIGTERM: serve drops its queue and finishes what it executes (a TL in flight takes a
 * few seconds); a second SIGTERM after 15 s, SIGKILL to the group after 30 s. */
static void serves_stop(struct serve *sv, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (sv[i].pid > 0)
                        kill(sv[i].pid, SIGTERM);
        double t0 = bench_now_ms();
        bool second = false;
        for (;;) {
                bool left = false;
                for (size_t i = 0; i < n; i++) {
                        if (sv[i].pid <= 0)
                                continue;
                        int st;
                        pid_t w = waitpid(sv[i].pid, &st, WNOHANG);
                        if (w == sv[i].pid) {
                                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                                        warnx("serve exit status 0x%x (log %s)", st, sv[i].log);
                                sv[i].pid = 0;
                        } else {
                                left = true;
                        }
                }
                if (!left)
                        break;
                double t = bench_now_ms() - t0;
                if (t > 15000 && !second) {
                        second = true;
                        for (size_t i = 0; i < n; i++)
                                if (sv[i].pid > 0)
                                        kill(sv[i].pid, SIGTERM);
                }
                if (t > 30000) {
                        warnx("serve did not stop in 30 s: killed");
                        for (size_t i = 0; i < n; i++)
                                if (sv[i].pid > 0) {
                                        kill(-sv[i].pid, SIGKILL);
                                        waitpid(sv[i].pid, NULL, 0);
                                        sv[i].pid = 0;
                                }
                        break;
                }
                usleep(20000);
        }
        for (size_t i = 0; i < n; i++)
                rm_rf(sv[i].spool);
        n_live = 0;
}

static long json_int(yajl_val obj, const char *key)
{
        const char *p[] = {key, NULL};
        yajl_val v = yajl_tree_get(obj, p, yajl_t_number);
        return v && YAJL_IS_INTEGER(v) ? (long)YAJL_GET_INTEGER(v) : 0;
}

struct cpu_snap {
        double own, slot, self;
};

static void snapshot(const pid_t *roots, size_t n, struct cpu_snap *c)
{
        ts_drain();
        double own_live, slot_live;
        tree_scan(roots, n, &own_live, &slot_live);
        ts_drain();
        c->own = tstat.own_us / 1e6 + own_live;
        c->slot = tstat.slot_us / 1e6 + slot_live;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        c->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void sample_add(struct run *r, int lang, int out)
{
        if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 256;
                r->s = xrealloc(r->s, r->cap * sizeof *r->s);
        }
        r->s[r->n++] = (struct sample){
            .lang = (unsigned char)lang, .out = (unsigned char)out, .judge_ms = -1, .own_us = -1};
}

/* One result off the results topic: the sample it answers, or NULL (a primer, a duplicate). */
static struct sample *take_result(struct run *r, const rd_kafka_message_t *m, double t,
                                  unsigned *primers)
{
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)m->key_len, (const char *)m->key);
        if (!strncmp(key, "primer-", 7)) {
                (*primers)++;
                return NULL;
        }
        const char *dash = strrchr(key, '-');
        char *end;
        unsigned long no = dash ? strtoul(dash + 1, &end, 10) : 0;
        if (!dash || *end || no < 1 || no > r->n) {
                warnx("a result with an unknown key \"%s\"", key);
                return NULL;
        }
        struct sample *s = &r->s[no - 1];
        if (s->done) {
                r->dups++;
                return NULL;
        }
        char *text = strndup(m->payload, m->len), err[256];
        yajl_val v = text ? yajl_tree_parse(text, err, sizeof err) : NULL;
        if (!v)
                bench_die("result %s is not JSON: %s", key, text ? err : "out of memory");
        const char *ps[] = {"status", NULL};
        yajl_val st = yajl_tree_get(v, ps, yajl_t_string);
        snprintf(s->status, sizeof s->status, "%s", st ? YAJL_GET_STRING(st) : "?");
        s->build_ms = json_int(v, "build_duration_ms");
        s->dur_ms = json_int(v, "duration_ms");
        const char *pt[] = {"tests", NULL};
        yajl_val tests = yajl_tree_get(v, pt, yajl_t_array);
        for (size_t i = 0; tests && i < tests->u.array.len; i++) {
                s->cpu_ms += json_int(tests->u.array.values[i], "cpu_ms");
                s->tests_ms += json_int(tests->u.array.values[i], "duration_ms");
        }
        s->recv = t;
        s->done = true;
        yajl_tree_free(v);
        free(text);
        return s;
}

static double quantile(const double *v, size_t n, double q)
{
        if (n == 0)
                return NAN;
        double pos = q * (double)(n - 1);
        size_t i = (size_t)pos;
        if (i + 1 >= n)
                return v[n - 1];
        return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

static struct box box_of(double *v, size_t n)
{
        qsort(v, n, sizeof *v, bench_cmp_double);
        return (struct box){n,
                            quantile(v, n, 0.05),
                            quantile(v, n, 0.25),
                            quantile(v, n, 0.5),
                            quantile(v, n, 0.75),
                            quantile(v, n, 0.95)};
}

/* A judged line's id is "{language}-{outcome}-{n}": sample n of the run (primers apart). */
static void set_judge_ms(const char *id, size_t id_len, long total_ms, long own_us, void *ud)
{
        struct run *r = ud;
        const char *dash = memrchr(id, '-', id_len);
        if (!dash || !strncmp(id, "primer-", 7))
                return;
        unsigned long no = strtoul(dash + 1, NULL, 10);
        if (no >= 1 && no <= r->n) {
                r->s[no - 1].judge_ms = total_ms;
                r->s[no - 1].own_us = own_us;
        }
}

/* The judge's wall time of each submission, from the run's serve logs (bench_each_judged). */
static void judged_from_logs(struct run *r, const struct serve *sv, size_t n)
{
        for (size_t k = 0; k < n; k++)
                bench_each_judged(sv[k].log, set_judge_ms, r);
}

/* The judge's wall time of s in ms: serve's figure, or its build and tests without it. */
static long judge_of(const struct sample *s)
{
        return s->judge_ms >= 0 ? s->judge_ms : s->build_ms + s->tests_ms;
}

static void run_stats(struct run *r, double warm, double window)
{
        double *lat = xcalloc(r->n, sizeof *lat);
        double *lv = xcalloc(r->n, sizeof *lv);
        size_t nl = 0;
        double prog_ms = 0;
        for (size_t i = 0; i < r->n; i++) {
                const struct sample *s = &r->s[i];
                if (s->done && s->recv >= warm && s->recv < warm + window) {
                        r->recv_win++;
                        prog_ms += (double)s->cpu_ms;
                }
                if (s->phase != 'm')
                        continue;
                r->sent_m++;
                if (!s->done)
                        continue;
                r->answered_m++;
                lat[nl++] = (s->recv - s->sent) / 1000;
                r->own_wall_ms += s->own_us >= 0
                                      ? (double)s->own_us / 1000
                                      : (double)(judge_of(s) - s->build_ms - s->tests_ms);
                r->wrong += strcmp(s->status, out_status[s->out]) != 0;
        }
        r->cpu_prog = prog_ms / 1000;
        r->own_wall_ms = r->answered_m ? r->own_wall_ms / (double)r->answered_m : NAN;
        double per_min = 60000 / window;
        r->thr = (double)r->answered_m * per_min;
        r->completion = (double)r->recv_win * per_min;
        struct box all = box_of(lat, nl);
        r->p50 = all.med;
        r->p95 = all.p95;
        size_t nn = 0;
        for (size_t i = 0; i < r->n; i++) {
                const struct sample *s = &r->s[i];
                if (s->phase == 'm' && s->done && s->out != O_TL)
                        lv[nn++] = (s->recv - s->sent) / 1000;
        }
        r->p50_not_tl = box_of(lv, nn).med;
        for (int l = 0; l < NLANG; l++) {
                /* the language's share of the results received in the window: the same
                 * as of the window's submissions unless the backlog grew */
                size_t nlang = 0;
                for (size_t i = 0; i < r->n; i++) {
                        const struct sample *s = &r->s[i];
                        nlang +=
                            s->done && s->lang == l && s->recv >= warm && s->recv < warm + window;
                }
                for (int o = 0; o < NOUT; o++) {
                        size_t k = 0;
                        for (size_t i = 0; i < r->n; i++) {
                                const struct sample *s = &r->s[i];
                                if (s->phase == 'm' && s->done && s->lang == l && s->out == o)
                                        lv[k++] = (s->recv - s->sent) / 1000;
                        }
                        r->lo[l][o] = box_of(lv, k);
                }
                r->lang_thr[l] = (double)nlang * per_min;
                size_t k = 0;
                for (size_t i = 0; i < r->n; i++) {
                        const struct sample *s = &r->s[i];
                        if (s->phase == 'm' && s->done && s->lang == l)
                                lv[k++] = (s->recv - s->sent) / 1000;
                }
                r->lang_p50[l] = box_of(lv, k).med;
        }
        free(lat);
        free(lv);
}

static void run_one(struct run *r, unsigned run_no, const char *brokers, FILE *f_samples,
                    FILE *f_comm)
{
        const double warm = opt.warmup_s * 1000, window = opt.window_s * 1000,
                     drain = opt.drain_s * 1000;
        const struct profile *pf = &profiles[r->prof];
        say("[%u/%zu] %s: ", run_no, n_runs, r->title);
        r->load_start = loadavg();
        double t_begin = bench_now_ms();

        struct serve sv[MAXREP];
        memset(sv, 0, sizeof sv);
        live_serves = sv;
        n_live = r->rep;
        for (unsigned k = 0; k < r->rep; k++)
                serve_start(&sv[k], r, run_no, k, brokers);
        for (unsigned k = 0; k < r->rep; k++)
                bench_wait_log(sv[k].log, "\"msg\":\"serving\"", &sv[k].pid, 120000);
        /* the run's slot uids and processes, for taskstats and /proc */
        pid_t roots[MAXREP];
        for (unsigned k = 0; k < r->rep; k++)
                roots[k] = sv[k].pid;
        ts_drain();
        tstat.lo = opt.uid_base;
        tstat.hi = opt.uid_base + (r->rep - 1) * UID_STEP + r->par;
        tstat.slot_us = tstat.own_us = 0;
        tstat.n_comm = 0;
        tstat.window = false;
        tree_scan(roots, r->rep, NULL, NULL);

        char topic[32], results[32], group[32];
        snprintf(topic, sizeof topic, "scripts-%u", run_no);
        snprintf(results, sizeof results, "results-%u", run_no);
        snprintf(group, sizeof group, "scrc-reader-%u", run_no);
        rd_kafka_t *prod = bench_client(RD_KAFKA_PRODUCER, brokers, NULL, 10);
        rd_kafka_t *cons = bench_client(RD_KAFKA_CONSUMER, brokers, group, 10);
        bench_assign_all(cons, results, NPARTS);

        /* Several replicas: wait until the group has handed every partition out, so that
         * the window does not start in a rebalance. */
        if (r->rep > 1) {
                double end = bench_now_ms() + 60000;
                for (;;) {
                        int sum = 0;
                        bool each = true;
                        for (unsigned k = 0; k < r->rep; k++) {
                                int p = assigned_parts(&sv[k]);
                                sum += p;
                                each = each && p > 0;
                        }
                        if (sum == NPARTS && each)
                                break;
                        if (bench_now_ms() > end) {
                                warnx("the group did not settle in 60 s (%d partitions "
                                      "assigned); going on",
                                      sum);
                                break;
                        }
                        if (bench_stop_requested)
                                bench_die("interrupted");
                        usleep(50000);
                }
        }
        /* Primers: one c/ok per partition, each answered before the clock starts (the
         * group has formed, every executor has judged once). */
        unsigned primers = 0;
        for (int p = 0; p < NPARTS; p++) {
                char id[32];
                snprintf(id, sizeof id, "primer-%d", p);
                char *msg = make_message(L_C, O_OK, id, opt.verbatim ? NULL : id);
                bench_produce(prod, topic, p, id, msg);
                free(msg);
        }
        for (double end = bench_now_ms() + 180000; primers < NPARTS;) {
                if (bench_now_ms() > end)
                        bench_die("no result for the primers after 180 s; logs: %s/logs", opt.out);
                if (bench_stop_requested)
                        bench_die("interrupted");
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
                rd_kafka_poll(prod, 0);
                if (m && !m->err)
                        take_result(r, m, 0, &primers);
                if (m)
                        rd_kafka_message_destroy(m);
                for (unsigned k = 0; k < r->rep; k++)
                        if (waitpid(sv[k].pid, NULL, WNOHANG) == sv[k].pid) {
                                sv[k].pid = 0;
                                bench_die("serve exited; its log: %s", sv[k].log);
                        }
        }
        say("serving after %.1f s; ", (bench_now_ms() - t_begin) / 1000);
        say("%s %.0f s + window %.0f s\n",
            r->mode == M_RATE ? "Poisson arrivals, warm-up" : "saturated, warm-up", warm / 1000,
            window / 1000);

        const double t0 = bench_now_ms();
        const double mean_gap = 60000 / pf->per_min;
        const size_t cap = 2 * (size_t)r->par * r->rep; /* outstanding when saturated */
        double next_send = r->mode == M_RATE ? rng_expo(mean_gap) : 0;
        size_t outstanding = 0, pending_m = 0;
        struct cpu_snap c0 = {0}, c1 = {0};
        bool in_win = false, after_win = false;
        double next_progress = 10000, next_scan = 2000;
        for (;;) {
                double t = bench_now_ms() - t0;
                if (bench_stop_requested)
                        bench_die("interrupted");
                if (t >= next_scan) {
                        /* new jail inits are the executors' children: keep the tree known */
                        ts_drain();
                        tree_scan(roots, r->rep, NULL, NULL);
                        next_scan = t + 2000;
                }
                if (!in_win && t >= warm) {
                        snapshot(roots, r->rep, &c0);
                        in_win = true;
                        tstat.window = true;
                }
                if (!after_win && t >= warm + window) {
                        snapshot(roots, r->rep, &c1);
                        after_win = true;
                        tstat.window = false;
                }
                if (after_win && (pending_m == 0 || t >= warm + window + drain))
                        break;
                if (t >= next_progress) {
                        next_progress += 10000;
                        say("    %3.0f s %-8s sent %4zu, answered %4zu, in flight %3zu\n", t / 1000,
                            t < warm            ? "warm-up"
                            : t < warm + window ? "window"
                                                : "drain",
                            r->n, r->n - outstanding, outstanding);
                }
                /* send: by the clock, or whenever fewer than `cap` are outstanding */
                for (;;) {
                        double ts_send_at = bench_now_ms() - t0;
                        if (r->mode == M_RATE ? next_send > ts_send_at : outstanding >= cap)
                                break;
                        int lang = rng_pick(pf->lang_w, NLANG), out = rng_pick(pf->out_w, NOUT);
                        sample_add(r, lang, out);
                        struct sample *s = &r->s[r->n - 1];
                        s->phase = ts_send_at < warm ? 'w' : ts_send_at < warm + window ? 'm' : 'c';
                        char id[64], tag[96];
                        snprintf(id, sizeof id, "%s-%s-%zu", lang_name[lang], out_name[out], r->n);
                        snprintf(tag, sizeof tag, "run %u %s", run_no, id);
                        char *msg = make_message(lang, out, id, opt.verbatim ? NULL : tag);
                        s->sent = bench_now_ms() - t0;
                        bench_produce(prod, topic, -1, id, msg);
                        free(msg);
                        outstanding++;
                        pending_m += s->phase == 'm';
                        if (r->mode == M_RATE)
                                next_send += rng_expo(mean_gap);
                }
                double wait = 50;
                if (r->mode == M_RATE && next_send - t < wait)
                        wait = next_send - t > 0 ? next_send - t : 0;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, (int)wait);
                rd_kafka_poll(prod, 0);
                struct sample *done =
                    m && !m->err ? take_result(r, m, bench_now_ms() - t0, &primers) : NULL;
                if (done) {
                        outstanding--;
                        pending_m -= done->phase == 'm';
                }
                if (m)
                        rd_kafka_message_destroy(m);
                ts_drain();
                for (unsigned k = 0; k < r->rep; k++) {
                        int st;
                        if (waitpid(sv[k].pid, &st, WNOHANG) == sv[k].pid) {
                                sv[k].pid = 0;
                                bench_die("serve exited (status 0x%x) during the run; its log: %s",
                                          st, sv[k].log);
                        }
                }
        }
        serves_stop(sv, r->rep);
        live_serves = NULL;
        judged_from_logs(r, sv, r->rep);
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
        rd_kafka_flush(prod, 5000);
        rd_kafka_destroy(prod);
        r->load_end = loadavg();

        run_stats(r, warm, window);
        r->cpu_ok = tstat.fd >= 0;
        r->cpu_own = c1.own - c0.own;
        r->cpu_slot = c1.slot - c0.slot;
        r->cpu_self = c1.self - c0.self;
        r->ran = true;
        r->wall_s = (bench_now_ms() - t_begin) / 1000;
        size_t late = r->sent_m - r->answered_m;
        char offered[32] = "saturated";
        if (r->mode == M_RATE)
                snprintf(offered, sizeof offered, "offered %.0f/min", pf->per_min);
        say("    %zu sent in the window, %zu answered: %.1f/min (%s; received in the window "
            "%.1f/min), p50 %.2f s, p95 %.2f s, wrong verdicts %zu; jailrun's own wall time in "
            "the judge %.1f ms per submission; %.0f s in all\n",
            r->sent_m, r->answered_m, r->thr, offered, r->completion, r->p50, r->p95, r->wrong,
            r->own_wall_ms, r->wall_s);
        if (late)
                say("    %zu submissions of the window had no result after the %.0f s drain "
                    "(overloaded)\n",
                    late, opt.drain_s);
        for (size_t i = 0; i < r->n; i++) {
                const struct sample *s = &r->s[i];
                fprintf(f_samples, "%s\t%s\t%s\t%zu\t%c\t%s\t%.1f\t%.1f\t%ld\t%ld\t%ld\t%ld\t%ld\n",
                        r->label, lang_name[s->lang], out_name[s->out], i + 1, s->phase,
                        s->done ? s->status : "-", s->sent, s->done ? s->recv - s->sent : NAN,
                        s->build_ms, s->dur_ms, s->tests_ms, s->cpu_ms, judge_of(s));
        }
        fflush(f_samples);
        if (r->cpu_ok && r->recv_win > 0) {
                for (size_t i = 0; i < tstat.n_comm; i++)
                        fprintf(f_comm, "%s\t%s\t%.4f\n", r->label, tstat.comm[i].comm,
                                tstat.comm[i].us / 1e6 / (double)r->recv_win);
                fflush(f_comm);
        }
        if (tstat.overruns)
                warnx("taskstats: %lu receive overruns so far: the CPU split undercounts",
                      tstat.overruns);
}

/* ---- reports --------------------------------------------------------------------------- */

/* CPU seconds per submission: compilers, programs, jailrun; false if not measured */
static bool cpu_split(const struct run *r, double *comp, double *prog, double *own)
{
        if (!r->cpu_ok || r->recv_win == 0)
                return false;
        double n = (double)r->recv_win;
        *prog = r->cpu_prog / n;
        *comp = (r->cpu_slot - r->cpu_prog) / n;
        *own = r->cpu_own / n;
        return true;
}

static double cpu_bound(const struct run *r)
{
        double c, p, o;
        if (!cpu_split(r, &c, &p, &o) || c + p + o <= 0)
                return NAN;
        return (double)cores * 60 / (c + p + o);
}

/* the cores that the runs' compilers, programs and jailrun kept busy in the window */
static double cores_used(const struct run *r)
{
        if (!r->cpu_ok)
                return NAN;
        return (r->cpu_own + r->cpu_slot) / opt.window_s;
}

static void write_runs(void)
{
        FILE *f =
            out_open("runs.tsv",
                     "label\tgroup\tmode\tprofile\tparallel\treplicas\toffered_"
                     "per_min\twarmup_s\twindow_s\tsent\tanswered\tthroughput_"
                     "per_min\treceived_per_min\tp50_s\tp95_s\twrong\tduplicates"
                     "\tcpu_compilers_s\tcpu_programs_s\tcpu_jailrun_s\tcpu_"
                     "broker_and_bench_s\tcpu_bound_per_min\tcores_used\tjudge_own_wall_ms\tload_"
                     "start\tload_end");
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!r->ran)
                        continue;
                double c = NAN, p = NAN, o = NAN;
                cpu_split(r, &c, &p, &o);
                fprintf(f,
                        "%s\t%s\t%s\t%s\t%u\t%u\t%.0f\t%.0f\t%.0f\t%zu\t%zu\t%.2f\t%.2f\t%.3f\t%."
                        "3f\t%zu\t%zu\t%.4f\t%.4f\t%.4f\t%.4f\t%.1f\t%.2f\t%.1f\t%.2f\t%.2f\n",
                        r->label, r->group, r->mode == M_RATE ? "rate" : "saturation",
                        profiles[r->prof].name, r->par, r->rep,
                        r->mode == M_RATE ? profiles[r->prof].per_min : NAN, opt.warmup_s,
                        opt.window_s, r->sent_m, r->answered_m, r->thr, r->completion, r->p50,
                        r->p95, r->wrong, r->dups, c, p, o,
                        r->recv_win ? r->cpu_self / (double)r->recv_win : NAN, cpu_bound(r),
                        cores_used(r), r->own_wall_ms, r->load_start, r->load_end);
        }
        out_close(f, "runs.tsv");

        f = out_open("latency.tsv",
                     "label\tlanguage\toutcome\tn\tp5_s\tq1_s\tmedian_s\tq3_s\tp95_s");
        FILE *g = out_open("share.tsv", "label\tlanguage\tper_min\tshare");
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!r->ran)
                        continue;
                for (int l = 0; l < NLANG; l++) {
                        for (int o = 0; o < NOUT; o++) {
                                const struct box *b = &r->lo[l][o];
                                fprintf(f, "%s\t%s\t%s\t%zu\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n",
                                        r->label, lang_name[l], out_name[o], b->n, b->p5, b->q1,
                                        b->med, b->q3, b->p95);
                        }
                        fprintf(g, "%s\t%s\t%.2f\t%.3f\n", r->label, lang_name[l], r->lang_thr[l],
                                r->completion > 0 ? r->lang_thr[l] / r->completion : NAN);
                }
        }
        out_close(f, "latency.tsv");
        out_close(g, "share.tsv");
}

/* The rate runs whose latencies make the latency charts: light and medium (heavy and
 * timeout-heavy may be more than a 2-core VM takes, and then their latency is the queue's). */
static bool latency_run(const struct run *r)
{
        return r->ran && r->mode == M_RATE && r->rep == 1 &&
               (r->prof == P_LIGHT || r->prof == P_MEDIUM);
}

/* Latency per language and outcome (o < 0: every outcome), the latency runs pooled; with
 * `judge`, the time in the judge instead (build, tests, jailrun: serve's total_ms). */
static struct box pooled_what(int l, int o, bool judge)
{
        size_t n = 0;
        for (size_t i = 0; i < n_runs; i++)
                if (latency_run(&runs[i]))
                        n += runs[i].n;
        double *v = xcalloc(n, sizeof *v);
        size_t k = 0;
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!latency_run(r))
                        continue;
                for (size_t j = 0; j < r->n; j++) {
                        const struct sample *s = &r->s[j];
                        if (s->phase == 'm' && s->done && s->lang == l &&
                            (o < 0 ? true : s->out == o))
                                v[k++] =
                                    judge ? (double)judge_of(s) / 1000 : (s->recv - s->sent) / 1000;
                }
        }
        struct box b = box_of(v, k);
        free(v);
        return b;
}

static struct box pooled(int l, int o)
{
        return pooled_what(l, o, false);
}

static const char *fmt_s(char *buf, size_t n, double v, int decimals)
{
        if (isnan(v))
                snprintf(buf, n, "-");
        else
                snprintf(buf, n, "%.*f", decimals, v);
        return buf;
}

/* chart-*.tsv: the data of each chart, shaped for bench/scrc.gp */
static void write_charts_data(bool *have)
{
        /* throughput against RUNNER_MAX_PARALLEL (saturated, medium, one replica) */
        FILE *f =
            out_open("chart-parallel.tsv",
                     "parallel\tthroughput_per_min\tcpu_bound_per_min\tp50_s\tratio_to_first");
        double base = NAN;
        for (unsigned p = 1; p <= 64; p++) {
                const struct run *r = find_run(M_SAT, P_MEDIUM, p, 1);
                if (!r || !r->ran)
                        continue;
                if (isnan(base))
                        base = r->thr;
                fprintf(f, "%u\t%.2f\t%.2f\t%.3f\t%.3f\n", p, r->thr, cpu_bound(r), r->p50,
                        r->thr / base);
                have[0] = true;
        }
        out_close(f, "chart-parallel.tsv");

        /* latency per language and outcome, pooled over the latency runs */
        f = out_open("chart-latency.tsv",
                     "x\tlanguage\toutcome\tlang_idx\tout_idx\tn\tp5_s\tq1_s\tmedian_s\tq3_s\tp95_s"
                     "\tjudge_median_s");
        for (int l = 0; l < NLANG; l++)
                for (int o = 0; o < NOUT; o++) {
                        struct box b = pooled(l, o), j = pooled_what(l, o, true);
                        if (b.n == 0)
                                continue;
                        fprintf(f, "%d\t%s\t%s\t%d\t%d\t%zu\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n",
                                l * 6 + o, lang_name[l], out_name[o], l, o, b.n, b.p5, b.q1, b.med,
                                b.q3, b.p95, j.med);
                        have[1] = true;
                }
        out_close(f, "chart-latency.tsv");

        /* timeout impact: heavy against timeout-heavy */
        f = out_open("chart-timeout.tsv", "what\theavy\ttimeout_heavy");
        const struct run *h = find_run(M_RATE, P_HEAVY, opt.profile_parallel, 1),
                         *t = find_run(M_RATE, P_TIMEOUT_HEAVY, opt.profile_parallel, 1),
                         *hs = find_run(M_SAT, P_HEAVY, opt.profile_parallel, 1),
                         *tsat = find_run(M_SAT, P_TIMEOUT_HEAVY, opt.profile_parallel, 1);
        if (h && t && h->ran && t->ran) {
                fprintf(f, "offered 120/min\t%.2f\t%.2f\n", h->completion, t->completion);
                if (hs && tsat && hs->ran && tsat->ran)
                        fprintf(f, "saturated\t%.2f\t%.2f\n", hs->completion, tsat->completion);
                have[2] = true;
        }
        out_close(f, "chart-timeout.tsv");
        f = out_open(
            "chart-timeout-latency.tsv",
            "language\theavy_p50_s\ttimeout_heavy_p50_s\theavy_p95_s\ttimeout_heavy_p95_s");
        if (have[2]) {
                for (int l = 0; l < NLANG; l++) {
                        double hv[4096], tv[4096];
                        size_t nh = 0, nt = 0;
                        for (size_t j = 0; j < h->n && nh < 4096; j++)
                                if (h->s[j].phase == 'm' && h->s[j].done && h->s[j].lang == l)
                                        hv[nh++] = (h->s[j].recv - h->s[j].sent) / 1000;
                        for (size_t j = 0; j < t->n && nt < 4096; j++)
                                if (t->s[j].phase == 'm' && t->s[j].done && t->s[j].lang == l)
                                        tv[nt++] = (t->s[j].recv - t->s[j].sent) / 1000;
                        struct box bh = box_of(hv, nh), bt = box_of(tv, nt);
                        fprintf(f, "%s\t%.3f\t%.3f\t%.3f\t%.3f\n", lang_name[l], bh.med, bt.med,
                                bh.p95, bt.p95);
                }
                fprintf(f, "all but tl\t%.3f\t%.3f\tNaN\tNaN\n", h->p50_not_tl, t->p50_not_tl);
        }
        out_close(f, "chart-timeout-latency.tsv");

        /* throughput against replicas (saturated, medium), one column per parallel */
        unsigned pars[16], np = 0, reps_max = 1;
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!r->ran || r->mode != M_SAT || r->prof != P_MEDIUM || r->rep < 2)
                        continue;
                bool seen = false;
                for (unsigned k = 0; k < np; k++)
                        seen = seen || pars[k] == r->par;
                if (!seen && np < 16)
                        pars[np++] = r->par;
                if (r->rep > reps_max)
                        reps_max = r->rep;
        }
        f = out_open("chart-replicas.tsv", NULL);
        fprintf(f, "replicas");
        for (unsigned k = 0; k < np; k++)
                fprintf(f, "\tP=%u", pars[k]);
        fprintf(f, "\n");
        for (unsigned rep = 1; rep <= reps_max && np; rep++) {
                fprintf(f, "%u", rep);
                for (unsigned k = 0; k < np; k++) {
                        const struct run *r = find_run(M_SAT, P_MEDIUM, pars[k], rep);
                        fprintf(f, "\t%.2f", r && r->ran ? r->thr : NAN);
                }
                fprintf(f, "\n");
                have[3] = true;
        }
        out_close(f, "chart-replicas.tsv");
        /* the replicas x parallel grid, every saturated medium run */
        f = out_open("chart-grid.tsv", "parallel\treplicas\tthroughput_per_min");
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (r->ran && r->mode == M_SAT && r->prof == P_MEDIUM)
                        fprintf(f, "%u\t%u\t%.2f\n", r->par, r->rep, r->thr);
        }
        out_close(f, "chart-grid.tsv");

        /* the language share of throughput: every rate run, and saturated medium */
        f = out_open("chart-share.tsv", "run\tpython\tgo\tc\tcpp\tjava");
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!r->ran || r->rep != 1 ||
                    !(r->mode == M_RATE || (r->prof == P_MEDIUM && r->par == opt.profile_parallel)))
                        continue;
                fprintf(f, "%s", r->title);
                for (int l = 0; l < NLANG; l++)
                        fprintf(f, "\t%.2f", r->lang_thr[l]);
                fprintf(f, "\n");
                have[4] = true;
        }
        out_close(f, "chart-share.tsv");

        /* CPU seconds per submission by part, every run */
        f = out_open("chart-cpu.tsv", "run\tcompilers\tprograms\tjailrun\tbound_per_min");
        for (size_t i = 0; i < n_runs; i++) {
                double c, p, o;
                if (!runs[i].ran || !cpu_split(&runs[i], &c, &p, &o))
                        continue;
                fprintf(f, "%s\t%.4f\t%.4f\t%.4f\t%.1f\n", runs[i].title, c, p, o,
                        cpu_bound(&runs[i]));
                have[5] = true;
        }
        out_close(f, "chart-cpu.tsv");
}

static void draw_charts(void)
{
        static const char *const charts[] = {"parallel", "latency", "timeout",
                                             "replicas", "share",   "cpu"};
        bool have[6] = {0};
        write_charts_data(have);
        if (opt.no_charts)
                return;
        char script[4096], log[4096];
        snprintf(script, sizeof script, "%s/bench/scrc.gp", JR_SOURCE_DIR);
        snprintf(log, sizeof log, "%s/gnuplot.log", opt.out);
        say("\ncharts (gnuplot %s; errors in %s):\n", script, log);
        char ncores[16], note[256];
        double lmin = INFINITY, lmax = 0;
        for (size_t i = 0; i < n_runs; i++)
                if (runs[i].ran) {
                        lmin = fmin(lmin, fmin(runs[i].load_start, runs[i].load_end));
                        lmax = fmax(lmax, fmax(runs[i].load_start, runs[i].load_end));
                }
        snprintf(ncores, sizeof ncores, "%ld", cores);
        snprintf(note, sizeof note,
                 "bench/scrc%s, seed %" PRIu64 ", warm-up %.0f s, window %.0f s; load average "
                 "%.1f-%.1f during the runs (a shared machine: provisional figures)",
                 opt.quick ? " --quick" : "", opt.seed, opt.warmup_s, opt.window_s, lmin, lmax);
        for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
                if (!have[i]) {
                        say("  %-9s no data in this set of runs\n", charts[i]);
                        continue;
                }
                char *const argv[] = {"gnuplot",         "-c",   script, (char *)opt.out,
                                      (char *)charts[i], ncores, note,   NULL};
                posix_spawn_file_actions_t fa;
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                posix_spawn_file_actions_adddup2(&fa, 1, 2);
                pid_t pid;
                int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
                posix_spawn_file_actions_destroy(&fa);
                if (rc) {
                        warnx("gnuplot: %s (install gnuplot-nox); the data is in %s", strerror(rc),
                              opt.out);
                        return;
                }
                int st;
                waitpid(pid, &st, 0);
                if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                        say("  %-9s %s/%s*.png\n", charts[i], opt.out, charts[i]);
                else
                        warnx("gnuplot failed on the %s chart (status 0x%x); see %s", charts[i], st,
                              log);
        }
}

static void print_summary(void)
{
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        say("\n%-30s %8s %5s %8s %8s %6s %6s %5s  %-21s %9s %5s %6s\n", "run", "offered", "sent",
            "done/min", "recv/min", "p50 s", "p95 s", "wrong", "CPU s/sub: cc  prog  jr",
            "bound/min", "cores", "own ms");
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!r->ran)
                        continue;
                double c = NAN, p = NAN, o = NAN;
                cpu_split(r, &c, &p, &o);
                char offered[16];
                if (r->mode == M_RATE)
                        snprintf(offered, sizeof offered, "%.0f/min", profiles[r->prof].per_min);
                else
                        snprintf(offered, sizeof offered, "sat");
                say("%-30s %8s %5zu %8.1f %8.1f %6.2f %6.2f %5zu  %6s %5s %5s %11s %5s %6.1f\n",
                    r->title, offered, r->sent_m, r->thr, r->completion, r->p50, r->p95, r->wrong,
                    fmt_s(b1, sizeof b1, c, 3), fmt_s(b2, sizeof b2, p, 3),
                    fmt_s(b3, sizeof b3, o, 3), fmt_s(b4, sizeof b4, cpu_bound(r), 0),
                    fmt_s(b5, sizeof b5, cores_used(r), 2), r->own_wall_ms);
        }
        say("columns: done/min = results of the submissions sent in the window per minute of "
            "window (the reference's throughput);\n  recv/min = results received during the "
            "window; CPU s/sub = CPU seconds per result received in the window: cc = "
            "compilers,\n  prog = programs, jr = jailrun (supervisor, executors, jail set-up); "
            "bound = %ld cores x 60 s / (cc + prog + jr);\n  cores = the CPU that compilers, "
            "programs "
            "and jailrun used in the window / its length (the rest went to other work on the "
            "machine, or was idle);\n  own ms = jailrun's wall time in the judge per submission "
            "(serve's own_us: the judge's wall time minus every program's time in its jail)\n",
            cores);

        /* wrong verdicts, by scenario */
        bool any = false;
        for (int l = 0; l < NLANG; l++)
                for (int o = 0; o < NOUT; o++) {
                        char got[256] = "";
                        size_t n = 0;
                        for (size_t i = 0; i < n_runs; i++)
                                for (size_t j = 0; j < runs[i].n; j++) {
                                        const struct sample *s = &runs[i].s[j];
                                        if (s->lang != l || s->out != o || !s->done ||
                                            !strcmp(s->status, out_status[o]))
                                                continue;
                                        if (!strstr(got, s->status) &&
                                            strlen(got) + 8 < sizeof got) {
                                                strcat(got, " ");
                                                strcat(got, s->status);
                                        }
                                        n++;
                                }
                        if (n) {
                                if (!any)
                                        say("\nverdicts that differ from the scenario's:\n");
                                any = true;
                                say("  %s-%s: expected %s, got%s (%zu times)\n", lang_name[l],
                                    out_name[o], out_status[o], got, n);
                        }
                }

        say("\nratios against a baseline of the same invocation (provisional: a shared, noisy "
            "machine):\n");
        const struct run *p1 = NULL;
        for (unsigned p = 1; p <= 64 && !p1; p++) {
                p1 = find_run(M_SAT, P_MEDIUM, p, 1);
                if (p1 && !p1->ran)
                        p1 = NULL;
        }
        for (unsigned p = 1; p1 && p <= 64; p++) {
                const struct run *r = find_run(M_SAT, P_MEDIUM, p, 1);
                if (r && r->ran && r != p1)
                        say("  saturated medium, P=%u against P=%u: throughput x%.2f, p50 "
                            "x%.2f\n",
                            p, p1->par, r->thr / p1->thr, r->p50 / p1->p50);
        }
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (!r->ran || r->rep < 2 || r->mode != M_SAT)
                        continue;
                const struct run *one = find_run(M_SAT, r->prof, r->par, 1);
                if (one && one->ran)
                        say("  %u replicas against 1 (P=%u each): throughput x%.2f\n", r->rep,
                            r->par, r->thr / one->thr);
        }
        for (int m = 0; m < 2; m++) {
                const struct run *h = find_run((enum mode)m, P_HEAVY, opt.profile_parallel, 1),
                                 *t = find_run((enum mode)m, P_TIMEOUT_HEAVY, opt.profile_parallel,
                                               1);
                if (h && t && h->ran && t->ran)
                        say("  timeout-heavy against heavy (%s, P=%u): throughput x%.2f, p50 "
                            "x%.2f, p50 of the non-tl submissions x%.2f\n",
                            m == M_RATE ? "offered 120/min" : "saturated", opt.profile_parallel,
                            t->thr / h->thr, t->p50 / h->p50, t->p50_not_tl / h->p50_not_tl);
        }
        for (size_t i = 0; i < n_runs; i++) {
                const struct run *r = &runs[i];
                if (r->ran && r->mode == M_RATE)
                        say("  %s: throughput / offered rate = %.2f\n", r->title,
                            r->thr / profiles[r->prof].per_min);
        }

        /* beside the reference worker's published figures */
        static const char *const ref_p50[NLANG] = {"2.5-3.5 s", "1.5-2.5 s", "0.8-1.5 s",
                                                   "0.8-1.5 s", "2.5-4.5 s"};
        static const double ref_lo[NLANG] = {2.5, 1.5, 0.8, 0.8, 2.5};
        static const double ref_hi[NLANG] = {3.5, 2.5, 1.5, 1.5, 4.5};
        say("\nbeside the reference Docker worker (docs/messages.md); median latency of "
            "every outcome,\nthe rate runs light and medium pooled:\n");
        say("  %-8s %9s %9s %9s %5s   %-10s %s\n", "language", "jailrun", "ok only", "in judge",
            "n", "reference", "reference / jailrun");
        for (int l = 0; l < NLANG; l++) {
                struct box b = pooled(l, -1), ok = pooled(l, O_OK), j = pooled_what(l, -1, true);
                if (b.n == 0)
                        continue;
                say("  %-8s %9s %9s %9s %5zu   %-10s %.1f-%.1fx\n", lang_name[l],
                    fmt_s(b1, sizeof b1, b.med, 2), fmt_s(b2, sizeof b2, ok.med, 2),
                    fmt_s(b3, sizeof b3, j.med, 2), b.n, ref_p50[l], ref_lo[l] / b.med,
                    ref_hi[l] / b.med);
        }
        say("  (seconds; jailrun = median send-to-result latency; in judge = median of the "
            "judge's "
            "wall time (serve's total_ms): build, tests\n  and jailrun's own work, without "
            "Kafka and the queue)\n");
        const struct run *sat = find_run(M_SAT, P_MEDIUM, opt.profile_parallel, 1);
        if (!sat || !sat->ran)
                sat = p1;
        double best = 0;
        const struct run *br = NULL;
        for (size_t i = 0; i < n_runs; i++)
                if (runs[i].ran && runs[i].mode == M_SAT && runs[i].thr > best) {
                        best = runs[i].thr;
                        br = &runs[i];
                }
        if (sat)
                say("  throughput, %s: %.1f/min = %.1f per core per minute (reference: 140-228/min "
                    "on 8 cores = 17.5-28.5 per core)\n",
                    sat->title, sat->thr, sat->thr / (double)cores);
        if (br)
                say("  best saturated run, %s: %.1f/min on %ld cores (reference: 3 workers x 6 "
                    "reached 277.5/min)\n",
                    br->title, br->thr, cores);
}

/* ---- main ------------------------------------------------------------------------------ */

static void on_stop(int sig)
{
        (void)sig;
        bench_stop_requested = 1;
}

static void usage(FILE *f)
{
        fprintf(
            f,
            "Usage: scrc [OPTIONS]\n\n"
            "The reference worker's benchmark workload (docs/messages.md) against real\n"
            "`jailrun serve` processes on an in-process Kafka mock cluster: profile runs at their\n"
            "offered rate (Poisson arrivals), a RUNNER_MAX_PARALLEL sweep and replicas when\n"
            "saturated, the timeout-heavy profile against heavy, CPU seconds per submission by\n"
            "part. Writes TSV files and PNG charts (gnuplot) into the output directory. Root.\n\n"
            "  --quick               the short set (~3 min): medium, heavy and timeout-heavy at\n"
            "                        their rates, saturated P=1,2 and 2 replicas x P=1;\n"
            "                        warm-up 4 s, window 15 s (default: the full set, ~20 min:\n"
            "                        four profiles, P=1..4, 2 replicas x P=1,2, timeout runs\n"
            "                        saturated too; warm-up 15 s, window 60 s)\n"
            "  --only LIST           groups to run: profiles,parallel,replicas,timeout\n"
            "  --out DIR             output directory (default build/bench-out)\n"
            "  --parallel LIST       the sweep's RUNNER_MAX_PARALLEL values (default 1,2,3,4)\n"
            "  --replicas LIST       serve processes in one group (default 2; 1 comes from "
            "the sweep)\n"
            "  --replica-parallel LIST   RUNNER_MAX_PARALLEL of the replica runs (default "
            "1,2)\n"
            "  --profile-parallel N  RUNNER_MAX_PARALLEL of the profile and timeout runs "
            "(default 2)\n"
            "  --warmup S, --window S, --drain S   seconds: warm-up, measurement window, "
            "longest\n"
            "                        wait for the window's last results (default 15, 60, 90)\n"
            "  --seed N              the submissions and their gaps (default 1)\n"
            "  --tl busy|sleep       tl programs spin (default) or sleep\n"
            "  --verbatim            send the sources as they are (default: a unique comment "
            "is\n"
            "                        appended so that no build can be cached)\n"
            "  --uid-base N          slot uids: replica k uses N + %d k + slot (default 61000)\n"
            "  --spool-root DIR      the serves' spools (default /var/tmp/jailrun-scrc)\n"
            "  --kafka-config PROPS  more JAILRUN_KAFKA_CONFIG properties for serve\n"
            "  --no-charts           write the data, skip gnuplot\n"
            "  --dump-scenarios DIR  write the 25 submissions as files (for `jailrun run`) "
            "and exit\n"
            "  -h, --help            this text\n",
            UID_STEP);
}

static double parse_seconds(const char *name, const char *v)
{
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (errno || *end || !(x >= 0) || x > 86400)
                bench_die("%s \"%s\": want seconds, 0..86400", name, v);
        return x;
}

static unsigned parse_uint(const char *name, const char *v, unsigned lo, unsigned hi)
{
        char *end;
        errno = 0;
        unsigned long x = strtoul(v, &end, 10);
        if (errno || *end || v[0] == '-' || x < lo || x > hi)
                bench_die("%s \"%s\": want %u..%u", name, v, lo, hi);
        return (unsigned)x;
}

/* "1,2,4" -> values, each lo..hi */
static size_t parse_list(const char *name, const char *v, unsigned *out, size_t max, unsigned lo,
                         unsigned hi)
{
        size_t n = 0;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n == max)
                        bench_die("%s \"%s\": at most %zu values", name, v, max);
                out[n++] = parse_uint(name, t, lo, hi);
        }
        if (n == 0)
                bench_die("%s: empty list", name);
        return n;
}

static bool want(const char *group)
{
        if (!opt.only)
                return true;
        size_t n = strlen(group);
        for (const char *p = opt.only; *p;) {
                size_t len = strcspn(p, ",");
                if (len == n && !strncmp(p, group, n))
                        return true;
                p += len + (p[len] == ',');
        }
        return false;
}

int main(int argc, char **argv)
{
        bench_name = "scrc";
        bench_on_die = kill_serves; /* a serve never outlives a failed run */
        static const struct option longopts[] = {
            {"quick", no_argument, NULL, 'q'},
            {"only", required_argument, NULL, 'o'},
            {"out", required_argument, NULL, 'O'},
            {"parallel", required_argument, NULL, 'p'},
            {"replicas", required_argument, NULL, 'r'},
            {"replica-parallel", required_argument, NULL, 'R'},
            {"profile-parallel", required_argument, NULL, 'P'},
            {"warmup", required_argument, NULL, 'w'},
            {"window", required_argument, NULL, 'W'},
            {"drain", required_argument, NULL, 'd'},
            {"seed", required_argument, NULL, 's'},
            {"tl", required_argument, NULL, 't'},
            {"verbatim", no_argument, NULL, 'v'},
            {"uid-base", required_argument, NULL, 'u'},
            {"spool-root", required_argument, NULL, 'S'},
            {"kafka-config", required_argument, NULL, 'k'},
            {"no-charts", no_argument, NULL, 'n'},
            {"dump-scenarios", required_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        double warmup = -1, window = -1, drain = -1;
        int c;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'q':
                        opt.quick = true;
                        break;
                case 'o':
                        opt.only = optarg;
                        break;
                case 'O':
                        opt.out = optarg;
                        break;
                case 'p':
                        opt.sweep = optarg;
                        break;
                case 'r':
                        opt.replicas = optarg;
                        break;
                case 'R':
                        opt.rep_parallel = optarg;
                        break;
                case 'P':
                        opt.profile_parallel = parse_uint("--profile-parallel", optarg, 1, 64);
                        break;
                case 'w':
                        warmup = parse_seconds("--warmup", optarg);
                        break;
                case 'W':
                        window = parse_seconds("--window", optarg);
                        break;
                case 'd':
                        drain = parse_seconds("--drain", optarg);
                        break;
                case 's':
                        opt.seed = parse_uint("--seed", optarg, 0, UINT32_MAX);
                        break;
                case 't':
                        if (strcmp(optarg, "busy") && strcmp(optarg, "sleep"))
                                bench_die("--tl \"%s\": want busy or sleep", optarg);
                        opt.tl_sleep = !strcmp(optarg, "sleep");
                        break;
                case 'v':
                        opt.verbatim = true;
                        break;
                case 'u':
                        opt.uid_base = parse_uint("--uid-base", optarg, 1000, 4000000000u);
                        break;
                case 'S':
                        opt.spool_root = optarg;
                        break;
                case 'k':
                        opt.kafka_extra = optarg;
                        break;
                case 'n':
                        opt.no_charts = true;
                        break;
                case 'D':
                        opt.dump = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "scrc: unexpected argument \"%s\"\n", argv[optind]);
                usage(stderr);
                return 2;
        }
        if (opt.dump) {
                dump_scenarios(opt.dump);
                return 0;
        }
        if (opt.only)
                for (const char *p = opt.only; *p;) {
                        size_t len = strcspn(p, ",");
                        if (!((len == 8 && !strncmp(p, "profiles", 8)) ||
                              (len == 8 && !strncmp(p, "parallel", 8)) ||
                              (len == 8 && !strncmp(p, "replicas", 8)) ||
                              (len == 7 && !strncmp(p, "timeout", 7))))
                                bench_die("--only \"%s\": groups are profiles, parallel, replicas, "
                                          "timeout",
                                          opt.only);
                        p += len + (p[len] == ',');
                }
        opt.warmup_s = warmup >= 0 ? warmup : opt.quick ? 4 : 15;
        opt.window_s = window >= 0 ? window : opt.quick ? 15 : 60;
        opt.drain_s = drain >= 0 ? drain : opt.quick ? 30 : 90;
        if (opt.window_s < 1)
                bench_die("--window: at least 1 s");
        if (geteuid() != 0)
                bench_die("run as root: the jails need it, and so does taskstats");

        cores = sysconf(_SC_NPROCESSORS_ONLN);
        clk_tck = (double)sysconf(_SC_CLK_TCK);
        rng_state = opt.seed;

        /* the plan */
        unsigned sweep[16], reps[8], rpar[16];
        size_t n_sweep = parse_list("--parallel",
                                    opt.sweep   ? opt.sweep
                                    : opt.quick ? "1,2"
                                                : "1,2,3,4",
                                    sweep, 16, 1, 64);
        size_t n_reps =
            parse_list("--replicas", opt.replicas ? opt.replicas : "2", reps, 8, 1, MAXREP);
        size_t n_rpar = parse_list("--replica-parallel",
                                   opt.rep_parallel ? opt.rep_parallel
                                   : opt.quick      ? "1"
                                                    : "1,2",
                                   rpar, 16, 1, 64);
        const unsigned pp = opt.profile_parallel;
        if (want("profiles")) {
                if (opt.quick)
                        plan_add("profiles", M_RATE, P_MEDIUM, pp, 1);
                else
                        for (int p = 0; p < NPROF; p++)
                                plan_add("profiles", M_RATE, p, pp, 1);
        }
        if (want("parallel"))
                for (size_t i = 0; i < n_sweep; i++)
                        plan_add("parallel", M_SAT, P_MEDIUM, sweep[i], 1);
        if (want("replicas"))
                for (size_t i = 0; i < n_reps; i++)
                        for (size_t k = 0; k < n_rpar; k++)
                                plan_add("replicas", M_SAT, P_MEDIUM, rpar[k], reps[i]);
        if (want("timeout")) {
                plan_add("timeout", M_RATE, P_HEAVY, pp, 1);
                plan_add("timeout", M_RATE, P_TIMEOUT_HEAVY, pp, 1);
                if (!opt.quick) {
                        plan_add("timeout", M_SAT, P_HEAVY, pp, 1);
                        plan_add("timeout", M_SAT, P_TIMEOUT_HEAVY, pp, 1);
                }
        }
        if (n_runs == 0)
                bench_die("nothing to run");

        bench_find_jailrun(jailrun, sizeof jailrun);
        mkdir_p(opt.out);
        char logs[4096];
        snprintf(logs, sizeof logs, "%s/logs", opt.out);
        mkdir_p(logs);
        mkdir_p(opt.spool_root);
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/summary.txt", opt.out);
        summary = fopen(sp, "we");
        if (!summary)
                bench_die("create \"%s\": %s", sp, strerror(errno));

        struct sigaction sa = {.sa_handler = on_stop};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* every run has its own three topics */
        jr_kafka_topic_spec *topics = xcalloc(3 * n_runs, sizeof *topics);
        char(*names)[32] = xcalloc(3 * n_runs, sizeof *names);
        for (size_t i = 0; i < n_runs; i++) {
                static const char *const kind[] = {"scripts", "results", "events"};
                for (int k = 0; k < 3; k++) {
                        snprintf(names[3 * i + (size_t)k], 32, "%s-%zu", kind[k], i + 1);
                        topics[3 * i + (size_t)k] =
                            (jr_kafka_topic_spec){names[3 * i + (size_t)k], NPARTS};
                }
        }
        jr_kafka_broker *broker = NULL;
        jr_error e;
        if (jr_kafka_broker_start(topics, 3 * n_runs, bench_quiet_log, NULL, &broker, &e) < 0)
                bench_die("start the mock cluster: %s", e.msg);
        const char *brokers = jr_kafka_broker_bootstraps(broker);
        ts_open();

        double est = 0;
        for (size_t i = 0; i < n_runs; i++)
                est += opt.warmup_s + opt.window_s + 10;
        say("scrc: the reference workload against jailrun serve (%s)\n", jailrun);
        say("%ld CPUs, load average %.2f; mock cluster at %s; seed %" PRIu64
            "; warm-up %.0f s, window %.0f s, drain up to %.0f s;\ntl programs %s; sources %s; "
            "%zu runs, about %.0f min; output in %s\n\n",
            cores, loadavg(), brokers, opt.seed, opt.warmup_s, opt.window_s, opt.drain_s,
            opt.tl_sleep ? "sleep" : "spin", opt.verbatim ? "verbatim" : "made unique", n_runs,
            est / 60, opt.out);

        FILE *f_samples =
            out_open("samples.tsv", "label\tlanguage\toutcome\tn\tphase\tstatus\tsent_"
                                    "ms\tlatency_ms\tbuild_ms\tduration_ms\ttests_ms\tcpu_"
                                    "ms\tjudge_ms");
        FILE *f_comm = out_open("cpu-comm.tsv", "label\tcomm\tcpu_s_per_submission");
        for (size_t i = 0; i < n_runs; i++) {
                run_one(&runs[i], (unsigned)(i + 1), brokers, f_samples, f_comm);
                write_runs(); /* after every run: an interrupted set keeps what it measured */
        }
        out_close(f_samples, "samples.tsv");
        out_close(f_comm, "cpu-comm.tsv");
        ts_close();
        jr_kafka_broker_stop(broker);
        print_summary();
        draw_charts();
        for (size_t i = 0; i < n_runs; i++)
                free(runs[i].s);
        free(topics);
        free(names);
        if (fclose(summary) != 0)
                bench_die("write \"%s\": %s", sp, strerror(errno));
        return 0;
}
