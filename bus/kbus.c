/* kbus.c - controller/runner messages over librdkafka (bus.h). */
#include "bus/bus.h"
#include "jung/lib/kafka_roles.h"

#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct jb_kbus {
    rd_kafka_t *producer;
    rd_kafka_t *consumer;
    char topic[128];
    char bootstrap[512]; /* the brokers asked for, for messages */
    /* Since when librdkafka says no broker can be reached (0: reachable, as
     * far as it knows): set by the error callback, which runs on whichever
     * thread polls, cleared by any message that arrives. */
    pthread_mutex_t down_lock;
    double down_since_ms; /* jb_wall_ms() */
    char down_reason[256];
};

/* Called from rd_kafka_consumer_poll/rd_kafka_flush. librdkafka retries by
 * itself, so this only remembers: ALL_BROKERS_DOWN is the verdict that
 * counts, a transport error its likely reason. */
static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    jb_kbus *bus = opaque;
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && err != RD_KAFKA_RESP_ERR__TRANSPORT &&
        err != RD_KAFKA_RESP_ERR__RESOLVE)
        return;
    pthread_mutex_lock(&bus->down_lock);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && bus->down_since_ms == 0)
        bus->down_since_ms = jb_wall_ms();
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !bus->down_reason[0])
        snprintf(bus->down_reason, sizeof bus->down_reason, "%s", reason);
    pthread_mutex_unlock(&bus->down_lock);
}

static void broker_answered(jb_kbus *bus)
{
    pthread_mutex_lock(&bus->down_lock);
    bus->down_since_ms = 0;
    bus->down_reason[0] = '\0';
    pthread_mutex_unlock(&bus->down_lock);
}

double jb_kbus_down_since(jb_kbus *bus, char *reason, size_t len)
{
    pthread_mutex_lock(&bus->down_lock);
    double since = bus->down_since_ms;
    snprintf(reason, len, "%s", since > 0 ? bus->down_reason : "");
    pthread_mutex_unlock(&bus->down_lock);
    return since;
}

#define SEND_WAIT_MS 5000
#define SEND_WAIT_DOWN_MS 250

/* The same latency settings as the Jung services' bus (jung/lib/bus.c). */
static const char *const common_props[][2] = {
    {"socket.nagle.disable", "true"},
    {"log.connection.close", "false"},
    {"reconnect.backoff.ms", "10"},
    {"reconnect.backoff.max.ms", "1000"},
    {NULL, NULL},
};
static const char *const producer_props[][2] = {
    {"linger.ms", "0"},
    {"acks", "1"},
    {"message.timeout.ms", "10000"},
    {NULL, NULL},
};
static const char *const consumer_props[][2] = {
    {"fetch.wait.max.ms", "10"},
    {"fetch.error.backoff.ms", "10"},
    {"fetch.min.bytes", "1"},
    {"enable.partition.eof", "false"},
    {"enable.auto.commit", "false"},
    {"group.id", "jungbench-kbus"}, /* never joined: assign() */
    {NULL, NULL},
};

static bool conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                     size_t errlen)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
        return true;
    snprintf(err, errlen, "Kafka property %s=%s: %s", key, value, errstr);
    return false;
}

static bool conf_set_table(rd_kafka_conf_t *conf, const char *const (*table)[2], char *err,
                           size_t errlen)
{
    for (size_t i = 0; table[i][0]; i++)
        if (!conf_set(conf, table[i][0], table[i][1], err, errlen))
            return false;
    return true;
}

static rd_kafka_t *make_client(jb_kbus *bus, rd_kafka_type_t type, const char *brokers,
                               const jb_config_prop *props, size_t nprops, const char *client_id,
                               char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = conf_set(conf, "bootstrap.servers", brokers, err, errlen) &&
              conf_set(conf, "client.id", client_id, err, errlen) &&
              conf_set(conf, "log_level", "3", err, errlen) &&
              conf_set_table(conf, common_props, err, errlen) &&
              conf_set_table(conf, type == RD_KAFKA_PRODUCER ? producer_props : consumer_props, err,
                             errlen);
    for (size_t i = 0; ok && i < nprops; i++)
        if (jung_kafka_prop_applies(type, props[i].key))
            ok = conf_set(conf, props[i].key, props[i].value, err, errlen);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, bus);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create a Kafka client: %s", errstr);
    }
    return rk;
}

