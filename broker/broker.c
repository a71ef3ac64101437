/* broker.c - the embedded Kafka broker on librdkafka's mock cluster.
 *
 * Choosing the port. rd_kafka_mock_cluster_new() (librdkafka 2.0.2) binds
 * each mock broker's listener to 127.0.0.1 port 0 and offers no way to ask
 * for a port. A TCP relay in front of it would not do: the mock advertises
 * its own listener address in every Metadata response, so clients would use
 * the relay only for bootstrap and then connect to the random port anyway.
 * Instead this file defines bind(): the executable's definition wins over
 * libc's for librdkafka.so too, and it forwards every call unchanged to
 * libc's bind unless the calling thread has armed it (only jb_broker_start
 * does, around rd_kafka_mock_cluster_new, which creates its listener on the
 * calling thread). Armed, it rewrites the loopback port-0 bind to the
 * requested port. The mock then reads the port back with getsockname, so
 * what it advertises and what listens are the same socket.
 *
 * What the mock advertises is the address getsockname() gives it for that
 * socket, so listening on one address and advertising another (0.0.0.0
 * behind a NAT, or every interface) takes a second interposer: armed,
 * getsockname() on the rebound socket answers the advertised address with
 * the real port.
 *
 * A failed bind inside the mock aborts the process (its error path destroys
 * a half-built cluster), so when the requested port is busy the interposer
 * records the error and lets the mock bind port 0 instead; jb_broker_start
 * then throws that cluster away and reports the busy port.
 */
#include "broker/broker.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct jb_broker {
    rd_kafka_t *host; /* the client handle the mock cluster lives in */
    rd_kafka_mock_cluster_t *cluster;
    int port;
    char bootstrap[64];
};

/* ---- bind() interposition ------------------------------------------------ */

typedef struct bind_request {
    int port;               /* the port to use instead of 0 */
    struct in_addr address; /* the address to use instead of 127.0.0.1 */
    int bind_errno;         /* errno of binding that port, 0 if it worked */
    int calls;              /* loopback port-0 binds seen while armed */
    int fd;                 /* the socket bound to port/address */
    bool advertise;         /* getsockname(fd) names advertised instead */
    struct in_addr advertised;
} bind_request;

static _Thread_local bind_request *armed_request;

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
static bind_fn libc_bind;
static pthread_once_t libc_bind_once = PTHREAD_ONCE_INIT;

static void find_libc_bind(void)
{
    libc_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
}

static int real_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    pthread_once(&libc_bind_once, find_libc_bind);
    if (libc_bind)
        return libc_bind(fd, addr, len);
    return (int)syscall(SYS_bind, fd, addr, len);
}

static bool is_loopback_any_port(const struct sockaddr *addr, socklen_t len)
{
    if (!addr || len < (socklen_t)sizeof(struct sockaddr_in) || addr->sa_family != AF_INET)
        return false;
    const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
    return sin->sin_port == 0 && sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    bind_request *req = armed_request;
    if (!req || (!req->port && req->address.s_addr == htonl(INADDR_LOOPBACK)) ||
        !is_loopback_any_port(addr, len))
        return real_bind(fd, addr, len);
    req->calls++;
    struct sockaddr_in wanted;
    memcpy(&wanted, addr, sizeof wanted);
    wanted.sin_port = htons((uint16_t)req->port);
    wanted.sin_addr = req->address;
    if (real_bind(fd, (const struct sockaddr *)&wanted, sizeof wanted) == 0) {
        req->bind_errno = 0;
        req->fd = fd;
        return 0;
    }
    req->bind_errno = errno;
    return real_bind(fd, addr, len); /* keep the mock alive; caller reports */
}

typedef int (*getsockname_fn)(int, struct sockaddr *, socklen_t *);
static getsockname_fn libc_getsockname;
static pthread_once_t libc_getsockname_once = PTHREAD_ONCE_INIT;

static void find_libc_getsockname(void)
{
    libc_getsockname = (getsockname_fn)dlsym(RTLD_NEXT, "getsockname");
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    pthread_once(&libc_getsockname_once, find_libc_getsockname);
    int rc = libc_getsockname ? libc_getsockname(fd, addr, len)
                              : (int)syscall(SYS_getsockname, fd, addr, len);
    bind_request *req = armed_request;
    if (rc == 0 && req && req->advertise && fd == req->fd && addr->sa_family == AF_INET &&
        *len >= (socklen_t)sizeof(struct sockaddr_in))
        ((struct sockaddr_in *)addr)->sin_addr = req->advertised;
    return rc;
}

/* The mock listens with a backlog of 5: when `jungbench up` starts eight
 * services at once, each opening several connections, the kernel drops the
 * excess SYNs and clients retry a second later. Armed, widen it. */
typedef int (*listen_fn)(int, int);
static listen_fn libc_listen;
static pthread_once_t libc_listen_once = PTHREAD_ONCE_INIT;

