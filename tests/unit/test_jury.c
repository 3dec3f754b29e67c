/* The verdict rules of checker programs and interactors (src/judge/jury.h), without
 * jails: testlib's exit codes, and which of the program and the interactor decides an
 * interactive test. The programs themselves run in tests/integration/test_checker_programs.c. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jury.h"

static jr_run_result exited(int code)
{
        jr_run_result r = {.status = code ? JR_JAIL_RE : JR_JAIL_OK, .exit_code = code};
        snprintf(r.reason, sizeof r.reason, "exit code %d", code);
        return r;
}

static jr_run_result killed(int sig)
{
        jr_run_result r = {.status = JR_JAIL_RE, .exit_code = -1, .signal = sig};
        snprintf(r.reason, sizeof r.reason, "signal %d", sig);
        return r;
}

static jr_jury_verdict verdict(const char *who, jr_run_result r)
{
        jr_jury_verdict v = {0};
        jr_jury_exit_verdict(who, &r, &v);
        return v;
}

Test(jury, testlib_exit_codes)
{
        jr_jury_verdict v = verdict("checker", exited(0));
        cr_assert_eq(v.status, JR_STATUS_OK);
        cr_assert_str_eq(v.error, "");
        v = verdict("checker", exited(1));
        cr_assert_eq(v.status, JR_STATUS_WA);
        cr_assert_str_eq(v.error, "");
        v = verdict("checker", exited(2));
        cr_assert_eq(v.status, JR_STATUS_WA, "a presentation error is a wrong answer");
        cr_assert_str_eq(v.error, "presentation error (checker exit code 2)");
        v = verdict("checker", exited(4));
        cr_assert_eq(v.status, JR_STATUS_WA);
        cr_assert_str_eq(v.error, "testlib's dirt (checker exit code 4)");
        v = verdict("interactor", exited(8));
        cr_assert_eq(v.status, JR_STATUS_WA);
        cr_assert_str_eq(v.error, "unexpected end of file (interactor exit code 8)");
        v = verdict("checker", exited(3));
        cr_assert_eq(v.status, JR_STATUS_IE);
        cr_assert_str_eq(v.error, "checker failed: exit code 3 (testlib's fail)");
        v = verdict("checker", exited(7));
        cr_assert_eq(v.status, JR_STATUS_IE);
        cr_assert_str_eq(v.error, "checker failed: exit code 7 (testlib's points, not supported)");
        v = verdict("interactor", exited(42));
        cr_assert_eq(v.status, JR_STATUS_IE);
        cr_assert_str_eq(v.error, "interactor failed: exit code 42");
}

Test(jury, a_jury_program_that_fails_is_ie)
{
        jr_jury_verdict v = verdict("checker", killed(SIGSEGV));
        cr_assert_eq(v.status, JR_STATUS_IE);
        cr_assert_str_eq(v.error, "checker failed: signal 11");
        jr_run_result tl = {.status = JR_JAIL_TL, .exit_code = -1, .signal = SIGKILL};
        snprintf(tl.reason, sizeof tl.reason, "wall time");
        v = verdict("interactor", tl);
        cr_assert_eq(v.status, JR_STATUS_IE);
        cr_assert_str_eq(v.error, "interactor failed: time limit (wall time)");
        jr_run_result ml = {.status = JR_JAIL_ML, .exit_code = -1, .signal = SIGKILL};
        snprintf(ml.reason, sizeof ml.reason, "oom kill");
        v = verdict("checker", ml);
        cr_assert_str_eq(v.error, "checker failed: memory limit (oom kill)");
        jr_run_result ol = {.status = JR_JAIL_OL, .exit_code = -1, .signal = SIGKILL};
        snprintf(ol.reason, sizeof ol.reason, "output limit");
        v = verdict("checker", ol);
        cr_assert_str_eq(v.error, "checker failed: output limit (output limit)");
        /* SIGPIPE: a checker has no pipe to blame; an interactor's reader left */
        v = verdict("checker", killed(SIGPIPE));
        cr_assert_eq(v.status, JR_STATUS_IE);
        v = verdict("interactor", killed(SIGPIPE));
        cr_assert_eq(v.status, JR_STATUS_WA);
        cr_assert_str_eq(v.error, "the program stopped reading before the interactor finished");
}

