/* What the bench programs share (throughput, scrc, http): the clock, dying with a
 * message, reading a file, finding build/jailrun, starting `jailrun serve` with an
 * environment of their own and waiting on its log, percentiles; and, for the ones that
 * drive serve through Kafka (bench_kafka.c), the clients of the mock cluster. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The program's name, first in every message ("throughput"); set by main. */
extern const char *bench_name;
/* Run by bench_die before it exits (scrc: stop the serves it started), or NULL. */
extern void (*bench_on_die)(void);
/* Set by a program's signal handler: bench_wait_log gives up ("interrupted"). */
extern volatile sig_atomic_t bench_stop_requested;

/* Milliseconds on CLOCK_MONOTONIC. */
double bench_now_ms(void);
/* "<name>: <message>" on stderr, bench_on_die, exit 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The whole file, NUL-terminated (malloc'd); NULL when it cannot be opened. */
char *bench_slurp(const char *path);

/* build/jailrun next to build/bench/<program>, into out; dies when it is not there. */
void bench_find_jailrun(char *out, size_t size);

/* Start `jailrun serve` (the binary `jailrun`) with our environment minus the variables
 * that start with one of `drop` (NULL-terminated), plus `env` ("NAME=value",
 * NULL-terminated): its stderr to `log` (truncated), its stdout there too or to
 * /dev/null. own_group: it leads a process group of its own (killed whole with kill(-pid))
 * and starts with the default signal mask and dispositions. Dies when it cannot start. */
pid_t bench_serve_spawn(const char *jailrun, const char *log, bool stdout_to_log,
                        const char *const *drop, const char *const *env, bool own_group);
/* Wait up to timeout_ms until the log holds `needle`; dies when serve exits first (*pid
 * becomes 0), when the bound passes, or on bench_stop_requested. */
void bench_wait_log(const char *log, const char *needle, pid_t *pid, double timeout_ms);

/* For each "judged" line of serve's log at path: fn(id, id_len, total_ms, own_us, ud),
 * total_ms being the judge's wall time of that submission (a result's duration_ms is the
 * tests' sum only, the reference worker's rule: the time in the judge is in the log
 * alone) and own_us jailrun's own part of it in microseconds (-1 from a serve that does
 * not log it). */
void bench_each_judged(const char *path,
                       void (*fn)(const char *id, size_t id_len, long total_ms, long own_us,
                                  void *ud),
                       void *ud);

/* The p-quantile (0..1) of v's n values, the nearest rank (sorts v); 0 when n is 0. */
double bench_pct(double *v, size_t n, double p);
int bench_cmp_double(const void *a, const void *b);

/* ---- bench_kafka.c ------------------------------------------------------------------- */

/* A client of `brokers`: a producer (linger.ms 0), or a consumer in `group` (no commits,
 * fetch.wait.max.ms fetch_wait_ms: the mock cluster answers a fetch only when its wait is
 * over). Dies on failure. */
rd_kafka_t *bench_client(rd_kafka_type_t type, const char *brokers, const char *group,
                         int fetch_wait_ms);
/* Assign the consumer every one of topic's n_parts partitions from the beginning. */
void bench_assign_all(rd_kafka_t *rk, const char *topic, int n_parts);
/* Produce a copy of value with key to topic (partition < 0: the partitioner's choice). */
void bench_produce(rd_kafka_t *rk, const char *topic, int partition, const char *key,
                   const char *value);
/* A log callback for the mock cluster that says nothing. */
void bench_quiet_log(void *opaque, int level, const char *source, const char *msg);
