/* jailrun rootfs build|list|path: the per-language trees. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lang.h"
#include "rootfs.h"
#include "rootfs_tool.h"

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: jailrun rootfs build [OPTIONS] LANG|TREE|lang:LANG|tree:TREE|all...\n"
                "       jailrun rootfs list [OPTIONS]\n"
                "       jailrun rootfs path [OPTIONS] TREE\n"
                "\n"
                "build  builds trees with mmdebstrap (as root) from the recipes: a language\n"
                "       name builds its build and run trees, a tree name that tree, `all`\n"
                "       every recipe. A name that is both (rust, python, go, ...) is the\n"
                "       language: `tree:rust` builds the tree rust alone, `lang:rust` says\n"
                "       the language explicitly. A tree built from an unchanged recipe is\n"
                "       kept unless --force.\n"
                "list   shows every tree with its size, age and package count, and how to\n"
                "       build the missing ones.\n"
                "path   prints the directory of a built tree (exit 1 when missing).\n"
                "\n"
                "Options:\n"
                "  --dir DIR      trees (default $JAILRUN_ROOTFS_DIR or %s)\n"
                "  --cache DIR    apt cache shared by builds (default $JAILRUN_CACHE_DIR or\n"
                "                 /var/lib/jailrun/cache)\n"
                "  --recipes DIR  the *.rootfs recipes (default %s)\n"
                "  --langs DIR    the *.lang files (default %s)\n"
                "  --force        rebuild even when up to date\n"
                "  --offline      no apt-get update: build from the cached package lists and\n"
                "                 .debs of earlier builds (fails if a package is not cached)\n"
                "  --quiet        no mmdebstrap progress\n",
                "/var/lib/jailrun/rootfs", jr_rootfs_default_recipes_dir(), jr_lang_default_dir());
}

static void print_error(const char *what, const jr_error *e)
{
        fprintf(stderr, "jailrun rootfs%s%s: %s\n", what ? " " : "", what ? what : "", e->msg);
}

static void warn(const jr_error *e, void *what)
{
        print_error(what, e);
}

static int print_path(const char *dir, const char *tree, jr_error *e)
{
        char path[4096];
        if (jr_rootfs_path(dir, tree, path, sizeof path, e) < 0)
                return -1;
        printf("%s\n", path);
        return 0;
}

int jr_cmd_rootfs(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"dir", required_argument, NULL, 'd'},
            {"cache", required_argument, NULL, 'c'},
            {"recipes", required_argument, NULL, 'r'},
            {"langs", required_argument, NULL, 'l'},
            {"force", no_argument, NULL, 'f'},
            {"quiet", no_argument, NULL, 'q'},
            {"offline", no_argument, NULL, 'o'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        char *sub = argv[1];
        jr_rootfs_tool_opts o = {.dir = jr_rootfs_default_dir(),
                                 .recipes = jr_rootfs_default_recipes_dir(),
                                 .langs = jr_lang_default_dir(),
                                 .warn = warn,
                                 .userdata = sub};
        int opt;
        optind = 2;
        while ((opt = getopt_long(argc, argv, "+fqh", longopts, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        o.dir = optarg;
                        break;
                case 'c':
                        o.cache = optarg;
                        break;
                case 'r':
                        o.recipes = optarg;
                        break;
                case 'l':
                        o.langs = optarg;
                        break;
                case 'f':
                        o.force = true;
                        break;
                case 'q':
                        o.quiet = true;
                        break;
                case 'o':
                        o.offline = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        argc -= optind;
        argv += optind;

        if (!strcmp(sub, "path") && argc != 1) {
                fprintf(stderr, "jailrun rootfs path: name one tree\n");
                return 2;
        }
        if (strcmp(sub, "path") != 0 && strcmp(sub, "build") != 0 && strcmp(sub, "list") != 0) {
                fprintf(stderr, "jailrun rootfs: unknown subcommand \"%s\"\n\n", sub);
                usage(stderr);
                return 2;
        }
        if (!strcmp(sub, "list") && argc != 0) {
                fprintf(stderr, "jailrun rootfs list: unexpected argument \"%s\"\n", argv[0]);
                return 2;
        }

        jr_error e;
        int r;
        if (!strcmp(sub, "path"))
                r = print_path(o.dir, argv[0], &e);
        else if (!strcmp(sub, "build"))
                r = jr_rootfs_build_trees(&o, argv, (size_t)argc, stderr, &e);
        else
                r = jr_rootfs_list(&o, stdout, &e);
        if (r < 0)
                print_error(sub, &e);
        return r == 0 ? 0 : r == JR_ROOTFS_TOOL_USAGE ? 2 : 1;
}
