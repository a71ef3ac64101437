/* test_protocol.c - controller/runner messages: round trips, and every kind
 * of malformed input is refused with a message naming what is wrong. */
#include "bus/bus.h"
#include "../testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_refused(const char *text, const char *message)
{
    jb_msg msg;
    char err[512] = "";
    bool ok = jb_msg_decode(text, strlen(text), &msg, err, sizeof err);
    if (ok || strcmp(err, message) != 0) {
        fprintf(stderr, "for: %s\nexpected: %s\n     got: %s\n", text, message,
                ok ? "(accepted)" : err);
        failures++;
    }
    if (ok)
        jb_msg_clear(&msg);
}

static void test_round_trip(void)
{
    jb_msg run, back;
    char err[256];
    CHECK(jb_msg_init(&run, JB_MSG_RUN, "r1", "docker", 3, "local", err, sizeof err));
    CHECK(jb_msg_run(&run, "name: x\n", "/tmp/r.db"));
    CHECK(strlen(run.msg_id) == 36);
    char *text = jb_msg_encode(&run);
    CHECK(text != NULL);
    CHECK(jb_msg_decode(text, strlen(text), &back, err, sizeof err));
    CHECK(back.type == JB_MSG_RUN && back.version == JB_PROTOCOL_VERSION);
    CHECK(strcmp(back.run_id, "r1") == 0 && strcmp(back.platform, "docker") == 0);
    CHECK(back.iteration == 3 && strcmp(back.runner, "local") == 0);
    CHECK(strcmp(back.msg_id, run.msg_id) == 0 && back.sent_ms == run.sent_ms);
    CHECK(strcmp(jb_msg_str(&back, "config"), "name: x\n") == 0);
    CHECK(strcmp(jb_msg_str(&back, "missing"), "") == 0);
    CHECK(jb_msg_same_iteration(&run, &back));
    back.iteration = 4;
    CHECK(!jb_msg_same_iteration(&run, &back));
    /* Truncated at every length: refused, never a crash (ASan run). */
    for (size_t n = 0; n < strlen(text); n++) {
        jb_msg cut;
        CHECK(!jb_msg_decode(text, n, &cut, err, sizeof err));
    }
    free(text);
    jb_msg_clear(&back);
    jb_msg_clear(&run);
    jb_msg other;
    CHECK(jb_msg_init(&other, JB_MSG_HEARTBEAT, "r1", "docker", 3, "local", err, sizeof err));
    CHECK(strcmp(other.msg_id, run.msg_id) != 0);
    jb_msg_clear(&other);
    char longname[100];
    memset(longname, 'a', sizeof longname - 1);
    longname[99] = '\0';
    CHECK(!jb_msg_init(&other, JB_MSG_STOP, longname, "p", 1, "local", err, sizeof err));
    CHECK(strcmp(err, "field 'run_id' is too long (at most 63 characters)") == 0);
    jb_msg_clear(&other);
    /* ROWS: a part of a table, round trip */
    CHECK(jb_msg_init(&other, JB_MSG_ROWS, "r1", "docker", 3, "b", err, sizeof err));
    CHECK(jb_msg_rows(&other, "metric_samples", 2, 5, json_pack("[{s:i}]", "rss_kb", 1500)));
    text = jb_msg_encode(&other);
    CHECK(text && jb_msg_decode(text, strlen(text), &back, err, sizeof err));
    CHECK(back.type == JB_MSG_ROWS && strcmp(jb_msg_str(&back, "table"), "metric_samples") == 0);
    CHECK(json_integer_value(json_object_get(back.body, "part")) == 2);
    CHECK(json_array_size(json_object_get(back.body, "rows")) == 1);
    free(text);
    jb_msg_clear(&back);
    jb_msg_clear(&other);
}

