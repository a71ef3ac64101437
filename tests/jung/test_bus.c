/* test_bus: libjung's request/reply over librdkafka's mock cluster: a call
 * gets its answer, an error result keeps its code, a service that does not
 * answer gives 504 within the timeout, fire-and-forget tasks arrive, and
 * malformed messages on the task topic are skipped without harm, and a
 * service stopped with tasks still queued closes at once. */
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"
#include "../testlib.h"
#include "mock_broker.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct echo_service {
    jung_bus *bus;
    atomic_int sends_seen;
    atomic_bool ready;
    /* HOLD tasks block their worker until released */
    pthread_mutex_t hold_lock;
    pthread_cond_t hold_cond;
    int holding;
    bool released;
} echo_service;

static bool echo_handler(void *ctx, jung_bus *bus, const jung_task *task, json_t **data,
                         jung_error *err)
{
    echo_service *svc = ctx;
    if (strcmp(task->type, "ECHO") == 0) {
        *data = json_deep_copy(task->payload);
        return true;
    }
    if (strcmp(task->type, "SLOW") == 0) {
        usleep(1500 * 1000); /* longer than the caller's timeout */
        return true;
    }
    if (strcmp(task->type, "NOTE") == 0) {
        atomic_fetch_add(&svc->sends_seen, 1);
        return true;
    }
    if (strcmp(task->type, "HOLD") == 0) {
        pthread_mutex_lock(&svc->hold_lock);
        svc->holding++;
        pthread_cond_broadcast(&svc->hold_cond);
        while (!svc->released)
            pthread_cond_wait(&svc->hold_cond, &svc->hold_lock);
        pthread_mutex_unlock(&svc->hold_lock);
        return true;
    }
    jung_error_set(err, 404, "no such thing as %s", task->type);
    return false;
}

static void mark_ready(void *arg)
{
    atomic_store(&((echo_service *)arg)->ready, true);
}

static void *serve_thread(void *arg)
{
    echo_service *svc = arg;
    jung_error err = {0};
    if (!jung_bus_serve(svc->bus, echo_handler, svc, &err))
        fprintf(stderr, "serve failed: %s\n", err.message);
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void produce_raw(jung_bus *bus, const char *topic, const char *text)
{
    jung_error err = {0};
    REQUIRE(jung_bus_publish_raw(bus, topic, text, strlen(text), &err));
}

static void *close_thread(void *arg)
{
    jung_bus_close(arg);
    return NULL;
}

/* The service stops while tasks wait in its queue (both workers busy):
 * closing the bus must still end, and quickly. A consumed message keeps
 * librdkafka's broker thread alive until it is destroyed, so a close that
 * destroyed the consumer first never returned (the shutdown hang of the
 * services). */
static void stop_with_tasks_queued(echo_service *svc, pthread_t server, jung_bus *caller)
{
    jung_error err = {0};
    for (int i = 0; i < 12; i++)
        REQUIRE(jung_bus_send(caller, "test_echo", "HOLD", json_object(), &err));
    bool queued = false;
    for (int i = 0; i < 1000 && !queued; i++) {
        pthread_mutex_lock(&svc->hold_lock);
        queued = svc->holding == 2 && jung_bus_queued(svc->bus) == 10;
        pthread_mutex_unlock(&svc->hold_lock);
        if (!queued)
            usleep(10 * 1000);
    }
    REQUIRE(queued);
    jung_bus_stop(svc->bus);
    pthread_mutex_lock(&svc->hold_lock);
    svc->released = true;
    pthread_cond_broadcast(&svc->hold_cond);
    pthread_mutex_unlock(&svc->hold_lock);
    pthread_join(server, NULL);
    REQUIRE(jung_bus_queued(svc->bus) == 10);
    pthread_t closer;
    double t0 = now_ms();
    REQUIRE(pthread_create(&closer, NULL, close_thread, svc->bus) == 0);
    for (;;) {
        if (pthread_tryjoin_np(closer, NULL) == 0)
            break;
        if (now_ms() - t0 > 10000) {
            fprintf(stderr, "FAIL: jung_bus_close did not return within 10 s with 10 tasks "
                            "queued\n");
            _exit(1);
        }
        usleep(5 * 1000);
    }
    printf("closed with 10 tasks queued in %.0f ms\n", now_ms() - t0);
}

/* A consumer of every partition of topic from its current end. */
static rd_kafka_t *tail_topic(const char *brokers, const char *topic)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) == 0);
    REQUIRE(rd_kafka_conf_set(conf, "group.id", "test-tail", errstr, sizeof errstr) == 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    REQUIRE(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++) {
        int64_t low, high;
        REQUIRE(rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 5000) == 0);
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = high;
    }
    REQUIRE(rd_kafka_assign(rk, parts) == 0);
    rd_kafka_topic_partition_list_destroy(parts);
    return rk;
}

