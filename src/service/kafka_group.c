/* What this member knows of its group's committed offsets, and what it asks the group
 * coordinator: a partition's committed offset and the messages answered above it (the
 * commits' "jr1:" metadata), the ownership gate that decides on them (kafka.h,
 * OWNERSHIP), and the committed-offset lookups, asynchronous (the gate's) or bounded
 * (a hand-over's). See kafka_internal.h. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "clock.h"
#include "kafka_internal.h"

/* Committed-offset lookups for partitions that held records wait on: at most one at a
 * time, at most one per interval (right away after an assignment). */
#define LOOKUP_INTERVAL_MS 2000
#define LOOKUP_TIMEOUT_MS  10000

struct part *kafka_part_find(const jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < c->n_parts; i++)
                if (c->parts[i].partition == partition && !strcmp(c->parts[i].topic, topic))
                        return &c->parts[i];
        return NULL;
}

struct part *kafka_part_get(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        struct part *pt = kafka_part_find(c, topic, partition);
        if (pt)
                return pt;
        struct part *n = realloc(c->parts, (c->n_parts + 1) * sizeof *n);
        if (!n)
                return NULL;
        c->parts = n;
        pt = &c->parts[c->n_parts];
        *pt = (struct part){.partition = partition, .committed = -1, .topic = strdup(topic)};
        if (!pt->topic)
                return NULL;
        c->n_parts++;
        return pt;
}

static bool part_answered(const struct part *pt, int64_t offset)
{
        if (!pt || !pt->bound)
                return false;
        if (pt->committed > offset)
                return true;
        size_t lo = 0, hi = pt->n_answered;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pt->answered[mid] < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < pt->n_answered && pt->answered[lo] == offset;
}

/* Learn that the group's committed offset is at least `committed`, and that `more`
 * (offsets above it, any order) are answered too. */
static void part_learn(struct part *pt, int64_t committed, const int64_t *more, size_t n)
{
        if (!pt->bound || committed > pt->committed)
                pt->committed = committed;
        pt->bound = true;
        for (size_t i = 0; i < n; i++) {
                if (more[i] < pt->committed || part_answered(pt, more[i]))
                        continue;
                if (jr_grow(&pt->answered, &pt->cap_answered, pt->n_answered + 1,
                            sizeof *pt->answered, 16) < 0)
                        return; /* one duplicate answer at worst */
                size_t j = pt->n_answered++;
                while (j > 0 && pt->answered[j - 1] > more[i]) {
                        pt->answered[j] = pt->answered[j - 1];
                        j--;
                }
                pt->answered[j] = more[i];
        }
        size_t drop = 0;
        while (drop < pt->n_answered && pt->answered[drop] < pt->committed)
                drop++;
        if (drop == 0)
                return; /* also: nothing answered yet, pt->answered may be NULL */
        memmove(pt->answered, pt->answered + drop, (pt->n_answered - drop) * sizeof *pt->answered);
        pt->n_answered -= drop;
}

void kafka_part_free(struct part *pt)
{
        free(pt->topic);
        free(pt->answered);
        free(pt->ho_meta);
}

enum gate kafka_consumer_gate(jr_kafka_consumer *c, const jr_spool_source *src)
{
        struct part *pt = kafka_part_get(c, src->topic, src->partition);
        if (!pt)
                return GATE_HOLD; /* out of memory: ask again later */
        if (part_answered(pt, src->offset))
                return GATE_DROP;
        if (pt->owned && pt->fresh && !c->rebalancing && !c->closed)
                return GATE_SEND;
        pt->wanted = true;
        return GATE_HOLD;
}

bool jr_kafka_consumer_answered(const jr_kafka_consumer *c, const char *topic, int32_t partition,
                                int64_t offset)
{
        return part_answered(kafka_part_find(c, topic, partition), offset);
}

bool jr_kafka_consumer_settled(const jr_kafka_consumer *c)
{
        if (c->rebalancing || c->closed)
                return false;
        for (size_t i = 0; i < c->n_parts; i++)
                if (c->parts[i].owned && !c->parts[i].fresh)
                        return false;
        return true;
}

