/* The Kafka consumer. See kafka.h (PROCESS MODEL, OWNERSHIP) and kafka_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "kafka_internal.h"

/* How often the consumer must be polled at the latest: far below any sane
 * max.poll.interval.ms (default 300 s), so the group never evicts a quiet runner. */
#define CONSUMER_POLL_INTERVAL_MS 10000
/* Results held after a refused commit wait this long at most for the next assignment. */
#define REBALANCING_MAX_MS 60000
/* A new owner reads a partition's committed offset this long after its assignment, so
 * that the previous owner's last commit (repeated after the rebalance when the broker
 * refused it during the rebalance) is in; its results wait for that read. */
#define HANDOVER_GRACE_MS 1000

/* Offsets of one partition returned by poll and not yet committed, ascending (librdkafka
 * delivers a partition in order). The committed offset may only pass a done prefix;
 * done offsets above it travel in the commit's metadata (see commit_point). */
struct track {
        char *topic;
        int32_t partition;
        int64_t *offs;
        bool *done;
        size_t head, len, cap;
        int64_t next; /* the offset after the done prefix; -1 while nothing is done */
};

static struct track *track_find(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < c->n_tracks; i++)
                if (c->tracks[i].partition == partition && !strcmp(c->tracks[i].topic, topic))
                        return &c->tracks[i];
        return NULL;
}

static struct track *track_get(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        struct track *t = track_find(c, topic, partition);
        if (t)
                return t;
        struct track *n = realloc(c->tracks, (c->n_tracks + 1) * sizeof *n);
        if (!n)
                return NULL;
        c->tracks = n;
        t = &c->tracks[c->n_tracks];
        *t = (struct track){.partition = partition, .next = -1, .topic = strdup(topic)};
        if (!t->topic)
                return NULL;
        c->n_tracks++;
        return t;
}
/* Messages of the partition returned by poll and not done yet. */
static size_t track_pending(const struct track *t)
{
        size_t n = 0;
        for (size_t i = t->head; i < t->len; i++)
                n += !t->done[i];
        return n;
}

static void track_drop(jr_kafka_consumer *c, struct track *t)
{
        c->in_flight -= track_pending(t);
        free(t->topic);
        free(t->offs);
        free(t->done);
        *t = c->tracks[--c->n_tracks];
}

static int track_push(struct track *t, int64_t offset)
{
        if (t->head > 0 && t->len == t->cap) {
                memmove(t->offs, t->offs + t->head, (t->len - t->head) * sizeof *t->offs);
                memmove(t->done, t->done + t->head, (t->len - t->head) * sizeof *t->done);
                t->len -= t->head;
                t->head = 0;
        }
        if (t->len == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                int64_t *o = realloc(t->offs, cap * sizeof *o);
                if (!o)
                        return -1;
                t->offs = o;
                bool *d = realloc(t->done, cap * sizeof *d);
                if (!d)
                        return -1;
                t->done = d;
                t->cap = cap;
        }
        t->offs[t->len] = offset;
        t->done[t->len] = false;
        t->len++;
        return 0;
}

/* Mark `offset` done (and move the done prefix on). false: not in flight here. */
static bool track_done_mark(jr_kafka_consumer *c, struct track *t, int64_t offset)
{
        size_t lo = t->head, hi = t->len;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->offs[mid] < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == t->len || t->offs[lo] != offset || t->done[lo])
                return false;
        t->done[lo] = true;
        c->in_flight--;
        while (t->head < t->len && t->done[t->head]) {
                t->next = t->offs[t->head] + 1;
                t->head++;
        }
        return true;
}

/* ---- commits ------------------------------------------------------------------- */

/* Where the group may resume on a partition, and what is answered above: the done prefix
 * of its track, or the committed offset known, whichever is further; then the track's
 * done offsets and the inherited answered ones above it. false: nothing to commit. */
