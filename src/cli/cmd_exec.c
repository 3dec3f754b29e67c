/* jailrun exec: run one command in a jail and print a JSON report. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "cleanup.h"
#include "jailopts.h"
#include "commands.h"
#include "exec.h"
#include "jail.h"
#include "units.h"

#define MAX_BINDS 64
#define MAX_ENV   256

static const char usage_text[] =
    "Usage: jailrun exec [OPTIONS] -- COMMAND [ARGS...]\n"
    "\n"
    "Run COMMAND in a new jail (pid, mount, net, ipc, uts and cgroup namespaces; a\n"
    "read-only root; loopback only; an unprivileged uid without capabilities; a\n"
    "seccomp filter) and print one JSON object on stdout:\n"
    "  {\"status\", \"exit_code\", \"signal\", \"cpu_ms\", \"wall_ms\", \"memory_peak_bytes\",\n"
    "   \"oom_killed\", \"stdout_bytes\", \"stderr_bytes\", \"reason\", \"error\"}\n"
    "status is OK (exit 0), RE (non-zero exit or a signal), TL (CPU or wall time), ML\n"
    "(the cgroup OOM killer), OL (output limit) or IE (the jail itself failed).\n"
    "\n"
    "Filesystem:\n"
    "  --rootfs DIR|host    root tree, bound read-only (default host: the host's /usr,\n"
    "                       /bin, /lib*, /sbin and a few /etc files, read-only)\n"
    "  --bind SRC:DST[:rw]  bind host SRC at DST (read-only unless :rw); repeatable\n"
    "  --workdir DIR        working directory inside the jail (default /work, a tmpfs)\n"
    "  --tmp-size SIZE      size of the /tmp, /work and /dev/shm tmpfs (default 64M)\n"
    "Limits (0 = none):\n"
    "  --time-ms N          CPU time of the whole jail, every thread and child\n"
    "  --wall-ms N          wall-clock time\n"
    "  --cpus N             CPU bandwidth: N CPUs for the whole jail, e.g. 0.5 or 2\n"
    "                       (0.01 to 1024; a quota per 100 ms period: cgroup v2\n"
    "                       cpu.max, v1 cpu.cfs_quota_us, IE without a cpu hierarchy)\n"
    "  --mem SIZE           memory (cgroup, swap off), e.g. 64M\n"
    "  --pids N             processes and threads\n"
    "  --output-limit SIZE  stdout + stderr together (OL)\n"
    "  --fsize SIZE         largest file the program may write (RLIMIT_FSIZE)\n"
    "  --nofile N           open files (default 64)\n"
    "  --stack SIZE         stack size (default 8M)\n"
    "I/O:\n"
    "  --stdin FILE         program's stdin (default /dev/null)\n"
    "  --stdout FILE|-      copy the program's stdout to FILE, or to our stdout before\n"
    "                       the report with '-' (default: counted, dropped)\n"
    "  --stderr FILE|-      the same for stderr ('-': our stderr)\n"
    "  --report FILE        write the JSON report to FILE instead of stdout\n"
    "Identity:\n"
    "  --env K=V            set a variable; the environment is otherwise empty; repeatable\n"
    "  --uid N              uid and gid of the program (default $JAILRUN_SLOT_UID_BASE,\n"
    "                       60000, + slot; never 0)\n"
    "  --slot N             jail slot number (default 0)\n"
    "Host:\n"
    "  --cgroup auto|v1|v2  cgroup backend (default auto)\n"
    "  --fallback LIST      pretend the kernel lacks features, comma-separated:\n"
    "                       memory-peak, cgroup-kill, clone-into-cgroup (also from\n"
    "                       $JAILRUN_CG_FALLBACKS)\n"
    "  -v, --verbose        print the cgroup backend and fallbacks on stderr\n"
    "  --version            print the version and the cgroup backend, then exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 when the command ran (whatever its status), 1 when the jail failed\n"
    "(status IE), 2 on a usage error (a report with status IE is printed too).\n";

enum {
        OPT_ROOTFS = 256,
        OPT_BIND,
        OPT_WORKDIR,
        OPT_TMP,
        OPT_TIME,
        OPT_WALL,
        OPT_CPUS,
        OPT_MEM,
        OPT_PIDS,
        OPT_OUTLIM,
        OPT_FSIZE,
        OPT_NOFILE,
        OPT_STACK,
        OPT_STDIN,
        OPT_STDOUT,
        OPT_STDERR,
        OPT_REPORT,
        OPT_ENV,
        OPT_UID,
        OPT_SLOT,
        OPT_CGROUP,
        OPT_FALLBACK,
        OPT_VERSION,
};

static const struct option options[] = {
    {"rootfs", required_argument, NULL, OPT_ROOTFS},
    {"bind", required_argument, NULL, OPT_BIND},
    {"workdir", required_argument, NULL, OPT_WORKDIR},
    {"tmp-size", required_argument, NULL, OPT_TMP},
    {"time-ms", required_argument, NULL, OPT_TIME},
    {"wall-ms", required_argument, NULL, OPT_WALL},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"mem", required_argument, NULL, OPT_MEM},
    {"pids", required_argument, NULL, OPT_PIDS},
    {"output-limit", required_argument, NULL, OPT_OUTLIM},
    {"fsize", required_argument, NULL, OPT_FSIZE},
    {"nofile", required_argument, NULL, OPT_NOFILE},
    {"stack", required_argument, NULL, OPT_STACK},
    {"stdin", required_argument, NULL, OPT_STDIN},
    {"stdout", required_argument, NULL, OPT_STDOUT},
    {"stderr", required_argument, NULL, OPT_STDERR},
    {"report", required_argument, NULL, OPT_REPORT},
    {"env", required_argument, NULL, OPT_ENV},
    {"uid", required_argument, NULL, OPT_UID},
    {"slot", required_argument, NULL, OPT_SLOT},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"fallback", required_argument, NULL, OPT_FALLBACK},
    {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The options: jr_exec's, and the storage of their lists. */
