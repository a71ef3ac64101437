/* jung-device_commander: commands to devices (dissertation section 4.1.6).
 *
 * COMMAND {device_id, value} -> {device_id, value, gateway}: looks up the
 * device's gateway in device_registry (and caches it: a device never changes
 * gateway through Jung's API), then publishes COMMAND {device_id, value,
 * gateway} on device_gateway_tasks, where the gateway with that id picks it
 * up. */
#include "jung/lib/jung.h"

#include <stdio.h>
#include <string.h>

#define SERVICE "device_commander"

typedef struct device_commander {
    jung_registry *gateways; /* device id -> {"gateway": id} */
} device_commander;

static char *gateway_of(device_commander *dc, jung_bus *bus, const char *id, jung_error *err)
{
    json_t *cached = jung_registry_get(dc->gateways, id);
    json_t *device = NULL;
    if (!cached) {
        if (!jung_bus_call(bus, "device_registry", "GET", json_pack("{s:s}", "id", id), 0, &device,
                           err))
            return NULL;
        cached = json_pack("{s:O?}", "gateway", json_object_get(device, "gateway"));
        json_decref(device);
        if (!cached || !json_is_string(json_object_get(cached, "gateway"))) {
            json_decref(cached);
            jung_error_set(err, 502, "device_registry returned device '%s' without a gateway", id);
            return NULL;
        }
        jung_registry_insert(dc->gateways, id, cached);
    }
    char *gateway = strdup(json_string_value(json_object_get(cached, "gateway")));
    json_decref(cached);
    return gateway;
}

static bool command(device_commander *dc, jung_bus *bus, const json_t *payload, json_t **data,
                    jung_error *err)
{
    const char *id = jung_field_string(payload, "device_id", 64, err);
    json_t *value = json_object_get(payload, "value");
    if (id && !json_is_number(value)) {
        jung_error_set(err, 400, "'value' must be a number");
        return false;
    }
    char *gateway = id ? gateway_of(dc, bus, id, err) : NULL;
    if (!gateway)
        return false;
    json_t *cmd = json_pack("{s:s, s:O, s:s}", "device_id", id, "value", value, "gateway", gateway);
    free(gateway);
    if (!jung_bus_send(bus, "device_gateway", "COMMAND", json_incref(cmd), err)) {
        json_decref(cmd);
        return false;
    }
    *data = cmd;
    return true;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    if (strcmp(task->type, "COMMAND") == 0)
        return command(ctx, bus, task->payload, data, err);
    jung_error_set(err, 400, "device_commander does not know task type '%s'", task->type);
    return false;
}

int main(int argc, char **argv)
{
    static const char *const callees[] = {"device_registry", "!device_gateway", NULL};
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(&opts, SERVICE,
                                       "Jung's device commander: COMMAND (docs/tasks.md).", NULL, 0,
                                       argc, argv))
        return opts.help ? 0 : 2;
    device_commander dc = {.gateways = jung_registry_new()};
    int rc = jung_service_run(&opts, handle, &dc, callees, NULL, 0);
    jung_registry_free(dc.gateways);
    jung_service_opts_free(&opts);
    return rc;
}
