/* jailrun: judge untrusted code in jails made from kernel primitives. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"

#ifndef JR_WITH_KAFKA
/* serve and broker live in jailrun-kafka, the build that links librdkafka (see
 * CMakeLists.txt): run it with the same arguments, from our own directory when it is
 * there (a build tree), else from JR_LIBEXECDIR. */
static int exec_kafka_binary(int argc, char **argv)
{
        char self[PATH_MAX], path[PATH_MAX + 32];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        argv[-1] = "jailrun";
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        snprintf(path, sizeof path, "%s/jailrun-kafka", self);
                        if (access(path, X_OK) == 0)
                                execv(path, argv - 1);
                }
        }
        execv(JR_LIBEXECDIR "/jailrun-kafka", argv - 1);
        fprintf(stderr, "jailrun %s: cannot run %s/jailrun-kafka: %s\n", argv[0], JR_LIBEXECDIR,
                strerror(errno));
        (void)argc;
        return 1;
}
#define jr_cmd_serve  exec_kafka_binary
#define jr_cmd_broker exec_kafka_binary
#endif

struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
};

static const struct command commands[] = {
    {"run", jr_cmd_run, "judge one submission: JSON in, JSON out"},
    {"exec", jr_cmd_exec, "run one command in a jail and print a JSON report"},
    {"rootfs", jr_cmd_rootfs, "build and list the per-language rootfs trees"},
    {"broker", jr_cmd_broker, "run an in-memory Kafka broker (librdkafka mock cluster)"},
    {"serve", jr_cmd_serve, "judge the submissions of a Kafka topic (the service)"},
    {"config", jr_cmd_config, "print the effective configuration and its sources"},
    {"doctor", jr_cmd_doctor, "check this host for judging: one line per check"},
};

static void usage(FILE *out)
{
        fprintf(out, "Usage: jailrun COMMAND [OPTIONS]\n\nCommands:\n");
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
        fprintf(out, "\n'jailrun COMMAND --help' describes a command. 'jailrun --version' prints "
                     "the version.\n");
}

int main(int argc, char **argv)
{
        /* [--config FILE] before the command; the file fills the environment */
        jr_error e = {0};
        if (jr_config_load_for_main(&argc, &argv, &e) < 0) {
                fprintf(stderr, "jailrun: %s\n", e.msg);
                return 2;
        }
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        if (!strcmp(argv[1], "--version")) {
                printf("jailrun %s\n", JR_VERSION);
                return 0;
        }
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(argv[1], commands[i].name))
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "jailrun: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
}
