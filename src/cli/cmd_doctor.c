/* jailrun doctor: check the host, one line per check. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "jailopts.h"
#include "commands.h"
#include "config.h"
#include "doctor.h"
#include "units.h"

static const char usage_text[] =
    "Usage: jailrun doctor [OPTIONS]\n"
    "\n"
    "Check this host for judging: privileges, the config file, kernel features (clone3,\n"
    "pidfd, close_range, openat2, cgroup.kill, memory.peak), the cgroup mode and whether\n"
    "jail cgroups can be created here, namespaces and seccomp (tried in a child), tmpfs\n"
    "and overlay mounts, the CPU bandwidth limit, the language files and the rootfs\n"
    "trees they need (their age, and whether each was built from its current recipe),\n"
    "swap accounting, SMT, the CPU frequency governor and turbo, the clock source,\n"
    "ASLR, core_pattern, the slot uids, and finally a trial jail running /bin/true.\n"
    "One line per check:\n"
    "  OK   name          what was found\n"
    "  WARN name          works, but less reliable or less safe: what to change\n"
    "  FAIL name          jailrun cannot judge correctly: what to fix\n"
    "\n"
    "  --config FILE      the config file (default $JAILRUN_CONFIG or\n"
    "                     /etc/jailrun/jailrun.conf)\n"
    "  --rootfs-dir DIR   rootfs trees (default $JAILRUN_ROOTFS_DIR or\n"
    "                     /var/lib/jailrun/rootfs)\n"
    "  --langs DIR        language files (default $JAILRUN_LANGS_DIR or\n"
    "                     /usr/share/jailrun/langs)\n"
    "  --recipes DIR      rootfs recipes the trees are compared with (default\n"
    "                     $JAILRUN_RECIPES_DIR or /usr/share/jailrun/rootfs)\n"
    "  --cgroup auto|v1|v2  the cgroup backend to check (default $JAILRUN_CGROUP or auto)\n"
    "  --slots N          slot uids to check (default $RUNNER_MAX_PARALLEL or 1)\n"
    "  --max-age DAYS     older rootfs trees are a warning (default 30)\n"
    "  --no-jail          skip the trial jail\n"
    "  -h, --help         this text\n"
    "\n"
    "The trial jail runs like `jailrun exec`: on a cgroup v2 host this process moves into\n"
    "<its cgroup>/supervisor, which needs a cgroup of its own (the service has one; from\n"
    "a shell: `systemd-run --scope -p Delegate=yes jailrun doctor`).\n"
    "\n"
    "Exit status: 0 when nothing FAILed (warnings allowed), 1 when a check FAILed, 2 on\n"
    "a usage error.\n";

static void print_line(void *opaque, jr_doctor_level level, const char *check, const char *msg)
{
        (void)opaque;
        printf("%-4s %-18s %s\n", jr_doctor_level_name(level), check, msg);
        fflush(stdout);
}

int jr_cmd_doctor(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'C'},
            {"rootfs-dir", required_argument, NULL, 'r'},
            {"langs", required_argument, NULL, 'l'},
            {"cgroup", required_argument, NULL, 'c'},
            {"slots", required_argument, NULL, 's'},
            {"max-age", required_argument, NULL, 'a'},
            {"recipes", required_argument, NULL, 'R'}, /* the trees' recipes, to compare */
            {"no-jail", no_argument, NULL, 'n'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        jr_doctor_opts o = {0};
        const char *config = NULL;
        uint64_t v;
        jr_error e = {0};
        int opt;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case 'C':
                        config = optarg;
                        break;
                case 'r':
                        o.rootfs_dir = optarg;
                        break;
                case 'l':
                        o.langs_dir = optarg;
                        break;
                case 'R':
                        o.recipes_dir = optarg;
                        break;
                case 'c': {
                        jr_error ce;
                        if (jr_parse_cg_mode(optarg, &o.cg_mode, &ce) < 0) {
                                fprintf(stderr, "jailrun doctor: option --cgroup: %s\n", ce.msg);
                                return 2;
                        }
                        break;
                }
                case 's':
                        if (jr_parse_uint(optarg, 1024, &v, &e) < 0 || v == 0) {
                                fprintf(stderr, "jailrun doctor: option --slots: %s\n",
                                        v == 0 && !e.msg[0] ? "must be at least 1" : e.msg);
                                return 2;
                        }
                        o.slots = (unsigned)v;
                        break;
                case 'a':
                        if (jr_parse_uint(optarg, 100000, &v, &e) < 0) {
                                fprintf(stderr, "jailrun doctor: option --max-age: %s\n", e.msg);
                                return 2;
                        }
                        o.rootfs_max_age_days = (unsigned)v;
                        break;
                case 'n':
                        o.no_jail = true;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        fprintf(stderr, "jailrun doctor: unknown option \"%s\" (see --help)\n",
                                argv[optind - 1]);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "jailrun doctor: unexpected argument \"%s\" (see --help)\n",
                        argv[optind]);
                return 2;
        }
        /* The doctor loads the config itself (its "config" check): a broken file is one
         * FAIL line among the others rather than the end of the diagnosis. */
        o.check_config = jr_config_check;
        o.config_path = config ? config : jr_config_main_path();
        unsigned counts[3];
        jr_doctor_run(&o, print_line, NULL, counts);
        printf("doctor: %u ok, %u warning%s, %u failure%s\n", counts[JR_DOCTOR_OK],
               counts[JR_DOCTOR_WARN], counts[JR_DOCTOR_WARN] == 1 ? "" : "s",
               counts[JR_DOCTOR_FAIL], counts[JR_DOCTOR_FAIL] == 1 ? "" : "s");
        return counts[JR_DOCTOR_FAIL] ? 1 : 0;
}