struct exec_opts {
        jr_exec_opts x;
        jr_bind binds[MAX_BINDS];
        char *env[MAX_ENV + 1];
        size_t nenv;
        const char *report_path;
        bool verbose, version;
};

static int parse_u64_opt(const char *name, const char *arg, bool size, uint64_t *out, jr_error *e)
{
        int r = size ? jr_parse_size(arg, out, e) : jr_parse_uint(arg, INT64_MAX, out, e);
        if (r < 0)
                return jr_error_wrap(e, "option --%s", name);
        return 0;
}

static int parse_bind(const char *arg, jr_bind *b, jr_error *e)
{
        /* SRC:DST[:rw|:ro]; the strings stay owned by argv */
        char *copy = strdup(arg);
        if (!copy)
                return jr_error_set(e, ENOMEM, "option --bind");
        char *dst = strchr(copy, ':');
        if (!dst || dst == copy || dst[1] != '/') {
                free(copy);
                return jr_error_set(e, EINVAL,
                                    "option --bind \"%s\": expected SRC:DST[:rw] with an "
                                    "absolute DST",
                                    arg);
        }
        *dst++ = '\0';
        char *mode = strchr(dst, ':');
        b->rw = false;
        if (mode) {
                *mode++ = '\0';
                if (!strcmp(mode, "rw")) {
                        b->rw = true;
                } else if (strcmp(mode, "ro")) {
                        free(copy);
                        return jr_error_set(e, EINVAL,
                                            "option --bind \"%s\": mode must be rw or ro", arg);
                }
        }
        b->src = copy; /* dst points into the same allocation; freed at exit */
        b->dst = dst;
        return 0;
}