static bool commit_point(jr_kafka_consumer *c, const char *topic, int32_t partition,
                         int64_t *offset, char *meta, size_t n)
{
        struct track *t = track_find(c, topic, partition);
        const struct part *pt = kafka_part_find(c, topic, partition);
        int64_t off = t ? t->next : -1;
        if (pt && pt->bound && pt->committed > off)
                off = pt->committed;
        if (off < 0)
                return false;
        size_t w = (size_t)snprintf(meta, n, "%s", META_PREFIX);
        size_t i = t ? t->head : 0, k = 0;
        int64_t last = -1;
        for (;;) {
                while (t && i < t->len && (!t->done[i] || t->offs[i] < off))
                        i++;
                while (pt && k < pt->n_answered && pt->answered[k] < off)
                        k++;
                bool from_t = t && i < t->len;
                bool from_p = pt && k < pt->n_answered;
                if (!from_t && !from_p)
                        break;
                int64_t v;
                if (from_t && (!from_p || t->offs[i] <= pt->answered[k]))
                        v = t->offs[i++];
                else
                        v = pt->answered[k++];
                if (v == last)
                        continue;
                last = v;
                char item[24];
                int len = snprintf(item, sizeof item, "%s%" PRId64,
                                   w > strlen(META_PREFIX) ? "," : "", v - off);
                if (len < 0 || w + (size_t)len >= n || w + (size_t)len >= META_MAX)
                        break;
                memcpy(meta + w, item, (size_t)len + 1);
                w += (size_t)len;
        }
        *offset = off;
        return true;
}

/* Add partition (topic, partition) at `offset` with `meta` to a commit list. */
static void commit_add(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition,
                       int64_t offset, const char *meta)
{
        rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_add(l, topic, partition);
        e->offset = offset;
        size_t len = strlen(meta);
        e->metadata = malloc(len); /* freed with the list */
        if (e->metadata) {
                memcpy(e->metadata, meta, len);
                e->metadata_size = len;
        }
}

/* The group is rebalancing (a commit was refused for it): stop sending records with a
 * source until the next assignment says what is ours. A member learns of a rebalance at
 * its next heartbeat; a commit refused before that is the earlier sign. */
static void rebalancing(jr_kafka_consumer *c, rd_kafka_resp_err_t err)
{
        if (err != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS &&
            err != RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION &&
            err != RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
                return;
        if (!c->rebalancing)
                kafka_logf(&c->com, 6,
                           "group rebalancing (%s): holding results until the next "
                           "assignment",
                           rd_kafka_err2name(err));
        c->rebalancing = true;
        c->rebalancing_until = (int64_t)jr_mono_ms() + REBALANCING_MAX_MS;
        c->epoch++;
}

/* Commit one partition now (asynchronously) from its track. A partition owned but not
 * settled yet (the previous owner's last commit may still be on its way) is committed
 * once it is, never before: an earlier commit could move the offset back. */
void kafka_commit_part(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        struct part *pt = kafka_part_find(c, topic, partition);
        if (!pt || !pt->owned)
                return; /* being revoked: the revocation commits it */
        if (!pt->fresh) {
                pt->commit_due = true;
                return;
        }
        pt->commit_due = false;
        int64_t off;
        char meta[META_MAX + 32];
        if (!commit_point(c, topic, partition, &off, meta, sizeof meta))
                return;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        commit_add(l, topic, partition, off, meta);
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 1);
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
                kafka_logf(&c->com, 4, "commit %s[%" PRId32 "]@%" PRId64 ": %s", topic, partition,
                           off, rd_kafka_err2str(err));
        else
                kafka_logf(&c->com, 7, "commit %s[%" PRId32 "]@%" PRId64 " %s", topic, partition,
                           off, meta);
}

/* Commit `l` now (rebalance and close): after a revocation it could not be committed
 * any more. Bounded: with the coordinator unreachable a synchronous commit would block
 * the event loop until the session times out (45 s by default). Returns whether the
 * broker confirmed it for every partition. */
