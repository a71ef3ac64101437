/* jung-device_monitor: the devices' readings (dissertation section 4.1.5).
 *
 * WRITE {device_id, value, timestamp} (fire-and-forget, from the device
 * gateway) appends to the device's bounded history; READ {device_id, page,
 * size} -> {readings, page, size, total}, newest first; LATEST {device_ids}
 * -> {readings: {id: {value, timestamp}}} for the rule engine's sweep. */
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "device_monitor"
#define BUCKETS 4096
#define MAX_PAGE_SIZE 1000
#define DEFAULT_PAGE_SIZE 10
#define MAX_DEVICES 1000000

typedef struct device_history {
    struct device_history *next;
    char *id;
    jung_history readings;
} device_history;

typedef struct device_monitor {
    pthread_mutex_t lock;
    device_history *buckets[BUCKETS];
    size_t n_devices;
    size_t history_len;
} device_monitor;

static unsigned bucket_of(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % BUCKETS;
}

/* Under dm->lock. create: add an empty history for an unseen device. */
static device_history *find(device_monitor *dm, const char *id, bool create)
{
    unsigned b = bucket_of(id);
    for (device_history *d = dm->buckets[b]; d; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    if (!create || dm->n_devices >= MAX_DEVICES)
        return NULL;
    device_history *d = calloc(1, sizeof *d);
    if (!d || !(d->id = strdup(id)) || !jung_history_init(&d->readings, dm->history_len)) {
        if (d)
            free(d->id);
        free(d);
        return NULL;
    }
    d->next = dm->buckets[b];
    dm->buckets[b] = d;
    dm->n_devices++;
    return d;
}

static bool write_reading(device_monitor *dm, const json_t *payload, jung_error *err)
{
    const char *id = jung_field_string(payload, "device_id", 64, err);
    double value;
    if (!id || !jung_field_number(payload, "value", &value, err))
        return false;
    json_t *ts = json_object_get(payload, "timestamp");
    if (!json_is_integer(ts)) {
        jung_error_set(err, 400, "'timestamp' must be an integer (ms since the epoch)");
        return false;
    }
    pthread_mutex_lock(&dm->lock);
    device_history *d = find(dm, id, true);
    if (d)
        jung_history_add(&d->readings, value, (long long)json_integer_value(ts));
    pthread_mutex_unlock(&dm->lock);
    if (!d)
        jung_error_set(err, 507, "cannot keep readings of another device");
    return d != NULL;
}

static bool read_page(device_monitor *dm, const json_t *payload, json_t **data, jung_error *err)
{
    const char *id = jung_field_string(payload, "device_id", 64, err);
    long page, size;
    if (!id || !jung_page_args(payload, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, &page, &size, err))
        return false;
    pthread_mutex_lock(&dm->lock);
    device_history *d = find(dm, id, false);
    jung_history none = {0};
    *data = jung_history_page(d ? &d->readings : &none, page, size);
    pthread_mutex_unlock(&dm->lock);
    return true;
}

static bool latest(device_monitor *dm, const json_t *payload, json_t **data, jung_error *err)
{
    const json_t *ids = json_object_get(payload, "device_ids");
    if (!json_is_array(ids)) {
        jung_error_set(err, 400, "'device_ids' must be an array of device ids");
        return false;
    }
    json_t *readings = json_object();
    size_t i;
    const json_t *id;
    pthread_mutex_lock(&dm->lock);
    json_array_foreach(ids, i, id)
    {
        const char *s = json_string_value(id);
        device_history *d = s ? find(dm, s, false) : NULL;
        const jung_reading *r = d ? jung_history_at(&d->readings, 0) : NULL;
        if (r)
            json_object_set_new(readings, s,
                                json_pack("{s:o, s:I}", "value", jung_number(r->value), "timestamp",
                                          (json_int_t)r->timestamp));
    }
    pthread_mutex_unlock(&dm->lock);
    *data = json_pack("{s:o}", "readings", readings);
    return true;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    device_monitor *dm = ctx;
    if (strcmp(task->type, "WRITE") == 0)
        return write_reading(dm, task->payload, err);
    if (strcmp(task->type, "READ") == 0)
        return read_page(dm, task->payload, data, err);
    if (strcmp(task->type, "LATEST") == 0)
        return latest(dm, task->payload, data, err);
    jung_error_set(err, 400, "device_monitor does not know task type '%s'", task->type);
    return false;
}

static void free_all(device_monitor *dm)
{
    for (int b = 0; b < BUCKETS; b++)
        for (device_history *d = dm->buckets[b], *next; d; d = next) {
            next = d->next;
            jung_history_free(&d->readings);
            free(d->id);
            free(d);
        }
    pthread_mutex_destroy(&dm->lock);
}

int main(int argc, char **argv)
{
    const char *history = "100";
    jung_service_opt extra[] = {
        {"history", "JUNG_HISTORY", "readings kept per device (the oldest go first)", &history},
    };
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(
            &opts, SERVICE, "Jung's device monitor: WRITE, READ, LATEST (docs/tasks.md).", extra, 1,
            argc, argv))
        return opts.help ? 0 : 2;
    long history_len;
    if (!jung_service_parse_int(SERVICE, "--history", history, 1, 100000, &history_len)) {
        jung_service_opts_free(&opts);
        return 2;
    }
    static device_monitor dm; /* 32 KiB of buckets: not on the stack */
    pthread_mutex_init(&dm.lock, NULL);
    dm.history_len = (size_t)history_len;
    int rc = jung_service_run(&opts, handle, &dm, NULL, NULL, 0);
    free_all(&dm);
    jung_service_opts_free(&opts);
    return rc;
}
