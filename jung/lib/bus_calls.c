/* bus_calls.c - a service calling another over the bus: the table of
 * pending calls, the results consumer's assignment and its thread, which
 * wakes each call with its result (bus_internal.h). */
#include "jung/lib/bus_internal.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- calls: pending table and results assignment ------------------------------ */

static unsigned bucket_of(const char *id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % BUS_PENDING_BUCKETS;
}

static void pending_add(jung_bus *bus, pending_call *p)
{
    unsigned b = bucket_of(p->id);
    p->next = bus->pending[b];
    bus->pending[b] = p;
}

static void pending_remove(jung_bus *bus, pending_call *p)
{
    for (pending_call **pp = &bus->pending[bucket_of(p->id)]; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* Hands a result to its waiting call; results of other replicas' calls (or
 * of calls that already timed out) are dropped. */
static void deliver_result(jung_bus *bus, jung_result *res)
{
    pthread_mutex_lock(&bus->calls_lock);
    pending_call *p = bus->pending[bucket_of(res->task_id)];
    while (p && strcmp(p->id, res->task_id) != 0)
        p = p->next;
    if (p && !p->done) {
        p->result = *res;
        res->data = NULL;
        p->done = true;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&bus->calls_lock);
    json_decref(res->data);
}

static int partition_count(jung_bus *bus, const char *topic, jung_error *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(bus->replies, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(bus->replies, 0, rkt, &md, 5000);
    int n = -1;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
        e = md->topics[0].err;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
    }
    if (n <= 0)
        jung_error_set(err, 503, "topic %s is not available: %s", topic,
                       e ? rd_kafka_err2str(e) : "no partitions");
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* The end offset of one partition. A broker that has just started, or a
 * topic just created, answers "not leader" or "leader not available" until
 * its leader is elected, so errors are retried for about 15 s. */
static rd_kafka_resp_err_t query_end_offset(rd_kafka_t *rk, const char *topic, int partition,
                                            int64_t *high)
{
    const struct timespec backoff = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int64_t low;
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_query_watermark_offsets(rk, topic, partition, &low, high, 5000)) !=
           RD_KAFKA_RESP_ERR_NO_ERROR) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 15)
            break;
        nanosleep(&backoff, NULL);
    }
    return e;
}

/* Starts reading `topic` (every partition, from its current end) unless this
 * process already does. The end offsets are read synchronously, so a result
 * produced after this returns is never skipped. */
static bool assign_results_topic(jung_bus *bus, const char *topic, jung_error *err)
{
    pthread_mutex_lock(&bus->assign_lock);
    for (int i = 0; i < bus->n_callees; i++)
        if (strcmp(bus->callees[i], topic) == 0) {
            pthread_mutex_unlock(&bus->assign_lock);
            return true;
        }
    bool ok = false;
    int n = bus->n_callees < BUS_MAX_CALLEES ? partition_count(bus, topic, err) : -1;
    if (bus->n_callees >= BUS_MAX_CALLEES)
        jung_error_set(err, 500, "more than %d callee topics", BUS_MAX_CALLEES);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    for (int p = 0; p < n; p++) {
        int64_t high;
        rd_kafka_resp_err_t e = query_end_offset(bus->replies, topic, p, &high);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            jung_error_set(err, 503, "cannot read the end of %s [%d]: %s", topic, p,
                           rd_kafka_err2str(e));
            n = -1;
            break;
        }
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = high;
    }
    if (n > 0) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(bus->replies, parts);
        if (e) {
            jung_error_set(err, 500, "cannot read %s: %s", topic, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        } else {
            snprintf(bus->callees[bus->n_callees++], sizeof bus->callees[0], "%s", topic);
            ok = true;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    pthread_mutex_unlock(&bus->assign_lock);
    return ok;
}

/* Makes the producer look the topic up now: its first message to an
 * unknown topic otherwise waits for a metadata round (hundreds of ms). */
void bus_warm_producer(jung_bus *bus, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(bus->producer, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(bus->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

void jung_bus_prepare_send(jung_bus *bus, const char *service)
{
    char topic[192];
    bus_topic_of(bus, service, "tasks", topic, sizeof topic);
    bus_warm_producer(bus, topic);
}

bool jung_bus_prepare_call(jung_bus *bus, const char *service, jung_error *err)
{
    char topic[192];
    bus_topic_of(bus, service, "tasks", topic, sizeof topic);
    bus_warm_producer(bus, topic);
    bus_topic_of(bus, service, "results", topic, sizeof topic);
    return assign_results_topic(bus, topic, err);
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void wait_for_result(jung_bus *bus, pending_call *p, int timeout_ms)
{
    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&bus->calls_lock);
    while (!p->done)
        if (pthread_cond_timedwait(&p->cond, &bus->calls_lock, &deadline) == ETIMEDOUT)
            break;
    pending_remove(bus, p);
    pthread_mutex_unlock(&bus->calls_lock);
}

bool jung_bus_call(jung_bus *bus, const char *service, const char *type, json_t *payload,
                   int timeout_ms, json_t **data, jung_error *err)
{
    *data = NULL;
    char reply_to[192];
    bus_topic_of(bus, service, "results", reply_to, sizeof reply_to);
    if (atomic_load(&bus->stopping)) {
        json_decref(payload);
        jung_error_set(err, 503, "the bus is shutting down");
        return false;
    }
    if (!assign_results_topic(bus, reply_to, err)) {
        json_decref(payload);
        return false;
    }
    pending_call p = {.done = false};
    jung_uuid(p.id);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p.cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&bus->calls_lock);
    pending_add(bus, &p);
    pthread_mutex_unlock(&bus->calls_lock);

    bool sent = bus_send_task(bus, service, p.id, type, reply_to, payload, err);
    if (sent)
        wait_for_result(bus, &p, timeout_ms > 0 ? timeout_ms : bus->call_timeout_ms);
    else {
        pthread_mutex_lock(&bus->calls_lock);
        pending_remove(bus, &p);
        pthread_mutex_unlock(&bus->calls_lock);
    }
    pthread_cond_destroy(&p.cond);
    if (!sent)
        return false;
    if (!p.done) {
        jung_error_set(err, 504, "%s did not answer %s within %d ms", service, type,
                       timeout_ms > 0 ? timeout_ms : bus->call_timeout_ms);
        return false;
    }
    if (!p.result.ok) {
        *err = p.result.error;
        return false;
    }
    *data = p.result.data;
    return true;
}

void *bus_reply_loop(void *arg)
{
    jung_bus *bus = arg;
    while (!atomic_load(&bus->stopping)) {
        rd_kafka_poll(bus->producer, 0); /* producer errors and delivery events */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(bus->replies, BUS_POLL_MS);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                jung_log("%s: reply consumer: %s", bus->instance, rd_kafka_message_errstr(m));
        } else {
            jung_result res;
            jung_error perr = {0};
            if (jung_result_parse(m->payload, m->len, &res, &perr))
                deliver_result(bus, &res);
            else
                jung_log("%s: skipped a malformed result on %s: %s", bus->instance,
                         rd_kafka_topic_name(m->rkt), perr.message);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}
