/* jung-rule_engine: rules on readings (dissertation section 4.1.7).
 *
 * CREATE {device_id, owner, operator, value, command: {value}} -> rule;
 * GET {device_id} -> {rules}. Every interval it reads the latest reading of
 * each device that has rules (device_monitor LATEST) and, for each rule
 * whose condition the reading does NOT satisfy, sends COMMAND {device_id,
 * value: command.value} to device_commander: the rule states what should
 * hold, the command restores it. */
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"

#include <stdio.h>
#include <string.h>

#define SERVICE "rule_engine"
#define MAX_RULES_PER_DEVICE 100

typedef struct rule_engine {
    jung_registry *devices; /* device id -> {"owner": user, "rules": [rule...]} */
    int interval_ms;
    long long commands_sent;
} rule_engine;

/* Makes sure the device is known here and belongs to owner: the device
 * registry is asked the first time a device is seen. */
static bool check_device(rule_engine *re, jung_bus *bus, const char *id, const char *owner,
                         jung_error *err)
{
    json_t *known = jung_registry_get(re->devices, id);
    if (!known) {
        json_t *device = NULL;
        if (!jung_bus_call(bus, "device_registry", "GET", json_pack("{s:s}", "id", id), 0, &device,
                           err))
            return false;
        known = json_pack("{s:O?, s:[]}", "owner", json_object_get(device, "owner"), "rules");
        json_decref(device);
        jung_registry_insert(re->devices, id, known); /* a concurrent insert wins: same data */
    }
    const char *real_owner = json_string_value(json_object_get(known, "owner"));
    bool mine = real_owner && strcmp(real_owner, owner) == 0;
    json_decref(known);
    if (!mine)
        jung_error_set(err, 403, "device '%s' belongs to another user", id);
    return mine;
}

typedef struct append_arg {
    json_t *rule;
    bool full;
} append_arg;

static void append_rule(json_t *entry, void *arg)
{
    append_arg *a = arg;
    json_t *rules = json_object_get(entry, "rules");
    a->full = json_array_size(rules) >= MAX_RULES_PER_DEVICE;
    if (!a->full)
        json_array_append(rules, a->rule);
}

static json_t *parse_rule(const json_t *payload, const char **device_id, const char **owner,
                          jung_error *err)
{
    *device_id = jung_field_string(payload, "device_id", 64, err);
    *owner = *device_id ? jung_field_string(payload, "owner", 64, err) : NULL;
    const char *op = *owner ? json_string_value(json_object_get(payload, "operator")) : NULL;
    if (!*owner)
        return NULL;
    if (!jung_rule_operator_valid(op)) {
        jung_error_set(err, 400, "'operator' must be one of ==, !=, >, <");
        return NULL;
    }
    double value, command_value;
    const json_t *command = json_object_get(payload, "command");
    if (!jung_field_number(payload, "value", &value, err))
        return NULL;
    if (!json_is_object(command) || !jung_field_number(command, "value", &command_value, err)) {
        jung_error_set(err, 400, "'command' must be an object with a number 'value'");
        return NULL;
    }
    char id[JUNG_UUID_LEN + 1];
    jung_uuid(id);
    return json_pack("{s:s, s:s, s:s, s:O, s:{s:O}}", "id", id, "device_id", *device_id, "operator",
                     op, "value", json_object_get(payload, "value"), "command", "value",
                     json_object_get(command, "value"));
}

static bool create_rule(rule_engine *re, jung_bus *bus, const json_t *payload, json_t **data,
                        jung_error *err)
{
    const char *device_id, *owner;
    json_t *rule = parse_rule(payload, &device_id, &owner, err);
    if (!rule)
        return false;
    if (!check_device(re, bus, device_id, owner, err)) {
        json_decref(rule);
        return false;
    }
    append_arg a = {.rule = rule};
    if (!jung_registry_update(re->devices, device_id, append_rule, &a) || a.full) {
        jung_error_set(err, 409, "device '%s' already has %d rules", device_id,
                       MAX_RULES_PER_DEVICE);
        json_decref(rule);
        return false;
    }
    *data = rule;
    return true;
}