/* A task asking for its answer on a topic of its own choosing is answered
 * on the service's results topic, and that other topic is never created. */
static void reply_only_to_own_results(const char *brokers, jung_bus *caller)
{
    rd_kafka_t *tail = tail_topic(brokers, "test_echo_results");
    produce_raw(caller, "test_echo_tasks",
                "{\"v\":1,\"id\":\"evil-1\",\"type\":\"ECHO\",\"reply_to\":\"../../etc/passwd\","
                "\"payload\":{\"x\":1}}");
    bool answered = false;
    for (double t0 = now_ms(); !answered && now_ms() - t0 < 10000;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(tail, 100);
        if (m && !m->err && m->len && strstr((const char *)m->payload, "\"evil-1\""))
            answered = true;
        if (m)
            rd_kafka_message_destroy(m);
    }
    REQUIRE(answered);
    /* All topics, not that one by name: the mock creates any topic a
     * metadata request names. */
    const struct rd_kafka_metadata *md = NULL;
    REQUIRE(rd_kafka_metadata(tail, 1, NULL, &md, 5000) == 0);
    for (int t = 0; t < md->topic_cnt; t++)
        REQUIRE(strcmp(md->topics[t].topic, "../../etc/passwd") != 0);
    REQUIRE(md->topic_cnt >= 2); /* the listing itself worked */
    rd_kafka_metadata_destroy(md);
    rd_kafka_consumer_close(tail);
    rd_kafka_destroy(tail);
    printf("a task naming reply_to '../../etc/passwd' was answered on test_echo_results\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    mock_broker mb;
    if (!mock_broker_start(&mb, 2)) {
        printf("SKIP: cannot start librdkafka's mock cluster\n");
        return 77;
    }
    jung_error err = {0};
    jung_bus_config scfg = {
        .service = "test_echo", .instance = "echo-1", .brokers = mb.bootstrap, .workers = 2};
    echo_service svc = {0};
    pthread_mutex_init(&svc.hold_lock, NULL);
    pthread_cond_init(&svc.hold_cond, NULL);
    svc.bus = jung_bus_open(&scfg, &err);
    REQUIRE(svc.bus);
    jung_bus_on_ready(svc.bus, mark_ready, &svc);
    pthread_t server;
    REQUIRE(pthread_create(&server, NULL, serve_thread, &svc) == 0);
    for (int i = 0; i < 3000 && !atomic_load(&svc.ready); i++)
        usleep(10 * 1000);
    REQUIRE(atomic_load(&svc.ready));

    jung_bus_config ccfg = {.service = "api_gateway",
                            .instance = "caller-1",
                            .brokers = mb.bootstrap,
                            .call_timeout_ms = 3000};
    jung_bus *caller = jung_bus_open(&ccfg, &err);
    REQUIRE(caller);

    /* Malformed messages first: the service must skip them and keep serving. */
    produce_raw(caller, "test_echo_tasks", "[1,2,3]");
    char deep[4100 + 64];
    int off = sprintf(deep, "{\"v\":1,\"id\":\"d\",\"type\":\"ECHO\",\"payload\":{\"x\":");
    memset(deep + off, '[', 2040);
    memset(deep + off + 2040, ']', 2040);
    strcpy(deep + off + 4080, "}}");
    produce_raw(caller, "test_echo_tasks", deep); /* jansson accepts it; a worker stack would not */
    produce_raw(caller, "test_echo_tasks", "{\"v\":1, \"id\": \xff");
    produce_raw(caller, "test_echo_tasks", "");
    produce_raw(caller, "test_echo_tasks", "{\"v\":1,\"type\":\"ECHO\",\"payload\":{}}");
    produce_raw(caller, "test_echo_tasks",
                "{\"v\":2,\"id\":\"x\",\"type\":\"ECHO\",\"payload\":{}}");
    produce_raw(caller, "test_echo_tasks",
                "{\"v\":1,\"id\":\"x\",\"type\":\"ECHO\",\"payload\":3}");

    /* Request/reply, and its latency through the mock broker. */
    double lat[40];
    for (int i = 0; i < 40; i++) {
        json_t *data = NULL;
        double t0 = now_ms();
        REQUIRE(
            jung_bus_call(caller, "test_echo", "ECHO", json_pack("{s:i}", "n", i), 0, &data, &err));
        lat[i] = now_ms() - t0;
        REQUIRE(json_integer_value(json_object_get(data, "n")) == i);
        json_decref(data);
    }
    qsort(lat, 40, sizeof lat[0], cmp_double);
    printf("request/reply through the mock broker: median %.2f ms, max %.2f ms\n", lat[20],
           lat[39]);

    /* Malformed and unclaimed results on the results topic (which the caller
     * reads now) are skipped; calls keep working. */
    produce_raw(caller, "test_echo_results", "\"not a result\"");
    produce_raw(caller, "test_echo_results", "{\"v\":1,\"task_id\":\"nobody\",\"status\":\"ok\"}");
    produce_raw(caller, "test_echo_results", "{\"v\":1,\"task_id\":");
    json_t *again = NULL;
    REQUIRE(jung_bus_call(caller, "test_echo", "ECHO", json_object(), 0, &again, &err));
    json_decref(again);

    json_t *data = NULL;
    /* A task the service cannot parse but that says where to answer gets a
     * 400 at once (here: payload not an object), not a 504 later. */
    double t_bad = now_ms();
    REQUIRE(!jung_bus_call(caller, "test_echo", "ECHO", json_integer(7), 3000, &data, &err));
    REQUIRE(err.code == 400 && strstr(err.message, "payload"));
    REQUIRE(now_ms() - t_bad < 2500);

    /* An error result keeps its code and message. */
    REQUIRE(!jung_bus_call(caller, "test_echo", "MISSING", json_object(), 0, &data, &err));
    REQUIRE(err.code == 404 && strstr(err.message, "MISSING"));
    REQUIRE(data == NULL);

    /* A service that does not answer in time: 504, without waiting much longer. */
    double t0 = now_ms();
    REQUIRE(!jung_bus_call(caller, "test_echo", "SLOW", json_object(), 500, &data, &err));
    double waited = now_ms() - t0;
    REQUIRE(err.code == 504);
    REQUIRE(waited >= 450 && waited < 1400);

    /* Fire-and-forget tasks arrive. */
    for (int i = 0; i < 5; i++)
        REQUIRE(jung_bus_send(caller, "test_echo", "NOTE", json_object(), &err));
    for (int i = 0; i < 500 && atomic_load(&svc.sends_seen) < 5; i++)
        usleep(10 * 1000);
    REQUIRE(atomic_load(&svc.sends_seen) == 5);

    /* A call to a service whose topics do not exist fails cleanly. */
    REQUIRE(!jung_bus_call(caller, "no_such_service", "GET", json_object(), 300, &data, &err));
    REQUIRE(err.code == 503 || err.code == 504);

    reply_only_to_own_results(mb.bootstrap, caller);
    stop_with_tasks_queued(&svc, server, caller);
    jung_bus_close(caller);
    mock_broker_stop(&mb);
    printf("ok\n");
    return 0;
}
