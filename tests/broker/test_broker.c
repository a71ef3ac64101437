/* test_broker.c - the embedded broker (broker/broker.c) in-process: topics via
 * Metadata, produce/consume through a consumer group, a chosen port, a busy
 * port, auto-created topics, bad options. */
#include "tests/testlib.h"
#include "broker/broker.h"
#include "kafka_check.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_topics_and_roundtrip(void)
{
    jb_broker_topic extra[] = {{"jb_extra", 3}};
    jb_broker_options o = {.partitions = 2, .topics = extra, .topic_count = 1};
    char err[512] = "";
    jb_broker *b = jb_broker_start(&o, err, sizeof err);
    CHECK(b, "start: %s", err);
    if (!b)
        return;
    const char *bs = jb_broker_bootstrap(b);
    CHECK(strncmp(bs, "127.0.0.1:", 10) == 0, "bootstrap '%s' is not on 127.0.0.1", bs);
    CHECK(jb_broker_port(b) > 0 && atoi(bs + 10) == jb_broker_port(b), "port %d vs '%s'",
          jb_broker_port(b), bs);

    int n = 0;
    for (const char *const *t = jb_broker_jung_topic_names(); *t; t++, n++) {
        int parts = kafka_topic_partitions(bs, *t, err, sizeof err);
        CHECK(parts == 2, "topic %s has %d partitions, want 2 (%s)", *t, parts, err);
    }
    CHECK(n == 18, "%d Jung topics, want 8 services x 2 + controller + runner", n);
    CHECK(kafka_topic_partitions(bs, "jb_extra", err, sizeof err) == 3, "extra topic");
    CHECK(kafka_topic_partitions(bs, "not_created_yet", err, sizeof err) == 0,
          "an unknown topic must be absent before a client asks for it");

    CHECK(kafka_roundtrip(bs, "runner", 30000, err, sizeof err), "roundtrip runner: %s", err);
    /* A producer's Metadata request auto-creates an unknown topic. */
    CHECK(kafka_roundtrip(bs, "jb_auto_created", 30000, err, sizeof err),
          "roundtrip on an auto-created topic: %s", err);
    CHECK(kafka_topic_partitions(bs, "jb_auto_created", err, sizeof err) > 0, "auto-created");
    jb_broker_stop(b);
}

static void test_chosen_and_busy_port(void)
{
    int port = test_free_port();
    jb_broker_options o = {.port = port, .no_jung_topics = true};
    char err[512] = "", want[64];
    jb_broker *b = jb_broker_start(&o, err, sizeof err);
    CHECK(b, "start on port %d: %s", port, err);
    if (!b)
        return;
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK(strcmp(jb_broker_bootstrap(b), want) == 0, "bootstrap %s, want %s",
          jb_broker_bootstrap(b), want);
    CHECK(kafka_topic_partitions(want, "runner", err, sizeof err) == 0,
          "no_jung_topics still created 'runner'");
    /* The advertised address is the chosen port, so a full round trip works. */
    CHECK(kafka_roundtrip(want, "jb_chosen_port", 30000, err, sizeof err), "roundtrip: %s", err);

    jb_broker *again = jb_broker_start(&o, err, sizeof err);
    CHECK(!again, "a second broker on busy port %d started", port);
    CHECK(strstr(err, "in use") != NULL, "busy-port error does not say so: %s", err);
    jb_broker_stop(again);
    jb_broker_stop(b);

    /* The port is free again after stop. */
    b = jb_broker_start(&o, err, sizeof err);
    CHECK(b, "restart on port %d after stop: %s", port, err);
    jb_broker_stop(b);
}

static void test_bad_options(void)
{
    char err[512];
    jb_broker_options bad_port = {.port = 70000};
    CHECK(!jb_broker_start(&bad_port, err, sizeof err) && strstr(err, "70000"), "port: %s", err);
    jb_broker_options bad_parts = {.partitions = -1};
    CHECK(!jb_broker_start(&bad_parts, err, sizeof err) && strstr(err, "partitions"), "%s", err);
    jb_broker_options no_list = {.topic_count = 2};
    CHECK(!jb_broker_start(&no_list, err, sizeof err), "topic_count without topics accepted");
    jb_broker_topic unnamed[] = {{"", 1}};
    jb_broker_options empty = {.topics = unnamed, .topic_count = 1, .no_jung_topics = true};
    CHECK(!jb_broker_start(&empty, err, sizeof err) && strstr(err, "no name"), "%s", err);
    jb_broker_stop(NULL);
}

int main(void)
{
    test_bad_options();
    test_topics_and_roundtrip();
    test_chosen_and_busy_port();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
