/* logic.c - the pure parts of the services' behaviour, kept apart from the
 * bus so the unit tests exercise them directly: rule conditions and the
 * device monitor's paginated history. */
#include "jung/lib/jung_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool jung_rule_operator_valid(const char *op)
{
    return op && (strcmp(op, "==") == 0 || strcmp(op, "!=") == 0 || strcmp(op, ">") == 0 ||
                  strcmp(op, "<") == 0);
}

bool jung_rule_check(const char *op, const json_t *reading, const json_t *threshold,
                     bool *satisfied, jung_error *err)
{
    if (!jung_rule_operator_valid(op)) {
        jung_error_set(err, 400, "operator '%s' is not one of ==, !=, >, <", op ? op : "(none)");
        return false;
    }
    if (!json_is_number(reading) || !json_is_number(threshold)) {
        jung_error_set(err, 400, "rule needs numbers on both sides of '%s'", op);
        return false;
    }
    double a = json_number_value(reading), b = json_number_value(threshold);
    if (op[0] == '=')
        *satisfied = a == b;
    else if (op[0] == '!')
        *satisfied = a != b;
    else if (op[0] == '>')
        *satisfied = a > b;
    else
        *satisfied = a < b;
    return true;
}

bool jung_history_init(jung_history *h, size_t cap)
{
    memset(h, 0, sizeof *h);
    h->ring = calloc(cap ? cap : 1, sizeof *h->ring);
    h->cap = cap ? cap : 1;
    return h->ring != NULL;
}

void jung_history_free(jung_history *h)
{
    free(h->ring);
    memset(h, 0, sizeof *h);
}

void jung_history_add(jung_history *h, double value, long long timestamp)
{
    h->ring[h->next] = (jung_reading){value, timestamp};
    h->next = (h->next + 1) % h->cap;
    if (h->len < h->cap)
        h->len++;
}

const jung_reading *jung_history_at(const jung_history *h, size_t i)
{
    if (i >= h->len)
        return NULL;
    return &h->ring[(h->next + h->cap - 1 - i) % h->cap];
}

static bool int_field(const json_t *payload, const char *name, long def, long min, long max,
                      long *out, jung_error *err)
{
    const json_t *v = json_object_get(payload, name);
    if (!v || json_is_null(v)) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        jung_error_set(err, 400, "'%s' must be an integer in %ld..%ld", name, min, max);
        return false;
    }
    *out = (long)json_integer_value(v);
    return true;
}

bool jung_page_args(const json_t *payload, long default_size, long max_size, long *page, long *size,
                    jung_error *err)
{
    return int_field(payload, "page", 0, 0, 1000000000L, page, err) &&
           int_field(payload, "size", default_size, 1, max_size, size, err);
}

json_t *jung_number(double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

json_t *jung_history_page(const jung_history *h, long page, long size)
{
    json_t *list = json_array();
    size_t start = (size_t)page * (size_t)size;
    for (size_t i = start; i < h->len && i < start + (size_t)size; i++) {
        const jung_reading *r = jung_history_at(h, i);
        json_array_append_new(list, json_pack("{s:o, s:I}", "value", jung_number(r->value),
                                              "timestamp", (json_int_t)r->timestamp));
    }
    return json_pack("{s:o, s:i, s:i, s:I}", "readings", list, "page", (int)page, "size", (int)size,
                     "total", (json_int_t)h->len);
}