static int parse_args(int argc, char **argv, struct exec_opts *o, jr_error *e)
{
        jr_run_config *c = &o->x.cfg;
        if (jr_sandbox_opts_from_env(&o->x.sandbox, e) < 0)
                return -1;
        optind = 1;
        opterr = 0;
        int opt;
        while ((opt = getopt_long(argc, argv, "+vh", options, NULL)) != -1) {
                const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
                uint64_t v;
                switch (opt) {
                case OPT_ROOTFS:
                        c->rootfs = strcmp(optarg, "host") ? optarg : NULL;
                        break;
                case OPT_BIND:
                        if (c->nbinds == MAX_BINDS)
                                return jr_error_set(e, E2BIG, "option --bind: at most %d",
                                                    MAX_BINDS);
                        if (parse_bind(optarg, &o->binds[c->nbinds], e) < 0)
                                return -1;
                        c->nbinds++;
                        break;
                case OPT_WORKDIR:
                        if (optarg[0] != '/')
                                return jr_error_set(
                                    e, EINVAL, "option --workdir \"%s\": must be absolute", optarg);
                        c->workdir = optarg;
                        break;
                case OPT_TMP:
                        if (parse_u64_opt("tmp-size", optarg, true, &c->tmp_size, e) < 0)
                                return -1;
                        break;
                case OPT_TIME:
                        if (parse_u64_opt("time-ms", optarg, false, &c->cpu_ms, e) < 0)
                                return -1;
                        break;
                case OPT_WALL:
                        if (parse_u64_opt("wall-ms", optarg, false, &c->wall_ms, e) < 0)
                                return -1;
                        break;
                case OPT_CPUS:
                        if (jr_parse_cpus_limit(optarg, &c->nano_cpus, e) < 0)
                                return jr_error_wrap(e, "option --cpus");
                        break;
                case OPT_MEM:
                        if (parse_u64_opt("mem", optarg, true, &c->mem_bytes, e) < 0)
                                return -1;
                        break;
                case OPT_PIDS:
                        if (parse_u64_opt("pids", optarg, false, &c->pids, e) < 0)
                                return -1;
                        break;
                case OPT_OUTLIM:
                        if (parse_u64_opt("output-limit", optarg, true, &c->output_limit, e) < 0)
                                return -1;
                        break;
                case OPT_FSIZE:
                        if (parse_u64_opt("fsize", optarg, true, &c->fsize, e) < 0)
                                return -1;
                        break;
                case OPT_NOFILE:
                        if (parse_u64_opt("nofile", optarg, false, &c->nofile, e) < 0)
                                return -1;
                        break;
                case OPT_STACK:
                        if (parse_u64_opt("stack", optarg, true, &c->stack, e) < 0)
                                return -1;
                        break;
                case OPT_STDIN:
                        o->x.stdin_path = optarg;
                        break;
                case OPT_STDOUT:
                        o->x.stdout_path = optarg;
                        break;
                case OPT_STDERR:
                        o->x.stderr_path = optarg;
                        break;
                case OPT_REPORT:
                        o->report_path = optarg;
                        break;
                case OPT_ENV:
                        if (!strchr(optarg, '=') || optarg[0] == '=')
                                return jr_error_set(e, EINVAL, "option --env \"%s\": expected K=V",
                                                    optarg);
                        if (o->nenv == MAX_ENV)
                                return jr_error_set(e, E2BIG, "option --env: at most %d", MAX_ENV);
                        o->env[o->nenv++] = optarg;
                        break;
                case OPT_UID:
                        if (parse_u64_opt("uid", optarg, false, &v, e) < 0)
                                return -1;
                        if (v == 0 || v >= 0xfffffffeu)
                                return jr_error_set(e, EINVAL,
                                                    "option --uid %s: must be between 1 and "
                                                    "4294967293 (never root)",
                                                    optarg);
                        o->x.uid = (long)v;
                        break;
                case OPT_SLOT:
                        if (parse_u64_opt("slot", optarg, false, &v, e) < 0)
                                return -1;
                        if (v > 65535)
                                return jr_error_set(e, EINVAL, "option --slot %s: at most 65535",
                                                    optarg);
                        o->x.slot = (unsigned)v;
                        break;
                case OPT_CGROUP:
                        if (jr_parse_cg_mode(optarg, &o->x.sandbox.cg_mode, e) < 0)
                                return jr_error_wrap(e, "option --cgroup");
                        break;
                case OPT_FALLBACK:
                        if (jr_parse_fallbacks(optarg, &o->x.sandbox.fallbacks, e) < 0)
                                return jr_error_wrap(e, "option --fallback");
                        break;
                case 'v':
                        o->verbose = true;
                        break;
                case OPT_VERSION:
                        o->version = true;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        exit(0);
                case ':':
                        return jr_error_set(e, EINVAL, "option %s needs a value", name);
                default:
                        return jr_error_set(e, EINVAL, "unknown option \"%s\" (see --help)", name);
                }
        }
        o->env[o->nenv] = NULL;
        c->envp = o->env;
        if (o->version)
                return 0;
        if (optind >= argc)
                return jr_error_set(e, EINVAL,
                                    "no command given (jailrun exec [OPTIONS] -- "
                                    "COMMAND [ARGS...])");
        c->argv = &argv[optind];
        c->binds = o->binds;
        return 0;
}

