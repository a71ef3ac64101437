/* bus.h - the harness's bus: the controller/runner messages (first part)
 * and the Kafka client that carries them (second part, jb_kbus). */
#ifndef JB_BUS_H
#define JB_BUS_H

/* The controller/runner messages (docs/protocol.md).
 *
 * Dissertation section 5.1.2: a controller and a runner talk over the Kafka
 * topics `runner` (controller -> runner: RUN, STOP) and `controller`
 * (runner -> controller: READY, RESULTS, ERROR, HEARTBEAT, ROWS). Every message is
 * one JSON object with the envelope
 *
 *   {"version": 1, "type": "RUN", "run_id": "...", "platform": "docker",
 *    "iteration": 3, "runner": "local", "msg_id": "<uuid>", "sent_ms": ...}
 *
 * plus the fields of its type, kept as a jansson object in jb_msg.body.
 * jb_msg_decode checks the envelope and every required field of the type
 * (with its JSON type), so a handler can read body fields without checks;
 * malformed input is an error string, never a crash.
 */

#include "config/config.h"
#include "cli/cli.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JB_PROTOCOL_VERSION 1
#define JB_TOPIC_RUNNER "runner"         /* controller -> runners */
#define JB_TOPIC_CONTROLLER "controller" /* runners -> controller */

typedef enum {
    JB_MSG_RUN,
    JB_MSG_READY,
    JB_MSG_STOP,
    JB_MSG_RESULTS,
    JB_MSG_ERROR,
    JB_MSG_HEARTBEAT,
    JB_MSG_ROWS,
    JB_MSG_TYPES
} jb_msg_type;

typedef struct jb_msg {
    int version;
    jb_msg_type type;
    char run_id[JB_RUN_ID_SIZE];
    char platform[64];
    long iteration;  /* 1-based */
    char runner[64]; /* the runner's --id: addressee of RUN/STOP, sender of the rest */
    char msg_id[40]; /* unique per message (uuid); a resend keeps it */
    double sent_ms;  /* sender's wall clock */
    json_t *body;    /* the type's fields (owned; never NULL after init/decode) */
} jb_msg;

/* "RUN", "READY", ...; NULL for an out-of-range type. */
const char *jb_msg_type_name(jb_msg_type type);

/* Starts a message with a fresh msg_id, sent_ms now and an empty body.
 * Strings longer than the fields are an error (false, err says which). */
bool jb_msg_init(jb_msg *msg, jb_msg_type type, const char *run_id, const char *platform,
                 long iteration, const char *runner, char *err, size_t errlen);
void jb_msg_clear(jb_msg *msg);

/* The wire form: a malloc'd compact JSON string (free()), NULL on failure. */
char *jb_msg_encode(const jb_msg *msg);
/* Parses and validates; on failure msg is left cleared and err says what is
 * wrong ("READY: field 'endpoint' missing or not a string"). */
bool jb_msg_decode(const char *data, size_t len, jb_msg *msg, char *err, size_t errlen);

/* True when a and b are about the same platform iteration of the same run. */
bool jb_msg_same_iteration(const jb_msg *a, const jb_msg *b);

/* ---- the types' fields ----------------------------------------------------
 * RUN        config (string: the experiment file's YAML text, authoritative),
 *            results_db (string: where the runner writes its time series),
 *            services (array of {name, replicas}: informative)
 * READY      endpoint (string: Jung's REST base URL), accel (string),
 *            services (array of {service, instance, boot_ms, ready_ms, pids[]})
 * STOP       reason (string: "done", "interrupted", "timeout", ...)
 * RESULTS    results_db (string: where the time series are), metrics (array
 *            of metric summaries: {grp, kind, samples, cpu_mean, cpu_sd,
 *            cpu_seconds, rss_mean_kb, rss_peak_kb, pss_mean_kb, pss_peak_kb,
 *            source}), metric_samples (integer: rows written)
 * ERROR      message (string), service (string, "" when not one service),
 *            phase (string: "boot", "ready", "metrics", "stop", "message")
 * HEARTBEAT  state (string: "booting", "ready", "stopping", "idle")
 * ROWS       table (string), part (integer, 1-based), parts (integer), rows
 *            (array of row objects, column name -> value): one bounded part
 *            of a table too large for RESULTS (metric_samples), sent before
 *            the RESULTS whose `parts` object names the table and its count
 */
bool jb_msg_run(jb_msg *msg, const char *config_yaml, const char *results_db);
bool jb_msg_stop(jb_msg *msg, const char *reason);
bool jb_msg_error(jb_msg *msg, const char *phase, const char *service, const char *message);
bool jb_msg_heartbeat(jb_msg *msg, const char *state);
/* Takes ownership of rows (a JSON array), also on failure. */
bool jb_msg_rows(jb_msg *msg, const char *table, long part, long parts, json_t *rows);
/* READY and RESULTS are filled by the runner field by field with jansson. */

/* A string field of the body ("" when absent or not a string). */
const char *jb_msg_str(const jb_msg *msg, const char *field);

/* ---- the Kafka client ---------------------------------------------------- */

/* jb_kbus, the harness's Kafka bus: controller and runner messages.
 *
 * One producer and one consumer on librdkafka, with the low-latency settings
 * the Jung services use (jung/lib/bus.c: no Nagle, linger.ms=0, 10 ms fetch
 * waits), so a RUN or STOP is seen within milliseconds. This is separate
 * from libjung's task bus on purpose: the harness must not depend on the
 * system under test's code paths.
 *
 * The consumer reads one topic from its end as it was when jb_kbus_open
 * returned (every partition, no consumer group): each controller and
 * runner sees every message sent after it started, and nothing older, so a
 * restarted controller never replays an old READY. Open the bus before
 * sending anything that expects an answer.
 *
 * Threading: one jb_kbus per thread.
 */


typedef struct jb_kbus jb_kbus;

/* Connects to brokers ("host:port,...") and starts reading listen_topic.
 * props: extra librdkafka properties (may be NULL/0), routed to the producer
 * or the consumer by name. client_id names this client in broker logs.
 * NULL with a reason in err (unknown property, broker unreachable within
 * timeout_ms). */
jb_kbus *jb_kbus_open(const char *brokers, const jb_config_prop *props, size_t nprops,
                      const char *listen_topic, const char *client_id, int timeout_ms, char *err,
                      size_t errlen);
void jb_kbus_close(jb_kbus *bus);

/* Sends msg to topic and waits until the broker has it (at most 5 s). */
bool jb_kbus_send(jb_kbus *bus, const char *topic, const jb_msg *msg, char *err, size_t errlen);

/* Waits up to timeout_ms for the next message of the listened topic.
 * 1: a valid message in *msg (jb_msg_clear it); 0: nothing yet;
 * -1: a malformed message was skipped (err says why: log it and go on). */
int jb_kbus_recv(jb_kbus *bus, jb_msg *msg, int timeout_ms, char *err, size_t errlen);

/* Since when (jb_wall_ms) librdkafka has found every broker unreachable, or
 * 0 when a message arrived or was delivered since; reason gets its last
 * transport error. Known only as far as this bus polled or sent. */
double jb_kbus_down_since(jb_kbus *bus, char *reason, size_t len);

#endif
