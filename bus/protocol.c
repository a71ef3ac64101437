/* protocol.c - encoding and validating controller/runner messages. */
#include "bus/bus.h"

#include "cli/cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

static const char *const type_names[JB_MSG_TYPES] = {"RUN",   "READY",     "STOP", "RESULTS",
                                                     "ERROR", "HEARTBEAT", "ROWS"};

const char *jb_msg_type_name(jb_msg_type type)
{
    return (unsigned)type < JB_MSG_TYPES ? type_names[type] : NULL;
}

static bool set_field(char *dst, size_t dstlen, const char *value, const char *name, char *err,
                      size_t errlen)
{
    if (!value || strlen(value) >= dstlen) {
        snprintf(err, errlen, "field '%s' is %s (at most %zu characters)", name,
                 value ? "too long" : "missing", dstlen - 1);
        return false;
    }
    memcpy(dst, value, strlen(value) + 1);
    return true;
}

bool jb_msg_init(jb_msg *msg, jb_msg_type type, const char *run_id, const char *platform,
                 long iteration, const char *runner, char *err, size_t errlen)
{
    memset(msg, 0, sizeof *msg);
    if (!jb_msg_type_name(type))
        return snprintf(err, errlen, "unknown message type %d", (int)type), false;
    msg->version = JB_PROTOCOL_VERSION;
    msg->type = type;
    msg->iteration = iteration;
    msg->sent_ms = jb_wall_ms();
    uuid_t id;
    uuid_generate(id);
    uuid_unparse_lower(id, msg->msg_id);
    if (!set_field(msg->run_id, sizeof msg->run_id, run_id, "run_id", err, errlen) ||
        !set_field(msg->platform, sizeof msg->platform, platform, "platform", err, errlen) ||
        !set_field(msg->runner, sizeof msg->runner, runner, "runner", err, errlen))
        return false;
    msg->body = json_object();
    return msg->body != NULL;
}

void jb_msg_clear(jb_msg *msg)
{
    json_decref(msg->body);
    memset(msg, 0, sizeof *msg);
}

