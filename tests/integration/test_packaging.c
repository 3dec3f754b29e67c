/* Packaging: the systemd unit passes `systemd-analyze verify`, and the Debian package
 * builds (packaging/build-deb.sh), holds the installed layout, unpacks into a scratch
 * root with dpkg --root, runs from there and passes lintian without errors.
 *
 * The package build compiles the whole tree once more (a few minutes on two cores):
 * `ctest -L packaging` runs only this, `ctest -LE packaging` everything else. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

struct ran {
        char *out, *err;
        int exit;
};

static struct ran sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct ran sh(const char *fmt, ...)
{
        char *cmd = NULL;
        va_list ap;
        va_start(ap, fmt);
        cr_assert_geq(vasprintf(&cmd, fmt, ap), 0);
        va_end(ap);
        char *const argv[] = {"/bin/sh", "-c", cmd, NULL};
        struct ran r = {0};
        int st = tu_run(argv, NULL, &r.out, &r.err);
        r.exit = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        free(cmd);
        return r;
}

static bool have(const char *tool)
{
        return sh("command -v %s >/dev/null", tool).exit == 0;
}

static char *scratch_dir(const char *what)
{
        char *d = NULL;
        cr_assert_geq(asprintf(&d, "/tmp/jr-test-%s-%d-XXXXXX", what, (int)getpid()), 0);
        cr_assert(mkdtemp(d), "mkdtemp");
        return d;
}

/* The unit as shipped, with its /usr/bin/jailrun pointed at `binary`: verify complains
 * about a missing ExecStart binary, and the test must not depend on an installed one. */
static void verify_unit(const char *unit, const char *binary, const char *manpath)
{
        char *dir = scratch_dir("unit");
        char env[600] = "";
        if (manpath)
                snprintf(env, sizeof env, "MANPATH='%s'", manpath);
        struct ran r = sh("sed 's|/usr/bin/jailrun|%s|g' '%s' > '%s/jailrun.service' && "
                          "%s systemd-analyze verify %s '%s/jailrun.service'",
                          binary, unit, dir, env, manpath ? "" : "--man=no", dir);
        sh("rm -rf '%s'", dir);
        cr_assert_eq(r.exit, 0, "systemd-analyze verify failed:\n%s%s", r.out, r.err);
        cr_assert_str_eq(r.err, "", "verify printed warnings:\n%s", r.err);
        free(dir);
}

Test(packaging, unit_verifies)
{
        if (!have("systemd-analyze"))
                cr_skip_test("systemd-analyze is not installed (apt install systemd)");
        const char *unit = JR_SOURCE_DIR "/packaging/jailrun.service";
        verify_unit(unit, tu_build("jailrun"), NULL);

        /* what the unit must say (see the comments in it for why) */
        struct ran r = sh("cat '%s'", unit);
        static const char *const lines[] = {"Type=notify\n",
                                            "Delegate=yes\n",
                                            "KillMode=mixed\n",
                                            "OOMPolicy=continue\n",
                                            "Restart=on-failure\n",
                                            "StateDirectory=jailrun\n",
                                            "RuntimeDirectory=jailrun\n",
                                            "ProtectSystem=strict\n",
                                            "ProtectHome=yes\n",
                                            "PrivateTmp=yes\n",
                                            "EnvironmentFile=-/etc/jailrun/jailrun.env\n",
                                            "ExecStart=/usr/bin/jailrun serve\n"};
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
                cr_assert(strstr(r.out, lines[i]), "the unit lacks %s", lines[i]);
        static const char *const absent[] = {
            "\nProtectKernelTunables=", "\nProtectControlGroups=",   "\nPrivateDevices=",
            "\nProtectHostname=",       "\nMemoryDenyWriteExecute=", "\nSystemCallFilter="};
        for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
                cr_assert_null(strstr(r.out, absent[i]), "%s would break the jail", absent[i] + 1);
}