/* How long a broker the metadata names may take to accept a connection
 * before it counts as unreachable from this host. */
#define JB_KBUS_PROBE_MS 5000

/* One TCP connect to host:port, in slices so that a stop request ends it:
 * true once connected. */
static bool connects(const char *host, int port, int timeout_ms, char *why, size_t whylen)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, service, &hints, &ai);
    if (gai != 0)
        return snprintf(why, whylen, "%s", gai_strerror(gai)), false;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS);
    int e = fd < 0 || ok ? 0 : errno;
    freeaddrinfo(ai);
    double deadline = jb_now_ms() + timeout_ms;
    int ready = 0;
    while (ok && ready == 0 && jb_now_ms() < deadline && !jb_stop_requested()) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        ready = poll(&pfd, 1, 200);
    }
    socklen_t elen = sizeof e;
    if (ok && ready > 0)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen);
    if (ok && ready <= 0)
        snprintf(why, whylen, "%s", jb_stop_requested() ? "stopped" : "no answer");
    else if (e)
        snprintf(why, whylen, "%s", strerror(e));
    if (fd >= 0)
        close(fd);
    return ok && ready > 0 && e == 0;
}

/* Every broker the cluster's metadata names must be reachable from here:
 * a broker that advertises an address only its own host reaches (a
 * listener on 127.0.0.1, a container's address) lets the bootstrap
 * connection work and then leaves every fetch waiting on a connection that
 * never comes. Said at once, with the address, instead. */
static bool brokers_reachable(const struct rd_kafka_metadata *md, const char *bootstrap, char *err,
                              size_t errlen)
{
    for (int i = 0; i < md->broker_cnt; i++) {
        char why[256];
        if (connects(md->brokers[i].host, md->brokers[i].port, JB_KBUS_PROBE_MS, why, sizeof why))
            continue;
        snprintf(err, errlen,
                 "broker %d advertises %s:%d, which this host cannot reach (%s; bootstrap %s): "
                 "set the broker's advertised address to one every host reaches (scripts/kafka: "
                 "JB_KAFKA_ADVERTISE; jungbench broker --listen ADDR)",
                 (int)md->brokers[i].id, md->brokers[i].host, md->brokers[i].port, why, bootstrap);
        return false;
    }
    return true;
}

/* Assigns every partition of the topic at its current end. A topic that
 * does not exist yet is created by asking for its metadata (brokers with
 * auto-create) or read from the beginning once it appears. */