static void test_ready_results(void)
{
    jb_msg ready, back;
    char err[256];
    CHECK(jb_msg_init(&ready, JB_MSG_READY, "r1", "native", 1, "local", err, sizeof err));
    json_object_set_new(ready.body, "endpoint", json_string("http://127.0.0.1:8080"));
    json_object_set_new(ready.body, "accel", json_string("native"));
    json_object_set_new(ready.body, "services",
                        json_pack("[{s:s, s:s, s:f, s:i, s:[i]}]", "service", "api_gateway",
                                  "instance", "api_gateway-1", "boot_ms", 1.5, "ready_ms", 20,
                                  "pids", 1234));
    char *text = jb_msg_encode(&ready);
    CHECK(jb_msg_decode(text, strlen(text), &back, err, sizeof err));
    CHECK(strcmp(jb_msg_str(&back, "endpoint"), "http://127.0.0.1:8080") == 0);
    jb_msg_clear(&back);
    free(text);
    /* A service entry without ready_ms is refused. */
    json_object_del(json_array_get(json_object_get(ready.body, "services"), 0), "ready_ms");
    text = jb_msg_encode(&ready);
    CHECK(!jb_msg_decode(text, strlen(text), &back, err, sizeof err));
    CHECK(strcmp(err, "READY services[0]: field 'ready_ms' missing or not a number") == 0);
    free(text);
    jb_msg_clear(&ready);
}

#define ENV                                                                                        \
    "\"version\":1,\"run_id\":\"r\",\"platform\":\"p\",\"iteration\":1,\"runner\":\"local\","      \
    "\"msg_id\":\"m\",\"sent_ms\":1"

static void test_malformed(void)
{
    expect_refused("{\"version\":1", "message is not valid JSON: '}' expected near end of file "
                                     "at byte 12");
    expect_refused("[1,2]", "message is not a JSON object");
    expect_refused("{\"type\":\"RUN\"}", "message: field 'version' missing or not an integer");
    expect_refused("{\"type\":\"RUN\",\"version\":2,\"run_id\":\"r\",\"platform\":\"p\","
                   "\"iteration\":1,\"runner\":\"l\",\"msg_id\":\"m\",\"sent_ms\":1}",
                   "message: protocol version 2, this jungbench speaks version 1 (run the same "
                   "jungbench version on controller and runner)");
    expect_refused("{\"type\":\"GO\"," ENV "}",
                   "message: unknown type 'GO' (valid: RUN, READY, STOP, RESULTS, ERROR, "
                   "HEARTBEAT, ROWS)");
    expect_refused("{\"type\":\"ROWS\"," ENV ",\"table\":\"metric_samples\",\"part\":1,"
                   "\"parts\":2,\"rows\":{}}",
                   "ROWS: field 'rows' missing or not an array");
    expect_refused("{\"type\":\"RUN\"," ENV ",\"config\":\"x\"}",
                   "RUN: field 'results_db' missing or not a string");
    expect_refused("{\"type\":\"STOP\"," ENV ",\"reason\":7}",
                   "STOP: field 'reason' missing or not a string");
    expect_refused("{\"type\":\"RESULTS\"," ENV ",\"results_db\":\"x\",\"metrics\":[1],"
                   "\"metric_samples\":0}",
                   "RESULTS metrics[0]: not an object");
    expect_refused("{\"type\":\"STOP\"," ENV ",\"iteration\":2,\"reason\":\"x\"}",
                   "message is not valid JSON: duplicate object key near '\"iteration\"' at "
                   "byte 122");
    expect_refused("{\"type\":\"HEARTBEAT\",\"version\":1,\"run_id\":\"r\",\"platform\":\"p\","
                   "\"iteration\":-3,\"runner\":\"l\",\"msg_id\":\"m\",\"sent_ms\":1,"
                   "\"state\":\"idle\"}",
                   "message: iteration -3 out of range");
    jb_msg ok;
    char err[256];
    const char *hb = "{\"type\":\"HEARTBEAT\"," ENV ",\"state\":\"idle\",\"extra\":true}";
    CHECK(jb_msg_decode(hb, strlen(hb), &ok, err, sizeof err));
    CHECK(ok.type == JB_MSG_HEARTBEAT && strcmp(jb_msg_str(&ok, "state"), "idle") == 0);
    jb_msg_clear(&ok);
}

int main(void)
{
    test_round_trip();
    test_ready_results();
    test_malformed();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