static void find_libc_listen(void)
{
    libc_listen = (listen_fn)dlsym(RTLD_NEXT, "listen");
}

int listen(int fd, int backlog)
{
    pthread_once(&libc_listen_once, find_libc_listen);
    if (armed_request && backlog < SOMAXCONN)
        backlog = SOMAXCONN;
    if (libc_listen)
        return libc_listen(fd, backlog);
    return (int)syscall(SYS_listen, fd, backlog);
}

/* ---- topics -------------------------------------------------------------- */

static const char *const jung_topics[] = {
    "api_gateway_tasks",
    "api_gateway_results",
    "auth_manager_tasks",
    "auth_manager_results",
    "user_registry_tasks",
    "user_registry_results",
    "device_registry_tasks",
    "device_registry_results",
    "device_monitor_tasks",
    "device_monitor_results",
    "device_commander_tasks",
    "device_commander_results",
    "rule_engine_tasks",
    "rule_engine_results",
    "device_gateway_tasks",
    "device_gateway_results",
    "controller",
    "runner",
    NULL,
};

const char *const *jb_broker_jung_topic_names(void)
{
    return jung_topics;
}

static bool create_topic(jb_broker *b, const char *name, int partitions, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(b->cluster, name, partitions, 1);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return true;
    snprintf(err, errlen, "cannot create topic '%s' with %d partitions: %s", name, partitions,
             rd_kafka_err2str(e));
    return false;
}

static bool create_topics(jb_broker *b, const jb_broker_options *o, char *err, size_t errlen)
{
    int partitions = o->partitions > 0 ? o->partitions : 1;
    if (!o->no_jung_topics)
        for (const char *const *t = jung_topics; *t; t++)
            if (!create_topic(b, *t, partitions, err, errlen))
                return false;
    for (size_t i = 0; i < o->topic_count; i++) {
        const jb_broker_topic *t = &o->topics[i];
        if (!t->name || !*t->name) {
            snprintf(err, errlen, "topic %zu has no name", i + 1);
            return false;
        }
        if (!create_topic(b, t->name, t->partitions > 0 ? t->partitions : partitions, err, errlen))
            return false;
    }
    return true;
}

/* ---- start/stop ---------------------------------------------------------- */

static bool valid_options(const jb_broker_options *o, char *err, size_t errlen)
{
    if (o->port < 0 || o->port > 65535) {
        snprintf(err, errlen, "port %d is outside 0-65535 (0 picks a free port)", o->port);
        return false;
    }
    if (o->partitions < 0 || o->partitions > 10000) {
        snprintf(err, errlen, "partitions %d is outside 1-10000", o->partitions);
        return false;
    }
    if (o->topic_count > 0 && !o->topics) {
        snprintf(err, errlen, "topic_count is %zu but topics is NULL", o->topic_count);
        return false;
    }
    return true;
}

/* The mock cluster needs a client handle to live in; it never connects. */
static rd_kafka_t *new_host_handle(char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    /* Warnings and worse only: the handle has no bootstrap.servers on purpose. */
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        snprintf(err, errlen, "cannot create the mock cluster's host handle: %s", errstr);
    return rk;
}

/* The listening and the advertised address of the options, checked. */
static bool addresses(const jb_broker_options *o, bind_request *req, char *err, size_t errlen)
{
    const char *listen = o->listen_address, *adv = o->advertise_address;
    if (listen && inet_pton(AF_INET, listen, &req->address) != 1) {
        snprintf(err, errlen, "'%s' is not an IPv4 address to listen on", listen);
        return false;
    }
    if (adv && inet_pton(AF_INET, adv, &req->advertised) != 1) {
        snprintf(err, errlen, "'%s' is not an IPv4 address to advertise", adv);
        return false;
    }
    if (adv && req->advertised.s_addr == htonl(INADDR_ANY)) {
        snprintf(err, errlen,
                 "0.0.0.0 is not an address clients can connect to: advertise an "
                 "address of this machine that they reach");
        return false;
    }
    if (!adv && req->address.s_addr == htonl(INADDR_ANY)) {
        snprintf(err, errlen,
                 "listening on 0.0.0.0 needs an advertised address (--advertise "
                 "ADDR): the broker names it to every client");
        return false;
    }
    req->advertise = adv != NULL;
    return true;
}