static bool assign_at_end(jb_kbus *bus, int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(bus->consumer, bus->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(bus->consumer, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen,
                 "cannot reach the Kafka broker for topic '%s' within %d ms: %s (is the broker "
                 "running and the address right?)",
                 bus->topic, timeout_ms, rd_kafka_err2str(e));
        return false;
    }
    if (!brokers_reachable(md, bus->bootstrap, err, errlen)) {
        rd_kafka_metadata_destroy(md);
        return false;
    }
    int partitions = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(partitions > 0 ? partitions : 1);
    for (int p = 0; p < (partitions > 0 ? partitions : 1); p++) {
        int64_t low = 0, high = RD_KAFKA_OFFSET_BEGINNING;
        if (jb_stop_requested()) {
            rd_kafka_topic_partition_list_destroy(parts);
            return snprintf(err, errlen, "stopped while joining topic '%s'", bus->topic), false;
        }
        if (partitions > 0 && rd_kafka_query_watermark_offsets(bus->consumer, bus->topic, p, &low,
                                                               &high, timeout_ms) != 0)
            high = RD_KAFKA_OFFSET_END;
        rd_kafka_topic_partition_list_add(parts, bus->topic, p)->offset = high;
    }
    e = rd_kafka_assign(bus->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(err, errlen, "cannot read topic '%s': %s", bus->topic, rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

jb_kbus *jb_kbus_open(const char *brokers, const jb_config_prop *props, size_t nprops,
                      const char *listen_topic, const char *client_id, int timeout_ms, char *err,
                      size_t errlen)
{
    jb_kbus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return snprintf(err, errlen, "out of memory"), NULL;
    snprintf(bus->topic, sizeof bus->topic, "%s", listen_topic);
    snprintf(bus->bootstrap, sizeof bus->bootstrap, "%s", brokers);
    pthread_mutex_init(&bus->down_lock, NULL);
    bus->producer =
        make_client(bus, RD_KAFKA_PRODUCER, brokers, props, nprops, client_id, err, errlen);
    if (bus->producer)
        bus->consumer =
            make_client(bus, RD_KAFKA_CONSUMER, brokers, props, nprops, client_id, err, errlen);
    if (!bus->consumer) {
        jb_kbus_close(bus);
        return NULL;
    }
    rd_kafka_poll_set_consumer(bus->consumer);
    if (!assign_at_end(bus, timeout_ms, err, errlen)) {
        jb_kbus_close(bus);
        return NULL;
    }
    return bus;
}

void jb_kbus_close(jb_kbus *bus)
{
    if (!bus)
        return;
    if (bus->consumer) {
        rd_kafka_consumer_close(bus->consumer);
        rd_kafka_destroy(bus->consumer);
    }
    if (bus->producer) {
        char why[256];
        rd_kafka_flush(bus->producer, jb_kbus_down_since(bus, why, sizeof why) > 0 ? 0 : 2000);
        rd_kafka_destroy(bus->producer);
    }
    pthread_mutex_destroy(&bus->down_lock);
    free(bus);
}

bool jb_kbus_send(jb_kbus *bus, const char *topic, const jb_msg *msg, char *err, size_t errlen)
{
    char *text = jb_msg_encode(msg);
    if (!text)
        return snprintf(err, errlen, "cannot encode a %s message", jb_msg_type_name(msg->type)),
               false;
    /* The run id as key keeps one run's messages in one partition, in order. */
    rd_kafka_resp_err_t e = rd_kafka_producev(
        bus->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(text, strlen(text)),
        RD_KAFKA_V_KEY(msg->run_id, strlen(msg->run_id)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(text);
        snprintf(err, errlen, "cannot send %s on topic '%s': %s", jb_msg_type_name(msg->type),
                 topic, rd_kafka_err2str(e));
        return false;
    }
    /* While every broker is known to be unreachable a send gets a short
     * wait: a heartbeat or a STOP blocking 5 s each would only delay the
     * verdict and the teardown. A broker that is back answers within it. */
    char why[256];
    double down = jb_kbus_down_since(bus, why, sizeof why);
    int wait_ms = down > 0 ? SEND_WAIT_DOWN_MS : SEND_WAIT_MS;
    e = rd_kafka_flush(bus->producer, wait_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        down = jb_kbus_down_since(bus, why, sizeof why);
        snprintf(err, errlen, "%s on topic '%s' not delivered within %.1f s: %s",
                 jb_msg_type_name(msg->type), topic, wait_ms / 1000.0,
                 down > 0 ? why : "broker down?");
        return false;
    }
    broker_answered(bus);
    return true;
}

int jb_kbus_recv(jb_kbus *bus, jb_msg *msg, int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(bus->consumer, timeout_ms);
    if (!m)
        return 0;
    int rc;
    if (m->err) {
        /* Transport errors are retried by librdkafka; report, don't stop. */
        snprintf(err, errlen, "topic '%s': %s", bus->topic, rd_kafka_message_errstr(m));
        rc = -1;
    } else if (!m->payload || m->len == 0) {
        snprintf(err, errlen, "topic '%s': empty message skipped", bus->topic);
        rc = -1;
    } else {
        rc = jb_msg_decode(m->payload, m->len, msg, err, errlen) ? 1 : -1;
        broker_answered(bus);
    }
    rd_kafka_message_destroy(m);
    return rc;
}
