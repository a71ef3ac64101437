/* kafka_check.h - client-side checks the broker tests run against any
 * bootstrap: the embedded broker or a real Apache Kafka (KAFKA_BOOTSTRAP). */
#ifndef JB_TESTS_KAFKA_CHECK_H
#define JB_TESTS_KAFKA_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Partition count of topic as the cluster's Metadata reports it, 0 when the
 * topic is absent, -1 with a message in err when Metadata failed. */
int kafka_topic_partitions(const char *bootstrap, const char *topic, char *err, size_t errlen);

/* Produces one message with a unique payload to topic, then consumes it back
 * through a consumer group (JoinGroup/SyncGroup/Heartbeat/OffsetCommit) that
 * subscribed to the topic. False with a message in err on any failure or when
 * the message has not come back within timeout_ms. */
bool kafka_roundtrip(const char *bootstrap, const char *topic, int timeout_ms, char *err,
                     size_t errlen);

#endif
