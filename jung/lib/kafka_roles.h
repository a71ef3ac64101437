/* kafka_roles.h - which librdkafka properties belong to one client role.
 *
 * A user's Kafka properties (config broker.properties, a service's
 * --kafka-property) go to every client, but librdkafka logs a warning for a
 * consumer property set on a producer and the reverse. libjung's bus and the
 * harness's bus (bus/kbus.c) both route them with this one list, so the
 * system under test and the harness never disagree on a property's role.
 * Header-only: the static services and the harness build it each their own
 * way. */
#ifndef JUNG_KAFKA_ROLES_H
#define JUNG_KAFKA_ROLES_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <string.h>

/* True when the property "key" or "key=value" (a prefix match: "fetch."
 * covers every fetch setting) concerns a client of this type. */
static inline bool jung_kafka_prop_applies(rd_kafka_type_t type, const char *key)
{
    static const char *const consumer_only[] = {"fetch.",
                                                "group.",
                                                "session.timeout.ms",
                                                "heartbeat.",
                                                "enable.auto.",
                                                "auto.",
                                                "queued.",
                                                "max.poll.interval.ms",
                                                "isolation.",
                                                "partition.assignment.strategy",
                                                "check.crcs",
                                                "enable.partition.eof",
                                                "allow.auto.create.topics",
                                                NULL};
    static const char *const producer_only[] = {"linger.ms",
                                                "queue.buffering.",
                                                "batch.",
                                                "acks",
                                                "request.required.acks",
                                                "message.timeout.ms",
                                                "enable.idempotence",
                                                "compression.",
                                                "retries",
                                                "retry.backoff.ms",
                                                "transactional.",
                                                "delivery.",
                                                "sticky.",
                                                NULL};
    const char *const *other = type == RD_KAFKA_PRODUCER ? consumer_only : producer_only;
    for (int i = 0; other[i]; i++)
        if (strncmp(key, other[i], strlen(other[i])) == 0)
            return false;
    return true;
}

#endif