/* Read "jr1:..." metadata: the answered offsets above `base`. Returns how many. */
static size_t meta_parse(const void *meta, size_t size, int64_t base, int64_t *out, size_t max)
{
        size_t pl = strlen(META_PREFIX), n = 0;
        if (!meta || size <= pl || memcmp(meta, META_PREFIX, pl))
                return 0;
        const char *p = (const char *)meta + pl, *end = (const char *)meta + size;
        while (p < end && n < max) {
                int64_t v = 0;
                const char *start = p;
                while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 16)
                        v = v * 10 + (*p++ - '0');
                if (p == start)
                        break;
                out[n++] = base + v;
                if (p < end && *p == ',')
                        p++;
                else
                        break;
        }
        return n;
}

size_t kafka_part_learn_meta(struct part *pt, int64_t committed, const void *meta, size_t size)
{
        int64_t more[256];
        size_t n = 0;
        if (committed < 0)
                committed = -1;
        else
                n = meta_parse(meta, size, committed, more, sizeof more / sizeof *more);
        part_learn(pt, committed, more, n);
        return n;
}

/* ---- asking the group coordinator --------------------------------------------------- */

/* Send one committed-offsets request for the partitions in `l`; its answer arrives on
 * `q` as a ListConsumerGroupOffsets result event. false: it could not be sent. */
static bool offsets_ask(jr_kafka_consumer *c, const rd_kafka_topic_partition_list_t *l,
                        int timeout_ms, rd_kafka_queue_t *q)
{
        char errstr[256];
        rd_kafka_ListConsumerGroupOffsets_t *req =
            rd_kafka_ListConsumerGroupOffsets_new(c->group_id, l);
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        bool sent =
            req && o &&
            !rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, errstr, sizeof errstr);
        if (sent)
                rd_kafka_ListConsumerGroupOffsets(c->rk, &req, 1, o, q);
        if (req)
                rd_kafka_ListConsumerGroupOffsets_destroy(req);
        if (o)
                rd_kafka_AdminOptions_destroy(o);
        return sent;
}

/* Call `apply` for every partition of an answer to offsets_ask (errors are logged for
 * debugging). Returns whether the answer had every partition without an error. */
static bool offsets_each(jr_kafka_consumer *c, rd_kafka_event_t *ev,
                         void (*apply)(jr_kafka_consumer *c, const rd_kafka_topic_partition_t *e))
{
        const rd_kafka_ListConsumerGroupOffsets_result_t *res =
            rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        if (rd_kafka_event_error(ev) || !res) {
                kafka_logf(&c->com, 7, "committed offsets lookup: %s",
                           rd_kafka_event_error_string(ev));
                return false;
        }
        size_t n = 0;
        const rd_kafka_group_result_t **groups =
            rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n);
        bool ok = n > 0;
        for (size_t g = 0; g < n; g++) {
                const rd_kafka_error_t *gerr = rd_kafka_group_result_error(groups[g]);
                if (gerr) {
                        kafka_logf(&c->com, 7, "committed offsets lookup: %s",
                                   rd_kafka_error_string(gerr));
                        ok = false;
                        continue;
                }
                const rd_kafka_topic_partition_list_t *l =
                    rd_kafka_group_result_partitions(groups[g]);
                if (!l)
                        ok = false;
                for (int i = 0; l && i < l->cnt; i++) {
                        if (l->elems[i].err)
                                ok = false;
                        apply(c, &l->elems[i]);
                }
        }
        return ok;
}

static void learn_entry(jr_kafka_consumer *c, const rd_kafka_topic_partition_t *e)
{
        struct part *pt = kafka_part_find(c, e->topic, e->partition);
        if (!e->err && pt)
                kafka_part_learn_meta(pt, e->offset, e->metadata, e->metadata_size);
}

bool kafka_committed_learn(jr_kafka_consumer *c, const rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_queue_t *tq = rd_kafka_queue_new(c->rk);
        if (!tq)
                return false;
        bool ok = false;
        if (offsets_ask(c, l, COMMIT_WAIT_MS, tq)) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(tq, COMMIT_WAIT_MS + 1000);
                if (ev) {
                        ok = offsets_each(c, ev, learn_entry);
                        rd_kafka_event_destroy(ev);
                }
        }
        rd_kafka_queue_destroy(tq);
        return ok;
}