static jr_status interactive(jr_status program, int sig, jr_jury_verdict v, const char **error)
{
        return jr_jury_interactive_status(program, sig, &v, error);
}

Test(jury, interactive_verdict_order)
{
        const char *err;
        jr_jury_verdict ok = verdict("interactor", exited(0));
        jr_jury_verdict wa = verdict("interactor", exited(1));
        jr_jury_verdict pe = verdict("interactor", exited(2));
        jr_jury_verdict ie = verdict("interactor", exited(3));
        /* the interactor's failure outranks everything: the test says nothing then */
        cr_assert_eq(interactive(JR_STATUS_TL, 0, ie, &err), JR_STATUS_IE);
        cr_assert_str_eq(err, "interactor failed: exit code 3 (testlib's fail)");
        cr_assert_eq(interactive(JR_STATUS_OK, 0, ie, &err), JR_STATUS_IE);
        /* then the program's own limits and crashes */
        cr_assert_eq(interactive(JR_STATUS_TL, 0, wa, &err), JR_STATUS_TL);
        cr_assert_str_eq(err, "");
        cr_assert_eq(interactive(JR_STATUS_ML, 0, ok, &err), JR_STATUS_ML);
        cr_assert_eq(interactive(JR_STATUS_OL, 0, wa, &err), JR_STATUS_OL);
        cr_assert_eq(interactive(JR_STATUS_RE, SIGSEGV, wa, &err), JR_STATUS_RE);
        cr_assert_eq(interactive(JR_STATUS_RE, 0, wa, &err), JR_STATUS_RE, "a non-zero exit");
        /* but a program that wrote after the interactor had finished gets its verdict */
        cr_assert_eq(interactive(JR_STATUS_RE, SIGPIPE, wa, &err), JR_STATUS_WA);
        cr_assert_eq(interactive(JR_STATUS_RE, SIGPIPE, ok, &err), JR_STATUS_OK);
        /* then the interactor's verdict */
        cr_assert_eq(interactive(JR_STATUS_OK, 0, ok, &err), JR_STATUS_OK);
        cr_assert_eq(interactive(JR_STATUS_OK, 0, wa, &err), JR_STATUS_WA);
        cr_assert_eq(interactive(JR_STATUS_OK, 0, pe, &err), JR_STATUS_WA);
        cr_assert_str_eq(err, "presentation error (interactor exit code 2)");
}

Test(jury, apply_moves_the_output_into_the_test)
{
        jr_test_result t;
        jr_test_result_init(&t, 1);
        t.status = JR_STATUS_OK;
        jr_jury_verdict v = verdict("checker", exited(2));
        v.output = jr_bytes_cstr(strdup("expected a number\n"));
        jr_jury_apply_check(&v, &t);
        cr_assert_eq(t.status, JR_STATUS_WA);
        cr_assert_str_eq(t.error.ptr, "presentation error (checker exit code 2)");
        cr_assert_str_eq(t.checker_output.ptr, "expected a number\n");
        cr_assert_null(v.output.ptr, "moved");
        free((char *)t.error.ptr);
        free((char *)t.checker_output.ptr);

        /* a jury program that never ran still marks the test as judged by it */
        jr_test_result_init(&t, 2);
        t.status = JR_STATUS_TL;
        jr_jury_verdict w = verdict("interactor", exited(1));
        jr_jury_apply_interaction(&w, 0, &t);
        cr_assert_eq(t.status, JR_STATUS_TL);
        cr_assert_null(t.error.ptr, "the program's TL says why itself");
        cr_assert_str_eq(t.checker_output.ptr, "");
        free((char *)t.checker_output.ptr);
}
