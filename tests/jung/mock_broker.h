/* mock_broker.h - librdkafka's mock cluster with Jung's topics, for the unit
 * tests and for running the services by hand (jung-test-broker). */
#ifndef JUNG_TEST_MOCK_BROKER_H
#define JUNG_TEST_MOCK_BROKER_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

typedef struct mock_broker {
    rd_kafka_t *rk; /* the handle that owns the cluster */
    rd_kafka_mock_cluster_t *cluster;
    const char *bootstrap;
} mock_broker;

/* Starts a one-broker mock cluster on 127.0.0.1 and creates
 * `<service>_tasks`/`<service>_results` for every Jung service with the
 * given partition count. Returns false with a message on stderr. */
static inline bool mock_broker_start(mock_broker *mb, int partitions)
{
    static const char *const services[] = {
        "api_gateway",      "auth_manager", "user_registry",  "device_registry", "device_monitor",
        "device_commander", "rule_engine",  "device_gateway", "test_echo",       NULL};
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    mb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mb->rk) {
        fprintf(stderr, "mock broker: %s\n", errstr);
        return false;
    }
    mb->cluster = rd_kafka_mock_cluster_new(mb->rk, 1);
    if (!mb->cluster) {
        fprintf(stderr, "mock broker: rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(mb->rk);
        return false;
    }
    for (int i = 0; services[i]; i++) {
        char topic[128];
        snprintf(topic, sizeof topic, "%s_tasks", services[i]);
        rd_kafka_mock_topic_create(mb->cluster, topic, partitions, 1);
        snprintf(topic, sizeof topic, "%s_results", services[i]);
        rd_kafka_mock_topic_create(mb->cluster, topic, partitions, 1);
    }
    mb->bootstrap = rd_kafka_mock_cluster_bootstraps(mb->cluster);
    return true;
}

static inline void mock_broker_stop(mock_broker *mb)
{
    rd_kafka_mock_cluster_destroy(mb->cluster);
    rd_kafka_destroy(mb->rk);
}

#endif
