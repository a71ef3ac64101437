/* bus_serve.c - a service serving its tasks: the task consumer's poll
 * loop, the worker queue and the workers that run the handlers and send
 * each result to the caller's results topic (bus_internal.h). */
#include "jung/lib/bus_internal.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- serving tasks ------------------------------------------------------------ */

bool jung_bus_listen(jung_bus *bus, const char *topic, jung_task_handler handler, void *ctx,
                     jung_error *err)
{
    if (bus->n_listeners >= BUS_MAX_LISTENERS || !topic ||
        strlen(topic) >= sizeof bus->listeners[0].topic) {
        jung_error_set(err, 400, "cannot listen to '%s': at most %d topics, names under %zu",
                       topic ? topic : "(null)", BUS_MAX_LISTENERS, sizeof bus->listeners[0].topic);
        return false;
    }
    listener *l = &bus->listeners[bus->n_listeners++];
    snprintf(l->topic, sizeof l->topic, "%s", topic);
    l->handler = handler;
    l->ctx = ctx;
    return true;
}

static const listener *listener_for(const jung_bus *bus, const char *topic)
{
    for (int i = 0; i < bus->n_listeners; i++)
        if (strcmp(bus->listeners[i].topic, topic) == 0)
            return &bus->listeners[i];
    return NULL;
}

static void enqueue(jung_bus *bus, rd_kafka_message_t *m)
{
    work_item *w = malloc(sizeof *w);
    if (!w) {
        jung_log("%s: out of memory, dropped a task", bus->instance);
        rd_kafka_message_destroy(m);
        return;
    }
    w->msg = m;
    w->next = NULL;
    pthread_mutex_lock(&bus->queue_lock);
    /* Backpressure: stop polling while the workers are this far behind. */
    while (bus->queued >= BUS_QUEUE_CAP && !atomic_load(&bus->stopping)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&bus->queue_nonfull, &bus->queue_lock, &ts);
    }
    if (bus->tail)
        bus->tail->next = w;
    else
        bus->head = w;
    bus->tail = w;
    bus->queued++;
    pthread_cond_signal(&bus->queue_nonempty);
    pthread_mutex_unlock(&bus->queue_lock);
}

/* Blocks for the next message; NULL once the bus stops. */
static rd_kafka_message_t *dequeue(jung_bus *bus)
{
    pthread_mutex_lock(&bus->queue_lock);
    while (!bus->head && !atomic_load(&bus->stopping))
        pthread_cond_wait(&bus->queue_nonempty, &bus->queue_lock);
    work_item *w = atomic_load(&bus->stopping) ? NULL : bus->head;
    if (w) {
        bus->head = w->next;
        if (!bus->head)
            bus->tail = NULL;
        bus->queued--;
        pthread_cond_signal(&bus->queue_nonfull);
    }
    pthread_mutex_unlock(&bus->queue_lock);
    if (!w)
        return NULL;
    rd_kafka_message_t *m = w->msg;
    free(w);
    return m;
}

/* Results go to this service's own `<service>_results`, whatever the
 * task's reply_to says: a task must not make a service write to (or, on a
 * broker that auto-creates, create) a topic of the sender's choosing. A
 * task naming another topic is logged and answered on ours, where a
 * legitimate caller reads. */
static void reply(jung_bus *bus, const jung_task *task, bool ok, json_t *data,
                  const jung_error *herr)
{
    char own_results[192];
    bus_topic_of(bus, bus->service, "results", own_results, sizeof own_results);
    if (strcmp(task->reply_to, own_results) != 0)
        jung_log("%s: task %s asked for its answer on '%.64s': answered on %s (results go only "
                 "to the callee's topic)",
                 bus->instance, task->id, task->reply_to, own_results);
    json_t *result = jung_result_build(task->id, ok, data, herr);
    jung_error err = {0};
    if (!result || !jung_bus_publish(bus, own_results, task->id, result, &err))
        jung_log("%s: cannot answer task %s on %s: %s", bus->instance, task->id, own_results,
                 err.message);
    json_decref(result);
}

/* A task that fails to parse but still names its id and asks for an answer
 * on this service's results topic gets its 400 at once instead of making
 * the caller wait for its timeout. Answers go nowhere else: a malformed
 * message must not make a service write to arbitrary topics. */
