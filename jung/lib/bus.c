/* bus.c - Jung's task bus over Kafka (dissertation section 4.1, figure 20).
 *
 * One process holds three librdkafka clients:
 *   - a producer for every task and result it sends;
 *   - the task consumer, subscribed to `<service>_tasks` (plus any topic
 *     added with jung_bus_listen) in consumer group `<group>`, whose poll
 *     loop (jung_bus_serve) feeds a queue drained by a pool of workers;
 *   - the reply consumer, which assign()s every partition of the
 *     `<callee>_results` topics it calls, from their end, outside any group:
 *     every replica of a caller reads all results and keeps the ones whose
 *     task id is in its table of pending calls.
 * A call waits on its own condition variable with a deadline (504 on
 * timeout). Malformed messages are logged and skipped.
 *
 * This file builds the clients, opens and closes the bus and produces;
 * bus_calls.c holds the calls and their results, bus_serve.c the serving of
 * tasks; bus_internal.h the state all three share.
 */
#include "jung/lib/jung.h"
#include "jung/lib/kafka_roles.h"
#include "jung/lib/jung_internal.h"
#include "jung/lib/bus_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *const jung_kafka_common_defaults[] = {
    "socket.nagle.disable=true",
    "log.connection.close=false",
    /* Small metadata waits so a missing broker is reported, not waited on. */
    "reconnect.backoff.ms=10",
    "reconnect.backoff.max.ms=1000",
    /* Services never create topics: the harness creates Jung's topics up
     * front (`jungbench topics`, the embedded broker), and a name taken from
     * a message must not become a topic. */
    "allow.auto.create.topics=false",
    NULL,
};
const char *const jung_kafka_producer_defaults[] = {
    "linger.ms=0", /* send at once: a request/reply hop cannot wait for a batch */
    "acks=1",
    "message.timeout.ms=10000",
    NULL,
};
/* fetch.wait.max.ms depends on the broker (docs/kafka-tuning.md): Apache
 * Kafka answers a waiting fetch as soon as data arrives, so a long wait
 * costs no latency and keeps idle consumers quiet; librdkafka's mock
 * cluster answers only when the wait expires, so every hop costs the whole
 * wait there. Once the patched mock made a Fetch cheap, 2 ms beat 5 ms by
 * 1.7x in requests/s under the benchmark (bench/jung-throughput). */
#define FETCH_WAIT_KAFKA "fetch.wait.max.ms=100"
#define FETCH_WAIT_MOCK "fetch.wait.max.ms=" JUNG_MOCK_FETCH_WAIT_MS
#ifndef JUNG_MOCK_FETCH_WAIT_MS
#define JUNG_MOCK_FETCH_WAIT_MS "2"
#endif
/* Debian's librdkafka 2.0.2 mock cluster keeps, per partition, message sets
 * until there are 100,000 of them or 5 MiB, and on every Fetch walks that
 * list from its oldest set (rd_kafka_mock_msgset_find). jungbench's build of
 * librdkafka (scripts/librdkafka-patched) searches from the newest set
 * instead, but a service cannot tell which mock it talks to. On an unpatched
 * mock, a record header of zeros that consumers ignore bounds the list by
 * bytes: a partition retains at most 5 MiB / (message + pad) sets. So the
 * default is no padding, and `jungbench` asks for it (jung.mock.pad.bytes)
 * when its embedded broker runs unpatched. A property of libjung, never
 * passed to librdkafka; no effect on a real Kafka cluster.
 * docs/kafka-tuning.md measures both. */
