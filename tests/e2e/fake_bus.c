/* fake_bus.c - an in-memory stand-in for libjung's bus, linked into a
 * test build of the API gateway (jung-api-gateway-fakebus) so the HTTP
 * layer (routing, authentication, validation, error codes, body limits,
 * malformed requests) is tested without a broker or the other services.
 *
 * It plays the services' side of docs/tasks.md with fixed data: user
 * "alice" (password "pw") owns device "lamp", user "bob" (password "pw2")
 * owns "bobcam". A task whose payload the gateway built wrongly is answered
 * with code 500, which the gateway turns into a 500 response the test sees.
 */
#include "jung/lib/jung.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct jung_bus {
    int unused;
};

static volatile sig_atomic_t stop_flag;

void jung_error_set(jung_error *err, int code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* Options as libjung takes them: the service's extras (--NAME V or
 * --NAME=V) plus --brokers/--instance, which the fake ignores. */
bool jung_service_opts_parse_extra(jung_service_opts *opts, const char *service,
                                   const char *summary, const jung_service_opt *extra, int n_extra,
                                   int argc, char **argv)
{
    memset(opts, 0, sizeof *opts);
    opts->bus.service = service;
    opts->bus.instance = "fake-1";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("%s\n", summary);
            opts->help = true;
            return false;
        }
        if ((strcmp(argv[i], "--brokers") == 0 || strcmp(argv[i], "--instance") == 0) &&
            i + 1 < argc) {
            i++;
            continue;
        }
        bool known = false;
        for (int k = 0; k < n_extra && !known; k++) {
            size_t n = strlen(extra[k].name);
            if (strncmp(argv[i], "--", 2) != 0 || strncmp(argv[i] + 2, extra[k].name, n) != 0)
                continue;
            if (argv[i][2 + n] == '=')
                *extra[k].value = argv[i] + 3 + n;
            else if (argv[i][2 + n] == '\0' && i + 1 < argc)
                *extra[k].value = argv[++i];
            else
                continue;
            known = true;
        }
        if (!known) {
            fprintf(stderr, "fake bus: unknown option %s\n", argv[i]);
            return false;
        }
    }
    return true;
}

bool jung_service_parse_int(const char *service, const char *opt, const char *value, long min,
                            long max, long *out)
{
    char *end;
    long n = strtol(value, &end, 10);
    if (end == value || *end || n < min || n > max) {
        fprintf(stderr, "jung-%s: %s must be in %ld..%ld\n", service, opt, min, max);
        return false;
    }
    *out = n;
    return true;
}

bool jung_bus_prepare_call(jung_bus *bus, const char *service, jung_error *err)
{
    return true;
}

static void (*ready_fn)(void *);
static void *ready_arg;

void jung_bus_on_ready(jung_bus *bus, void (*fn)(void *arg), void *arg)
{
    ready_fn = fn;
    ready_arg = arg;
}

void jung_service_opts_free(jung_service_opts *opts) {}

jung_bus *jung_bus_open(const jung_bus_config *cfg, jung_error *err)
{
    return calloc(1, sizeof(jung_bus));
}

/* The real stop handling (jung/lib/stop.c) is linked in; it stops the bus
 * through this. */
void jung_bus_stop(jung_bus *bus)
{
    stop_flag = 1;
}

void jung_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void jung_service_started(const char *service, const char *instance)
{
    printf("jung %s started instance=%s\n", service, instance);
    fflush(stdout);
}

void jung_service_ready(const char *service, const char *instance, const char *extra)
{
    printf("jung %s ready instance=%s %s\n", service, instance, extra ? extra : "");
    fflush(stdout);
}

bool jung_bus_serve(jung_bus *bus, jung_task_handler handler, void *ctx, jung_error *err)
{
    if (ready_fn)
        ready_fn(ready_arg);
    while (!stop_flag)
        usleep(20 * 1000);
    return true;
}

void jung_bus_close(jung_bus *bus)
{
    free(bus);
}

/* ---- the services' answers ------------------------------------------------ */

static const char *str(json_t *payload, const char *key)
{
    return json_string_value(json_object_get(payload, key));
}

static const char *owner_of(const char *device)
{
    if (strcmp(device, "lamp") == 0)
        return "alice";
    if (strcmp(device, "bobcam") == 0)
        return "bob";
    return NULL;
}

static bool auth(json_t *p, json_t **data, jung_error *err)
{
    const char *user = str(p, "username"), *pass = str(p, "password");
    if (!user || !pass)
        return jung_error_set(err, 500, "AUTH without username/password"), false;
    bool known = (strcmp(user, "alice") == 0 && strcmp(pass, "pw") == 0) ||
                 (strcmp(user, "bob") == 0 && strcmp(pass, "pw2") == 0);
    if (!known)
        return jung_error_set(err, 401, "wrong username or password"), false;
    const char *device = str(p, "device_id");
    if (device) {
        const char *owner = owner_of(device);
        if (!owner)
            return jung_error_set(err, 404, "unknown device '%s'", device), false;
        if (strcmp(owner, user) != 0)
            return jung_error_set(err, 403, "device '%s' belongs to another user", device), false;
    }
    *data = json_pack("{s:s}", "username", user);
    return true;
}