char *jb_msg_encode(const jb_msg *msg)
{
    json_t *o = json_deep_copy(msg->body ? msg->body : json_object());
    if (!o)
        return NULL;
    json_object_set_new(o, "version", json_integer(msg->version));
    json_object_set_new(o, "type", json_string(jb_msg_type_name(msg->type)));
    json_object_set_new(o, "run_id", json_string(msg->run_id));
    json_object_set_new(o, "platform", json_string(msg->platform));
    json_object_set_new(o, "iteration", json_integer(msg->iteration));
    json_object_set_new(o, "runner", json_string(msg->runner));
    json_object_set_new(o, "msg_id", json_string(msg->msg_id));
    json_object_set_new(o, "sent_ms", json_real(msg->sent_ms));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* ---- validation ------------------------------------------------------------ */

typedef struct field_rule {
    const char *name;
    json_type type; /* JSON_REAL stands for any number */
} field_rule;

/* Required body fields per type; NULL-name terminated. */
static const field_rule run_fields[] = {
    {"config", JSON_STRING}, {"results_db", JSON_STRING}, {NULL, 0}};
static const field_rule ready_fields[] = {
    {"endpoint", JSON_STRING}, {"accel", JSON_STRING}, {"services", JSON_ARRAY}, {NULL, 0}};
static const field_rule stop_fields[] = {{"reason", JSON_STRING}, {NULL, 0}};
static const field_rule results_fields[] = {{"results_db", JSON_STRING},
                                            {"metrics", JSON_ARRAY},
                                            {"metric_samples", JSON_INTEGER},
                                            {NULL, 0}};
static const field_rule error_fields[] = {
    {"message", JSON_STRING}, {"service", JSON_STRING}, {"phase", JSON_STRING}, {NULL, 0}};
static const field_rule heartbeat_fields[] = {{"state", JSON_STRING}, {NULL, 0}};
static const field_rule rows_fields[] = {{"table", JSON_STRING},
                                         {"part", JSON_INTEGER},
                                         {"parts", JSON_INTEGER},
                                         {"rows", JSON_ARRAY},
                                         {NULL, 0}};

static const field_rule *const type_fields[JB_MSG_TYPES] = {
    run_fields,   ready_fields,     stop_fields, results_fields,
    error_fields, heartbeat_fields, rows_fields};

static const char *json_type_word(json_type type)
{
    switch (type) {
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_ARRAY:
        return "an array";
    case JSON_OBJECT:
        return "an object";
    default:
        return "a boolean";
    }
}

static bool has_type(const json_t *v, json_type type)
{
    if (!v)
        return false;
    if (type == JSON_REAL)
        return json_is_number(v);
    return json_typeof(v) == type;
}

static bool check_fields(const json_t *o, const field_rule *rules, const char *what, char *err,
                         size_t errlen)
{
    for (const field_rule *r = rules; r->name; r++)
        if (!has_type(json_object_get(o, r->name), r->type))
            return snprintf(err, errlen, "%s: field '%s' missing or not %s", what, r->name,
                            json_type_word(r->type)),
                   false;
    return true;
}

/* Entries of READY's services and RESULTS' metrics are checked too: the
 * controller stores them without further checks. */
static bool check_entries(const json_t *array, const field_rule *rules, const char *what, char *err,
                          size_t errlen)
{
    size_t i;
    json_t *entry;
    json_array_foreach(array, i, entry)
    {
        char where[96];
        snprintf(where, sizeof where, "%s[%zu]", what, i);
        if (!json_is_object(entry))
            return snprintf(err, errlen, "%s: not an object", where), false;
        if (!check_fields(entry, rules, where, err, errlen))
            return false;
    }
    return true;
}

static const field_rule ready_service_fields[] = {{"service", JSON_STRING},
                                                  {"instance", JSON_STRING},
                                                  {"boot_ms", JSON_REAL},
                                                  {"ready_ms", JSON_REAL},
                                                  {NULL, 0}};
static const field_rule metric_fields[] = {
    {"grp", JSON_STRING},       {"kind", JSON_STRING},         {"samples", JSON_INTEGER},
    {"cpu_mean", JSON_REAL},    {"cpu_sd", JSON_REAL},         {"cpu_seconds", JSON_REAL},
    {"rss_mean_kb", JSON_REAL}, {"rss_peak_kb", JSON_INTEGER}, {NULL, 0}};

static bool check_body(const jb_msg *msg, char *err, size_t errlen)
{
    const char *what = jb_msg_type_name(msg->type);
    if (!check_fields(msg->body, type_fields[msg->type], what, err, errlen))
        return false;
    if (msg->type == JB_MSG_READY)
        return check_entries(json_object_get(msg->body, "services"), ready_service_fields,
                             "READY services", err, errlen);
    if (msg->type == JB_MSG_RESULTS)
        return check_entries(json_object_get(msg->body, "metrics"), metric_fields,
                             "RESULTS metrics", err, errlen);
    return true;
}

static bool decode_envelope(json_t *o, jb_msg *msg, char *err, size_t errlen)
{
    static const field_rule envelope[] = {
        {"version", JSON_INTEGER}, {"type", JSON_STRING},       {"run_id", JSON_STRING},
        {"platform", JSON_STRING}, {"iteration", JSON_INTEGER}, {"runner", JSON_STRING},
        {"msg_id", JSON_STRING},   {"sent_ms", JSON_REAL},      {NULL, 0}};
    if (!check_fields(o, envelope, "message", err, errlen))
        return false;
    json_int_t version = json_integer_value(json_object_get(o, "version"));
    if (version != JB_PROTOCOL_VERSION)
        return snprintf(err, errlen,
                        "message: protocol version %lld, this jungbench speaks version %d "
                        "(run the same jungbench version on controller and runner)",
                        (long long)version, JB_PROTOCOL_VERSION),
               false;
    const char *type = json_string_value(json_object_get(o, "type"));
    msg->type = JB_MSG_TYPES;
    for (int t = 0; t < JB_MSG_TYPES; t++)
        if (strcmp(type, type_names[t]) == 0)
            msg->type = (jb_msg_type)t;
    if (msg->type == JB_MSG_TYPES)
        return snprintf(err, errlen,
                        "message: unknown type '%.32s' (valid: RUN, READY, STOP, RESULTS, ERROR, "
                        "HEARTBEAT, ROWS)",
                        type),
               false;
    msg->version = (int)version;
    json_int_t iteration = json_integer_value(json_object_get(o, "iteration"));
    if (iteration < 0 || iteration > 1000000)
        return snprintf(err, errlen, "message: iteration %lld out of range", (long long)iteration),
               false;
    msg->iteration = (long)iteration;
    msg->sent_ms = json_number_value(json_object_get(o, "sent_ms"));
    return set_field(msg->run_id, sizeof msg->run_id,
                     json_string_value(json_object_get(o, "run_id")), "run_id", err, errlen) &&
           set_field(msg->platform, sizeof msg->platform,
                     json_string_value(json_object_get(o, "platform")), "platform", err, errlen) &&
           set_field(msg->runner, sizeof msg->runner,
                     json_string_value(json_object_get(o, "runner")), "runner", err, errlen) &&
           set_field(msg->msg_id, sizeof msg->msg_id,
                     json_string_value(json_object_get(o, "msg_id")), "msg_id", err, errlen);
}

bool jb_msg_decode(const char *data, size_t len, jb_msg *msg, char *err, size_t errlen)
{
    memset(msg, 0, sizeof *msg);
    json_error_t jerr;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return snprintf(err, errlen, "message is not valid JSON: %s at byte %d", jerr.text,
                        jerr.position),
               false;
    if (!json_is_object(o)) {
        json_decref(o);
        return snprintf(err, errlen, "message is not a JSON object"), false;
    }
    if (!decode_envelope(o, msg, err, errlen)) {
        json_decref(o);
        memset(msg, 0, sizeof *msg);
        return false;
    }
    static const char *const envelope_keys[] = {"version",   "type",   "run_id", "platform",
                                                "iteration", "runner", "msg_id", "sent_ms"};
    for (size_t i = 0; i < sizeof envelope_keys / sizeof envelope_keys[0]; i++)
        json_object_del(o, envelope_keys[i]);
    msg->body = o;
    if (!check_body(msg, err, errlen)) {
        jb_msg_clear(msg);
        return false;
    }
    return true;
}

bool jb_msg_same_iteration(const jb_msg *a, const jb_msg *b)
{
    return strcmp(a->run_id, b->run_id) == 0 && strcmp(a->platform, b->platform) == 0 &&
           a->iteration == b->iteration;
}

/* ---- builders -------------------------------------------------------------- */

static bool set_str(jb_msg *msg, const char *key, const char *value)
{
    return msg->body && json_object_set_new(msg->body, key, json_string(value ? value : "")) == 0;
}

bool jb_msg_run(jb_msg *msg, const char *config_yaml, const char *results_db)
{
    return set_str(msg, "config", config_yaml) && set_str(msg, "results_db", results_db);
}

bool jb_msg_stop(jb_msg *msg, const char *reason)
{
    return set_str(msg, "reason", reason);
}

bool jb_msg_error(jb_msg *msg, const char *phase, const char *service, const char *message)
{
    return set_str(msg, "phase", phase) && set_str(msg, "service", service) &&
           set_str(msg, "message", message);
}

bool jb_msg_heartbeat(jb_msg *msg, const char *state)
{
    return set_str(msg, "state", state);
}

bool jb_msg_rows(jb_msg *msg, const char *table, long part, long parts, json_t *rows)
{
    if (!msg->body || !json_is_array(rows)) {
        json_decref(rows);
        return false;
    }
    /* json_object_set_new takes rows even when it fails */
    return json_object_set_new(msg->body, "rows", rows) == 0 && set_str(msg, "table", table) &&
           json_object_set_new(msg->body, "part", json_integer(part)) == 0 &&
           json_object_set_new(msg->body, "parts", json_integer(parts)) == 0;
}

const char *jb_msg_str(const jb_msg *msg, const char *field)
{
    const char *s = msg->body ? json_string_value(json_object_get(msg->body, field)) : NULL;
    return s ? s : "";
}