#define MOCK_PAD_PROP "jung.mock.pad.bytes"
#define MOCK_PAD_HEADER "jung-pad"
#define MOCK_PAD_DEFAULT 0
#define MOCK_PAD_MAX (512 * 1024)
const char *const jung_kafka_consumer_defaults[] = {
    FETCH_WAIT_KAFKA,
    "fetch.error.backoff.ms=10",
    "fetch.min.bytes=1",
    /* Bounded prefetch keeps RSS small: a reply consumer reads every result
     * on its callees' topics, and at 1024 the rule engine held 12 MB (4 KiB
     * padded results on the mock); 256 measured 8.6 MB, same throughput. */
    "queued.max.messages.kbytes=256",
    "enable.partition.eof=false",
    /* Kafka's minimum session timeout: a replica that died is noticed in
     * seconds, and a group whose last member left (a restarted service) is
     * rebalanced after session.timeout.ms - 1 s on librdkafka's mock
     * broker instead of 44 s with the 45 s default. */
    "session.timeout.ms=6000",
    /* A member learns that its group rebalances (a replica joined or left)
     * from its next heartbeat's answer, and the rebalance waits for every
     * member: at 2000 ms, each replica that joined a running group cost up
     * to 2 s. 250 ms costs four small requests a second per service. */
    "heartbeat.interval.ms=250",
    NULL,
};

/* ---- logging ------------------------------------------------------------ */

void jung_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stdout, "%s\n", line);
    fflush(stdout);
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    jung_log("kafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    /* Transport errors are retried by librdkafka; say what happened once. */
    jung_log("kafka %s error: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

/* ---- broker_map: rewrite the broker's advertised address ---------------- */

static int connect_mapped(int sockfd, const struct sockaddr *addr, int addrlen, const char *id,
                          void *opaque)
{
    jung_bus *bus = opaque;
    struct sockaddr_in mapped;
    if (bus->broker_from[0] && addr->sa_family == AF_INET) {
        memcpy(&mapped, addr, sizeof mapped);
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &mapped.sin_addr, ip, sizeof ip);
        if (strcmp(ip, bus->broker_from) == 0 &&
            inet_pton(AF_INET, bus->broker_to, &mapped.sin_addr) == 1) {
            addr = (const struct sockaddr *)&mapped;
            addrlen = sizeof mapped;
        }
    }
    /* librdkafka's sockets are non-blocking: an in-progress connect is fine. */
    if (connect(sockfd, addr, (socklen_t)addrlen) == -1 && errno != EINPROGRESS)
        return errno;
    return 0;
}

static bool parse_broker_map(jung_bus *bus, const char *map, jung_error *err)
{
    if (!map || !*map)
        return true;
    const char *eq = strchr(map, '=');
    struct in_addr probe;
    size_t from_len = eq ? (size_t)(eq - map) : 0;
    if (!eq || from_len == 0 || from_len >= sizeof bus->broker_from ||
        strlen(eq + 1) >= sizeof bus->broker_to) {
        jung_error_set(err, 400, "broker map '%s' must be FROM=TO, e.g. 127.0.0.1=10.0.2.2", map);
        return false;
    }
    memcpy(bus->broker_from, map, from_len);
    bus->broker_from[from_len] = '\0';
    snprintf(bus->broker_to, sizeof bus->broker_to, "%s", eq + 1);
    if (inet_pton(AF_INET, bus->broker_from, &probe) != 1 ||
        inet_pton(AF_INET, bus->broker_to, &probe) != 1) {
        jung_error_set(err, 400, "broker map '%s': FROM and TO must be IPv4 addresses", map);
        return false;
    }
    return true;
}

/* ---- client construction -------------------------------------------------- */

static bool conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, jung_error *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        jung_error_set(err, 400, "kafka property %s=%s: %s", key, value, errstr);
        return false;
    }
    return true;
}

static bool conf_set_pair(rd_kafka_conf_t *conf, const char *pair, jung_error *err)
{
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair) {
        jung_error_set(err, 400, "kafka property '%s' must be key=value", pair);
        return false;
    }
    char key[128];
    size_t n = (size_t)(eq - pair);
    if (n >= sizeof key) {
        jung_error_set(err, 400, "kafka property name in '%s' is too long", pair);
        return false;
    }
    memcpy(key, pair, n);
    key[n] = '\0';
    return conf_set(conf, key, eq + 1, err);
}