static void answer_malformed(jung_bus *bus, const rd_kafka_message_t *m, const jung_error *why)
{
    char own_results[192];
    bus_topic_of(bus, bus->service, "results", own_results, sizeof own_results);
    if (!m->payload || !jung_json_depth_ok(m->payload, m->len, JUNG_MAX_JSON_DEPTH))
        return;
    json_t *root = json_loadb(m->payload, m->len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "id"));
    const char *reply_to = json_string_value(json_object_get(root, "reply_to"));
    if (id && *id && strlen(id) <= JUNG_UUID_LEN && reply_to &&
        strcmp(reply_to, own_results) == 0) {
        jung_task task;
        memset(&task, 0, sizeof task);
        memcpy(task.id, id, strlen(id) + 1);
        memcpy(task.reply_to, own_results, strlen(own_results) + 1);
        reply(bus, &task, false, NULL, why);
    }
    json_decref(root);
}

static void handle_message(jung_bus *bus, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    const listener *l = listener_for(bus, topic);
    if (!l) {
        jung_log("%s: no handler for topic %s", bus->instance, topic);
        return;
    }
    jung_task task;
    json_t *root = NULL;
    jung_error err = {0};
    if (!jung_task_parse(m->payload, m->len, &task, &root, &err)) {
        jung_log("%s: skipped a malformed task on %s at offset %lld: %s", bus->instance, topic,
                 (long long)m->offset, err.message);
        answer_malformed(bus, m, &err);
        return;
    }
    json_t *data = NULL;
    bool ok = l->handler(l->ctx, bus, &task, &data, &err);
    if (!ok && !err.code)
        jung_error_set(&err, 500, "%s failed without saying why", task.type);
    if (task.reply_to[0])
        reply(bus, &task, ok, data, &err);
    else {
        if (!ok)
            jung_log("%s: %s task %s failed: %d %s", bus->instance, task.type, task.id, err.code,
                     err.message);
        json_decref(data);
    }
    json_decref(root);
}

static void *worker_loop(void *arg)
{
    jung_bus *bus = arg;
    rd_kafka_message_t *m;
    while ((m = dequeue(bus))) {
        handle_message(bus, m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static bool subscribe_tasks(jung_bus *bus, jung_error *err)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(bus->n_listeners);
    for (int i = 0; i < bus->n_listeners; i++)
        rd_kafka_topic_partition_list_add(topics, bus->listeners[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(bus->tasks, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        jung_error_set(err, 500, "cannot subscribe to the task topics: %s", rd_kafka_err2str(e));
        return false;
    }
    return true;
}

static void poll_tasks(jung_bus *bus)
{
    while (!atomic_load(&bus->stopping)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(bus->tasks, BUS_POLL_MS);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                jung_log("%s: task consumer: %s", bus->instance, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        enqueue(bus, m);
    }
}

bool jung_bus_serve(jung_bus *bus, jung_task_handler handler, void *ctx, jung_error *err)
{
    char topic[192];
    bus_topic_of(bus, bus->service, "tasks", topic, sizeof topic);
    if (!listener_for(bus, topic) && !jung_bus_listen(bus, topic, handler, ctx, err))
        return false;
    if (!subscribe_tasks(bus, err))
        return false;
    bus_topic_of(bus, bus->service, "results", topic, sizeof topic);
    bus_warm_producer(bus, topic); /* where this service's answers go */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, BUS_WORKER_STACK);
    pthread_t *threads = calloc((size_t)bus->workers, sizeof *threads);
    int started = 0;
    while (threads && started < bus->workers &&
           pthread_create(&threads[started], &attr, worker_loop, bus) == 0)
        started++;
    pthread_attr_destroy(&attr);
    bool ok = started > 0;
    if (ok)
        poll_tasks(bus);
    else
        jung_error_set(err, 500, "cannot start worker threads");
    atomic_store(&bus->stopping, true);
    pthread_mutex_lock(&bus->queue_lock);
    pthread_cond_broadcast(&bus->queue_nonempty);
    pthread_mutex_unlock(&bus->queue_lock);
    bus_fail_all_pending(bus); /* workers blocked in calls return at once */
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    return ok;
}

void jung_bus_on_ready(jung_bus *bus, void (*fn)(void *arg), void *arg)
{
    bus->on_ready = fn;
    bus->on_ready_arg = arg;
}
