/* jailrun config: print the effective configuration and where each value came from. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"

static const char usage_text[] =
    "Usage: jailrun config [--config FILE] [--check] [KEY...]\n"
    "\n"
    "Print the effective configuration: every key with its value and where the value\n"
    "comes from (the default, FILE:LINE or the environment), in the syntax of the config\n"
    "file itself. With KEYs, print only their values, one per line.\n"
    "\n"
    "The file is --config FILE, else $JAILRUN_CONFIG, else /etc/jailrun/jailrun.conf\n"
    "(which may be missing). It holds `KEY = value` lines with the names of the\n"
    "environment variables; the environment overrides the file.\n"
    "\n"
    "  --config FILE   read FILE\n"
    "  --check         check the file and the environment, print nothing when valid\n"
    "  --keys          list the keys with their defaults and meaning\n"
    "  -h, --help      this text\n"
    "\n"
    "Passwords and secrets inside JAILRUN_KAFKA_CONFIG are printed as ***.\n"
    "\n"
    "Exit status: 0 when the configuration is valid, 2 when the file or a value is\n"
    "invalid (the message names the file, the line and the key), or on a usage error.\n";

/* "sasl.password=x; ssl.key.password=y" -> values of secret-looking properties hidden. */
static char *mask_secrets(const char *v)
{
        char *out = malloc(strlen(v) * 2 + 8);
        if (!out)
                return NULL;
        char *w = out;
        const char *p = v;
        while (*p) {
                size_t n = strcspn(p, ";");
                const char *eq = memchr(p, '=', n);
                if (eq) {
                        size_t name_len = (size_t)(eq - p);
                        char name[256];
                        snprintf(name, sizeof name, "%.*s", (int)name_len, p);
                        bool secret = strstr(name, "password") || strstr(name, "secret") ||
                                      strstr(name, "key.pem") || strstr(name, "sasl.jaas");
                        if (secret) {
                                memcpy(w, p, name_len + 1);
                                w += name_len + 1;
                                memcpy(w, "***", 3);
                                w += 3;
                        } else {
                                memcpy(w, p, n);
                                w += n;
                        }
                } else {
                        memcpy(w, p, n);
                        w += n;
                }
                p += n;
                if (*p == ';')
                        *w++ = *p++;
        }
        *w = '\0';
        return out;
}

/* The value as the config file would need it written. */
static void print_value(FILE *f, const char *v)
{
        size_t n = strlen(v);
        bool quote = n && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t' ||
                           strpbrk(v, "#\"'\\"));
        if (!quote) {
                for (const char *p = v; *p; p++)
                        fputc((unsigned char)*p < ' ' ? '?' : *p, f);
                return;
        }
        fputc('"', f);
        for (const char *p = v; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fputc('\\', f);
                fputc((unsigned char)*p < ' ' ? '?' : *p, f);
        }
        fputc('"', f);
}

static void print_keys(void)
{
        for (size_t i = 0; i < jr_config_n_keys; i++) {
                const jr_config_key *k = &jr_config_keys[i];
                printf("%-29s %s\n%-29s default: %s\n", k->name, k->help, "",
                       *k->dflt ? k->dflt : "(empty)");
        }
}

static void print_entry(const jr_config_entry *en, const char *path)
{
        char *masked = NULL;
        const char *v = en->value;
        if (!strcmp(en->key->name, "JAILRUN_KAFKA_CONFIG") && (masked = mask_secrets(v)))
                v = masked;
        if (!strcmp(en->key->name, "JAILRUN_HTTP_TOKENS") && *v)
                v = "***"; /* bearer tokens are secrets */
        char line[4096];
        FILE *m = fmemopen(line, sizeof line, "w");
        if (!m) {
                free(masked);
                return;
        }
        fprintf(m, "%s = ", en->key->name);
        print_value(m, v);
        fclose(m);
        line[sizeof line - 1] = '\0';
        printf("%-44s # ", line);
        switch (en->source) {
        case JR_CONFIG_SRC_DEFAULT:
                printf("default\n");
                break;
        case JR_CONFIG_SRC_FILE:
                printf("%s:%u\n", path, en->file_line);
                break;
        case JR_CONFIG_SRC_ENV:
                if (en->file_line)
                        printf("environment (overrides %s:%u)\n", path, en->file_line);
                else
                        printf("environment\n");
                break;
        }
        free(masked);
}

struct config_opts {
        const char *path; /* NULL: $JAILRUN_CONFIG or the default file */
        bool check_only;
        char **keys; /* print only these values (NULL-terminated) */
};

/* Options into o; 0, or the exit status of --help and --keys (0) or of a usage error (2). */
static int parse_args(int argc, char **argv, struct config_opts *o, int *status)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"check", no_argument, NULL, 'k'},
            {"keys", no_argument, NULL, 'K'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int opt;
        *status = 0;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        o->path = optarg;
                        break;
                case 'k':
                        o->check_only = true;
                        break;
                case 'K':
                        print_keys();
                        return -1;
                case 'h':
                        fputs(usage_text, stdout);
                        return -1;
                default:
                        fprintf(stderr, "jailrun config: unknown option \"%s\" (see --help)\n",
                                argv[optind - 1]);
                        *status = 2;
                        return -1;
                }
        }
        for (int i = optind; i < argc; i++)
                if (!jr_config_find(argv[i])) {
                        fprintf(stderr,
                                "jailrun config: unknown key \"%s\" (`jailrun config --keys` "
                                "lists them)\n",
                                argv[i]);
                        *status = 2;
                        return -1;
                }
        o->keys = argv + optind;
        return 0;
}

/* Every key with its value and source, as the config file would say it. */
static void print_all(const char *file)
{
        bool loaded = jr_config_path() != NULL;
        printf("# jailrun %s: effective configuration\n", JR_VERSION);
        if (loaded)
                printf("# file: %s\n", file);
        else
                printf("# file: none (%s does not exist)\n", file);
        for (size_t k = 0; k < jr_config_n_keys; k++) {
                jr_config_entry en;
                jr_config_get(k, &en);
                print_entry(&en, loaded ? file : "?");
        }
}

static void print_values(char *const *keys)
{
        for (char *const *p = keys; *p; p++) {
                jr_config_entry en;
                jr_config_get((size_t)(jr_config_find(*p) - jr_config_keys), &en);
                printf("%s\n", en.value);
        }
}

int jr_cmd_config(int argc, char **argv)
{
        struct config_opts o = {.path = jr_config_main_path()};
        int status;
        if (parse_args(argc, argv, &o, &status) < 0)
                return status;
        jr_error e = {0};
        const char *file = NULL;
        int r = jr_config_check(o.path, &file, &e);
        /* a value that does not check still leaves a listing worth seeing */
        if (r != JR_CONFIG_UNREADABLE && !o.check_only) {
                if (*o.keys)
                        print_values(o.keys);
                else
                        print_all(file);
                fflush(stdout);
        }
        if (r < 0) {
                fprintf(stderr, "jailrun config: %s\n", e.msg);
                return 2;
        }
        return 0;
}
