/* jung-device_gateway: the simulated devices behind one gateway
 * (dissertation section 4.1.8).
 *
 * It reads device_gateway_tasks in a consumer group named after its gateway
 * id, so every gateway sees every task and keeps those addressed to it:
 * REGISTER {device_id, gateway} adds a device with the initial state,
 * COMMAND {device_id, value, gateway} sets a device's state. Every interval
 * it sends WRITE {device_id, value: state, timestamp} per device to
 * device_monitor: only commands change what the devices report. */
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVICE "device_gateway"
#define MAX_DEVICES 100000

typedef struct device_gateway {
    const char *id;
    double initial_state;
    pthread_mutex_t lock;
    json_t *states; /* device id -> state (number) */
    long long writes_sent;
} device_gateway;

static bool for_me(device_gateway *gw, const json_t *payload, jung_error *err)
{
    const char *target = jung_field_string(payload, "gateway", 64, err);
    return target && strcmp(target, gw->id) == 0;
}

static bool register_device(device_gateway *gw, const json_t *payload, jung_error *err)
{
    const char *id = jung_field_string(payload, "device_id", 64, err);
    if (!id || !for_me(gw, payload, err))
        return err->code == 0; /* another gateway's device is not an error */
    pthread_mutex_lock(&gw->lock);
    bool room = json_object_size(gw->states) < MAX_DEVICES;
    if (room && !json_object_get(gw->states, id))
        json_object_set_new(gw->states, id, jung_number(gw->initial_state));
    pthread_mutex_unlock(&gw->lock);
    if (!room)
        jung_error_set(err, 507, "gateway %s already simulates %d devices", gw->id, MAX_DEVICES);
    return room;
}

static bool command_device(device_gateway *gw, const json_t *payload, jung_error *err)
{
    const char *id = jung_field_string(payload, "device_id", 64, err);
    double value;
    if (!id || !jung_field_number(payload, "value", &value, err))
        return false;
    if (!for_me(gw, payload, err))
        return err->code == 0;
    pthread_mutex_lock(&gw->lock);
    bool known = json_object_get(gw->states, id) != NULL;
    if (known)
        json_object_set_new(gw->states, id, json_deep_copy(json_object_get(payload, "value")));
    pthread_mutex_unlock(&gw->lock);
    if (!known)
        jung_error_set(err, 404, "gateway %s has no device '%s'", gw->id, id);
    return known;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    device_gateway *gw = ctx;
    if (strcmp(task->type, "REGISTER") == 0)
        return register_device(gw, task->payload, err);
    if (strcmp(task->type, "COMMAND") == 0)
        return command_device(gw, task->payload, err);
    jung_error_set(err, 400, "device_gateway does not know task type '%s'", task->type);
    return false;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Every interval: one WRITE per device, its state as the reading. */
static void report_states(jung_bus *bus, void *ctx)
{
    device_gateway *gw = ctx;
    pthread_mutex_lock(&gw->lock);
    json_t *states = json_deep_copy(gw->states);
    pthread_mutex_unlock(&gw->lock);
    long long now = wall_ms();
    const char *id;
    json_t *state;
    json_object_foreach(states, id, state)
    {
        jung_error err = {0};
        if (jung_bus_send(bus, "device_monitor", "WRITE",
                          json_pack("{s:s, s:O, s:I}", "device_id", id, "value", state, "timestamp",
                                    (json_int_t)now),
                          &err))
            gw->writes_sent++;
        else
            jung_log("gateway %s: cannot send a reading of %s: %s", gw->id, id, err.message);
    }
    json_decref(states);
}

/* Every interval this gateway sends a burst of WRITEs (900 a second in
 * the benchmark) that nobody waits on, so its producer batches them
 * (linger.ms) into a few message sets instead of one per reading: the
 * device monitor then gets hundreds per Fetch (librdkafka's mock answers
 * one message set per partition per Fetch), and on the mock a batch needs
 * no padding (jung.mock.pad.bytes, jung/lib/bus.c) to keep the broker's
 * message-set list short. Its other messages (none are replies) can wait
 * 20 ms too. Put before the user's properties, which win. */
static bool with_batching_defaults(jung_service_opts *opts)
{
    static const char *const defaults[] = {"linger.ms=20", "jung.mock.pad.bytes=0"};
    enum { N_DEFAULTS = sizeof defaults / sizeof defaults[0] };
    const size_t cap = sizeof opts->kafka_props_store / sizeof opts->kafka_props_store[0];
    size_t n = 0;
    while (opts->kafka_props_store[n]) /* the parser points bus.kafka_props here */
        n++;
    if (n + N_DEFAULTS + 1 > cap) {
        fprintf(stderr, "jung-%s: at most %zu kafka properties\n", SERVICE, cap - N_DEFAULTS - 1);
        return false;
    }
    memmove(&opts->kafka_props_store[N_DEFAULTS], opts->kafka_props_store,
            n * sizeof opts->kafka_props_store[0]);
    for (size_t i = 0; i < N_DEFAULTS; i++)
        opts->kafka_props_store[i] = defaults[i];
    opts->kafka_props_store[n + N_DEFAULTS] = NULL;
    opts->bus.kafka_props = opts->kafka_props_store;
    return true;
}

int main(int argc, char **argv)
{
    const char *id = "gw-1", *interval = "1000", *initial = "0";
    jung_service_opt extra[] = {
        {"id", "JUNG_GATEWAY_ID", "gateway id: its devices and its consumer group", &id},
        {"interval-ms", "JUNG_INTERVAL_MS", "how often each device sends a reading", &interval},
        {"initial-state", "JUNG_INITIAL_STATE", "state of a newly registered device", &initial},
    };
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(&opts, SERVICE,
                                       "Jung's device gateway simulator: REGISTER, COMMAND and "
                                       "periodic WRITEs (docs/tasks.md).",
                                       extra, 3, argc, argv))
        return opts.help ? 0 : 2;
    long interval_ms;
    char *end;
    double initial_state = strtod(initial, &end);
    if (!jung_service_parse_int(SERVICE, "--interval-ms", interval, 10, 3600000L, &interval_ms) ||
        end == initial || *end) {
        if (end == initial || *end)
            fprintf(stderr, "jung-%s: --initial-state must be a number, got '%s'\n", SERVICE,
                    initial);
        jung_service_opts_free(&opts);
        return 2;
    }
    if (!with_batching_defaults(&opts)) {
        jung_service_opts_free(&opts);
        return 2;
    }
    device_gateway gw = {.id = id, .initial_state = initial_state, .states = json_object()};
    pthread_mutex_init(&gw.lock, NULL);
    opts.bus.group = id;
    static const char *const sends_to[] = {"!device_monitor", NULL};
    int rc = jung_service_run(&opts, handle, &gw, sends_to, report_states, (int)interval_ms);
    jung_log("gateway %s: sent %lld readings", id, gw.writes_sent);
    json_decref(gw.states);
    pthread_mutex_destroy(&gw.lock);
    jung_service_opts_free(&opts);
    return rc;
}