static bool commit_bounded(jr_kafka_consumer *c, rd_kafka_topic_partition_list_t *l)
{
        if (!l || l->cnt == 0)
                return true;
        rd_kafka_queue_t *tq = rd_kafka_queue_new(c->rk);
        if (!tq)
                return false;
        bool confirmed = true;
        rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, l, tq, NULL, NULL);
        if (!err) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(tq, COMMIT_WAIT_MS);
                if (!ev) {
                        confirmed = false;
                        kafka_logf(&c->com, 4, "commit not confirmed within %d ms", COMMIT_WAIT_MS);
                } else {
                        err = rd_kafka_event_error(ev);
                        const rd_kafka_topic_partition_list_t *r =
                            rd_kafka_event_topic_partition_list(ev);
                        for (int i = 0; !err && r && i < r->cnt; i++)
                                err = r->elems[i].err;
                        rd_kafka_event_destroy(ev);
                }
        }
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                confirmed = false;
                kafka_logf(&c->com, 4, "commit: %s", rd_kafka_err2str(err));
        }
        rd_kafka_queue_destroy(tq);
        return confirmed;
}

/* The commit list of every partition in `parts` (NULL: every track) that has one. */
static rd_kafka_topic_partition_list_t *commit_list(jr_kafka_consumer *c,
                                                    const rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
        size_t n = parts ? (size_t)parts->cnt : c->n_tracks;
        for (size_t i = 0; i < n; i++) {
                const char *topic = parts ? parts->elems[i].topic : c->tracks[i].topic;
                int32_t partition = parts ? parts->elems[i].partition : c->tracks[i].partition;
                const struct part *pt = kafka_part_find(c, topic, partition);
                /* not settled: its committed offset is not ours to move (kafka_commit_part) */
                if (!pt || !pt->fresh)
                        continue;
                int64_t off;
                char meta[META_MAX + 32];
                if (commit_point(c, topic, partition, &off, meta, sizeof meta))
                        commit_add(l, topic, partition, off, meta);
        }
        return l;
}

/* The previous generation refused the commits of a revocation (the mock cluster refuses
 * commits while a group rejoins; a real broker accepts them): make them now, in the new
 * generation, before the partitions' new owners read their committed offsets (they wait
 * HANDOVER_GRACE_MS for this). Merged with what the group committed meanwhile, read
 * first, so that it only adds answered messages and never moves an offset back (another
 * member may have owned the partition for a generation already). Refused again (the
 * group rebalances once more), it is kept for the next assignment, up to ho_until_ms:
 * a hand-over dropped there lets the next owner answer those messages a second time. */
static void handover_commits(jr_kafka_consumer *c)
{
        int64_t now = (int64_t)jr_mono_ms();
        rd_kafka_topic_partition_list_t *want = NULL;
        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *pt = &c->parts[i];
                if (!pt->handover)
                        continue;
                if (now > pt->ho_until_ms) {
                        kafka_logf(&c->com, 4,
                                   "hand-over of %s[%" PRId32 "] at %" PRId64
                                   " given up: refused for %d s",
                                   pt->topic, pt->partition, pt->ho_offset,
                                   REBALANCING_MAX_MS / 1000);
                        pt->handover = false;
                        continue;
                }
                if (!want)
                        want = rd_kafka_topic_partition_list_new(4);
                rd_kafka_topic_partition_list_add(want, pt->topic, pt->partition);
        }
        if (!want)
                return;
        rd_kafka_topic_partition_list_t *l = NULL;
        if (!kafka_committed_learn(c, want)) {
                kafka_logf(&c->com, 4,
                           "hand-over: the group's committed offsets could not be "
                           "read; kept for the next assignment");
                goto out;
        }
        l = rd_kafka_topic_partition_list_new(want->cnt);
        for (int i = 0; i < want->cnt; i++) {
                struct part *pt =
                    kafka_part_find(c, want->elems[i].topic, want->elems[i].partition);
                if (!pt)
                        continue;
                kafka_part_learn_meta(pt, pt->ho_offset, pt->ho_meta,
                                      pt->ho_meta ? strlen(pt->ho_meta) : 0);
                int64_t off;
                char meta[META_MAX + 32];
                if (!commit_point(c, pt->topic, pt->partition, &off, meta, sizeof meta))
                        continue;
                commit_add(l, pt->topic, pt->partition, off, meta);
                kafka_logf(&c->com, 6, "handing %s[%" PRId32 "] over at %" PRId64, pt->topic,
                           pt->partition, off);
        }
        if (!commit_bounded(c, l)) {
                kafka_logf(&c->com, 4, "hand-over commit kept for the next assignment");
                goto out;
        }
        for (int i = 0; i < want->cnt; i++) {
                struct part *pt =
                    kafka_part_find(c, want->elems[i].topic, want->elems[i].partition);
                if (!pt)
                        continue;
                pt->handover = false;
                free(pt->ho_meta);
                pt->ho_meta = NULL;
        }
