/* kbus.h - the harness's Kafka bus: controller and runner messages.
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
#ifndef JB_CORE_KBUS_H
#define JB_CORE_KBUS_H

#include "core/config.h"
#include "core/protocol.h"

#include <stdbool.h>
#include <stddef.h>

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
