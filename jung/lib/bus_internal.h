/* bus_internal.h - libjung's bus state, shared by its three files and
 * internal to jung/lib: bus.c (clients, open and close, producing),
 * bus_calls.c (calls and their results) and bus_serve.c (serving tasks). */
#ifndef JUNG_BUS_INTERNAL_H
#define JUNG_BUS_INTERNAL_H

#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define BUS_MAX_LISTENERS 8
#define BUS_MAX_CALLEES 16
#define BUS_PENDING_BUCKETS 256
#define BUS_DEFAULT_WORKERS 8
#define BUS_DEFAULT_TIMEOUT_MS 5000
#define BUS_QUEUE_CAP 20000
#define BUS_POLL_MS 100
#define BUS_WORKER_STACK (256 * 1024)

typedef struct listener {
    char topic[192];
    jung_task_handler handler;
    void *ctx;
} listener;

typedef struct pending_call {
    struct pending_call *next;
    char id[JUNG_UUID_LEN + 1];
    pthread_cond_t cond;
    bool done;
    jung_result result;
} pending_call;

typedef struct work_item {
    struct work_item *next;
    rd_kafka_message_t *msg;
} work_item;

struct jung_bus {
    char service[64];
    char prefix[49]; /* jung_bus_config.topic_prefix, "" for none */
    char group[176]; /* prefix + the task group */
    char instance[128];
    char broker_from[64], broker_to[64]; /* broker_map, empty when unused */
    int workers;
    int call_timeout_ms;
    atomic_bool stopping;

    rd_kafka_t *producer;
    rd_kafka_t *tasks;   /* group consumer, subscribed in jung_bus_serve */
    rd_kafka_t *replies; /* manual assignment of results topics */

    listener listeners[BUS_MAX_LISTENERS];
    int n_listeners;

    pthread_mutex_t calls_lock;
    pending_call *pending[BUS_PENDING_BUCKETS];

    pthread_mutex_t assign_lock;
    char callees[BUS_MAX_CALLEES][160]; /* results topics assigned so far */
    int n_callees;

    pthread_t reply_thread;
    bool reply_thread_started;

    pthread_mutex_t queue_lock;
    pthread_cond_t queue_nonempty, queue_nonfull;
    work_item *head, *tail;
    size_t queued;

    /* Called once, from the poll loop, when the task consumer got its first
     * assignment: a readiness line printed earlier could let a task be sent
     * before this process reads its topic. */
    void (*on_ready)(void *arg);
    void *on_ready_arg;
    bool ready_announced;

    bool mock_broker; /* librdkafka's mock cluster: see FETCH_WAIT_MOCK */
    size_t pad_bytes; /* record header padding on the mock: see MOCK_PAD_PROP */
    char *pad;        /* pad_bytes zero bytes, shared by every message */
};

/* "<prefix><service>_<kind>": a service's tasks or results topic. */
void bus_topic_of(const jung_bus *bus, const char *service, const char *kind, char *out,
                  size_t outlen);
/* Produces a task for service; steals payload. */
bool bus_send_task(jung_bus *bus, const char *service, const char *id, const char *type,
                   const char *reply_to, json_t *payload, jung_error *err);
/* Ends every call in flight with an error (the bus is stopping). */
void bus_fail_all_pending(jung_bus *bus);
/* The results consumer's thread: hands each result to its pending call. */
void *bus_reply_loop(void *arg);
/* Opens the producer's connection for topic before the first send needs it. */
void bus_warm_producer(jung_bus *bus, const char *topic);

#endif
