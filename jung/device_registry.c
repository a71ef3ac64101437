/* jung-device_registry: Jung's devices (dissertation section 4.1.4).
 *
 * Tasks: CREATE {owner, id?, gateway?} -> {id, owner, gateway}, which also
 * tells the user registry (ADD_DEVICE, request/reply, so the user's device
 * list is up to date when CREATE answers) and the device's gateway
 * (REGISTER, fire-and-forget); GET {id} -> device. */
#include "jung/lib/jung.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define SERVICE "device_registry"
#define MAX_ID 64
#define DEFAULT_GATEWAY "gw-1"

typedef struct device_registry {
    jung_registry *devices;
} device_registry;

/* Device and gateway ids end up in URLs and log lines: keep them plain. */
static bool plain_id(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.:", *s))
            return false;
    return true;
}

static const char *optional_id(const json_t *payload, const char *name, const char *def,
                               jung_error *err)
{
    if (!json_object_get(payload, name) || json_is_null(json_object_get(payload, name)))
        return def;
    const char *s = jung_field_string(payload, name, MAX_ID, err);
    if (s && !plain_id(s)) {
        jung_error_set(err, 400, "'%s' may only hold letters, digits and -_.:", name);
        return NULL;
    }
    return s;
}

/* Links the device to its owner; undoes the insert when that fails so a
 * retry with the same id is not refused as a duplicate. */
static bool link_owner(device_registry *dr, jung_bus *bus, const char *id, const char *owner,
                       jung_error *err)
{
    json_t *reply = NULL;
    bool ok =
        jung_bus_call(bus, "user_registry", "ADD_DEVICE",
                      json_pack("{s:s, s:s}", "username", owner, "device_id", id), 0, &reply, err);
    json_decref(reply);
    if (!ok)
        jung_registry_remove(dr->devices, id);
    return ok;
}

static bool create_device(device_registry *dr, jung_bus *bus, const json_t *payload, json_t **data,
                          jung_error *err)
{
    char uuid[JUNG_UUID_LEN + 1];
    jung_uuid(uuid);
    const char *owner = jung_field_string(payload, "owner", 64, err);
    const char *id = owner ? optional_id(payload, "id", uuid, err) : NULL;
    const char *gateway = id ? optional_id(payload, "gateway", DEFAULT_GATEWAY, err) : NULL;
    if (!gateway)
        return false;
    json_t *device = json_pack("{s:s, s:s, s:s}", "id", id, "owner", owner, "gateway", gateway);
    if (!jung_registry_insert(dr->devices, id, device)) {
        json_decref(device);
        jung_error_set(err, 409, "device '%s' already exists", id);
        return false;
    }
    if (!link_owner(dr, bus, id, owner, err)) {
        json_decref(device);
        return false;
    }
    jung_error send_err = {0};
    if (!jung_bus_send(bus, "device_gateway", "REGISTER",
                       json_pack("{s:s, s:s}", "device_id", id, "gateway", gateway), &send_err))
        jung_log("%s: cannot tell gateway %s about device %s: %s", jung_bus_instance(bus), gateway,
                 id, send_err.message);
    *data = device;
    return true;
}

static bool get_device(device_registry *dr, const json_t *payload, json_t **data, jung_error *err)
{
    const char *id = jung_field_string(payload, "id", MAX_ID, err);
    if (!id)
        return false;
    *data = jung_registry_get(dr->devices, id);
    if (!*data) {
        jung_error_set(err, 404, "unknown device '%s'", id);
        return false;
    }
    return true;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    device_registry *dr = ctx;
    if (strcmp(task->type, "CREATE") == 0)
        return create_device(dr, bus, task->payload, data, err);
    if (strcmp(task->type, "GET") == 0)
        return get_device(dr, task->payload, data, err);
    jung_error_set(err, 400, "device_registry does not know task type '%s'", task->type);
    return false;
}

int main(int argc, char **argv)
{
    static const char *const callees[] = {"user_registry", "!device_gateway", NULL};
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(&opts, SERVICE,
                                       "Jung's device registry: CREATE, GET (docs/tasks.md).", NULL,
                                       0, argc, argv))
        return opts.help ? 0 : 2;
    device_registry dr = {.devices = jung_registry_new()};
    int rc = jung_service_run(&opts, handle, &dr, callees, NULL, 0);
    jung_registry_free(dr.devices);
    jung_service_opts_free(&opts);
    return rc;
}