out:
        if (l)
                rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_topic_partition_list_destroy(want);
}

static void notify_rebalance(jr_kafka_consumer *c, bool assigned,
                             const rd_kafka_topic_partition_list_t *parts)
{
        char desc[512];
        size_t off = 0;
        desc[0] = '\0';
        for (int i = 0; i < parts->cnt && off < sizeof desc - 32; i++)
                off += (size_t)snprintf(desc + off, sizeof desc - off, "%s%s[%" PRId32 "]",
                                        i ? " " : "", parts->elems[i].topic,
                                        parts->elems[i].partition);
        kafka_logf(&c->com, 6, "%s %d partition(s): %s", assigned ? "assigned" : "revoked",
                   parts->cnt, desc);
        if (!c->on_rebalance)
                return;
        /* one call per run of the same topic */
        int i = 0;
        while (i < parts->cnt) {
                int32_t ids[parts->cnt];
                size_t n = 0;
                const char *topic = parts->elems[i].topic;
                while (i < parts->cnt && !strcmp(parts->elems[i].topic, topic))
                        ids[n++] = parts->elems[i++].partition;
                c->on_rebalance(c->opaque, assigned, topic, ids, n);
        }
}

static void on_assign(jr_kafka_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
        /* Back-pressure holds for partitions that arrive while paused; and a partition
         * paused before an earlier revocation is still paused in librdkafka (2.0.2) when
         * it comes back, resumed by nobody: say which. */
        rd_kafka_resp_err_t err = c->paused ? rd_kafka_pause_partitions(rk, parts)
                                            : rd_kafka_resume_partitions(rk, parts);
        if (err)
                kafka_logf(&c->com, 3, "%s new partitions: %s", c->paused ? "pause" : "resume",
                           rd_kafka_err2str(err));
        c->rebalancing = false;
        /* what the last generation refused, before anyone reads it */
        handover_commits(c);
        /* Ours now: spooled records of these partitions wait for the committed offset as
         * it is after the previous owner's last commit, read by a lookup issued once the
         * hand-over grace is over. */
        int64_t now = (int64_t)jr_mono_ms();
        for (int i = 0; i < parts->cnt; i++) {
                struct part *pt =
                    kafka_part_get(c, parts->elems[i].topic, parts->elems[i].partition);
                if (!pt)
                        continue; /* out of memory: its records are held */
                pt->owned = true;
                pt->fresh = false;
                pt->commit_due = false;
                pt->wanted = true;
                pt->fresh_after_ms = now + HANDOVER_GRACE_MS;
        }
        c->epoch++;
        notify_rebalance(c, true, parts);
}