static bool get_rules(rule_engine *re, const json_t *payload, json_t **data, jung_error *err)
{
    const char *id = jung_field_string(payload, "device_id", 64, err);
    if (!id)
        return false;
    json_t *entry = jung_registry_get(re->devices, id);
    json_t *rules = entry ? json_incref(json_object_get(entry, "rules")) : json_array();
    json_decref(entry);
    *data = json_pack("{s:o}", "rules", rules);
    return true;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    rule_engine *re = ctx;
    if (strcmp(task->type, "CREATE") == 0)
        return create_rule(re, bus, task->payload, data, err);
    if (strcmp(task->type, "GET") == 0)
        return get_rules(re, task->payload, data, err);
    jung_error_set(err, 400, "rule_engine does not know task type '%s'", task->type);
    return false;
}

/* ---- the sweep ------------------------------------------------------------- */

static void collect_ruled(const char *key, json_t *entry, void *arg)
{
    json_t *rules = json_object_get(entry, "rules");
    if (json_array_size(rules) > 0)
        json_object_set(arg, key, rules);
}

/* Sends the commands of the rules a reading violates; returns how many. */
static int enforce(jung_bus *bus, const char *device_id, const json_t *rules, const json_t *reading)
{
    int sent = 0;
    size_t i;
    const json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        bool satisfied;
        jung_error err = {0};
        const char *op = json_string_value(json_object_get(rule, "operator"));
        if (!jung_rule_check(op, json_object_get(reading, "value"), json_object_get(rule, "value"),
                             &satisfied, &err)) {
            jung_log("rule %s: %s", json_string_value(json_object_get(rule, "id")), err.message);
            continue;
        }
        if (satisfied)
            continue;
        json_t *value = json_object_get(json_object_get(rule, "command"), "value");
        if (jung_bus_send(bus, "device_commander", "COMMAND",
                          json_pack("{s:s, s:O}", "device_id", device_id, "value", value), &err))
            sent++;
        else
            jung_log("rule engine: cannot command %s: %s", device_id, err.message);
    }
    return sent;
}

static void sweep(jung_bus *bus, void *ctx)
{
    rule_engine *re = ctx;
    json_t *ruled = json_object();
    jung_registry_each(re->devices, collect_ruled, ruled);
    if (json_object_size(ruled) == 0) {
        json_decref(ruled);
        return;
    }
    json_t *ids = json_array();
    const char *id;
    json_t *rules;
    json_object_foreach(ruled, id, rules) json_array_append_new(ids, json_string(id));
    json_t *latest = NULL;
    jung_error err = {0};
    if (!jung_bus_call(bus, "device_monitor", "LATEST", json_pack("{s:o}", "device_ids", ids),
                       re->interval_ms, &latest, &err)) {
        jung_log("rule engine: no readings this round: %d %s", err.code, err.message);
        json_decref(ruled);
        return;
    }
    json_t *readings = json_object_get(latest, "readings");
    json_object_foreach(ruled, id, rules)
    {
        json_t *reading = json_object_get(readings, id);
        if (reading)
            re->commands_sent += enforce(bus, id, rules, reading);
    }
    json_decref(latest);
    json_decref(ruled);
}

int main(int argc, char **argv)
{
    static const char *const callees[] = {"device_registry", "device_monitor", "!device_commander",
                                          NULL};
    const char *interval = "1000";
    jung_service_opt extra[] = {
        {"interval-ms", "JUNG_RULE_INTERVAL_MS", "how often the rules are checked", &interval},
    };
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(&opts, SERVICE,
                                       "Jung's rule engine: CREATE, GET and the periodic check "
                                       "(docs/tasks.md).",
                                       extra, 1, argc, argv))
        return opts.help ? 0 : 2;
    long interval_ms;
    if (!jung_service_parse_int(SERVICE, "--interval-ms", interval, 10, 3600000L, &interval_ms)) {
        jung_service_opts_free(&opts);
        return 2;
    }
    rule_engine re = {.devices = jung_registry_new(), .interval_ms = (int)interval_ms};
    int rc = jung_service_run(&opts, handle, &re, callees, sweep, (int)interval_ms);
    jung_log("rule engine: sent %lld commands", re.commands_sent);
    jung_registry_free(re.devices);
    jung_service_opts_free(&opts);
    return rc;
}
