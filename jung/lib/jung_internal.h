/* jung_internal.h - libjung's helpers shared by the library, the services
 * and the unit tests, but not part of the API other modules code against. */
#ifndef JUNG_INTERNAL_H
#define JUNG_INTERNAL_H

#include "jung/lib/jung.h"

/* A parsed result message (see jung.h for the wire format). */
typedef struct jung_result {
    char task_id[JUNG_UUID_LEN + 1];
    bool ok;
    json_t *data; /* owned, on ok */
    jung_error error;
} jung_result;

/* Builds a task message; steals payload (NULL means {}). */
json_t *jung_task_build(const char *id, const char *type, const char *reply_to, json_t *payload);
/* Builds a result message; steals data. */
json_t *jung_result_build(const char *task_id, bool ok, json_t *data, const jung_error *err);
/* Parses a result message; false (err filled) on malformed input. */
bool jung_result_parse(const char *buf, size_t len, jung_result *res, jung_error *err);

/* Sends raw bytes on a topic (tests put malformed messages on the bus). */
bool jung_bus_publish_raw(jung_bus *bus, const char *topic, const char *bytes, size_t len,
                          jung_error *err);

/* Tasks consumed but not yet taken by a worker (tests watch the queue). */
size_t jung_bus_queued(jung_bus *bus);

/* The latency-oriented librdkafka defaults (docs/kafka-tuning.md), as
 * NULL-terminated "key=value" lists: for every client, then per role. */
extern const char *const jung_kafka_common_defaults[];
extern const char *const jung_kafka_producer_defaults[];
extern const char *const jung_kafka_consumer_defaults[];

/* ---- rule evaluation (rule engine, section 4.1.7) ------------------------ */

/* True when op is one of ==, !=, >, <. */
bool jung_rule_operator_valid(const char *op);
/* Evaluates `reading OP threshold`. Both must be JSON numbers (integer or
 * real); false with err (400) when they are not or op is unknown. */
bool jung_rule_check(const char *op, const json_t *reading, const json_t *threshold,
                     bool *satisfied, jung_error *err);

/* ---- readings history (device monitor, section 4.1.5) -------------------- */

typedef struct jung_reading {
    double value;
    long long timestamp;
} jung_reading;

/* A bounded ring of one device's readings: the oldest is dropped when full. */
typedef struct jung_history {
    jung_reading *ring;
    size_t cap, len, next; /* next: slot of the next write */
} jung_history;

bool jung_history_init(jung_history *h, size_t cap);
void jung_history_free(jung_history *h);
void jung_history_add(jung_history *h, double value, long long timestamp);
/* i = 0 is the newest reading; i < h->len. */
const jung_reading *jung_history_at(const jung_history *h, size_t i);

/* Validates READ's page (>= 0) and size (1..max_size) fields, which must be
 * integers; absent ones default to page 0 and size default_size. */
bool jung_page_args(const json_t *payload, long default_size, long max_size, long *page, long *size,
                    jung_error *err);
/* {"readings":[newest first], "page", "size", "total"} for one page. */
json_t *jung_history_page(const jung_history *h, long page, long size);

/* Reading values go on the wire as JSON numbers: integers stay integers. */
json_t *jung_number(double v);

#endif
