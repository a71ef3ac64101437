/* test_kafka.c - the same client checks as test_broker, against a real Apache
 * Kafka named by KAFKA_BOOTSTRAP (scripts/kafka start). Skips without it. */
#include "kafka_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void)
{
    const char *bs = getenv("KAFKA_BOOTSTRAP");
    if (!bs || !*bs) {
        printf("SKIP: KAFKA_BOOTSTRAP is not set (scripts/kafka start prints it)\n");
        return 77;
    }
    char err[512] = "", topic[64];
    snprintf(topic, sizeof topic, "jb_test_%ld", (long)time(NULL));
    if (kafka_topic_partitions(bs, "__no_such_topic__", err, sizeof err) < 0) {
        fprintf(stderr, "FAIL: Metadata from %s: %s\n", bs, err);
        return 1;
    }
    /* Auto-creation is on in scripts/kafka, so a fresh topic round-trips. */
    if (!kafka_roundtrip(bs, topic, 60000, err, sizeof err)) {
        fprintf(stderr, "FAIL: roundtrip through %s on %s: %s\n", bs, topic, err);
        return 1;
    }
    if (kafka_topic_partitions(bs, topic, err, sizeof err) < 1) {
        fprintf(stderr, "FAIL: %s was not auto-created: %s\n", topic, err);
        return 1;
    }
    printf("ok\n");
    return 0;
}