static void on_revoke(jr_kafka_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
        /* A lost assignment (session timed out) can no longer commit: another member may
         * own the partitions already. */
        bool lost = rd_kafka_assignment_lost(rk);
        /* No more records of these partitions leave: from now on their messages belong to
         * the next owner. */
        for (int i = 0; i < parts->cnt; i++) {
                struct part *pt =
                    kafka_part_find(c, parts->elems[i].topic, parts->elems[i].partition);
                if (pt)
                        pt->owned = false;
        }
        c->epoch++;
        if (!lost) {
                /* What was already handed to the broker: wait (bounded) for the acks,
                 * which mark their messages done, so that the commit covers them and the
                 * next owner does not judge them again. */
                if (c->producer)
                        kafka_producer_drain(c->producer, parts, COMMIT_WAIT_MS);
                rd_kafka_topic_partition_list_t *l = commit_list(c, parts);
                if (!commit_bounded(c, l)) {
                        /* keep it for the next generation (handover_commits) */
                        for (int i = 0; i < l->cnt; i++) {
                                struct part *pt =
                                    kafka_part_find(c, l->elems[i].topic, l->elems[i].partition);
                                if (!pt)
                                        continue;
                                free(pt->ho_meta);
                                pt->ho_meta =
                                    strndup(l->elems[i].metadata, l->elems[i].metadata_size);
                                pt->ho_offset = l->elems[i].offset;
                                pt->ho_until_ms = (int64_t)jr_mono_ms() + REBALANCING_MAX_MS;
                                pt->handover = true;
                        }
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        size_t dropped = 0;
        for (int i = 0; i < parts->cnt; i++) {
                struct part *pt =
                    kafka_part_find(c, parts->elems[i].topic, parts->elems[i].partition);
                if (pt)
                        pt->fresh = false;
                struct track *t = track_find(c, parts->elems[i].topic, parts->elems[i].partition);
                if (t) {
                        dropped += track_pending(t);
                        track_drop(c, t);
                }
        }
        if (dropped)
                kafka_logf(&c->com, 4,
                           "%zu message(s) still in flight on revoked partitions will be "
                           "redelivered to their new owner",
                           dropped);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        jr_kafka_consumer *c = opaque;
        bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (coop) {
                        rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, parts);
                        if (error) {
                                kafka_logf(&c->com, 3, "assign: %s", rd_kafka_error_string(error));
                                rd_kafka_error_destroy(error);
                                return;
                        }
                } else {
                        rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, parts);
                        if (aerr) {
                                kafka_logf(&c->com, 3, "assign: %s", rd_kafka_err2str(aerr));
                                return;
                        }
                }
                on_assign(c, rk, parts);
                return;
        }

        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                on_revoke(c, rk, parts);
        } else {
                kafka_logf(&c->com, 3, "rebalance error: %s", rd_kafka_err2str(err));
                while (c->n_tracks > 0)
                        track_drop(c, &c->tracks[0]);
                for (size_t i = 0; i < c->n_parts; i++)
                        c->parts[i].owned = c->parts[i].fresh = false;
                c->epoch++;
        }
        if (coop) {
                rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
                if (error) {
                        kafka_logf(&c->com, 3, "unassign: %s", rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                }
        } else {
                rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, NULL);
                if (aerr)
                        kafka_logf(&c->com, 3, "unassign: %s", rd_kafka_err2str(aerr));
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                notify_rebalance(c, false, parts);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
        jr_kafka_consumer *c = opaque;
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        if (err) {
                /* The next commit of the partition carries the offset again. */
                kafka_logf(&c->com, 4, "offset commit failed: %s", rd_kafka_err2str(err));
                rebalancing(c, err);
                return;
        }
        for (int i = 0; offsets && i < offsets->cnt; i++)
                if (offsets->elems[i].err) {
                        kafka_logf(&c->com, 4, "offset commit %s[%" PRId32 "]@%" PRId64 ": %s",
                                   offsets->elems[i].topic, offsets->elems[i].partition,
                                   offsets->elems[i].offset,
                                   rd_kafka_err2str(offsets->elems[i].err));
                        rebalancing(c, offsets->elems[i].err);
                }
}

