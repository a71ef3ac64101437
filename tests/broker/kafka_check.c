/* kafka_check.c - see kafka_check.h. */
#include "kafka_check.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool set_all(rd_kafka_conf_t *conf, const char *const (*kv)[2], size_t n, char *err,
                    size_t errlen)
{
    char errstr[256];
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s: %s", kv[i][0], errstr);
            return false;
        }
    }
    return true;
}

/* group NULL: a producer; else a consumer in that group. */
static rd_kafka_t *new_client(const char *bootstrap, const char *group, char *err, size_t errlen)
{
    const char *const common[][2] = {
        {"bootstrap.servers", bootstrap},
        {"log_level", "4"},
        {"allow.auto.create.topics", "true"},
    };
    const char *const producer[][2] = {{"linger.ms", "0"}};
    const char *const consumer[][2] = {
        {"group.id", group ? group : ""},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", "false"},
        {"fetch.wait.max.ms", "10"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!set_all(conf, common, sizeof common / sizeof common[0], err, errlen) ||
        (group && !set_all(conf, consumer, sizeof consumer / sizeof consumer[0], err, errlen)) ||
        (!group && !set_all(conf, producer, 1, err, errlen))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char errstr[256];
    rd_kafka_t *rk =
        rd_kafka_new(group ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        snprintf(err, errlen, "rd_kafka_new: %s", errstr);
    return rk;
}

int kafka_topic_partitions(const char *bootstrap, const char *topic, char *err, size_t errlen)
{
    rd_kafka_t *rk = new_client(bootstrap, NULL, err, errlen);
    if (!rk)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    int partitions = -1;
    if (e) {
        snprintf(err, errlen, "Metadata from %s: %s", bootstrap, rd_kafka_err2str(e));
    } else {
        partitions = 0;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
                partitions = md->topics[i].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return partitions;
}

static bool produce_one(const char *bootstrap, const char *topic, const char *payload, char *err,
                        size_t errlen)
{
    rd_kafka_t *p = new_client(bootstrap, NULL, err, errlen);
    if (!p)
        return false;
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE((void *)payload, strlen(payload)), RD_KAFKA_V_END);
    if (!e)
        e = rd_kafka_flush(p, 15000);
    if (e)
        snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(e));
    rd_kafka_destroy(p);
    return !e;
}

static bool is_payload(const rd_kafka_message_t *m, const char *payload)
{
    return !m->err && m->len == strlen(payload) && memcmp(m->payload, payload, m->len) == 0;
}

static bool consume_until(rd_kafka_t *c, const char *payload, int timeout_ms, char *err,
                          size_t errlen)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (m) {
            bool found = is_payload(m, payload);
            if (found) {
                rd_kafka_resp_err_t e = rd_kafka_commit_message(c, m, 0);
                if (e)
                    snprintf(err, errlen, "OffsetCommit: %s", rd_kafka_err2str(e));
                rd_kafka_message_destroy(m);
                return !e;
            }
            rd_kafka_message_destroy(m);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > timeout_ms) {
            snprintf(err, errlen, "message not consumed back within %d ms", timeout_ms);
            return false;
        }
    }
}

bool kafka_roundtrip(const char *bootstrap, const char *topic, int timeout_ms, char *err,
                     size_t errlen)
{
    char payload[96], group[96];
    snprintf(payload, sizeof payload, "jungbench-test-%ld-%ld", (long)getpid(), (long)time(NULL));
    /* A group per call: on the mock, a group whose last member has just left
     * makes the next joiner wait session.timeout.ms - 1 s (44 s), and two
     * calls can fall in one second. */
    static int calls;
    snprintf(group, sizeof group, "jb-test-group-%ld-%ld-%d", (long)getpid(), (long)time(NULL),
             ++calls);
    if (!produce_one(bootstrap, topic, payload, err, errlen))
        return false;
    rd_kafka_t *c = new_client(bootstrap, group, err, errlen);
    if (!c)
        return false;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    bool ok = false;
    if (e)
        snprintf(err, errlen, "subscribe %s: %s", topic, rd_kafka_err2str(e));
    else
        ok = consume_until(c, payload, timeout_ms, err, errlen);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return ok;
}