Test(packaging, unit_bounding_set_is_enough_for_a_jail)
{
        /* The unit's CapabilityBoundingSet, applied with setpriv, must still let jailrun
         * build and run a full jail and judge a submission: a capability the jail starts
         * to need (setns into a mount namespace needs CAP_SYS_CHROOT) must show up here,
         * not as IE on every run of a deployed service. */
        if (!have("setpriv"))
                cr_skip_test("setpriv is not installed (util-linux)");
        struct ran r = sh("sed -n 's/^CapabilityBoundingSet=//p' '%s'",
                          JR_SOURCE_DIR "/packaging/jailrun.service");
        cr_assert_eq(r.exit, 0);
        char set[1024] = "-all";
        for (char *save = NULL, *cap = strtok_r(r.out, " \n", &save); cap;
             cap = strtok_r(NULL, " \n", &save)) {
                cr_assert(!strncmp(cap, "CAP_", 4), "%s", cap);
                size_t n = strlen(set);
                snprintf(set + n, sizeof set - n, ",+%s", cap + 4);
        }
        for (char *c = set; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        struct ran j = sh("setpriv --bounding-set '%s' '%s' exec --mem 64M --pids 16 -- /bin/true",
                          set, tu_build("jailrun"));
        cr_assert_eq(j.exit, 0, "under %s: %s%s", set, j.out, j.err);
        cr_assert(strstr(j.out, "\"status\":\"OK\""), "under %s: %s", set, j.out);
        struct ran d = sh("setpriv --bounding-set '%s' '%s' doctor", set, tu_build("jailrun"));
        cr_assert(strstr(d.out, "OK   privileges"), "under %s: %s", set, d.out);
}

static bool deb_has(const char *listing, const char *path)
{
        char want[512];
        snprintf(want, sizeof want, " .%s\n", path);
        return strstr(listing, want) != NULL;
}

Test(packaging, deb_builds_installs_and_lints, .timeout = 1500)
{
        if (!have("dpkg-buildpackage") || !have("dh"))
                cr_skip_test("dpkg-dev and debhelper are not installed (scripts/install-deps.sh)");
        char *out = scratch_dir("deb");
        /* the working tree as it is, like every other test of the build */
        struct ran r = sh("'%s/packaging/build-deb.sh' --worktree '%s' > '%s/build.log' 2>&1",
                          JR_SOURCE_DIR, out, out);
        struct ran log = sh("tail -40 '%s/build.log'", out);
        cr_assert_eq(r.exit, 0, "build-deb.sh failed:\n%s", log.out);
        r = sh("ls '%s'/jailrun_*.deb", out);
        cr_assert_eq(r.exit, 0, "no .deb in %s:\n%s", out, log.out);
        char deb[512];
        snprintf(deb, sizeof deb, "%.*s", (int)strcspn(r.out, "\n"), r.out);

        /* contents */
        r = sh("dpkg-deb -c '%s' | awk '{print \" \" $6}'", deb);
        cr_assert_eq(r.exit, 0);
        static const char *const paths[] = {
            "/usr/bin/jailrun",
            "/usr/lib/jailrun/jailrun-kafka",
            "/usr/share/jailrun/langs/c.lang",
            "/usr/share/jailrun/langs/cpp.lang",
            "/usr/share/jailrun/langs/go.lang",
            "/usr/share/jailrun/langs/java.lang",
            "/usr/share/jailrun/langs/python.lang",
            "/usr/share/jailrun/rootfs/gcc.rootfs",
            "/usr/share/jailrun/rootfs/java-run.rootfs",
            "/usr/share/jailrun/rootfs/static.rootfs",
            "/usr/share/jailrun/rootfs/files/static/etc/passwd",
            "/lib/systemd/system/jailrun.service",
            "/etc/jailrun/jailrun.conf",
            "/usr/share/man/man1/jailrun.1.gz",
            "/usr/share/doc/jailrun/copyright",
        };
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
                cr_assert(deb_has(r.out, paths[i]), "%s is not in the package:\n%s", paths[i],
                          r.out);
        cr_assert(deb_has(r.out, "/usr/share/doc/jailrun/README.md.gz") ||
                      deb_has(r.out, "/usr/share/doc/jailrun/README.md"),
                  "README is not in the package");
        r = sh("dpkg-deb -f '%s' Package Depends Recommends", deb);
        cr_assert(strstr(r.out, "Package: jailrun\n"), "%s", r.out);
        cr_assert(strstr(r.out, "librdkafka"), "shlibs dependencies: %s", r.out);
        r = sh("dpkg-deb -I '%s' conffiles", deb);
        cr_assert_str_eq(r.out, "/etc/jailrun/jailrun.conf\n", "conffiles: %s", r.out);

        /* Unpack into a scratch root. Maintainer scripts would run chrooted into it
         * (where there is no shell); chrootless they run here with DPKG_ROOT set, which
         * the preinst honours, and --unpack runs nothing else. */
        char *root = scratch_dir("root");
        r = sh("mkdir -p '%s/var/lib/dpkg/info' '%s/var/lib/dpkg/updates' && "
               "touch '%s/var/lib/dpkg/status' '%s/var/lib/dpkg/available' && "
               "dpkg --root='%s' --force-script-chrootless --force-depends --unpack '%s'",
               root, root, root, root, root, deb);
        cr_assert_eq(r.exit, 0, "dpkg --root --unpack:\n%s%s", r.out, r.err);
        r = sh("dpkg --root='%s' -s jailrun", root);
        cr_assert(strstr(r.out, "Version: 0.1.0"), "%s%s", r.out, r.err);

        /* the installed binaries run; the packaged one knows only the installed layout */
        r = sh("'%s/usr/bin/jailrun' --version", root);
        cr_assert_eq(r.exit, 0, "%s", r.err);
        cr_assert_str_eq(r.out, "jailrun 0.1.0\n");
        r = sh("JAILRUN_CONFIG='%s/etc/jailrun/jailrun.conf.dpkg-new' '%s/usr/bin/jailrun' config",
               root, root);
        cr_assert_eq(r.exit, 0, "installed jailrun config:\n%s%s", r.out, r.err);
        cr_assert(strstr(r.out, "JAILRUN_LANGS_DIR = /usr/share/jailrun/langs "), "%s", r.out);
        cr_assert(strstr(r.out, "JAILRUN_RECIPES_DIR = /usr/share/jailrun/rootfs "), "%s", r.out);
        r = sh("'%s/usr/lib/jailrun/jailrun-kafka' serve --help", root);
        cr_assert_eq(r.exit, 0, "jailrun-kafka: %s", r.err);
        r = sh("'%s/usr/bin/jailrun' doctor --no-jail --langs '%s/usr/share/jailrun/langs'", root,
               root);
        cr_assert(strstr(r.out, "OK   langs "), "the packaged language files load:\n%s", r.out);

        /* the installed unit, its ExecStart pointed at the installed binary, and its
         * Documentation=man:jailrun(1) found in the package's man page */
        if (have("systemd-analyze")) {
                char unit[512], bin[512], man[512];
                snprintf(unit, sizeof unit, "%s/lib/systemd/system/jailrun.service", root);
                snprintf(bin, sizeof bin, "%s/usr/bin/jailrun", root);
                snprintf(man, sizeof man, "%s/usr/share/man", root);
                verify_unit(unit, bin, man);
        }

        /* lintian: errors fail, warnings are printed */
        if (have("lintian")) {
                r = sh("lintian --fail-on error '%s' 2>&1", deb);
                fprintf(stderr, "lintian:\n%s", r.out);
                cr_assert_eq(r.exit, 0, "lintian found errors:\n%s", r.out);
        }
        sh("rm -rf '%s' '%s'", root, out);
        free(root);
        free(out);
}