int jr_kafka_consumer_new(const jr_kafka_config *cfg, const jr_kafka_consumer_options *opts,
                          jr_kafka_consumer **out, jr_error *e)
{
        if (jr_kafka_config_is_embedded(cfg))
                return jr_error_set(e, EINVAL,
                                    "kafka consumer: start the embedded broker and set its "
                                    "address first");
        jr_kafka_consumer *c = calloc(1, sizeof *c);
        if (!c)
                return jr_error_set(e, ENOMEM, "kafka consumer");
        c->efd = -1;
        c->com = (struct common){.log = kafka_log_stderr, .source = "consumer"};
        if (opts) {
                if (opts->log) {
                        c->com.log = opts->log;
                        c->com.log_opaque = opts->log_opaque;
                }
                c->on_rebalance = opts->on_rebalance;
                c->opaque = opts->opaque;
        }
        /* Defaults that JAILRUN_KAFKA_CONFIG may override: start from the oldest
         * submission when the group has no committed offset yet, and keep the prefetch
         * small so that a long backlog waits in the broker, not in our memory. */
        char fetch_wait[16];
        snprintf(fetch_wait, sizeof fetch_wait, "%d", cfg->fetch_wait_max_ms);
        const char *defaults[] = {"auto.offset.reset",
                                  "earliest",
                                  "queued.max.messages.kbytes",
                                  "4096",
                                  "queued.min.messages",
                                  "1000",
                                  cfg->fetch_wait_max_ms > 0 ? "fetch.wait.max.ms" : NULL,
                                  fetch_wait,
                                  NULL};
        rd_kafka_conf_t *conf = kafka_conf_new(&c->com, cfg, "consumer", defaults, e);
        if (!conf) {
                free(c);
                return jr_error_wrap(e, "kafka consumer");
        }
        /* Not negotiable: they are the delivery contract. */
        if (kafka_conf_set(conf, "group.id", cfg->group_id, e) < 0 ||
            kafka_conf_set(conf, "enable.auto.commit", "false", e) < 0 ||
            kafka_conf_set(conf, "enable.auto.offset.store", "false", e) < 0 ||
            kafka_conf_set(conf, "enable.partition.eof", "false", e) < 0) {
                rd_kafka_conf_destroy(conf);
                free(c);
                return jr_error_wrap(e, "kafka consumer");
        }
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);

        char errstr[512];
        c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        if (!c->rk) {
                rd_kafka_conf_destroy(conf);
                free(c);
                return jr_error_set(e, EINVAL, "kafka consumer: %s", errstr);
        }
        /* One queue for everything: messages, rebalances, commit results, errors, logs. */
        rd_kafka_poll_set_consumer(c->rk);
        rd_kafka_set_log_queue(c->rk, NULL);
        c->q = rd_kafka_queue_get_consumer(c->rk);
        if (kafka_wakeup_attach(c->q, &c->efd, e) < 0) {
                jr_kafka_consumer_free(c);
                return jr_error_wrap(e, "kafka consumer");
        }
        /* and one for the committed-offset lookups, waking the same fd */
        static const uint64_t one = 1;
        c->group_id = strdup(cfg->group_id);
        c->lookup_q = rd_kafka_queue_new(c->rk);
        if (!c->group_id || !c->lookup_q) {
                jr_kafka_consumer_free(c);
                return jr_error_set(e, ENOMEM, "kafka consumer");
        }
        rd_kafka_queue_io_event_enable(c->lookup_q, c->efd, &one, sizeof one);
        /* cfg->topic may name several topics, comma-separated (the HTTP front door
         * reads results and events); a topic name cannot hold a comma. */
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(2);
        for (const char *t = cfg->topic; *t;) {
                size_t n = strcspn(t, ",");
                char name[256];
                if (n > 0 && n < sizeof name) {
                        memcpy(name, t, n);
                        name[n] = '\0';
                        rd_kafka_topic_partition_list_add(sub, name, RD_KAFKA_PARTITION_UA);
                }
                t += n + (t[n] == ',');
        }
        rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                jr_kafka_consumer_free(c);
                return jr_error_set(e, EINVAL, "kafka consumer: subscribe to \"%s\": %s",
                                    cfg->topic, rd_kafka_err2str(err));
        }
        c->last_poll_ms = (int64_t)jr_mono_ms();
        *out = c;
        return 0;
}

