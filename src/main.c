/* jailrun: judge untrusted code in jails made from kernel primitives. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

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
