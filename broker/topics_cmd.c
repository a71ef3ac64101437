/* topics_cmd.c - `jungbench topics`: create Jung's topics on a real Kafka.
 *
 * The embedded broker creates them itself (broker/broker.c). On a real
 * cluster a service that consumes a topic nobody has produced to yet fails
 * with "Unknown topic or partition", because librdkafka's consumers do not
 * auto-create; creating every topic up front, as one would in production,
 * removes that start-up race. Idempotent: existing topics are left as they
 * are. */
#include "broker/broker.h"
#include "cli/cli.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage =
    "Usage: jungbench topics [--bootstrap HOST:PORT] [--partitions N] [--replication N]\n"
    "                        [--property KEY=VALUE]...\n"
    "\n"
    "Creates Jung's topics (<service>_tasks, <service>_results for the eight services,\n"
    "controller, runner) on a Kafka cluster; topics that exist are left alone.\n"
    "\n"
    "Options:\n"
    "  --bootstrap HOST:PORT  the cluster (default: $KAFKA_BOOTSTRAP)\n"
    "  --partitions N         partitions per topic (default 1)\n"
    "  --replication N        replicas per topic (default -1: the broker's default)\n"
    "  --property KEY=VALUE   extra librdkafka property (security, ...); repeatable\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 all topics exist, 1 the cluster refused or did not answer, 2 usage.\n";

#define MAX_PROPERTIES 32

typedef struct topics_args {
    const char *bootstrap;
    long partitions, replication;
    const char *properties[MAX_PROPERTIES];
    int property_count;
} topics_args;

static int add_property(topics_args *a, const char *kv)
{
    if (!strchr(kv, '=') || kv[0] == '=')
        return jb_usage_error("topics", "--property expects KEY=VALUE, got '%s'", kv);
    if (a->property_count == MAX_PROPERTIES)
        return jb_usage_error("topics", "at most %d --property options", MAX_PROPERTIES);
    a->properties[a->property_count++] = kv;
    return -1;
}

static int parse_args(int argc, char **argv, topics_args *a)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'n'},
        {"replication", required_argument, NULL, 'r'},
        {"property", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c, rc = -1;
    while (rc < 0 && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            a->bootstrap = optarg;
            break;
        case 'n':
            if (!jb_parse_long("topics", "--partitions", optarg, 1, 10000, &a->partitions))
                rc = JB_EXIT_USAGE;
            break;
        case 'r':
            if (!jb_parse_long("topics", "--replication", optarg, -1, 100, &a->replication) ||
                a->replication == 0)
                rc =
                    a->replication == 0
                        ? jb_usage_error("topics", "--replication 0 makes no sense; use -1 or >= 1")
                        : JB_EXIT_USAGE;
            break;
        case 'X':
            rc = add_property(a, optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            return JB_EXIT_OK;
        case ':':
            return jb_usage_error("topics", "%s needs a value", argv[optind - 1]);
        default:
            return jb_usage_error("topics", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return jb_usage_error("topics", "unexpected argument '%s'", argv[optind]);
    if (!a->bootstrap || !*a->bootstrap)
        return jb_usage_error("topics", "no cluster: pass --bootstrap HOST:PORT or set "
                                        "KAFKA_BOOTSTRAP");
    return -1;
}

static rd_kafka_t *admin_client(const topics_args *a, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    bool ok = rd_kafka_conf_set(conf, "bootstrap.servers", a->bootstrap, errstr, sizeof errstr) ==
              RD_KAFKA_CONF_OK;
    for (int i = 0; ok && i < a->property_count; i++) {
        char key[256];
        const char *eq = strchr(a->properties[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - a->properties[i]), a->properties[i]);
        ok = rd_kafka_conf_set(conf, key, eq + 1, errstr, sizeof errstr) == RD_KAFKA_CONF_OK;
    }
    if (!ok) {
        snprintf(err, errlen, "%s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        snprintf(err, errlen, "%s", errstr);
    return rk;
}

/* Reports each topic; returns how many failed (other than "already exists"). */
static int report_results(const rd_kafka_CreateTopics_result_t *res)
{
    size_t n = 0;
    const rd_kafka_topic_result_t **results = rd_kafka_CreateTopics_result_topics(res, &n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
        const char *name = rd_kafka_topic_result_name(results[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("created %s\n", name);
        else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            printf("exists  %s\n", name);
        else {
            fprintf(stderr, "jungbench topics: %s: %s\n", name,
                    rd_kafka_topic_result_error_string(results[i]));
            failed++;
        }
    }
    return failed;
}

static int create_all(rd_kafka_t *rk, const topics_args *a)
{
    rd_kafka_NewTopic_t *topics[64];
    size_t count = 0;
    char errstr[256];
    for (const char *const *t = jb_broker_jung_topic_names(); *t && count < 64; t++) {
        topics[count] = rd_kafka_NewTopic_new(*t, (int)a->partitions, (int)a->replication, errstr,
                                              sizeof errstr);
        if (!topics[count]) {
            rd_kafka_NewTopic_destroy_array(topics, count);
            return jb_fail("topics", "%s: %s", *t, errstr);
        }
        count++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, topics, count, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 40000);
    int rc = JB_EXIT_OK;
    if (!ev)
        rc = jb_fail("topics", "%s did not answer within 40 s", a->bootstrap);
    else if (rd_kafka_event_error(ev))
        rc = jb_fail("topics", "%s: %s", a->bootstrap, rd_kafka_event_error_string(ev));
    else if (report_results(rd_kafka_event_CreateTopics_result(ev)) > 0)
        rc = JB_EXIT_FAIL;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(topics, count);
    return rc;
}

int topics_main(int argc, char **argv)
{
    topics_args a = {.bootstrap = getenv("KAFKA_BOOTSTRAP"), .partitions = 1, .replication = -1};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char err[512];
    rd_kafka_t *rk = admin_client(&a, err, sizeof err);
    if (!rk)
        return jb_usage_error("topics", "%s", err);
    rc = create_all(rk, &a);
    rd_kafka_destroy(rk);
    return rc;
}
