/* kafka_admin.h - preparing a real Kafka cluster for Jung (broker/kafka_admin.c).
 *
 * The embedded broker is fresh for every iteration; a real cluster (or
 * `jungbench broker` used as one) outlives iterations and runs, so before
 * Jung's services start, `up` and every iteration of `run` make it ready:
 * Jung's topics exist with partition leaders, and the services' consumer
 * groups start at the current end of their task topics, so nothing an
 * earlier iteration left undelivered reaches this one (docs/run.md says
 * why the offsets are moved rather than the groups renamed).
 */
#ifndef JB_CORE_KAFKA_ADMIN_H
#define JB_CORE_KAFKA_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

/* Creates the missing Jung topics (broker/broker.h's jb_broker_jung_topic_names,
 * the services' with prefix before them, NULL or "" for none; broker-default
 * partitions and replication; existing ones are kept) and
 * waits until each has a leader per partition. A cluster that has them
 * all gets no CreateTopics (librdkafka's mock cluster does not answer it).
 * props: extra librdkafka properties "k=v,k=v" (security, ...). */
bool jb_kafka_ensure_topics(const char *bootstrap, const char *props, const char *prefix, char *err,
                            size_t errlen);

/* A consumer group and the topic it consumes. */
typedef struct jb_kafka_group_topic {
    const char *group;
    const char *topic;
} jb_kafka_group_topic;

/* Commits, for each group, the current end offset of every partition of its
 * topic, so its next member starts there. A group that still has members
 * (services of a killed iteration whose session has not expired) refuses
 * the commit; it is retried until timeout_ms. *skipped (may be NULL) gets
 * how many messages were left undelivered behind the groups' old offsets. */
bool jb_kafka_groups_to_end(const char *bootstrap, const char *props,
                            const jb_kafka_group_topic *groups, size_t n, double timeout_ms,
                            long long *skipped, char *err, size_t errlen);

#endif