static bool user_registry(const char *type, json_t *p, json_t **data, jung_error *err)
{
    const char *user = str(p, "username");
    if (!user)
        return jung_error_set(err, 500, "user_registry %s without username", type), false;
    if (strcmp(type, "CREATE") == 0) {
        if (!str(p, "password"))
            return jung_error_set(err, 500, "CREATE without password"), false;
        if (strcmp(user, "alice") == 0 || strcmp(user, "bob") == 0)
            return jung_error_set(err, 409, "user '%s' exists", user), false;
        *data = json_pack("{s:s}", "username", user);
        return true;
    }
    if (strcmp(user, "alice") != 0)
        return jung_error_set(err, 404, "unknown user '%s'", user), false;
    *data = json_pack("{s:s, s:s, s:[s]}", "username", user, "password_hash", "$argon2id$secret",
                      "devices", "lamp");
    return true;
}

static bool device_registry(const char *type, json_t *p, json_t **data, jung_error *err)
{
    if (strcmp(type, "GET") == 0) {
        const char *id = str(p, "id");
        if (!id || !owner_of(id))
            return jung_error_set(err, 404, "unknown device"), false;
        *data = json_pack("{s:s, s:s, s:s}", "id", id, "owner", owner_of(id), "gateway", "gw-1");
        return true;
    }
    const char *owner = str(p, "owner");
    if (!owner)
        return jung_error_set(err, 500, "device CREATE without owner"), false;
    const char *id = str(p, "id") ? str(p, "id") : "00000000-0000-4000-8000-000000000000";
    if (owner_of(id))
        return jung_error_set(err, 409, "device '%s' exists", id), false;
    const char *gw = str(p, "gateway") ? str(p, "gateway") : "gw-1";
    *data = json_pack("{s:s, s:s, s:s}", "id", id, "owner", owner, "gateway", gw);
    return true;
}

static bool device_monitor(json_t *p, json_t **data, jung_error *err)
{
    json_t *page = json_object_get(p, "page"), *size = json_object_get(p, "size");
    if (!str(p, "device_id") || !json_is_integer(page) || !json_is_integer(size))
        return jung_error_set(err, 500, "READ with bad payload"), false;
    *data = json_pack("{s:[{s:i, s:I}], s:O, s:O, s:i}", "readings", "value", 0, "timestamp",
                      (json_int_t)1700000000000LL, "page", page, "size", size, "total", 1);
    return true;
}

static bool device_commander(json_t *p, json_t **data, jung_error *err)
{
    if (!str(p, "device_id") || !json_is_number(json_object_get(p, "value")))
        return jung_error_set(err, 500, "COMMAND with bad payload"), false;
    *data = json_pack("{s:s, s:O, s:s}", "device_id", str(p, "device_id"), "value",
                      json_object_get(p, "value"), "gateway", "gw-1");
    return true;
}

static bool rule_engine(const char *type, json_t *p, json_t **data, jung_error *err)
{
    if (strcmp(type, "GET") == 0) {
        *data = json_pack("{s:[]}", "rules");
        return true;
    }
    json_t *command = json_object_get(p, "command");
    if (!str(p, "device_id") || !str(p, "owner") || !str(p, "operator") ||
        !json_is_number(json_object_get(p, "value")) ||
        !json_is_number(json_object_get(command, "value")))
        return jung_error_set(err, 500, "rule CREATE with bad payload"), false;
    *data = json_deep_copy(p);
    json_object_set_new(*data, "id", json_string("rule-1"));
    return true;
}

bool jung_bus_call(jung_bus *bus, const char *service, const char *type, json_t *payload,
                   int timeout_ms, json_t **data, jung_error *err)
{
    bool ok;
    *data = NULL;
    if (strcmp(service, "auth_manager") == 0)
        ok = auth(payload, data, err);
    else if (strcmp(service, "user_registry") == 0)
        ok = user_registry(type, payload, data, err);
    else if (strcmp(service, "device_registry") == 0)
        ok = device_registry(type, payload, data, err);
    else if (strcmp(service, "device_monitor") == 0)
        ok = device_monitor(payload, data, err);
    else if (strcmp(service, "device_commander") == 0)
        ok = device_commander(payload, data, err);
    else if (strcmp(service, "rule_engine") == 0)
        ok = rule_engine(type, payload, data, err);
    else
        ok = (jung_error_set(err, 504, "%s did not answer", service), false);
    json_decref(payload);
    return ok;
}
