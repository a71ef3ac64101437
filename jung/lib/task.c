/* task.c - the wire format of Jung's tasks and results (docs/tasks.md). */
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

void jung_error_set(jung_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void jung_uuid(char out[JUNG_UUID_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

/* Copies a string field into a fixed buffer; false when missing, not a
 * string, empty or too long, so nothing downstream sees a truncated id. */
static bool copy_string_field(json_t *root, const char *name, char *out, size_t cap, bool required,
                              jung_error *err)
{
    json_t *v = json_object_get(root, name);
    if (!v) {
        out[0] = '\0';
        if (required)
            jung_error_set(err, 400, "task has no '%s'", name);
        return !required;
    }
    const char *s = json_string_value(v);
    if (!s || (required && !*s)) {
        jung_error_set(err, 400, "task field '%s' must be a non-empty string", name);
        return false;
    }
    if (strlen(s) >= cap) {
        jung_error_set(err, 400, "task field '%s' is longer than %zu characters", name, cap - 1);
        return false;
    }
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static bool check_version(json_t *root, jung_error *err)
{
    json_t *v = json_object_get(root, "v");
    if (!json_is_integer(v)) {
        jung_error_set(err, 400, "message has no integer version 'v' (expected %d)",
                       JUNG_WIRE_VERSION);
        return false;
    }
    if (json_integer_value(v) != JUNG_WIRE_VERSION) {
        jung_error_set(err, 400, "message has wire version %lld, this build speaks %d",
                       (long long)json_integer_value(v), JUNG_WIRE_VERSION);
        return false;
    }
    return true;
}

bool jung_json_depth_ok(const char *buf, size_t len, int max_depth)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped character */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

static json_t *parse_object(const char *buf, size_t len, jung_error *err)
{
    if (!buf) {
        jung_error_set(err, 400, "empty message");
        return NULL;
    }
    /* jansson recurses once per nesting level when it parses, copies, dumps
     * and frees; 2,000 levels (within its own limit) overflow a 256 KiB
     * worker stack. No Jung message nests more than a few levels. */
    if (!jung_json_depth_ok(buf, len, JUNG_MAX_JSON_DEPTH)) {
        jung_error_set(err, 400, "message nests deeper than %d levels", JUNG_MAX_JSON_DEPTH);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        jung_error_set(err, 400, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                       jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        jung_error_set(err, 400, "message is not a JSON object");
        return NULL;
    }
    return root;
}

bool jung_task_parse(const char *buf, size_t len, jung_task *task, json_t **root, jung_error *err)
{
    memset(task, 0, sizeof *task);
    *root = NULL;
    json_t *r = parse_object(buf, len, err);
    if (!r)
        return false;
    if (!check_version(r, err) ||
        !copy_string_field(r, "id", task->id, sizeof task->id, true, err) ||
        !copy_string_field(r, "type", task->type, sizeof task->type, true, err) ||
        !copy_string_field(r, "reply_to", task->reply_to, sizeof task->reply_to, false, err)) {
        json_decref(r);
        return false;
    }
    json_t *payload = json_object_get(r, "payload");
    if (!json_is_object(payload)) {
        jung_error_set(err, 400, "task %s: 'payload' must be a JSON object", task->id);
        json_decref(r);
        return false;
    }
    task->payload = payload;
    *root = r;
    return true;
}

json_t *jung_task_build(const char *id, const char *type, const char *reply_to, json_t *payload)
{
    json_t *t = json_pack("{s:i, s:s, s:s}", "v", JUNG_WIRE_VERSION, "id", id, "type", type);
    if (!t) {
        json_decref(payload);
        return NULL;
    }
    if (reply_to && *reply_to)
        json_object_set_new(t, "reply_to", json_string(reply_to));
    json_object_set_new(t, "payload", payload ? payload : json_object());
    return t;
}

json_t *jung_result_build(const char *task_id, bool ok, json_t *data, const jung_error *err)
{
    json_t *r = json_pack("{s:i, s:s, s:s}", "v", JUNG_WIRE_VERSION, "task_id", task_id, "status",
                          ok ? "ok" : "error");
    if (!r) {
        json_decref(data);
        return NULL;
    }
    if (ok) {
        json_object_set_new(r, "data", data ? data : json_object());
    } else {
        json_decref(data);
        int code = err && err->code ? err->code : 500;
        const char *msg = err && err->message[0] ? err->message : "unknown error";
        json_object_set_new(r, "error", json_pack("{s:i, s:s}", "code", code, "message", msg));
    }
    return r;
}

bool jung_result_parse(const char *buf, size_t len, jung_result *res, jung_error *err)
{
    memset(res, 0, sizeof *res);
    json_t *r = parse_object(buf, len, err);
    if (!r)
        return false;
    if (!check_version(r, err) ||
        !copy_string_field(r, "task_id", res->task_id, sizeof res->task_id, true, err)) {
        json_decref(r);
        return false;
    }
    const char *status = json_string_value(json_object_get(r, "status"));
    if (status && strcmp(status, "ok") == 0) {
        json_t *data = json_object_get(r, "data");
        res->ok = true;
        res->data = data ? json_incref(data) : json_object();
    } else if (status && strcmp(status, "error") == 0) {
        json_t *e = json_object_get(r, "error");
        json_t *code = json_object_get(e, "code");
        const char *msg = json_string_value(json_object_get(e, "message"));
        res->ok = false;
        res->error.code = json_is_integer(code) ? (int)json_integer_value(code) : 500;
        snprintf(res->error.message, sizeof res->error.message, "%s",
                 msg ? msg : "error result without a message");
    } else {
        jung_error_set(err, 400, "result %s: 'status' must be \"ok\" or \"error\"", res->task_id);
        json_decref(r);
        return false;
    }
    json_decref(r);
    return true;
}