#define GEN_STR(g, s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))

static void gen_kv_u64(yajl_gen g, const char *k, uint64_t v)
{
        GEN_STR(g, k);
        yajl_gen_integer(g, (long long)v);
}

static void print_report(FILE *out, const jr_run_result *r, bool ran)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        yajl_gen_map_open(g);
        GEN_STR(g, "status");
        GEN_STR(g, jr_jail_status_name(r->status));
        GEN_STR(g, "exit_code");
        if (ran && r->exit_code >= 0)
                yajl_gen_integer(g, r->exit_code);
        else
                yajl_gen_null(g);
        GEN_STR(g, "signal");
        if (ran && r->signal)
                yajl_gen_integer(g, r->signal);
        else
                yajl_gen_null(g);
        gen_kv_u64(g, "cpu_ms", r->cpu_ms);
        gen_kv_u64(g, "wall_ms", r->wall_ms);
        gen_kv_u64(g, "memory_peak_bytes", r->memory_peak_bytes);
        GEN_STR(g, "oom_killed");
        yajl_gen_bool(g, r->oom_killed);
        gen_kv_u64(g, "stdout_bytes", r->stdout_bytes);
        gen_kv_u64(g, "stderr_bytes", r->stderr_bytes);
        GEN_STR(g, "reason");
        GEN_STR(g, r->reason);
        GEN_STR(g, "error");
        GEN_STR(g, r->status == JR_JAIL_IE ? r->error.msg : "");
        yajl_gen_map_close(g);
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g, &buf, &len);
        fwrite(buf, 1, len, out);
        fputc('\n', out);
        fflush(out);
        yajl_gen_free(g);
}

static int report_ie(FILE *out, const jr_error *e, int code)
{
        fprintf(stderr, "jailrun exec: %s\n", e->msg);
        jr_run_result r = {.status = JR_JAIL_IE, .exit_code = -1};
        r.error = *e;
        snprintf(r.reason, sizeof r.reason, "internal error");
        print_report(out, &r, false);
        return code;
}

static void free_binds(struct exec_opts *o)
{
        for (size_t i = 0; i < o->x.cfg.nbinds; i++)
                free((char *)o->binds[i].src);
}

int jr_cmd_exec(int argc, char **argv)
{
        struct exec_opts o = {.x.uid = -1};
        jr_error e = {0};
        jr_run_config_init(&o.x.cfg);

        if (parse_args(argc, argv, &o, &e) < 0) {
                /* the report goes where it was asked to, if that much was parsed */
                FILE *f = o.report_path ? fopen(o.report_path, "we") : NULL;
                int ret = report_ie(f ? f : stdout, &e, 2);
                if (f)
                        fclose(f);
                free_binds(&o);
                return ret;
        }
        _cleanup_fclose_ FILE *report_file = NULL;
        FILE *report = stdout;
        if (o.report_path) {
                report_file = fopen(o.report_path, "we");
                if (!report_file) {
                        jr_error_errno(&e, "open the report file \"%s\"", o.report_path);
                        free_binds(&o);
                        return report_ie(stdout, &e, 2);
                }
                report = report_file;
        }
        /* a closed reader of our stdout must not kill us before the report */
        signal(SIGPIPE, SIG_IGN);

        o.x.log = o.verbose ? stderr : NULL;
        o.x.version = o.version ? stdout : NULL;
        jr_run_result res;
        int r = jr_exec(&o.x, &res, &e);
        free_binds(&o);
        if (r < 0)
                return report_ie(report, &e, r == JR_EXEC_INVALID ? 2 : 1);
        if (!o.version)
                print_report(report, &res, true);
        return 0;
}
