/* broker-pingpong: request/reply latency through a Kafka broker, the way
 * Jung's task bus uses it. Side A produces to a ping topic and waits for the
 * reply on a pong topic; side B (a thread) consumes ping and produces pong.
 * One round trip = two broker hops. Consumers use assign(), not a group, so
 * the figure is the steady-state hop cost, not group-join time.
 *
 *   broker-pingpong [--bootstrap HOST:PORT] [--count N] [--fetch-wait MS]
 *                   [--linger MS] [--rtt MS] [--interval MS]
 * Without --bootstrap it starts the embedded broker (broker/broker.c)
 * in-process; --rtt sets the mock broker's artificial RTT (embedded only).
 * --interval sleeps between round trips, so cpu_pct (this process: clients
 * and, when embedded, the broker) shows what idle polling costs.
 * Prints one line: count, mean, p50, p90, p99, max round-trip ms, CPU %. */
#include "broker/broker.h"
#include "cli/cli.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct settings {
    const char *bootstrap;
    long count, fetch_wait_ms, linger_ms, rtt_ms, interval_ms;
} settings;

typedef struct echo_side {
    rd_kafka_t *consumer, *producer;
    const char *pong;
    atomic_bool stop;
} echo_side;

static rd_kafka_t *client(const settings *s, rd_kafka_type_t type, const char *group)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char num[32], errstr[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", s->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    rd_kafka_conf_set(conf, "socket.nagle.disable", "true", NULL, 0);
    if (type == RD_KAFKA_PRODUCER) {
        snprintf(num, sizeof num, "%ld", s->linger_ms);
        rd_kafka_conf_set(conf, "linger.ms", num, NULL, 0);
    } else {
        snprintf(num, sizeof num, "%ld", s->fetch_wait_ms);
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", num, NULL, 0);
        rd_kafka_conf_set(conf, "fetch.error.backoff.ms", "0", NULL, 0);
        rd_kafka_conf_set(conf, "group.id", group, NULL, 0); /* required, never joined */
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "broker-pingpong: %s\n", errstr);
        exit(1);
    }
    if (type == RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void assign_end(rd_kafka_t *c, const char *topic)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void send_one(rd_kafka_t *p, const char *topic, const void *buf, size_t len)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_END);
    if (e)
        fprintf(stderr, "broker-pingpong: produce %s: %s\n", topic, rd_kafka_err2str(e));
    rd_kafka_poll(p, 0);
}

