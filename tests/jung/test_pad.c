/* test_pad: libjung's padding on librdkafka's mock cluster
 * (jung.mock.pad.bytes, jung/lib/bus.c): a message carries a "jung-pad"
 * record header of exactly the asked size and an unchanged payload; 0
 * sends no header; a malformed size or an unknown "jung." property is a
 * 400 from jung_bus_open that names the property. */
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"
#include "../testlib.h"
#include "mock_broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens a bus with one extra property; NULL with *err set on refusal. */
static jung_bus *open_with(const mock_broker *mb, const char *prop, jung_error *err)
{
    const char *props[] = {prop, NULL};
    jung_bus_config cfg = {.service = "test_echo",
                           .instance = "pad-test",
                           .brokers = mb->bootstrap,
                           .kafka_props = props};
    return jung_bus_open(&cfg, err);
}

/* Reads the first message of both partitions of topic; returns it or NULL
 * after 10 s. */
static rd_kafka_message_t *first_message(const mock_broker *mb, const char *topic)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", mb->bootstrap, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "pad-reader", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    REQUIRE(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    REQUIRE(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_message_t *m = NULL;
    for (int i = 0; i < 100 && !m; i++) {
        m = rd_kafka_consumer_poll(rk, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    /* The message outlives its consumer only as a copy of what we check. */
    rd_kafka_message_t *copy = NULL;
    if (m) {
        rd_kafka_headers_t *hdrs = NULL;
        size_t pad_len = 0;
        const void *pad = NULL;
        bool has_pad = rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                       rd_kafka_header_get_last(hdrs, "jung-pad", &pad, &pad_len) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
        copy = calloc(1, sizeof *copy);
        REQUIRE(copy);
        copy->payload = strndup(m->payload, m->len);
        copy->len = m->len;
        copy->offset = has_pad ? (int64_t)pad_len : -1; /* header size, -1 when absent */
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return copy;
}

static void free_copy(rd_kafka_message_t *m)
{
    free(m->payload);
    free(m);
}

/* Publishes text on topic through a bus with prop and returns the pad
 * header's size seen by a consumer (-1 when absent). */
static int64_t pad_seen(const mock_broker *mb, const char *prop, const char *topic,
                        const char *text)
{
    jung_error err = {0};
    jung_bus *bus = open_with(mb, prop, &err);
    REQUIRE(bus);
    REQUIRE(jung_bus_publish_raw(bus, topic, text, strlen(text), &err));
    jung_bus_close(bus); /* flushes */
    rd_kafka_message_t *m = first_message(mb, topic);
    REQUIRE(m);
    REQUIRE(m->len == strlen(text) && memcmp(m->payload, text, m->len) == 0);
    int64_t pad = m->offset;
    free_copy(m);
    return pad;
}

int main(void)
{
    mock_broker mb;
    if (!mock_broker_start(&mb, 2)) {
        printf("SKIP: cannot start librdkafka's mock cluster\n");
        return 77;
    }
    REQUIRE(pad_seen(&mb, "jung.mock.pad.bytes=1000", "test_echo_results", "{\"a\":1}") == 1000);
    REQUIRE(pad_seen(&mb, "jung.mock.pad.bytes=0", "device_gateway_tasks", "{\"b\":2}") == -1);

    const char *bad[] = {"jung.mock.pad.bytes=abc", "jung.mock.pad.bytes=-1",
                         "jung.mock.pad.bytes=99999999", "jung.mock.pad.bytes=", "jung.nosuch=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jung_error err = {0};
        jung_bus *bus = open_with(&mb, bad[i], &err);
        if (bus)
            fprintf(stderr, "FAIL: '%s' was accepted\n", bad[i]);
        REQUIRE(!bus);
        REQUIRE(err.code == 400);
        REQUIRE(strstr(err.message, "jung.") != NULL);
    }
    mock_broker_stop(&mb);
    printf("ok: pad header sizes and property errors\n");
    return 0;
}