static bool new_cluster(jb_broker *b, const jb_broker_options *o, char *err, size_t errlen)
{
    int port = o->port;
    bind_request req = {.port = port, .address.s_addr = htonl(INADDR_LOOPBACK), .fd = -1};
    const char *shown = o->listen_address ? o->listen_address : "127.0.0.1";
    if (!addresses(o, &req, err, errlen))
        return false;
    bool rebind = port || req.address.s_addr != htonl(INADDR_LOOPBACK) || req.advertise;
    /* The mock's thread inherits this thread's signal mask. With signals
     * open, a SIGTERM/SIGINT handled on that thread interrupts its poll(),
     * which it treats as fatal ("Mock cluster failed to poll ... Interrupted
     * system call"): the thread ends, the broker stops answering and
     * rd_kafka_mock_cluster_destroy() waits for it forever. Block them there. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    armed_request = &req;
    b->cluster = rd_kafka_mock_cluster_new(b->host, 1);
    armed_request = NULL;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!b->cluster) {
        snprintf(err, errlen, "librdkafka could not create its mock cluster (see its log above)");
        return false;
    }
    if (rebind && req.calls != 1) {
        snprintf(err, errlen,
                 "could not choose the port: librdkafka's mock cluster bound %d listeners "
                 "instead of 1 (librdkafka %s changed how it listens)",
                 req.calls, rd_kafka_version_str());
        return false;
    }
    if (rebind && req.bind_errno) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s%s", shown, port, strerror(req.bind_errno),
                 req.bind_errno == EADDRINUSE ? " (choose another --port, or 0 for any free one)"
                 : req.bind_errno == EADDRNOTAVAIL
                     ? " (not an address of this machine: see `ip -4 addr`)"
                     : "");
        return false;
    }
    return true;
}

/* Kafka's group.initial.rebalance.delay.ms on the mock (the mock's own is
 * 3 s). Each member that joins within the delay extends it once more
 * (scripts/patches/librdkafka-mock-group-join-complete.patch), so replicas
 * started together share one rebalance: at 0 the first replica was assigned
 * alone and every other one forced a rebalance that librdkafka's one join
 * per second made last 1-2 s. 100 ms measured best for 10 replicas on
 * native and Docker (docs/benchmarks.md). Only scripts/librdkafka-patched's
 * library has the setter; on Debian's the mock keeps its 3 s. */
#define GROUP_INITIAL_DELAY_MS 100

static void set_group_initial_delay(rd_kafka_mock_cluster_t *cluster)
{
    void (*set_delay)(rd_kafka_mock_cluster_t *, int);
    *(void **)&set_delay = dlsym(RTLD_DEFAULT, "rd_kafka_mock_set_group_initial_rebalance_delay");
    if (set_delay)
        set_delay(cluster, GROUP_INITIAL_DELAY_MS);
}

static bool read_bootstrap(jb_broker *b, char *err, size_t errlen)
{
    const char *bs = rd_kafka_mock_cluster_bootstraps(b->cluster);
    const char *colon = bs ? strrchr(bs, ':') : NULL;
    if (!colon || strlen(bs) >= sizeof b->bootstrap) {
        snprintf(err, errlen, "unexpected mock cluster address '%s'", bs ? bs : "(null)");
        return false;
    }
    snprintf(b->bootstrap, sizeof b->bootstrap, "%s", bs);
    b->port = atoi(colon + 1);
    return true;
}

jb_broker *jb_broker_start(const jb_broker_options *opts, char *err, size_t errlen)
{
    jb_broker_options defaults = {0};
    const jb_broker_options *o = opts ? opts : &defaults;
    if (!valid_options(o, err, errlen))
        return NULL;
    jb_broker *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->host = new_host_handle(err, errlen);
    if (b->host && new_cluster(b, o, err, errlen) && read_bootstrap(b, err, errlen) &&
        create_topics(b, o, err, errlen)) {
        set_group_initial_delay(b->cluster);
        return b;
    }
    jb_broker_stop(b);
    return NULL;
}

const char *jb_broker_mock_build(const char **library)
{
    Dl_info info;
    const char *path = dladdr((void *)rd_kafka_mock_cluster_new, &info) && info.dli_fname
                           ? info.dli_fname
                           : "librdkafka (statically linked)";
    if (library)
        *library = path;
#ifdef JB_RDKAFKA_PREFIX
    size_t prefix_len = strlen(JB_RDKAFKA_PREFIX);
    if (strncmp(path, JB_RDKAFKA_PREFIX, prefix_len) == 0 && path[prefix_len] == '/')
        return "patched";
#endif
    return "unpatched";
}

void jb_broker_service_props(const char *user_props, char *out, size_t outlen)
{
    bool pad = strcmp(jb_broker_mock_build(NULL), "patched") != 0;
    snprintf(out, outlen, "%s%s%s", pad ? "jung.mock.pad.bytes=4096" : "",
             pad && user_props[0] ? "," : "", user_props);
}

const char *jb_broker_bootstrap(const jb_broker *broker)
{
    return broker->bootstrap;
}

int jb_broker_port(const jb_broker *broker)
{
    return broker->port;
}

bool jb_broker_set_rtt(jb_broker *broker, int rtt_ms)
{
    return rtt_ms >= 0 &&
           rd_kafka_mock_broker_set_rtt(broker->cluster, 1, rtt_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void jb_broker_stop(jb_broker *broker)
{
    if (!broker)
        return;
    if (broker->cluster)
        rd_kafka_mock_cluster_destroy(broker->cluster);
    if (broker->host)
        rd_kafka_destroy(broker->host);
    free(broker);
}
