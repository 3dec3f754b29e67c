/* Unit tests of the jail library's API (sandbox/jail.h): lifetimes, error paths, output
 * capture, the timing breakdown. Real jails, as root; the hostile programs and the
 * command-line behaviour are tested in tests/integration/test_exec.c. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jail.h"

static jr_sandbox *sb;
static jr_slot *slot;

static void setup(void)
{
        jr_error e = {0};
        cr_assert_eq(jr_sandbox_new(NULL, &sb, &e), 0, "%s", e.msg);
        cr_assert_eq(jr_slot_new(sb, 7, 60007, 60007, &slot, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
        jr_slot_free(slot);
        jr_sandbox_free(sb);
}

TestSuite(jail, .init = setup, .fini = teardown, .timeout = 60);

Test(jail, status_names)
{
        cr_assert_str_eq(jr_jail_status_name(JR_JAIL_OK), "OK");
        cr_assert_str_eq(jr_jail_status_name(JR_JAIL_IE), "IE");
        cr_assert_str_eq(jr_jail_status_name((jr_jail_status)99), "IE");
}

Test(jail, config_defaults)
{
        jr_run_config c;
        memset(&c, 0x5a, sizeof c);
        jr_run_config_init(&c);
        cr_assert_null(c.rootfs);
        cr_assert_eq(c.stdin_fd, -1);
        cr_assert_eq(c.stdout_fd, -1);
        cr_assert_eq(c.cpu_ms, 0);
}

Test(jail, root_uid_refused)
{
        jr_error e = {0};
        jr_slot *s = NULL;
        cr_assert_lt(jr_slot_new(sb, 1, 0, 60001, &s, &e), 0);
        cr_assert_null(s);
        cr_assert(strstr(e.msg, "must not be 0"), "%s", e.msg);
}

Test(jail, empty_command_is_ie)
{
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {NULL};
        c.argv = argv;
        jr_run_result r;
        jr_error e = {0};
        cr_assert_lt(jr_jail_run(slot, &c, &r, &e), 0);
        cr_assert_eq(r.status, JR_JAIL_IE);
        cr_assert(strstr(r.error.msg, "no command"), "%s", r.error.msg);
}

Test(jail, output_into_a_memfd_and_timing)
{
        int out = memfd_create("out", MFD_CLOEXEC);
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {"/bin/sh", "-c", "echo hello; id -u", NULL};
        c.argv = argv;
        c.stdout_fd = out;
        jr_run_result r;
        jr_error e = {0};
        cr_assert_eq(jr_jail_run(slot, &c, &r, &e), 0, "%s", e.msg);
        cr_assert_eq(r.status, JR_JAIL_OK);
        char buf[64] = {0};
        cr_assert_eq(pread(out, buf, sizeof buf - 1, 0), 12);
        cr_assert_str_eq(buf, "hello\n60007\n");
        cr_assert_eq(r.stdout_bytes, 12);
        cr_assert_gt(r.timing.setup_us, 0);
        close(out);
}

Test(jail, slot_reused_across_runs)
{
        /* the slot's network namespace and uid serve run after run */
        for (int i = 0; i < 5; i++) {
                jr_run_config c;
                jr_run_config_init(&c);
                char *argv[] = {"/bin/sh", "-c", "exit $(( $(id -u) - 60007 ))", NULL};
                c.argv = argv;
                jr_run_result r;
                jr_error e = {0};
                cr_assert_eq(jr_jail_run(slot, &c, &r, &e), 0, "run %d: %s", i, e.msg);
                cr_assert_eq(r.status, JR_JAIL_OK, "run %d: %s", i, r.reason);
        }
}

Test(jail, killed_by_signal)
{
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
        c.argv = argv;
        jr_run_result r;
        jr_error e = {0};
        cr_assert_eq(jr_jail_run(slot, &c, &r, &e), 0, "%s", e.msg);
        cr_assert_eq(r.status, JR_JAIL_RE);
        cr_assert_eq(r.signal, SIGTERM);
        cr_assert_eq(r.exit_code, -1);
        cr_assert_str_eq(r.reason, "signal 15");
}

Test(jail, describe_names_the_backend)
{
        const char *d = jr_sandbox_describe(sb);
        cr_assert(strstr(d, "cgroup v"), "%s", d);
        cr_assert(jr_sandbox_cg_mode(sb) == JR_CG_V1 || jr_sandbox_cg_mode(sb) == JR_CG_V2);
}
