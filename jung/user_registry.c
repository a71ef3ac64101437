/* jung-user_registry: Jung's users (dissertation section 4.1.3).
 *
 * Tasks: CREATE {username, password} -> {username}; GET {username} ->
 * {username, password_hash, devices}; ADD_DEVICE {username, device_id} ->
 * {username, devices}. Only a libsodium crypto_pwhash_str (Argon2id) hash of
 * the password is kept. */
#include "jung/lib/jung.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SERVICE "user_registry"
#define MAX_USERNAME 64
#define MAX_PASSWORD JUNG_MAX_PASSWORD
#define HASH_OPSLIMIT JUNG_PWHASH_OPSLIMIT /* cost: see jung.h */
#define HASH_MEMLIMIT JUNG_PWHASH_MEMLIMIT

typedef struct user_registry {
    jung_registry *users;
    long max_devices; /* per user (--max-devices-per-user) */
} user_registry;

static bool create_user(user_registry *ur, const json_t *payload, json_t **data, jung_error *err)
{
    const char *username = jung_field_string(payload, "username", MAX_USERNAME, err);
    const char *password =
        username ? jung_field_string(payload, "password", MAX_PASSWORD, err) : NULL;
    if (!password)
        return false;
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, strlen(password), HASH_OPSLIMIT, HASH_MEMLIMIT) != 0) {
        jung_error_set(err, 500, "cannot hash the password (out of memory)");
        return false;
    }
    json_t *user =
        json_pack("{s:s, s:s, s:[]}", "username", username, "password_hash", hash, "devices");
    bool fresh = jung_registry_insert(ur->users, username, user);
    json_decref(user);
    if (!fresh) {
        jung_error_set(err, 409, "user '%s' already exists", username);
        return false;
    }
    *data = json_pack("{s:s}", "username", username);
    return true;
}

static bool get_user(user_registry *ur, const json_t *payload, json_t **data, jung_error *err)
{
    const char *username = jung_field_string(payload, "username", MAX_USERNAME, err);
    if (!username)
        return false;
    *data = jung_registry_get(ur->users, username);
    if (!*data) {
        jung_error_set(err, 404, "unknown user '%s'", username);
        return false;
    }
    return true;
}

typedef struct device_append {
    const char *device;
    long max;
    bool full; /* out: the user already had max devices */
} device_append;

/* Runs under the registry's lock, so the limit holds under concurrent
 * CREATEs. Each device costs the device monitor and gateway a WRITE per
 * reading interval for good, so one user cannot add them without bound. */
static void append_device(json_t *user, void *arg)
{
    device_append *a = arg;
    json_t *devices = json_object_get(user, "devices");
    size_t i;
    json_t *d;
    json_array_foreach(devices, i, d) if (strcmp(json_string_value(d), a->device) == 0) return;
    a->full = (long)json_array_size(devices) >= a->max;
    if (!a->full)
        json_array_append_new(devices, json_string(a->device));
}

static bool add_device(user_registry *ur, const json_t *payload, json_t **data, jung_error *err)
{
    const char *username = jung_field_string(payload, "username", MAX_USERNAME, err);
    const char *device = username ? jung_field_string(payload, "device_id", 128, err) : NULL;
    if (!device)
        return false;
    device_append a = {.device = device, .max = ur->max_devices};
    if (!jung_registry_update(ur->users, username, append_device, &a)) {
        jung_error_set(err, 404, "unknown user '%s'", username);
        return false;
    }
    if (a.full) {
        jung_error_set(err, 409, "user '%s' already has %ld devices, the most one user may have",
                       username, ur->max_devices);
        return false;
    }
    json_t *user = jung_registry_get(ur->users, username);
    *data =
        json_pack("{s:s, s:O}", "username", username, "devices", json_object_get(user, "devices"));
    json_decref(user);
    return true;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    user_registry *ur = ctx;
    if (strcmp(task->type, "CREATE") == 0)
        return create_user(ur, task->payload, data, err);
    if (strcmp(task->type, "GET") == 0)
        return get_user(ur, task->payload, data, err);
    if (strcmp(task->type, "ADD_DEVICE") == 0)
        return add_device(ur, task->payload, data, err);
    jung_error_set(err, 400, "user_registry does not know task type '%s'", task->type);
    return false;
}

int main(int argc, char **argv)
{
    const char *max_devices = "1000";
    jung_service_opt extra[] = {
        {"max-devices-per-user", "JUNG_MAX_DEVICES_PER_USER",
         "devices one user may own; past it CREATE gets 409", &max_devices},
    };
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(
            &opts, SERVICE, "Jung's user registry: CREATE, GET, ADD_DEVICE (docs/tasks.md).", extra,
            1, argc, argv))
        return opts.help ? 0 : 2;
    user_registry ur = {.users = NULL};
    if (!jung_service_parse_int(SERVICE, "--max-devices-per-user", max_devices, 1, 10000000,
                                &ur.max_devices)) {
        jung_service_opts_free(&opts);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "jung-%s: libsodium failed to initialise\n", SERVICE);
        jung_service_opts_free(&opts);
        return 1;
    }
    ur.users = jung_registry_new();
    int rc = jung_service_run(&opts, handle, &ur, NULL, NULL, 0);
    jung_registry_free(ur.users);
    jung_service_opts_free(&opts);
    return rc;
}
