/* test_kbus.c - the harness bus over the embedded broker: RUN reaches the
 * runner, READY the controller, a malformed message is skipped with a
 * reason, and a bus opened later does not replay older messages. */
#include "broker/broker.h"
#include "../testlib.h"
#include "cli/cli.h"
#include "bus/bus.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Waits (generously: a loaded 2-core box) for the next valid or malformed message. */
static int recv_within(jb_kbus *bus, jb_msg *msg, double ms, char *err, size_t errlen)
{
    double until = jb_now_ms() + ms;
    int rc = 0;
    while (rc == 0 && jb_now_ms() < until)
        rc = jb_kbus_recv(bus, msg, 100, err, errlen);
    return rc;
}

static void send_raw(const char *brokers, const char *topic, const char *text)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE((void *)text, strlen(text)),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 5000);
    rd_kafka_destroy(rk);
}

int main(void)
{
    char err[512];
    jb_broker_options opts = {0};
    jb_broker *broker = jb_broker_start(&opts, err, sizeof err);
    if (!broker) {
        printf("SKIP: cannot start the embedded broker: %s\n", err);
        return 77;
    }
    const char *bs = jb_broker_bootstrap(broker);
    jb_kbus *controller =
        jb_kbus_open(bs, NULL, 0, JB_TOPIC_CONTROLLER, "t-ctl", 10000, err, sizeof err);
    CHECK(controller != NULL);
    jb_kbus *runner =
        jb_kbus_open(bs, NULL, 0, JB_TOPIC_RUNNER, "t-runner", 10000, err, sizeof err);
    CHECK(runner != NULL);
    if (!controller || !runner) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    jb_msg run, got;
    CHECK(jb_msg_init(&run, JB_MSG_RUN, "r1", "native", 1, "local", err, sizeof err));
    CHECK(jb_msg_run(&run, "name: x", "/tmp/x.db"));
    CHECK(jb_kbus_send(controller, JB_TOPIC_RUNNER, &run, err, sizeof err));
    CHECK(recv_within(runner, &got, 10000, err, sizeof err) == 1);
    CHECK(got.type == JB_MSG_RUN && strcmp(got.msg_id, run.msg_id) == 0);
    jb_msg_clear(&got);

    send_raw(bs, JB_TOPIC_CONTROLLER, "not json");
    jb_msg hb;
    CHECK(jb_msg_init(&hb, JB_MSG_HEARTBEAT, "r1", "native", 1, "local", err, sizeof err));
    CHECK(jb_msg_heartbeat(&hb, "booting"));
    CHECK(jb_kbus_send(runner, JB_TOPIC_CONTROLLER, &hb, err, sizeof err));
    CHECK(recv_within(controller, &got, 10000, err, sizeof err) == -1);
    CHECK(strncmp(err, "message is not valid JSON", 25) == 0);
    CHECK(recv_within(controller, &got, 10000, err, sizeof err) == 1);
    CHECK(got.type == JB_MSG_HEARTBEAT && strcmp(jb_msg_str(&got, "state"), "booting") == 0);
    jb_msg_clear(&got);

    /* A runner that starts now sees nothing of the RUN sent before. */
    jb_kbus *late = jb_kbus_open(bs, NULL, 0, JB_TOPIC_RUNNER, "t-late", 10000, err, sizeof err);
    CHECK(late != NULL);
    CHECK(late && recv_within(late, &got, 1500, err, sizeof err) == 0);

    /* A wrong property is named. */
    jb_config_prop bad = {"linger.mss", "1"};
    CHECK(jb_kbus_open(bs, &bad, 1, JB_TOPIC_RUNNER, "t-bad", 1000, err, sizeof err) == NULL);
    CHECK(strstr(err, "linger.mss") != NULL);

    jb_msg_clear(&run);
    jb_msg_clear(&hb);
    jb_kbus_close(late);
    jb_kbus_close(runner);
    jb_kbus_close(controller);
    jb_broker_stop(broker);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
