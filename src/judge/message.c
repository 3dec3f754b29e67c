/* The wire messages: statuses, event names and the initialisers that the parser
 * (message_parse.c) and the writer (message_write.c) share with their callers. */
#include "message.h"

#include "cleanup.h"

/* ================================================================ statuses */

static const char *const status_names[JR_STATUS__COUNT] = {
    [JR_STATUS_OK] = "OK", [JR_STATUS_WA] = "WA", [JR_STATUS_TL] = "TL",
    [JR_STATUS_ML] = "ML", [JR_STATUS_RE] = "RE", [JR_STATUS_OL] = "OL",
    [JR_STATUS_BF] = "BF", [JR_STATUS_IE] = "IE", [JR_STATUS_NOT_RUN] = "-",
};

const char *jr_status_name(jr_status s)
{
        if ((unsigned)s < JR_STATUS__COUNT)
                return status_names[s];
        return "?";
}

int jr_status_from_name(const char *name, size_t len, jr_status *out)
{
        for (unsigned i = 0; i < JR_STATUS__COUNT; i++)
                if (strlen(status_names[i]) == len && !memcmp(status_names[i], name, len)) {
                        *out = (jr_status)i;
                        return 0;
                }
        return -1;
}

jr_status jr_overall_status(const jr_test_result *tests, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (tests[i].status != JR_STATUS_OK)
                        return tests[i].status;
        return JR_STATUS_OK;
}

static const char *const event_names[] = {
    [JR_EVENT_ACCEPTED] = "accepted",
    [JR_EVENT_BUILD] = "build",
    [JR_EVENT_TEST] = "test",
    [JR_EVENT_DONE] = "done",
};

const char *jr_event_type_name(jr_event_type t)
{
        if ((unsigned)t < JR_ARRAY_SIZE(event_names))
                return event_names[t];
        return "?";
}

void jr_test_result_init(jr_test_result *t, int64_t number)
{
        *t = (jr_test_result){
            .number = number,
            .status = JR_STATUS_NOT_RUN,
            .exit_code = -1,
            .duration_ms = -1,
            .cpu_ms = -1,
            .memory_bytes = -1,
            .signal = -1,
        };
}

void jr_result_init(jr_result *r, jr_bytes id)
{
        *r = (jr_result){
            .id = id,
            .status = JR_STATUS_IE,
            .exit_code = -1,
            .duration_ms = -1,
            .time_limit_ms_used = -1,
            .memory_limit_bytes_used = -1,
            .build_duration_ms = -1,
        };
}

void jr_event_init(jr_event *ev, jr_event_type type, jr_bytes id, uint64_t seq)
{
        *ev = (jr_event){
            .type = type,
            .id = id,
            .seq = seq,
            .n_tests = -1,
            .status = JR_STATUS_OK,
            .duration_ms = -1,
        };
}
