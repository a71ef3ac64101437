/* kafka_put BOOTSTRAP TOPIC MESSAGE [COUNT [GROUP]]: produces MESSAGE COUNT
 * times (default 1) to TOPIC and waits until the cluster has them. With
 * GROUP, first commits the topic's current end as GROUP's offsets, as a
 * consumer of an earlier iteration that read everything so far would have.
 * The Kafka tests use it to leave tasks on a topic that an earlier
 * iteration's consumer group did not consume. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GROUP's offsets on every partition of topic = the partition's end. */
static int commit_end(const char *bootstrap, const char *topic, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err)) {
        fprintf(stderr, "kafka_put: %s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_put: %s\n", err);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0 ? md->topics[0].partition_cnt : 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    int rc = n > 0 ? 0 : 1;
    for (int p = 0; p < n && !rc; p++) {
        int64_t low, high;
        rc = rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 10000) != 0;
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = high;
    }
    if (!rc && rd_kafka_commit(rk, list, 0) != 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "kafka_put: cannot commit the end of %s for group %s\n", topic, group);
    rd_kafka_topic_partition_list_destroy(list);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: kafka_put BOOTSTRAP TOPIC MESSAGE [COUNT]\n");
        return 2;
    }
    if (argc > 5 && commit_end(argv[1], argv[2], argv[5]) != 0)
        return 1;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_put: %s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_put: %s\n", err);
        return 1;
    }
    int count = argc > 4 ? atoi(argv[4]) : 1;
    for (int i = 0; i < count; i++)
        if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]),
                              RD_KAFKA_V_VALUE(argv[3], strlen(argv[3])),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
            fprintf(stderr, "kafka_put: cannot produce to %s\n", argv[2]);
            return 1;
        }
    int left = rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    if (left)
        fprintf(stderr, "kafka_put: %d message(s) not delivered within 10 s\n", left);
    return left ? 1 : 0;
}