static bool conf_set_list(rd_kafka_conf_t *conf, const char *const *pairs, jung_error *err)
{
    for (size_t i = 0; pairs && pairs[i]; i++)
        if (!conf_set_pair(conf, pairs[i], err))
            return false;
    return true;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* libjung's own properties ("jung.*") travel with the Kafka ones. */
static bool is_jung_prop(const char *pair)
{
    return strncmp(pair, "jung.", 5) == 0;
}

/* Reads jung.mock.pad.bytes from the user's properties (the last one
 * wins); any other "jung." property is an error rather than ignored. */
static bool read_pad_bytes(const jung_bus_config *cfg, size_t *pad, jung_error *err)
{
    *pad = MOCK_PAD_DEFAULT;
    for (size_t i = 0; cfg->kafka_props && cfg->kafka_props[i]; i++) {
        const char *pair = cfg->kafka_props[i];
        if (!is_jung_prop(pair))
            continue;
        size_t klen = strlen(MOCK_PAD_PROP);
        char *end = NULL;
        long v = -1;
        if (strncmp(pair, MOCK_PAD_PROP "=", klen + 1) == 0) {
            errno = 0;
            v = strtol(pair + klen + 1, &end, 10);
            if (errno || end == pair + klen + 1 || *end)
                v = -1;
        } else {
            jung_error_set(err, 400, "unknown libjung property '%s' (known: %s=BYTES)", pair,
                           MOCK_PAD_PROP);
            return false;
        }
        if (v < 0 || v > MOCK_PAD_MAX) {
            jung_error_set(err, 400, "%s must be a whole number of bytes from 0 to %d, not '%s'",
                           MOCK_PAD_PROP, MOCK_PAD_MAX, pair + klen + 1);
            return false;
        }
        *pad = (size_t)v;
    }
    return true;
}

static rd_kafka_t *make_client(jung_bus *bus, rd_kafka_type_t type, const char *group,
                               const jung_bus_config *cfg, const char *role, jung_error *err)
{
    char name[200];
    snprintf(name, sizeof name, "%s-%s", cfg->instance, role);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = conf_set(conf, "bootstrap.servers", cfg->brokers, err) &&
              conf_set(conf, "client.id", name, err) &&
              conf_set_list(conf, jung_kafka_common_defaults, err) &&
              conf_set_list(conf,
                            type == RD_KAFKA_PRODUCER ? jung_kafka_producer_defaults
                                                      : jung_kafka_consumer_defaults,
                            err);
    if (ok && type == RD_KAFKA_CONSUMER && bus->mock_broker)
        ok = conf_set_pair(conf, FETCH_WAIT_MOCK, err);
    if (ok && group)
        ok = conf_set(conf, "group.id", group, err);
    /* The reply consumer has a private group only because assign() needs
     * one; it never joins it and never commits. */
    bool replies = type == RD_KAFKA_CONSUMER && strcmp(role, "replies") == 0;
    if (ok && replies)
        ok = conf_set(conf, "enable.auto.commit", "false", err);
    for (size_t i = 0; ok && cfg->kafka_props && cfg->kafka_props[i]; i++)
        if (!is_jung_prop(cfg->kafka_props[i]) &&
            jung_kafka_prop_applies(type, cfg->kafka_props[i]))
            ok = conf_set_pair(conf, cfg->kafka_props[i], err);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, bus);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    if (bus->broker_from[0])
        rd_kafka_conf_set_connect_cb(conf, connect_mapped);
    if (type == RD_KAFKA_CONSUMER && !replies)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        jung_error_set(err, 500, "cannot create the kafka %s client: %s", role, errstr);
        return NULL;
    }
    if (type == RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* ---- task consumer: assignment --------------------------------------------- */

/* Partitions without a committed offset start at their current end, read
 * synchronously here rather than left to auto.offset.reset: a task sent right
 * after the readiness line must not fall before a lazily resolved "latest". */
static void start_new_partitions_at_end(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    if (rd_kafka_committed(rk, parts, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return; /* fall back to auto.offset.reset */
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t low, high;
        if (p->offset >= 0)
            continue;
        if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &low, &high, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
            p->offset = high;
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    jung_bus *bus = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        start_new_partitions_at_end(rk, parts);
        rd_kafka_assign(rk, parts);
        jung_log("%s: assigned %d task partition(s)", bus->instance, parts->cnt);
        if (!bus->ready_announced && bus->on_ready)
            bus->on_ready(bus->on_ready_arg);
        bus->ready_announced = true;
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- open / close ------------------------------------------------------------ */

static void pending_table_init(jung_bus *bus)
{
    pthread_mutex_init(&bus->calls_lock, NULL);
    pthread_mutex_init(&bus->assign_lock, NULL);
    pthread_mutex_init(&bus->queue_lock, NULL);
    pthread_cond_init(&bus->queue_nonempty, NULL);
    pthread_cond_init(&bus->queue_nonfull, NULL);
}

static bool copy_name(char *out, size_t cap, const char *in, const char *what, jung_error *err)
{
    if (!in || !*in || strlen(in) >= cap) {
        jung_error_set(err, 400, "%s must be a non-empty name shorter than %zu characters", what,
                       cap);
        return false;
    }
    memcpy(out, in, strlen(in) + 1);
    return true;
}

void *bus_reply_loop(void *arg);

/* librdkafka's mock cluster names itself "mockCluster<hex>". An unreachable
 * broker reads as a real one: the long-poll defaults are the safe side. */
static bool is_mock_cluster(rd_kafka_t *rk)
{
    char *id = rd_kafka_clusterid(rk, 5000);
    bool mock = id && strncmp(id, "mockCluster", 11) == 0;
    if (!id)
        jung_log("kafka: cluster id unknown after 5 s (is the broker up?)");
    rd_kafka_mem_free(rk, id);
    return mock;
}

/* Topic names are [A-Za-z0-9._-] in Kafka; so is the prefix. */
static bool copy_prefix(jung_bus *bus, const char *prefix, jung_error *err)
{
    if (!prefix)
        prefix = "";
    size_t n = strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    if (prefix[n] || n >= sizeof bus->prefix) {
        jung_error_set(err, 400, "topic prefix '%.40s': use under %zu of A-Z a-z 0-9 . _ -", prefix,
                       sizeof bus->prefix);
        return false;
    }
    memcpy(bus->prefix, prefix, n + 1);
    return true;
}

/* "<prefix><service>_<kind>", kind "tasks" or "results". */
void bus_topic_of(const jung_bus *bus, const char *service, const char *kind, char *out,
                  size_t outlen)
{
    snprintf(out, outlen, "%s%s_%s", bus->prefix, service, kind);
}

jung_bus *jung_bus_open(const jung_bus_config *cfg, jung_error *err)
{
    jung_bus *bus = calloc(1, sizeof *bus);
    if (!bus) {
        jung_error_set(err, 500, "out of memory");
        return NULL;
    }
    pending_table_init(bus);
    const char *group = cfg->group && *cfg->group ? cfg->group : cfg->service;
    if (!copy_prefix(bus, cfg->topic_prefix, err) ||
        !copy_name(bus->service, sizeof bus->service, cfg->service, "service", err) ||
        !copy_name(bus->group, sizeof bus->group, group, "group", err) ||
        !copy_name(bus->instance, sizeof bus->instance, cfg->instance, "instance", err) ||
        !parse_broker_map(bus, cfg->broker_map, err)) {
        jung_bus_close(bus);
        return NULL;
    }
    if (!cfg->brokers || !*cfg->brokers) {
        jung_error_set(err, 400, "no Kafka bootstrap servers given (--brokers or JUNG_BROKERS)");
        jung_bus_close(bus);
        return NULL;
    }
    size_t np = strlen(bus->prefix), ng = strlen(bus->group);
    if (np + ng >= sizeof bus->group) {
        jung_error_set(err, 400, "group '%s' with topic prefix '%s' is too long", bus->group,
                       bus->prefix);
        jung_bus_close(bus);
        return NULL;
    }
    memmove(bus->group + np, bus->group, ng + 1); /* the prefix goes in front */
    memcpy(bus->group, bus->prefix, np);
    bus->workers = cfg->workers > 0 ? cfg->workers : BUS_DEFAULT_WORKERS;
    bus->call_timeout_ms = cfg->call_timeout_ms > 0 ? cfg->call_timeout_ms : BUS_DEFAULT_TIMEOUT_MS;
    char reply_group[200];
    char uuid[JUNG_UUID_LEN + 1];
    jung_uuid(uuid);
    snprintf(reply_group, sizeof reply_group, "%s-replies-%.8s", bus->instance, uuid);
    bus->producer = make_client(bus, RD_KAFKA_PRODUCER, NULL, cfg, "producer", err);
    size_t pad = 0;
    if (bus->producer && !read_pad_bytes(cfg, &pad, err)) {
        jung_bus_close(bus);
        return NULL;
    }
    if (bus->producer)
        bus->mock_broker = is_mock_cluster(bus->producer);
    if (bus->mock_broker && pad > 0) {
        bus->pad = calloc(1, pad);
        bus->pad_bytes = bus->pad ? pad : 0;
    }
    if (bus->producer)
        bus->tasks = make_client(bus, RD_KAFKA_CONSUMER, bus->group, cfg, "tasks", err);
    if (bus->tasks)
        bus->replies = make_client(bus, RD_KAFKA_CONSUMER, reply_group, cfg, "replies", err);
    if (!bus->replies) {
        jung_bus_close(bus);
        return NULL;
    }
    if (pthread_create(&bus->reply_thread, NULL, bus_reply_loop, bus) != 0) {
        jung_error_set(err, 500, "cannot start the reply thread");
        jung_bus_close(bus);
        return NULL;
    }
    bus->reply_thread_started = true;
    return bus;
}

void jung_bus_stop(jung_bus *bus)
{
    if (bus)
        atomic_store(&bus->stopping, true);
}

void bus_fail_all_pending(jung_bus *bus)
{
    pthread_mutex_lock(&bus->calls_lock);
    for (int b = 0; b < BUS_PENDING_BUCKETS; b++)
        for (pending_call *p = bus->pending[b]; p; p = p->next) {
            p->done = true;
            p->result.ok = false;
            jung_error_set(&p->result.error, 503, "the bus is shutting down");
            pthread_cond_signal(&p->cond);
        }
    pthread_mutex_unlock(&bus->calls_lock);
}

/* Leaves the group and closes, but gives up after timeout_ms: with the
 * broker gone rd_kafka_consumer_close() waits forever, and a service must
 * still exit on SIGTERM. */
static void close_consumer(rd_kafka_t *rk, bool in_group, int timeout_ms)
{
    if (in_group) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_error_t *e = rd_kafka_consumer_close_queue(rk, q);
        if (e)
            rd_kafka_error_destroy(e);
        for (int waited = 0; !e && !rd_kafka_consumer_closed(rk) && waited < timeout_ms;
             waited += 50) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
            /* Closing revokes the assignment through this queue: drop it. */
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rd_kafka_assign(rk, NULL);
            if (ev)
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
        if (rd_kafka_consumer_closed(rk)) {
            rd_kafka_destroy(rk);
            return;
        }
        jung_log("kafka: could not leave the consumer group within %d ms, closing anyway",
                 timeout_ms);
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

/* Destroys the tasks still queued for the workers when the bus stopped and
 * returns how many there were. A consumed message holds a reference to its
 * partition, and through it to the broker object inside the task consumer;
 * librdkafka's broker thread serves until the last such reference is gone,
 * so a consumer destroyed while the queue still held a task waited for it
 * forever (the service never exited on SIGTERM). They must go first. */
static size_t drop_queued_tasks(jung_bus *bus)
{
    size_t n = 0;
    pthread_mutex_lock(&bus->queue_lock);
    work_item *w = bus->head;
    bus->head = bus->tail = NULL;
    bus->queued = 0;
    pthread_mutex_unlock(&bus->queue_lock);
    for (work_item *next; w; w = next, n++) {
        next = w->next;
        rd_kafka_message_destroy(w->msg);
        free(w);
    }
    return n;
}

/* The order matters: nothing may still reference a client when it is
 * destroyed (librdkafka's rule: every message, topic and queue handle
 * first). Each step names itself to the stop watchdog (stop.c). */
void jung_bus_close(jung_bus *bus)
{
    if (!bus)
        return;
    jung_bus_stop(bus);
    bus_fail_all_pending(bus);
    jung_stop_phase("joining the reply thread");
    if (bus->reply_thread_started)
        pthread_join(bus->reply_thread, NULL);
    size_t dropped = drop_queued_tasks(bus);
    if (dropped)
        jung_log("%s: %zu queued task(s) not handled: the service is stopping", bus->instance,
                 dropped);
    jung_stop_phase("closing the reply consumer");
    if (bus->replies)
        close_consumer(bus->replies, false, 0);
    jung_stop_phase("leaving the consumer group and closing the task consumer");
    if (bus->tasks)
        close_consumer(bus->tasks, true, 3000);
    jung_stop_phase("flushing and closing the producer");
    if (bus->producer) {
        rd_kafka_flush(bus->producer, 2000);
        rd_kafka_destroy(bus->producer);
    }
    pthread_mutex_destroy(&bus->calls_lock);
    pthread_mutex_destroy(&bus->assign_lock);
    pthread_mutex_destroy(&bus->queue_lock);
    pthread_cond_destroy(&bus->queue_nonempty);
    pthread_cond_destroy(&bus->queue_nonfull);
    free(bus->pad);
    free(bus);
}

size_t jung_bus_queued(jung_bus *bus)
{
    pthread_mutex_lock(&bus->queue_lock);
    size_t n = bus->queued;
    pthread_mutex_unlock(&bus->queue_lock);
    return n;
}

const char *jung_bus_instance(const jung_bus *bus)
{
    return bus->instance;
}

bool jung_bus_stopping(const jung_bus *bus)
{
    return atomic_load(&((jung_bus *)bus)->stopping);
}

/* ---- producing ---------------------------------------------------------------- */

static bool publish_owned(jung_bus *bus, const char *topic, const char *key, char *buf, size_t len,
                          jung_error *err);

bool jung_bus_publish(jung_bus *bus, const char *topic, const char *key, json_t *message,
                      jung_error *err)
{
    char *buf = message ? json_dumps(message, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!buf) {
        jung_error_set(err, 500, "cannot serialise the message for %s", topic);
        return false;
    }
    return publish_owned(bus, topic, key, buf, strlen(buf), err);
}

bool jung_bus_publish_raw(jung_bus *bus, const char *topic, const char *bytes, size_t len,
                          jung_error *err)
{
    char *buf = malloc(len ? len : 1);
    if (!buf) {
        jung_error_set(err, 500, "out of memory");
        return false;
    }
    memcpy(buf, bytes, len);
    return publish_owned(bus, topic, NULL, buf, len, err);
}

/* Produces buf (malloc'ed, freed by librdkafka once sent). */
static bool publish_owned(jung_bus *bus, const char *topic, const char *key, char *buf, size_t len,
                          jung_error *err)
{
    rd_kafka_resp_err_t e =
        bus->pad_bytes
            ? rd_kafka_producev(
                  bus->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(buf, len),
                  RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                  RD_KAFKA_V_HEADER(MOCK_PAD_HEADER, bus->pad, (ssize_t)bus->pad_bytes),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)
            : rd_kafka_producev(bus->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(buf, len),
                                RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(buf);
        jung_error_set(err, 503, "cannot send to %s: %s", topic, rd_kafka_err2str(e));
        return false;
    }
    return true;
}

bool bus_send_task(jung_bus *bus, const char *service, const char *id, const char *type,
                   const char *reply_to, json_t *payload, jung_error *err)
{
    char topic[192];
    bus_topic_of(bus, service, "tasks", topic, sizeof topic);
    json_t *task = jung_task_build(id, type, reply_to, payload);
    if (!task) {
        jung_error_set(err, 500, "cannot build a %s task", type);
        return false;
    }
    bool ok = jung_bus_publish(bus, topic, NULL, task, err);
    json_decref(task);
    return ok;
}

bool jung_bus_send(jung_bus *bus, const char *service, const char *type, json_t *payload,
                   jung_error *err)
{
    char id[JUNG_UUID_LEN + 1];
    jung_uuid(id);
    return bus_send_task(bus, service, id, type, NULL, payload, err);
}