/* ---- committed-offset lookups ---------------------------------------------------- */

/* When partition pt may be looked up next (a wanted one; an owned one only once its
 * hand-over grace is over). */
static int64_t lookup_due(const jr_kafka_consumer *c, const struct part *pt)
{
        int64_t due = c->next_lookup_ms;
        if (pt->owned && !pt->fresh && pt->fresh_after_ms > due)
                due = pt->fresh_after_ms;
        return due;
}

/* Ask the group coordinator for the committed offsets (and their metadata) of the
 * partitions that held records or new assignments wait on (asynchronous: the answer
 * arrives on lookup_q, whose io event is the consumer's fd). */
void kafka_lookup_start(jr_kafka_consumer *c)
{
        int64_t now = (int64_t)jr_mono_ms();
        if (c->lookup_busy || c->closed)
                return;
        rd_kafka_topic_partition_list_t *l = NULL;
        for (size_t i = 0; i < c->n_parts; i++) {
                if (!c->parts[i].wanted || lookup_due(c, &c->parts[i]) > now)
                        continue;
                if (!l && !(l = rd_kafka_topic_partition_list_new(4)))
                        return;
                rd_kafka_topic_partition_list_add(l, c->parts[i].topic, c->parts[i].partition);
        }
        if (!l)
                return;
        if (!offsets_ask(c, l, LOOKUP_TIMEOUT_MS, c->lookup_q)) {
                rd_kafka_topic_partition_list_destroy(l);
                c->next_lookup_ms = now + LOOKUP_INTERVAL_MS;
                return;
        }
        for (int i = 0; i < l->cnt; i++) {
                struct part *pt = kafka_part_find(c, l->elems[i].topic, l->elems[i].partition);
                if (pt)
                        pt->wanted = false;
        }
        rd_kafka_topic_partition_list_destroy(l);
        c->lookup_busy = true;
        c->lookup_issued_ms = now;
        c->next_lookup_ms = now + LOOKUP_INTERVAL_MS;
}

static void lookup_apply(jr_kafka_consumer *c, const rd_kafka_topic_partition_t *e)
{
        if (e->err) {
                kafka_logf(&c->com, 7, "committed offset of %s[%" PRId32 "]: %s", e->topic,
                           e->partition, rd_kafka_err2str(e->err));
                return;
        }
        struct part *pt = kafka_part_find(c, e->topic, e->partition);
        if (!pt)
                return;
        int64_t off = e->offset < 0 ? -1 : e->offset;
        /* committed offsets only grow, answered offsets stay answered: a lower bound */
        size_t n = kafka_part_learn_meta(pt, off, e->metadata, e->metadata_size);
        /* fresh: asked after the hand-over grace, and no rebalance under way */
        if (pt->owned && !c->rebalancing && c->lookup_issued_ms >= pt->fresh_after_ms) {
                pt->fresh = true;
                if (pt->commit_due)
                        kafka_commit_part(c, pt->topic, pt->partition);
        }
        kafka_logf(&c->com, 7, "committed offset of %s[%" PRId32 "]: %" PRId64 " (+%zu answered)%s",
                   e->topic, e->partition, off, n, pt->owned ? " (owned)" : "");
}

/* Serve lookup answers; each one (or its failure) may change gate decisions. */
void kafka_lookup_results(jr_kafka_consumer *c)
{
        rd_kafka_event_t *ev;
        while (c->lookup_q && (ev = rd_kafka_queue_poll(c->lookup_q, 0))) {
                c->lookup_busy = false;
                c->epoch++;
                offsets_each(c, ev, lookup_apply);
                rd_kafka_event_destroy(ev);
        }
}

/* ms from now until the next lookup is due, or -1 when none is wanted. */
int64_t kafka_lookup_wait(const jr_kafka_consumer *c, int64_t now)
{
        if (c->closed || c->lookup_busy)
                return -1;
        int64_t best = -1;
        for (size_t i = 0; i < c->n_parts; i++) {
                if (!c->parts[i].wanted)
                        continue;
                int64_t left = lookup_due(c, &c->parts[i]) - now;
                if (left < 0)
                        left = 0;
                if (best < 0 || left < best)
                        best = left;
        }
        return best;
}