static void *echo_main(void *arg)
{
    echo_side *e = arg;
    while (!atomic_load(&e->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, 100);
        if (!m)
            continue;
        if (!m->err)
            send_one(e->producer, e->pong, m->payload, m->len);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* Waits for the reply carrying seq; -1 on timeout. */
static double wait_reply(rd_kafka_t *c, long seq, double t0, double timeout_ms)
{
    while (jb_now_ms() - t0 < timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        long got = (!m->err && m->len == sizeof got) ? *(const long *)m->payload : -1;
        rd_kafka_message_destroy(m);
        if (got == seq)
            return jb_now_ms() - t0;
    }
    return -1;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse(int argc, char **argv, settings *s)
{
    static const struct option opts[] = {{"bootstrap", required_argument, NULL, 'b'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"fetch-wait", required_argument, NULL, 'w'},
                                         {"linger", required_argument, NULL, 'l'},
                                         {"rtt", required_argument, NULL, 'r'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'b':
            s->bootstrap = optarg;
            break;
        case 'n':
            ok = jb_parse_long("pingpong", "--count", optarg, 1, 1000000, &s->count);
            break;
        case 'w':
            ok = jb_parse_long("pingpong", "--fetch-wait", optarg, 0, 300000, &s->fetch_wait_ms);
            break;
        case 'l':
            ok = jb_parse_long("pingpong", "--linger", optarg, 0, 900000, &s->linger_ms);
            break;
        case 'r':
            ok = jb_parse_long("pingpong", "--rtt", optarg, 0, 10000, &s->rtt_ms);
            break;
        case 'i':
            ok = jb_parse_long("pingpong", "--interval", optarg, 0, 60000, &s->interval_ms);
            break;
        case 'h':
            puts("usage: broker-pingpong [--bootstrap HOST:PORT] [--count N] [--fetch-wait MS] "
                 "[--linger MS] [--rtt MS] [--interval MS]");
            return 0;
        default:
            return 2;
        }
        if (!ok)
            return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    settings s = {.count = 200, .fetch_wait_ms = 1, .linger_ms = 0};
    int rc = parse(argc, argv, &s);
    if (rc >= 0)
        return rc;
    jb_broker *embedded = NULL;
    if (!s.bootstrap) {
        char err[512];
        jb_broker_options o = {.no_jung_topics = true};
        if (!(embedded = jb_broker_start(&o, err, sizeof err))) {
            fprintf(stderr, "broker-pingpong: %s\n", err);
            return 1;
        }
        s.bootstrap = jb_broker_bootstrap(embedded);
    }
    char ping[64], pong[64];
    snprintf(ping, sizeof ping, "jb_ping_%ld", (long)getpid());
    snprintf(pong, sizeof pong, "jb_pong_%ld", (long)getpid());

    rd_kafka_t *a_prod = client(&s, RD_KAFKA_PRODUCER, NULL);
    rd_kafka_t *a_cons = client(&s, RD_KAFKA_CONSUMER, "jb-pingpong-a");
    echo_side b = {client(&s, RD_KAFKA_CONSUMER, "jb-pingpong-b"),
                   client(&s, RD_KAFKA_PRODUCER, NULL), pong, false};
    /* Create both topics (producer Metadata auto-creates) before assigning. */
    long warm = -1;
    send_one(a_prod, ping, &warm, sizeof warm);
    send_one(b.producer, pong, &warm, sizeof warm);
    rd_kafka_flush(a_prod, 10000);
    rd_kafka_flush(b.producer, 10000);
    if (embedded && s.rtt_ms)
        jb_broker_set_rtt(embedded, (int)s.rtt_ms);
    assign_end(a_cons, pong);
    assign_end(b.consumer, ping);
    pthread_t echo;
    pthread_create(&echo, NULL, echo_main, &b);

    /* Warm-up: until a reply comes back, the assignments are not live yet. */
    long seq = 0;
    for (int tries = 0; tries < 50; tries++, seq++) {
        send_one(a_prod, ping, &seq, sizeof seq);
        if (wait_reply(a_cons, seq, jb_now_ms(), 500) >= 0)
            break;
    }
    double *rtts = calloc((size_t)s.count, sizeof *rtts);
    long done = 0;
    struct timespec pause = {s.interval_ms / 1000, (s.interval_ms % 1000) * 1000000};
    double wall0 = jb_now_ms(), cpu0 = cpu_ms();
    for (long i = 0; i < s.count; i++) {
        if (s.interval_ms)
            nanosleep(&pause, NULL);
        seq++;
        double t0 = jb_now_ms();
        send_one(a_prod, ping, &seq, sizeof seq);
        double rtt = wait_reply(a_cons, seq, t0, 5000);
        if (rtt >= 0)
            rtts[done++] = rtt;
    }
    double cpu_pct = 100.0 * (cpu_ms() - cpu0) / (jb_now_ms() - wall0);
    atomic_store(&b.stop, true);
    pthread_join(echo, NULL);

    qsort(rtts, (size_t)done, sizeof *rtts, cmp_double);
    double sum = 0;
    for (long i = 0; i < done; i++)
        sum += rtts[i];
    if (done)
        printf("roundtrips=%ld lost=%ld mean_ms=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
               "max_ms=%.2f cpu_pct=%.0f\n",
               done, s.count - done, sum / (double)done, rtts[done / 2],
               rtts[(long)((double)done * 0.9)], rtts[(long)((double)done * 0.99)], rtts[done - 1],
               cpu_pct);
    else
        printf("roundtrips=0 lost=%ld\n", s.count);
    free(rtts);
    rd_kafka_consumer_close(a_cons);
    rd_kafka_consumer_close(b.consumer);
    rd_kafka_destroy(a_cons);
    rd_kafka_destroy(b.consumer);
    rd_kafka_destroy(a_prod);
    rd_kafka_destroy(b.producer);
    jb_broker_stop(embedded);
    return done == s.count ? 0 : 1;
}