int jr_kafka_consumer_fd(const jr_kafka_consumer *c)
{
        return c->efd;
}

int jr_kafka_consumer_timeout_ms(const jr_kafka_consumer *c)
{
        int64_t now = (int64_t)jr_mono_ms();
        int64_t left = c->last_poll_ms + CONSUMER_POLL_INTERVAL_MS - now;
        /* a lookup is due (held records or a new assignment wait for it) */
        int64_t lw = kafka_lookup_wait(c, now);
        if (lw >= 0 && lw < left)
                left = lw;
        return left < 0 ? 0 : (int)left;
}

void jr_kafka_msg_free(jr_kafka_msg *msg)
{
        if (!msg)
                return;
        rd_kafka_message_destroy(msg->priv);
        free(msg);
}

int jr_kafka_consumer_poll(jr_kafka_consumer *c, jr_kafka_msg **msg, jr_error *e)
{
        if (c->closed)
                return jr_error_set(e, EINVAL, "kafka consumer is closed");
        kafka_wakeup_drain(c->efd);
        c->last_poll_ms = (int64_t)jr_mono_ms();
        if (c->rebalancing && c->last_poll_ms > c->rebalancing_until) {
                /* no assignment followed: what we own is ours after all */
                c->rebalancing = false;
                c->epoch++;
        }
        kafka_lookup_results(c);
        kafka_lookup_start(c);
        for (;;) {
                if (c->com.fatal) {
                        char why[512];
                        rd_kafka_fatal_error(c->rk, why, sizeof why);
                        return jr_error_set(e, EIO, "kafka consumer: fatal: %s", why);
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
                if (!m)
                        return 0;
                if (m->err) {
                        kafka_logf(&c->com, 4, "consume: %s", rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                const char *topic = rd_kafka_topic_name(m->rkt);
                struct track *t = track_get(c, topic, m->partition);
                jr_kafka_msg *jm = calloc(1, sizeof *jm);
                if (!t || !jm || track_push(t, m->offset) < 0) {
                        free(jm);
                        /* Not returned, so not consumed: rewind so it comes back. */
                        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                        rd_kafka_topic_partition_list_add(l, topic, m->partition)->offset =
                            m->offset;
                        rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, l, -1);
                        if (error)
                                rd_kafka_error_destroy(error);
                        rd_kafka_topic_partition_list_destroy(l);
                        rd_kafka_message_destroy(m);
                        return jr_error_set(e, ENOMEM, "kafka consumer: track message");
                }
                c->in_flight++;
                rd_kafka_timestamp_type_t tstype;
                int64_t ts = rd_kafka_message_timestamp(m, &tstype);
                *jm = (jr_kafka_msg){
                    .topic = topic,
                    .partition = m->partition,
                    .offset = m->offset,
                    .key = m->key,
                    .key_len = m->key ? m->key_len : 0,
                    .value = m->payload,
                    .value_len = m->payload ? m->len : 0,
                    .timestamp_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts,
                    .priv = m,
                };
                *msg = jm;
                return 1;
        }
}

int jr_kafka_consumer_done(jr_kafka_consumer *c, const char *topic, int32_t partition,
                           int64_t offset, jr_error *e)
{
        (void)e;
        if (c->closed)
                return 0;
        struct track *t = track_find(c, topic, partition);
        if (!t)
                return 0; /* revoked meanwhile: the new owner will see it again */
        if (!track_done_mark(c, t, offset))
                return 0;
        /* Asynchronous: a commit that does not make it is carried by the next one (or
         * repeated after a rebalance), and until then the message is recognised as
         * answered by this runner's spool. */
        kafka_commit_part(c, topic, partition);
        return 0;
}

int jr_kafka_consumer_pause(jr_kafka_consumer *c, bool pause, jr_error *e)
{
        if (c->paused == pause)
                return 0;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_resp_err_t err = rd_kafka_assignment(c->rk, &parts);
        if (err)
                return jr_error_set(e, EIO, "kafka consumer: assignment: %s",
                                    rd_kafka_err2str(err));
        err = pause ? rd_kafka_pause_partitions(c->rk, parts)
                    : rd_kafka_resume_partitions(c->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err)
                return jr_error_set(e, EIO, "kafka consumer: %s: %s", pause ? "pause" : "resume",
                                    rd_kafka_err2str(err));
        c->paused = pause;
        return 0;
}

bool jr_kafka_consumer_paused(const jr_kafka_consumer *c)
{
        return c->paused;
}

size_t jr_kafka_consumer_in_flight(const jr_kafka_consumer *c)
{
        return c->in_flight;
}

int jr_kafka_consumer_close(jr_kafka_consumer *c, jr_error *e)
{
        if (c->closed)
                return 0;
        /* a hand-over that an earlier rebalance refused, before this member leaves */
        handover_commits(c);
        rd_kafka_topic_partition_list_t *l = commit_list(c, NULL);
        bool confirmed = commit_bounded(c, l);
        rd_kafka_topic_partition_list_destroy(l);
        c->closed = true;
        int ret = 0;
        if (confirmed) {
                /* Leaves the group; the revocation goes through rebalance_cb. */
                rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
                if (err)
                        ret = jr_error_set(e, EIO, "kafka consumer: close: %s",
                                           rd_kafka_err2str(err));
        } else {
                /* The coordinator is unreachable: rd_kafka_consumer_close() would wait for
                 * the unconfirmed commits until the session times out (45 s by default).
                 * Leave without saying goodbye; the group notices at that timeout. */
                c->abandoned = true;
                /* and do not come back when the broker does */
                rd_kafka_unsubscribe(c->rk);
                kafka_logf(&c->com, 4,
                           "broker unreachable: leaving the group without "
                           "confirmation");
        }
        while (c->n_tracks > 0)
                track_drop(c, &c->tracks[0]);
        for (size_t i = 0; i < c->n_parts; i++)
                c->parts[i].owned = c->parts[i].fresh = false;
        c->epoch++;
        return ret;
}

void jr_kafka_consumer_free(jr_kafka_consumer *c)
{
        if (!c)
                return;
        if (c->rk) {
                jr_kafka_consumer_close(c, NULL);
                if (c->q) {
                        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
                        rd_kafka_queue_destroy(c->q);
                }
                if (c->lookup_q) {
                        rd_kafka_queue_io_event_enable(c->lookup_q, -1, NULL, 0);
                        rd_kafka_queue_destroy(c->lookup_q);
                }
                /* After an abandoned close, librdkafka 2.0.2's rd_kafka_destroy() waits for
                 * the unreachable coordinator without a bound (even with
                 * RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE). The supervisor is exiting at this
                 * point: leave the handle and its threads to the process exit. */
                if (!c->abandoned)
                        rd_kafka_destroy(c->rk);
        }
        while (c->n_tracks > 0)
                track_drop(c, &c->tracks[0]);
        free(c->tracks);
        jr_kafka_link(c, NULL);
        for (size_t i = 0; i < c->n_parts; i++)
                kafka_part_free(&c->parts[i]);
        free(c->parts);
        free(c->group_id);
        if (c->efd >= 0)
                close(c->efd);
        free(c);
}

int64_t jr_kafka_consumer_lag(const jr_kafka_consumer *c)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (!c || c->closed || rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return -1;
        int64_t lag = -1;
        if (rd_kafka_position(c->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                for (int i = 0; i < parts->cnt; i++) {
                        const rd_kafka_topic_partition_t *p = &parts->elems[i];
                        int64_t low, high;
                        if (p->offset < 0 ||
                            rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &low,
                                                           &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                            high < 0)
                                continue;
                        lag = (lag < 0 ? 0 : lag) + (high > p->offset ? high - p->offset : 0);
                }
        }
        rd_kafka_topic_partition_list_destroy(parts);
        return lag;
}
